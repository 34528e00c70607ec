"""Fictional Apple databases and iPhone backups for ``commtrail demo`` and the tests, with the real
table and column names (:mod:`commtrail.parsers.ios.layouts`: the iOS 16-18 / macOS 13-15 and the
iOS 10 layouts), and the demo's iPhone backup."""

from __future__ import annotations

import hashlib
import plistlib
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from commtrail.parsers.ios.layouts import ADDRESS_BOOK, CALL_HISTORY, LAYOUTS, MANIFEST, MESSAGES_OTHER_TABLES, WHATSAPP

COCOA = datetime(2001, 1, 1, tzinfo=timezone.utc)

def cocoa(iso: str, nanos: bool = True) -> int:
    """An ISO UTC time as a Cocoa time (nanoseconds, or whole seconds)."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    delta = dt - COCOA
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return us * 1000 if nanos else us // 1_000_000


def typedstream(text: str, mutable: bool = False) -> bytes:
    """An attributedBody as Messages writes it: an archived NSAttributedString of ``text`` with its
    message-part attribute (lengths of 128 bytes and more take the 0x81 two-byte form)."""
    data = text.encode("utf-8")
    size = bytes([len(data)]) if len(data) < 128 else b"\x81" + len(data).to_bytes(2, "little")
    cls = b"NSMutableString" if mutable else b"NSString"
    string_class = b"\x84\x84\x84" + bytes([len(cls)]) + cls + b"\x01\x94"
    units = len(text.encode("utf-16-le")) // 2
    run = bytes([units]) if units < 128 else b"\x81" + units.to_bytes(2, "little")
    return (b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@\x84\x84\x84\x12NSAttributedString\x00\x84\x84\x08NSObject"
            b"\x00\x85\x92" + string_class + b"\x84\x01+" + size + data + b"\x86\x84\x02iI\x01" + run +
            b"\x92\x84\x84\x84\x0cNSDictionary\x00\x94\x84\x01i\x01\x92\x84\x96\x96\x1d__kIMMessagePartAttributeName"
            b"\x86\x92\x84\x84\x84\x08NSNumber\x00\x84\x84\x07NSValue\x00\x94\x84\x01*\x84\x99\x99\x00\x86\x86\x86")


def summary_info(versions: list[tuple[str, str]] | None = None, unsent_parts: list[int] | None = None) -> bytes:
    """message_summary_info: a binary plist with ``ec`` (part 0's versions: date, text) and ``rp``."""
    info: dict = {}
    if versions:
        info["ec"] = {"0": [{"d": cocoa(iso) / 1e9, "t": typedstream(text)} for iso, text in versions]}
    if unsent_parts:
        info["rp"] = unsent_parts
    return plistlib.dumps(info, fmt=plistlib.FMT_BINARY)


def messages_db(path: Path, layout: str = "ios16", handles=(), chats=(), members=(), messages=(),
                attachments=(), links=()) -> Path:
    """A Messages database: rows given as dicts (column -> value) per table; ``members`` are
    (chat, handle) pairs; each message dict may name its ``chat``; ``links`` (message, attachment)."""
    con = sqlite3.connect(path)
    con.executescript(f"CREATE TABLE message ({LAYOUTS[layout]});" + MESSAGES_OTHER_TABLES)
    for table, rows in (("handle", handles), ("chat", chats), ("attachment", attachments)):
        for row in rows:
            _insert(con, table, row)
    for chat_id, handle_id in members:
        con.execute("INSERT INTO chat_handle_join VALUES (?, ?)", (chat_id, handle_id))
    for row in messages:
        row = dict(row)
        chat = row.pop("chat", None)
        _insert(con, "message", row)
        if chat is not None:
            con.execute("INSERT INTO chat_message_join VALUES (?, ?, ?)", (chat, row["ROWID"], row.get("date", 0)))
    for message_id, attachment_id in links:
        con.execute("INSERT INTO message_attachment_join VALUES (?, ?)", (message_id, attachment_id))
    con.commit()
    con.close()
    return path


def _insert(con: sqlite3.Connection, table: str, row: dict) -> None:
    names = ", ".join(row)
    con.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def call_history(path: Path, calls: list[dict]) -> Path:
    con = sqlite3.connect(path)
    con.execute(CALL_HISTORY)
    for row in calls:
        _insert(con, "ZCALLRECORD", {"Z_ENT": 2, "Z_OPT": 1, **row})
    con.commit()
    con.close()
    return path


def address_book(path: Path, people: list[tuple[dict, list[tuple[int, str]]]]) -> Path:
    con = sqlite3.connect(path)
    con.executescript(ADDRESS_BOOK)
    for rowid, (person, values) in enumerate(people, 1):
        _insert(con, "ABPerson", {"ROWID": rowid, **person})
        for prop, value in values:
            con.execute("INSERT INTO ABMultiValue (record_id, property, value) VALUES (?, ?, ?)", (rowid, prop, value))
    con.commit()
    con.close()
    return path


def whatsapp_db(path: Path, sessions=(), members=(), messages=(), media=(), push_names=()) -> Path:
    """WhatsApp's ChatStorage.sqlite: rows given as dicts (column -> value) for ``ZWACHATSESSION``,
    ``ZWAGROUPMEMBER``, ``ZWAMESSAGE``, ``ZWAMEDIAITEM`` and ``ZWAPROFILEPUSHNAME``."""
    con = sqlite3.connect(path)
    con.executescript(WHATSAPP)
    for table, rows in (("ZWACHATSESSION", sessions), ("ZWAGROUPMEMBER", members), ("ZWAMESSAGE", messages),
                        ("ZWAMEDIAITEM", media), ("ZWAPROFILEPUSHNAME", push_names)):
        for row in rows:
            _insert(con, table, row)
    con.commit()
    con.close()
    return path


def file_id(domain: str, relative: str) -> str:
    return hashlib.sha1(f"{domain}-{relative}".encode()).hexdigest()


def backup_folder(folder: Path, files: dict[tuple[str, str], bytes], encrypted: bool = False,
                  device: str = "Sam's iPhone", taken: datetime = datetime(2024, 3, 9),
                  udid: str | None = "00008030-000A1B2C3D4E5F60", password: str | None = None) -> Path:
    """An iTunes/Finder backup taken at ``taken``: Manifest.db listing ``files`` ((domain,
    relativePath) -> bytes; each file's metadata blob records its size and modification time),
    each stored at ``<id[:2]>/<id>``, with Info.plist and Manifest.plist naming the phone ``udid``
    (as iTunes writes it: lower case in Target Identifier, upper case in Unique Identifier).
    With a ``password``, the backup is encrypted as iOS encrypts it (:class:`_Encryption`);
    ``encrypted`` alone only marks it so, its Manifest.db being bytes no password opens."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = {"Target Identifier": udid.lower(), "Unique Identifier": udid.upper()} if udid else {}
    (folder / "Info.plist").write_bytes(plistlib.dumps({"Device Name": device, "Product Version": "17.4",
                                                        "Last Backup Date": taken, **ids}))
    lockdown = {"Lockdown": {"DeviceName": device, "UniqueDeviceID": udid}} if udid else {}
    crypt = _Encryption(password) if password is not None else None
    keys = crypt.manifest_plist() if crypt else {}
    (folder / "Manifest.plist").write_bytes(plistlib.dumps(
        {"IsEncrypted": encrypted or crypt is not None, "Version": "10.0", **lockdown, **keys},
        fmt=plistlib.FMT_BINARY))
    if encrypted and crypt is None:
        (folder / "Manifest.db").write_bytes(hashlib.sha512(b"fictional ciphertext").digest() * 64)
        return folder
    con = sqlite3.connect(folder / "Manifest.db")
    con.executescript(MANIFEST)
    for n, ((domain, relative), data) in enumerate(sorted(files.items())):
        fid = file_id(domain, relative)
        target = folder / fid[:2] / fid
        target.parent.mkdir(exist_ok=True)
        meta = {"Size": len(data), "LastModified": int(taken.timestamp())}
        if crypt:
            data, record = crypt.file(data, meta, n)
        else:
            record = plistlib.dumps(meta, fmt=plistlib.FMT_BINARY)
        target.write_bytes(data)
        con.execute("INSERT INTO Files VALUES (?, ?, ?, 1, ?)", (fid, domain, relative, record))
    con.commit()
    con.close()
    if crypt:
        path = folder / "Manifest.db"
        path.write_bytes(crypt.encrypt(path.read_bytes(), crypt.manifest_key))
    return folder


class _Encryption:
    """An encrypted backup's keys as iOS makes them, with tiny iteration counts (the tests run fast):
    a key bag whose class keys are wrapped (AES key wrap) with PBKDF2-SHA1(PBKDF2-SHA256(password,
    DPSL, DPIC), SALT, ITER); a key per file and one for Manifest.db, wrapped with a class key; every
    file AES-256-CBC with a zero IV and PKCS#7 padding. Fixed bytes (not random): the same backup
    twice is the same bytes."""

    CLASS = 3   # NSFileProtectionCompleteUntilFirstUserAuthentication

    def __init__(self, password: str) -> None:
        self.salt, self.dpsl = hashlib.sha1(b"salt").digest(), hashlib.sha1(b"dpsl").digest()
        round1 = hashlib.pbkdf2_hmac("sha256", password.encode(), self.dpsl, 1, 32)
        self.passphrase_key = hashlib.pbkdf2_hmac("sha1", round1, self.salt, 1, 32)
        self.class_key = hashlib.sha256(b"class key 3").digest()
        self.manifest_key = hashlib.sha256(b"manifest key").digest()

    @staticmethod
    def _wrap(kek: bytes, key: bytes) -> bytes:
        from Crypto.Cipher import AES
        return AES.new(kek, AES.MODE_KW).seal(key)

    @staticmethod
    def encrypt(data: bytes, key: bytes) -> bytes:
        from Crypto.Cipher import AES
        pad = 16 - len(data) % 16
        return AES.new(key, AES.MODE_CBC, iv=bytes(16)).encrypt(data + bytes([pad]) * pad)

    def manifest_plist(self) -> dict:
        """``BackupKeyBag`` (TLV blocks) and ``ManifestKey`` for Manifest.plist."""
        def tlv(tag: bytes, value: bytes | int) -> bytes:
            data = value.to_bytes(4, "big") if isinstance(value, int) else value
            return tag + len(data).to_bytes(4, "big") + data
        bag = (tlv(b"VERS", 3) + tlv(b"TYPE", 1) + tlv(b"UUID", bytes(range(16))) + tlv(b"HMCK", bytes(40))
               + tlv(b"WRAP", 0) + tlv(b"SALT", self.salt) + tlv(b"ITER", 1) + tlv(b"DPWT", 1)
               + tlv(b"DPIC", 1) + tlv(b"DPSL", self.dpsl)
               + tlv(b"UUID", bytes(range(16, 32))) + tlv(b"CLAS", self.CLASS) + tlv(b"WRAP", 2) + tlv(b"KTYP", 0)
               + tlv(b"WPKY", self._wrap(self.passphrase_key, self.class_key)))
        return {"BackupKeyBag": bag,
                "ManifestKey": self.CLASS.to_bytes(4, "little") + self._wrap(self.class_key, self.manifest_key)}

    def file(self, data: bytes, meta: dict, n: int) -> tuple[bytes, bytes]:
        """(encrypted bytes, Files.file record: an NSKeyedArchiver MBFile with its wrapped key)."""
        key = hashlib.sha256(b"file key %d" % n).digest()
        wrapped = b"\x04\x00\x00\x00" + self._wrap(self.class_key, key)
        archive = {"$version": 100000, "$archiver": "NSKeyedArchiver", "$top": {"root": plistlib.UID(1)},
                   "$objects": ["$null", {**meta, "ProtectionClass": self.CLASS, "EncryptionKey": plistlib.UID(2),
                                          "$class": plistlib.UID(3)},
                                {"NS.data": wrapped, "$class": plistlib.UID(4)},
                                {"$classname": "MBFile", "$classes": ["MBFile", "NSObject"]},
                                {"$classname": "NSMutableData", "$classes": ["NSMutableData", "NSData", "NSObject"]}]}
        return self.encrypt(data, key), plistlib.dumps(archive, fmt=plistlib.FMT_BINARY)


# -- the demo's iPhone ---------------------------------------------------------------------------

DEMO_OWNER = "+447700900999"
_JORDAN_NEW, _JORDAN_MAIL = "+447700900456", "jk.private@example.com"
_DEMO_TEXTS = [  # (when, handle, from Sam, text, special)
    ("2024-04-16T19:02:11Z", 1, False, "I know you got a new phone", None),
    ("2024-04-16T19:02:40Z", 1, False, "answer me", None),
    ("2024-04-16T21:15:03Z", 2, False, "You can't hide from me on iMessage either", "attributed"),
    ("2024-04-17T07:30:00Z", 2, True, "Please stop contacting me. There is a court order.", "attributed"),
    ("2024-04-17T07:31:12Z", 2, False, "Laughed at \u201cPlease stop contacting me. There is a court order.\u201d", "reaction"),
    ("2024-04-18T23:48:30Z", 2, False, "I'm outside", "edited"),
    ("2024-04-18T23:52:00Z", 2, False, None, "unsent"),
    ("2024-04-20T01:10:09Z", 1, False, "\ufffc", "photo"),
    ("2024-04-22T22:05:44Z", 1, False, "why won't you talk to me", None),
    ("2024-04-25T18:20:00Z", 1, False, "\ufffc", "missing"),
    ("2024-04-28T00:31:17Z", 2, False, "I'm not going away", "attributed"),
]
_DEMO_CALLS = [  # (when, address, call type, answered, originated, seconds)
    ("2024-04-16T19:05:00Z", _JORDAN_NEW, 1, 0, 0, 0.0),
    ("2024-04-18T23:50:10Z", _JORDAN_MAIL, 16, 0, 0, 0.0),
    ("2024-04-18T23:55:41Z", _JORDAN_MAIL, 8, 0, 0, 0.0),
    ("2024-04-22T22:07:02Z", _JORDAN_NEW, 1, 0, 0, 0.0),
    ("2024-04-24T12:00:00Z", "+447700900111", 1, 1, 1, 312.4),
]


_DEMO_WHATSAPP = [  # (when, from Sam, text): after the export of 15 April
    ("2024-04-19T22:14:05Z", False, "Saw you changed your picture"),
    ("2024-04-19T22:15:40Z", False, "Who is he"),
    ("2024-04-26T23:02:11Z", False, "I'll be at the station tomorrow"),
]
_JORDAN_JID = "447700900123@s.whatsapp.net"


def demo_whatsapp(path: Path, earlier: list[tuple[datetime, str, str]]) -> Path:
    """Sam's ChatStorage.sqlite: the chat with Jordan (saved as "Jordan"), moved to the new phone,
    holding ``earlier`` messages ((aware time, author, text), also in the demo's export) and three
    from after that export."""
    rows = [(when.astimezone(timezone.utc), author == "Sam", text) for when, author, text in earlier]
    rows += [(datetime.fromisoformat(iso.replace("Z", "+00:00")), mine, text) for iso, mine, text in _DEMO_WHATSAPP]
    messages = [{"Z_PK": pk, "Z_ENT": 9, "ZCHATSESSION": 1, "ZISFROMME": int(mine), "ZMESSAGETYPE": 0,
                 "ZMESSAGEDATE": (when - COCOA).total_seconds(), "ZTEXT": text, "ZSTANZAID": f"3EB0DEMO{pk:04d}",
                 **({"ZTOJID": _JORDAN_JID} if mine else {"ZFROMJID": _JORDAN_JID})}
                for pk, (when, mine, text) in enumerate(rows, 1)]
    return whatsapp_db(path, sessions=[{"Z_PK": 1, "ZCONTACTJID": _JORDAN_JID, "ZPARTNERNAME": "Jordan",
                                        "ZSESSIONTYPE": 0}], messages=messages)


def demo_backup(folder: Path, photo: bytes, whatsapp: list[tuple[datetime, str, str]] = ()) -> Path:
    """The backup of the iPhone Sam moved to on 16 April 2024 (taken 30 April): Jordan's texts from
    the new number and iMessages from a new address (a reaction, an edit, an unsent message, a photo
    and a photo the backup lacks), missed calls and FaceTime calls, Jordan in the address book, and
    WhatsApp (:func:`demo_whatsapp`, ``whatsapp`` the messages it shares with the demo's export)."""
    import tempfile

    handles = [{"ROWID": 1, "id": _JORDAN_NEW, "service": "SMS", "country": "gb"},
               {"ROWID": 2, "id": _JORDAN_MAIL, "service": "iMessage"}]
    chats = [{"ROWID": 1, "guid": f"SMS;-;{_JORDAN_NEW}", "style": 45, "chat_identifier": _JORDAN_NEW,
              "service_name": "SMS"},
             {"ROWID": 2, "guid": f"iMessage;-;{_JORDAN_MAIL}", "style": 45, "chat_identifier": _JORDAN_MAIL,
              "service_name": "iMessage"}]
    messages, attachments, links = [], [], []
    for rowid, (when, handle, mine, text, special) in enumerate(_DEMO_TEXTS, 1):
        row = {"ROWID": rowid, "guid": f"DEMO-{rowid:04d}", "date": cocoa(when), "handle_id": handle,
               "service": "SMS" if handle == 1 else "iMessage", "is_from_me": int(mine), "chat": handle,
               "destination_caller_id": DEMO_OWNER, "text": text}
        if special == "attributed":
            row.update(text=None, attributedBody=typedstream(text))
        elif special == "reaction":
            row.update(associated_message_guid=f"p:0/DEMO-{rowid - 1:04d}", associated_message_type=2003)
        elif special == "edited":
            row.update(date_edited=cocoa("2024-04-18T23:49:05Z"), message_summary_info=summary_info(
                [(when, "I'm outside your door"), ("2024-04-18T23:49:05Z", text)]))
        elif special == "unsent":
            row.update(date_edited=cocoa("2024-04-18T23:53:00Z"), date_retracted=cocoa("2024-04-18T23:53:00Z"),
                       message_summary_info=summary_info(unsent_parts=[0]))
        elif special in ("photo", "missing"):
            name = "IMG_0412.jpeg" if special == "photo" else "IMG_0415.jpeg"
            attachments.append({"ROWID": len(attachments) + 1, "guid": f"ATT-{rowid}", "mime_type": "image/jpeg",
                                "filename": f"~/Library/SMS/Attachments/{rowid:02d}/00/ATT-{rowid}/{name}",
                                "transfer_name": name, "total_bytes": len(photo)})
            links.append((rowid, len(attachments)))
            row["cache_has_attachments"] = 1
        messages.append(row)
    calls = [{"Z_PK": pk, "ZDATE": cocoa(when, nanos=False), "ZADDRESS": address, "ZCALLTYPE": kind,
              "ZANSWERED": answered, "ZORIGINATED": originated, "ZDURATION": seconds,
              "ZSERVICE_PROVIDER": "com.apple.Telephony" if kind == 1 else "com.apple.FaceTime"}
             for pk, (when, address, kind, answered, originated, seconds) in enumerate(_DEMO_CALLS, 1)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = {
            ("HomeDomain", "Library/SMS/sms.db"): messages_db(
                work / "sms.db", handles=handles, chats=chats, members=[(1, 1), (2, 2)], messages=messages,
                attachments=attachments, links=links).read_bytes(),
            ("HomeDomain", "Library/CallHistoryDB/CallHistory.storedata"): call_history(
                work / "calls.db", calls).read_bytes(),
            ("HomeDomain", "Library/AddressBook/AddressBook.sqlitedb"): address_book(
                work / "ab.db", [({"First": "Jordan"}, [(3, "07700 900456"), (4, _JORDAN_MAIL)])]).read_bytes(),
            ("MediaDomain", attachments[0]["filename"][2:]): photo,
            ("AppDomainGroup-group.net.whatsapp.WhatsApp.shared", "ChatStorage.sqlite"): demo_whatsapp(
                work / "ChatStorage.sqlite", list(whatsapp)).read_bytes(),
        }
    return backup_folder(folder, files, taken=datetime(2024, 4, 30, 20, 0))
