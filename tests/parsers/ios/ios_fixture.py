"""Builders of fictional Apple databases and iPhone backups, with the real table and column names.

Layouts (what ``sqlite3 .schema`` shows on the devices, trimmed to columns that matter here but
never renamed):

- ``IOS16``: sms.db of iOS 16-18 / macOS 13-15 chat.db (``date_edited``, ``date_retracted``,
  ``message_summary_info``, ``destination_caller_id``, ``reply_to_guid``; dates in nanoseconds);
- ``IOS10``: sms.db of iOS 10 (reactions, no edit/unsend columns; dates in seconds).
"""

from __future__ import annotations

import hashlib
import plistlib
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

COCOA = datetime(2001, 1, 1, tzinfo=timezone.utc)

_MESSAGE_COMMON = """ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, text TEXT,
  replace INTEGER DEFAULT 0, service_center TEXT, handle_id INTEGER DEFAULT 0, subject TEXT, country TEXT,
  attributedBody BLOB, version INTEGER DEFAULT 0, type INTEGER DEFAULT 0, service TEXT, account TEXT,
  account_guid TEXT, error INTEGER DEFAULT 0, date INTEGER, date_read INTEGER, date_delivered INTEGER,
  is_delivered INTEGER DEFAULT 0, is_finished INTEGER DEFAULT 0, is_emote INTEGER DEFAULT 0,
  is_from_me INTEGER DEFAULT 0, is_empty INTEGER DEFAULT 0, is_delayed INTEGER DEFAULT 0,
  is_auto_reply INTEGER DEFAULT 0, is_prepared INTEGER DEFAULT 0, is_read INTEGER DEFAULT 0,
  is_system_message INTEGER DEFAULT 0, is_sent INTEGER DEFAULT 0, has_dd_results INTEGER DEFAULT 0,
  is_service_message INTEGER DEFAULT 0, is_forward INTEGER DEFAULT 0, was_downgraded INTEGER DEFAULT 0,
  is_archive INTEGER DEFAULT 0, cache_has_attachments INTEGER DEFAULT 0, cache_roomnames TEXT,
  was_data_detected INTEGER DEFAULT 0, was_deduplicated INTEGER DEFAULT 0, is_audio_message INTEGER DEFAULT 0,
  is_played INTEGER DEFAULT 0, date_played INTEGER, item_type INTEGER DEFAULT 0, other_handle INTEGER DEFAULT 0,
  group_title TEXT, group_action_type INTEGER DEFAULT 0, share_status INTEGER DEFAULT 0,
  share_direction INTEGER DEFAULT 0, is_expirable INTEGER DEFAULT 0, expire_state INTEGER DEFAULT 0,
  message_action_type INTEGER DEFAULT 0, message_source INTEGER DEFAULT 0, associated_message_guid TEXT,
  associated_message_type INTEGER DEFAULT 0, balloon_bundle_id TEXT, payload_data BLOB,
  expressive_send_style_id TEXT, associated_message_range_location INTEGER DEFAULT 0,
  associated_message_range_length INTEGER DEFAULT 0, time_expressive_send_played INTEGER,
  message_summary_info BLOB"""
_MESSAGE_IOS16 = _MESSAGE_COMMON + """, ck_sync_state INTEGER DEFAULT 0, ck_record_id TEXT,
  ck_record_change_tag TEXT, destination_caller_id TEXT, is_corrupt INTEGER DEFAULT 0, reply_to_guid TEXT,
  sort_id INTEGER, is_spam INTEGER DEFAULT 0, has_unseen_mention INTEGER DEFAULT 0, thread_originator_guid TEXT,
  thread_originator_part TEXT, syndication_ranges TEXT, synced_syndication_ranges TEXT,
  was_delivered_quietly INTEGER DEFAULT 0, did_notify_recipient INTEGER DEFAULT 0, date_retracted INTEGER,
  date_edited INTEGER, was_detonated INTEGER DEFAULT 0, part_count INTEGER, is_stewie INTEGER DEFAULT 0,
  is_kt_verified INTEGER DEFAULT 0, is_sos INTEGER DEFAULT 0, is_critical INTEGER DEFAULT 0,
  bia_reference_id TEXT DEFAULT NULL, fallback_hash TEXT DEFAULT NULL"""
# iOS 10: no message_summary_info either
_MESSAGE_IOS10 = _MESSAGE_COMMON.replace(",\n  message_summary_info BLOB", "")

