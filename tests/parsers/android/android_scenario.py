"""The fictional Android phone of the tests: Sam's messages, calls and WhatsApp chats, written into
databases with the real layouts (commtrail.parsers.android.layouts)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from commtrail.parsers.android.layouts import CALLLOG, MMSSMS

JPEG = b"\xff\xd8\xff\xe0fictional android jpeg\xff\xd9"
PHOTO_PATH = "/data/user_de/0/com.android.providers.telephony/app_parts/PART_1709316000000_photo.jpg"
GONE_PATH = "/data/user_de/0/com.android.providers.telephony/app_parts/PART_1709402400000_gone.jpg"


def ms(iso: str) -> int:
    """Epoch milliseconds of an ISO time in UTC (``2024-03-01T18:00:05.123Z``)."""
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp() * 1000)


def build(path: Path, schema: str, rows: dict[str, list[dict]], wal: bool = False) -> sqlite3.Connection | None:
    """A database at ``path`` made of ``schema`` and the rows given per table. With ``wal`` the rows
    stay in ``path-wal`` (no checkpoint) and the open connection is returned: close it to end that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")   # a test's database need not survive a power cut: no fsync
    con.executescript(schema)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA wal_autocheckpoint=0")
    for table, items in rows.items():
        for item in items:
            con.execute(f"INSERT INTO {table} ({', '.join(item)}) VALUES ({', '.join('?' * len(item))})",
                        list(item.values()))
    con.commit()
    if wal:
        return con
    con.close()
    return None


SMS = [
    {"_id": 1, "thread_id": 1, "address": "+447700900123", "date": ms("2024-03-01T18:00:05.123Z"), "type": 1,
     "body": "Are you home?", "read": 1, "date_sent": ms("2024-03-01T18:00:03Z")},
    {"_id": 2, "thread_id": 1, "address": "07700 900123", "date": ms("2024-03-01T18:31:00Z"), "type": 2,
     "body": "Please stop texting me.", "read": 1},
    {"_id": 3, "thread_id": 1, "address": "07700900123", "date": ms("2024-03-02T09:00:00Z"), "type": 3,
     "body": "Draft never sent", "read": 1},
    {"_id": 4, "thread_id": 1, "address": "+447700900123", "date": ms("2024-03-02T09:05:00Z"), "type": 5,
     "body": "This one failed", "read": 1},
    {"_id": 5, "thread_id": 2, "address": "+447700900456", "date": 0, "type": 1, "body": "No time at all", "read": 0},
    {"_id": 6, "thread_id": 2, "address": "+447700900456", "date": ms("2024-03-02T22:15:00Z"), "type": 1,
     "body": "Line one\nLine two", "read": 0},
]
PDU = [
    {"_id": 1, "thread_id": 1, "date": 1709316000, "msg_box": 1, "m_type": 132, "read": 1,
     "ct_t": "application/vnd.wap.multipart.related", "m_id": "mms-0001"},
    {"_id": 2, "thread_id": 3, "date": 1709402400, "msg_box": 2, "m_type": 128, "read": 1, "sub": "Saturday",
     "ct_t": "application/vnd.wap.multipart.related"},
    {"_id": 3, "thread_id": 1, "date": 1709488800, "msg_box": 3, "m_type": 128, "read": 1},
]
ADDR = [
    {"_id": 1, "msg_id": 1, "address": "+447700900123", "type": 137, "charset": 106},
    {"_id": 2, "msg_id": 1, "address": "+447700900999", "type": 151, "charset": 106},
    {"_id": 3, "msg_id": 2, "address": "insert-address-token", "type": 137, "charset": 106},
    {"_id": 4, "msg_id": 2, "address": "+447700900123", "type": 151, "charset": 106},
    {"_id": 5, "msg_id": 2, "address": "+447700900456", "type": 151, "charset": 106},
    {"_id": 6, "msg_id": 2, "address": "07700 900222", "type": 130, "charset": 106},
    {"_id": 7, "msg_id": 3, "address": "insert-address-token", "type": 137, "charset": 106},
    {"_id": 8, "msg_id": 3, "address": "+447700900123", "type": 151, "charset": 106},
]
PART = [
    {"_id": 1, "mid": 1, "seq": -1, "ct": "application/smil", "cl": "smil.xml", "text": "<smil></smil>"},
    {"_id": 2, "mid": 1, "seq": 0, "ct": "text/plain", "cl": "text_0.txt", "chset": 106, "text": "Look at this"},
    {"_id": 3, "mid": 1, "seq": 0, "ct": "image/jpeg", "cl": "photo.jpg", "name": "photo.jpg", "_data": PHOTO_PATH},
    {"_id": 4, "mid": 2, "seq": 0, "ct": "text/plain", "cl": "text_0.txt", "chset": 106, "text": "Group hello"},
    {"_id": 5, "mid": 2, "seq": 0, "ct": "image/jpeg", "cl": "gone.jpg", "name": "gone.jpg", "_data": GONE_PATH},
    {"_id": 6, "mid": 3, "seq": 0, "ct": "text/plain", "chset": 106, "text": "Unsent MMS draft"},
]


