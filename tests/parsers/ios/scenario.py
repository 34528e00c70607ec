"""The fictional iPhone of the tests: Sam's messages, calls and contacts (iOS 16 layout)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from commtrail.demo_ios import (address_book, backup_folder, call_history, cocoa, messages_db, summary_info,
                                typedstream, whatsapp_db)

JPEG = b"\xff\xd8\xff\xe0fictional jpeg\xff\xd9"
SMS_DB = ("HomeDomain", "Library/SMS/sms.db")
CALLS_DB = ("HomeDomain", "Library/CallHistoryDB/CallHistory.storedata")
CONTACTS_DB = ("HomeDomain", "Library/AddressBook/AddressBook.sqlitedb")
PHOTO = ("MediaDomain", "Library/SMS/Attachments/ab/11/AAAA-1111/IMG_0001.jpeg")

HANDLES = [
    {"ROWID": 1, "id": "+447700900123", "service": "iMessage", "country": "gb"},
    {"ROWID": 2, "id": "+447700900123", "service": "SMS", "country": "gb"},
    {"ROWID": 3, "id": "jordan.k@example.com", "service": "iMessage"},
    {"ROWID": 4, "id": "+447700900456", "service": "iMessage", "country": "gb"},
]
CHATS = [
    {"ROWID": 1, "guid": "iMessage;-;+447700900123", "style": 45, "chat_identifier": "+447700900123",
     "service_name": "iMessage"},
    {"ROWID": 2, "guid": "SMS;-;+447700900123", "style": 45, "chat_identifier": "+447700900123",
     "service_name": "SMS"},
    {"ROWID": 3, "guid": "iMessage;+;chat900000001", "style": 43, "chat_identifier": "chat900000001",
     "service_name": "iMessage", "display_name": "Weekend plans"},
]
MEMBERS = [(1, 1), (2, 2), (3, 1), (3, 4)]
ME = "+447700900999"


def _m(rowid: int, iso: str, **fields) -> dict:
    return {"ROWID": rowid, "guid": f"GUID-{rowid:04d}", "date": cocoa(iso), "service": "iMessage",
            "account": f"p:{ME}", "destination_caller_id": ME, **fields}


MESSAGES = [
    _m(1, "2024-03-01T18:30:05.250Z", text="Are you home?", handle_id=1, chat=1,
       date_read=cocoa("2024-03-01T18:31:00Z")),
    _m(2, "2024-03-01T18:32:10Z", attributedBody=typedstream("Please stop messaging me."), handle_id=1,
       is_from_me=1, chat=1),
    _m(3, "2024-03-01T18:33:00Z", text="Loved \u201cPlease stop messaging me.\u201d", handle_id=1, chat=1,
       associated_message_guid="p:0/GUID-0002", associated_message_type=2000),
    _m(4, "2024-03-01T18:40:00Z", text="I just want to talk", handle_id=1, chat=1,
       date_edited=cocoa("2024-03-01T18:41:30Z"),
       message_summary_info=summary_info([("2024-03-01T18:40:00Z", "I want to talk"),
                                          ("2024-03-01T18:41:30Z", "I just want to talk")])),
    _m(5, "2024-03-01T18:45:00Z", handle_id=1, chat=1, date_edited=cocoa("2024-03-01T18:46:00Z"),
       date_retracted=cocoa("2024-03-01T18:46:00Z"), message_summary_info=summary_info(unsent_parts=[0])),
    _m(6, "2024-03-02T09:00:00Z", text="Call me back", handle_id=2, chat=2, service="SMS"),
    _m(7, "2024-03-02T10:00:00Z", attributedBody=typedstream("See you all at 6 \U0001f37b"), handle_id=4, chat=3),
    _m(8, "2024-03-02T10:05:00Z", text="I'm not coming \ufffc", handle_id=0, is_from_me=1, chat=3,
       cache_has_attachments=1),
    _m(9, "2024-03-02T11:00:00Z", handle_id=2, chat=2, service="SMS", cache_has_attachments=1),
    _m(10, "2024-03-02T12:00:00Z", attributedBody=b"\x04\x0bstreamtyped\x81\xe8\x03garbage", handle_id=1, chat=1),
    _m(11, "2024-03-02T09:59:00Z", handle_id=0, chat=3, item_type=1, other_handle=4, is_from_me=1),
    _m(12, "2024-03-02T13:00:00Z", text="Removed a like from \u201cAre you home?\u201d", is_from_me=1, handle_id=1,
       chat=1, associated_message_guid="p:0/GUID-0001", associated_message_type=3001),
]
ATTACHMENTS = [
    {"ROWID": 1, "guid": "AAAA-1111", "filename": "~/Library/SMS/Attachments/ab/11/AAAA-1111/IMG_0001.jpeg",
     "mime_type": "image/jpeg", "transfer_name": "IMG_0001.jpeg", "total_bytes": len(JPEG), "is_outgoing": 1},
    {"ROWID": 2, "guid": "BBBB-2222", "filename": "~/Library/SMS/Attachments/cd/12/BBBB-2222/photo.jpeg",
     "mime_type": "image/jpeg", "transfer_name": "photo.jpeg", "total_bytes": 48213},
]
LINKS = [(8, 1), (9, 2)]

CALLS = [
    {"Z_PK": 1, "ZDATE": cocoa("2024-03-03T08:00:00.5Z", nanos=False) + 0.5, "ZDURATION": 65.4, "ZORIGINATED": 1,
     "ZANSWERED": 1, "ZCALLTYPE": 1, "ZADDRESS": "07700 900123", "ZSERVICE_PROVIDER": "com.apple.Telephony",
     "ZISO_COUNTRY_CODE": "gb", "ZUNIQUE_ID": "CALL-0001"},
    {"Z_PK": 2, "ZDATE": cocoa("2024-03-03T09:00:00Z", nanos=False), "ZDURATION": 120.0, "ZORIGINATED": 0,
     "ZANSWERED": 1, "ZCALLTYPE": 8, "ZADDRESS": b"jordan.k@example.com", "ZSERVICE_PROVIDER": "com.apple.FaceTime",
     "ZUNIQUE_ID": "CALL-0002"},
    {"Z_PK": 3, "ZDATE": cocoa("2024-03-03T10:00:00Z", nanos=False), "ZDURATION": 0.0, "ZORIGINATED": 0,
     "ZANSWERED": 0, "ZCALLTYPE": 1, "ZADDRESS": "+447700900456", "ZSERVICE_PROVIDER": "com.apple.Telephony",
     "ZUNIQUE_ID": "CALL-0003"},
    {"Z_PK": 4, "ZDATE": cocoa("2024-03-03T11:00:00Z", nanos=False), "ZDURATION": 30.2, "ZORIGINATED": 0,
     "ZANSWERED": 1, "ZCALLTYPE": 16, "ZADDRESS": None, "ZSERVICE_PROVIDER": "com.apple.FaceTime",
     "ZUNIQUE_ID": "CALL-0004"},
]
PEOPLE = [({"First": "Jordan", "Last": "Example"}, [(3, "07700 900123"), (4, "jordan.k@example.com")]),
          ({"Organization": "Example Dental"}, [(3, "+44 7700 900456")])]


def sms_db(path: Path, messages=MESSAGES) -> Path:
    return messages_db(path, handles=HANDLES, chats=CHATS, members=MEMBERS, messages=messages,
                       attachments=ATTACHMENTS, links=LINKS)


def iphone_backup(folder: Path, work: Path, messages=MESSAGES, calls=True, contacts=True,
                  taken: datetime = datetime(2024, 3, 9), **device) -> Path:
    """Sam's backup: sms.db, call history, address book and one of the two attachments."""
    work.mkdir(parents=True, exist_ok=True)
    files = {SMS_DB: sms_db(work / "sms.db", messages).read_bytes(), PHOTO: JPEG}
    if calls:
        files[CALLS_DB] = call_history(work / "calls.sqlite", CALLS).read_bytes()
    if contacts:
        files[CONTACTS_DB] = address_book(work / "ab.sqlite", PEOPLE).read_bytes()
    for name in ("sms.db", "calls.sqlite", "ab.sqlite"):
        (work / name).unlink(missing_ok=True)
    return backup_folder(folder, files, taken=taken, **device)