_OTHER_TABLES = """
CREATE TABLE handle (ROWID INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE, id TEXT NOT NULL, country TEXT,
  service TEXT NOT NULL, uncanonicalized_id TEXT, person_centric_id TEXT, UNIQUE (id, service));
CREATE TABLE chat (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, style INTEGER,
  state INTEGER, account_id TEXT, properties BLOB, chat_identifier TEXT, service_name TEXT, room_name TEXT,
  account_login TEXT, is_archived INTEGER DEFAULT 0, last_addressed_handle TEXT, display_name TEXT,
  group_id TEXT, is_filtered INTEGER DEFAULT 0, successful_query INTEGER, engram_id TEXT,
  server_change_token TEXT, ck_sync_state INTEGER DEFAULT 0, original_group_id TEXT,
  last_read_message_timestamp INTEGER DEFAULT 0);
CREATE TABLE chat_handle_join (chat_id INTEGER REFERENCES chat (ROWID) ON DELETE CASCADE,
  handle_id INTEGER REFERENCES handle (ROWID) ON DELETE CASCADE, UNIQUE(chat_id, handle_id));
CREATE TABLE chat_message_join (chat_id INTEGER REFERENCES chat (ROWID) ON DELETE CASCADE,
  message_id INTEGER REFERENCES message (ROWID) ON DELETE CASCADE, message_date INTEGER DEFAULT 0,
  PRIMARY KEY (chat_id, message_id));
CREATE INDEX chat_message_join_idx_message_id_only ON chat_message_join(message_id);
CREATE TABLE attachment (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL,
  created_date INTEGER DEFAULT 0, start_date INTEGER DEFAULT 0, filename TEXT, uti TEXT, mime_type TEXT,
  transfer_state INTEGER DEFAULT 0, is_outgoing INTEGER DEFAULT 0, user_info BLOB, transfer_name TEXT,
  total_bytes INTEGER DEFAULT 0, is_sticker INTEGER DEFAULT 0, sticker_user_info BLOB, attribution_info BLOB,
  hide_attachment INTEGER DEFAULT 0);
CREATE TABLE message_attachment_join (message_id INTEGER REFERENCES message (ROWID) ON DELETE CASCADE,
  attachment_id INTEGER REFERENCES attachment (ROWID) ON DELETE CASCADE, UNIQUE(message_id, attachment_id));
"""

LAYOUTS = {"ios16": _MESSAGE_IOS16, "ios10": _MESSAGE_IOS10}

CALL_HISTORY = """CREATE TABLE ZCALLRECORD (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZANSWERED INTEGER, ZCALLTYPE INTEGER, ZDISCONNECTED_CAUSE INTEGER, ZFACE_TIME_DATA INTEGER,
  ZNUMBER_AVAILABILITY INTEGER, ZORIGINATED INTEGER, ZREAD INTEGER, ZJUNKCONFIDENCE INTEGER,
  ZJUNKIDENTIFICATIONCATEGORY INTEGER, ZDATE TIMESTAMP, ZDURATION FLOAT, ZADDRESS VARCHAR, ZDEVICE_ID VARCHAR,
  ZISO_COUNTRY_CODE VARCHAR, ZLOCATION VARCHAR, ZNAME VARCHAR, ZSERVICE_PROVIDER VARCHAR, ZUNIQUE_ID VARCHAR)"""

ADDRESS_BOOK = """
CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, First TEXT, Last TEXT, Middle TEXT,
  FirstPhonetic TEXT, MiddlePhonetic TEXT, LastPhonetic TEXT, Organization TEXT, Department TEXT, Note TEXT,
  Kind INTEGER, Birthday TEXT, JobTitle TEXT, Nickname TEXT, Prefix TEXT, Suffix TEXT);
CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, property INTEGER, identifier INTEGER,
  label INTEGER, value TEXT);
"""

MANIFEST = """
CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
CREATE INDEX FilesDomainIdx ON Files(domain);
CREATE INDEX FilesRelativePathIdx ON Files(relativePath);
CREATE INDEX FilesFlagsIdx ON Files(flags);
CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);
"""


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
    con.executescript(f"CREATE TABLE message ({LAYOUTS[layout]});" + _OTHER_TABLES)
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


def file_id(domain: str, relative: str) -> str:
    return hashlib.sha1(f"{domain}-{relative}".encode()).hexdigest()


def backup_folder(folder: Path, files: dict[tuple[str, str], bytes], encrypted: bool = False,
                  device: str = "Sam's iPhone", taken: datetime = datetime(2024, 3, 9)) -> Path:
    """An iTunes/Finder backup taken at ``taken``: Manifest.db listing ``files`` ((domain,
    relativePath) -> bytes; each file's metadata blob records its size and modification time),
    each stored at ``<id[:2]>/<id>``, with Info.plist and Manifest.plist."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Info.plist").write_bytes(plistlib.dumps({"Device Name": device, "Product Version": "17.4",
                                                        "Last Backup Date": taken}))
    (folder / "Manifest.plist").write_bytes(plistlib.dumps({"IsEncrypted": encrypted, "Version": "10.0"},
                                                           fmt=plistlib.FMT_BINARY))
    if encrypted:
        (folder / "Manifest.db").write_bytes(hashlib.sha512(b"fictional ciphertext").digest() * 64)
        return folder
    con = sqlite3.connect(folder / "Manifest.db")
    con.executescript(MANIFEST)
    for (domain, relative), data in sorted(files.items()):
        fid = file_id(domain, relative)
        target = folder / fid[:2] / fid
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
        con.execute("INSERT INTO Files VALUES (?, ?, ?, 1, ?)",
                    (fid, domain, relative, plistlib.dumps({"Size": len(data), "LastModified": int(taken.timestamp())},
                                   fmt=plistlib.FMT_BINARY)))
    con.commit()
    con.close()
    return folder