def mmssms(folder: Path, sms: list[dict] = SMS, schema: str = MMSSMS, with_photo: bool = True) -> Path:
    """``folder/mmssms.db`` (and ``app_parts/`` with the one photo that is there)."""
    path = folder / "mmssms.db"
    tables = {"sms": sms}
    if "CREATE TABLE pdu" in schema:
        tables.update(pdu=PDU, addr=ADDR, part=PART)
    build(path, schema, tables)
    if with_photo:
        (folder / "app_parts").mkdir(exist_ok=True)
        (folder / "app_parts" / PHOTO_PATH.rsplit("/", 1)[1]).write_bytes(JPEG)
    return path


CALLS = [
    {"_id": 1, "number": "+447700900123", "presentation": 1, "date": ms("2024-03-01T20:00:00Z"), "duration": 0,
     "type": 3, "name": "Jordan", "countryiso": "GB"},
    {"_id": 2, "number": "07700 900123", "presentation": 1, "date": ms("2024-03-01T20:05:10.500Z"), "duration": 95,
     "type": 1, "geocoded_location": "United Kingdom"},
    {"_id": 3, "number": "+447700900123", "presentation": 1, "date": ms("2024-03-01T21:00:00Z"), "duration": 12,
     "type": 2},
    {"_id": 4, "number": "", "presentation": 2, "date": ms("2024-03-02T03:10:00Z"), "duration": 0, "type": 6},
    {"_id": 5, "number": "+447700900456", "presentation": 1, "date": ms("2024-03-02T08:00:00Z"), "duration": 30,
     "type": 4},
    {"_id": 6, "number": "+447700900456", "presentation": 1, "date": ms("2024-03-02T08:30:00Z"), "duration": 0,
     "type": 5},
    {"_id": 7, "number": "+447700900123", "presentation": 1, "date": None, "duration": 0, "type": 3},
]


def calllog(folder: Path, calls: list[dict] = CALLS) -> Path:
    path = folder / "calllog.db"
    build(path, CALLLOG, {"calls": calls})
    return path


JIDS = [
    {"_id": 1, "user": "447700900123", "server": "s.whatsapp.net", "raw_string": "447700900123@s.whatsapp.net"},
    {"_id": 2, "user": "120363000000000001", "server": "g.us", "raw_string": "120363000000000001@g.us"},
    {"_id": 3, "user": "447700900456", "server": "s.whatsapp.net", "raw_string": "447700900456@s.whatsapp.net"},
]
WA_CHATS = [{"_id": 1, "jid_row_id": 1}, {"_id": 2, "jid_row_id": 2, "subject": "Family", "group_type": 1}]
IMAGE = "Media/WhatsApp Images/IMG-20240301-WA0001.jpg"
VIDEO = "Media/WhatsApp Video/VID-20240302-WA0002.mp4"


def _wa(rowid: int, chat: int, from_me: int, iso: str | None, mtype: int = 0, text: str | None = None,
        sender: int | None = None) -> dict:
    return {"_id": rowid, "chat_row_id": chat, "from_me": from_me, "key_id": f"KEY{rowid:04d}",
            "sender_jid_row_id": sender, "timestamp": ms(iso) if iso else 0, "message_type": mtype,
            "text_data": text, "status": 13 if from_me else 0, "sort_id": rowid}