# -- WhatsApp on Sam's iPhone (ChatStorage.sqlite) ---------------------------------------------------

WA_DOMAIN = "AppDomainGroup-group.net.whatsapp.WhatsApp.shared"
WA_DB = (WA_DOMAIN, "ChatStorage.sqlite")
JORDAN_JID, ALEX_JID, GROUP_JID = "447700900123@s.whatsapp.net", "447700900456@s.whatsapp.net", \
    "447700900999-1709900000@g.us"
WA_PHOTO = "Media/447700900123@s.whatsapp.net/3/f/3f1c-photo.jpg"
WA_LOST = "Media/447700900123@s.whatsapp.net/9/a/9a2d-lost.jpg"
WA_SESSIONS = [
    {"Z_PK": 1, "ZCONTACTJID": JORDAN_JID, "ZPARTNERNAME": "Jordan", "ZSESSIONTYPE": 0},
    {"Z_PK": 2, "ZCONTACTJID": GROUP_JID, "ZPARTNERNAME": "Weekend", "ZSESSIONTYPE": 1},
]
WA_MEMBERS = [
    {"Z_PK": 1, "ZCHATSESSION": 2, "ZMEMBERJID": JORDAN_JID, "ZCONTACTNAME": "Jordan"},
    {"Z_PK": 2, "ZCHATSESSION": 2, "ZMEMBERJID": ALEX_JID},
]