WA_MESSAGES = [
    _wa(1, 1, 0, "2024-03-01T18:00:30Z", text="Are you ignoring me?"),
    _wa(2, 1, 1, "2024-03-01T18:02:10Z", text="Please stop messaging me."),
    _wa(3, 1, 0, "2024-03-01T18:05:00Z", 1, "Look"),
    _wa(4, 1, 0, "2024-03-01T18:06:00Z", 15),
    _wa(5, 2, 0, "2024-03-02T10:00:00Z", text="Hello all", sender=3),
    _wa(6, 2, 0, "2024-03-02T10:01:00Z", 7, sender=3),
    _wa(7, 2, 1, "2024-03-02T10:02:00Z", 3),
    _wa(8, 1, 0, None, text="No time"),
    _wa(9, 1, 0, "2024-03-01T18:20:00Z", text="Answer me"),
]
WA_MEDIA = [
    {"message_row_id": 3, "chat_row_id": 1, "file_path": IMAGE, "mime_type": "image/jpeg", "file_size": 999},
    {"message_row_id": 7, "chat_row_id": 2, "file_path": VIDEO, "mime_type": "video/mp4", "file_size": 4096,
     "media_duration": 3},
]


def msgstore(folder: Path, with_image: bool = True) -> Path:
    """``folder/msgstore.db`` (modern layout) and the one image of it that is beside it."""
    from commtrail.parsers.android.layouts import MSGSTORE
    path = folder / "msgstore.db"
    build(path, MSGSTORE, {
        "jid": JIDS, "chat": WA_CHATS, "message": WA_MESSAGES, "message_media": WA_MEDIA,
        "message_quoted": [{"message_row_id": 9, "chat_row_id": 1, "parent_message_chat_row_id": 1, "from_me": 0,
                            "sender_jid_row_id": None, "key_id": "KEY0001", "text_data": "Are you ignoring me?"}],
        "message_system": [{"message_row_id": 6, "action_type": 12}],
        "group_participant_user": [{"group_jid_row_id": 2, "user_jid_row_id": 1},
                                   {"group_jid_row_id": 2, "user_jid_row_id": 3}],
    })
    if with_image:
        (folder / "Media" / "WhatsApp Images").mkdir(parents=True, exist_ok=True)
        (folder / IMAGE).write_bytes(JPEG)
    return path


def _legacy(rowid: int, jid: str, from_me: int, iso: str, wa_type: str = "0", data: str | None = None,
            **more) -> dict:
    return {"_id": rowid, "key_remote_jid": jid, "key_from_me": from_me, "key_id": f"KEY{rowid:04d}",
            "status": 13 if from_me else 0, "data": data, "timestamp": ms(iso), "media_wa_type": wa_type, **more}


ONE, GROUP_JID = "447700900123@s.whatsapp.net", "120363000000000001@g.us"
LEGACY_MESSAGES = [
    _legacy(1, ONE, 0, "2024-03-01T18:00:30Z", data="Are you ignoring me?"),
    _legacy(2, ONE, 1, "2024-03-01T18:02:10Z", data="Please stop messaging me."),
    _legacy(3, ONE, 0, "2024-03-01T18:05:00Z", "1", media_mime_type="image/jpeg",
            media_name="IMG-20240301-WA0001.jpg", media_caption="Look", media_size=999),
    _legacy(4, ONE, 0, "2024-03-01T18:06:00Z", "15"),
    _legacy(5, GROUP_JID, 0, "2024-03-02T10:00:00Z", data="Hello all", remote_resource="447700900456@s.whatsapp.net"),
    {**_legacy(6, GROUP_JID, 0, "2024-03-02T10:01:00Z"), "status": 6, "remote_resource": ""},
]


def msgstore_legacy(folder: Path) -> Path:
    """``folder/msgstore.db`` in the layout before 2022."""
    from commtrail.parsers.android.layouts import MSGSTORE_LEGACY
    path = folder / "msgstore.db"
    build(path, MSGSTORE_LEGACY, {
        "messages": LEGACY_MESSAGES,
        "chat_list": [{"key_remote_jid": ONE}, {"key_remote_jid": GROUP_JID, "subject": "Family"}],
        "group_participants": [{"gjid": GROUP_JID, "jid": ONE},
                               {"gjid": GROUP_JID, "jid": "447700900456@s.whatsapp.net"},
                               {"gjid": GROUP_JID, "jid": ""}],
    })
    return path