def _wa(pk: int, iso: str, chat: int, **fields) -> dict:
    return {"Z_PK": pk, "Z_ENT": 9, "ZCHATSESSION": chat, "ZMESSAGEDATE": cocoa(iso, nanos=False),
            "ZISFROMME": 0, "ZMESSAGETYPE": 0, "ZSTANZAID": f"3EB0{pk:04d}", **fields}


WA_MESSAGES = [
    _wa(1, "2024-03-14T20:15:30Z", 1, ZTEXT="Why are you ignoring me", ZFROMJID=JORDAN_JID),
    _wa(2, "2024-03-14T20:16:05Z", 1, ZISFROMME=1, ZTEXT="Please leave me alone", ZTOJID=JORDAN_JID),
    _wa(3, "2024-03-14T20:20:00Z", 1, ZMESSAGETYPE=1, ZMEDIAITEM=1, ZFROMJID=JORDAN_JID),
    _wa(4, "2024-03-14T20:21:00Z", 1, ZMESSAGETYPE=1, ZMEDIAITEM=2, ZFROMJID=JORDAN_JID),
    _wa(5, "2024-03-14T20:22:00Z", 1, ZMESSAGETYPE=14, ZFROMJID=JORDAN_JID),
    _wa(6, "2024-03-15T09:00:00Z", 2, ZMESSAGETYPE=6, ZGROUPEVENTTYPE=1, ZFROMJID=GROUP_JID),
    _wa(7, "2024-03-15T09:01:00Z", 2, ZTEXT="Is Sam coming?", ZFROMJID=GROUP_JID, ZGROUPMEMBER=2),
    _wa(8, "2024-03-15T09:02:00Z", 2, ZTEXT="She is not", ZFROMJID=GROUP_JID, ZGROUPMEMBER=1),
    _wa(9, "2024-03-15T09:03:00Z", 2, ZISFROMME=1, ZTEXT="No", ZTOJID=GROUP_JID),
]
WA_MEDIA = [
    {"Z_PK": 1, "ZMESSAGE": 3, "ZMEDIALOCALPATH": WA_PHOTO, "ZTITLE": "outside your house", "ZFILESIZE": len(JPEG)},
    {"Z_PK": 2, "ZMESSAGE": 4, "ZMEDIALOCALPATH": WA_LOST, "ZFILESIZE": 52011},
]
WA_PUSH = [{"Z_PK": 1, "ZJID": ALEX_JID, "ZPUSHNAME": "AJ"}]
# The same one-to-one chat as iOS's "Export chat" writes it (Europe/London: UTC in March).
WA_EXPORT = ("[14/03/2024, 09:00:00] Jordan: \u200eMessages and calls are end-to-end encrypted. No one outside of "
             "this chat, not even WhatsApp, can read or listen to them.\n"
             "[14/03/2024, 20:15:30] Jordan: Why are you ignoring me\n"
             "[14/03/2024, 20:16:05] Sam: Please leave me alone\n"
             "[14/03/2024, 20:30:00] Jordan: I will wait\n")


def chat_storage(path: Path, messages=WA_MESSAGES) -> Path:
    return whatsapp_db(path, sessions=WA_SESSIONS, members=WA_MEMBERS, messages=messages, media=WA_MEDIA,
                       push_names=WA_PUSH)


def whatsapp_backup(folder: Path, work: Path, **device) -> Path:
    """Sam's backup with WhatsApp's database and one of its two photos (no Messages database)."""
    work.mkdir(parents=True, exist_ok=True)
    files = {WA_DB: chat_storage(work / "ChatStorage.sqlite").read_bytes(), (WA_DOMAIN, "Message/" + WA_PHOTO): JPEG}
    (work / "ChatStorage.sqlite").unlink()
    return backup_folder(folder, files, **device)
