"""The iPhone backup parser (commtrail/parsers/ios/backup.py): messages, calls, contact hints."""

from __future__ import annotations

import hashlib
import json
import plistlib
import sqlite3

import pytest
from conftest import make_ctx, run_parser
from commtrail.demo_ios import backup_folder, cocoa, messages_db
from scenario import CALLS_DB, CONTACTS_DB, JPEG, MESSAGES, SMS_DB, iphone_backup

from commtrail.errors import InputError
from commtrail.parsers import registry
from commtrail.parsers.base import Owner

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
SHARED = ("source_sha256", "source_path", "parser", "event_id", "party")


def parse_backup(tmp_path, folder, **kwargs):
    ctx = make_ctx(tmp_path, source_path=str(folder / "Manifest.db"), owner=OWNER, timezone="Europe/London",
                   open_relative=lambda rel: open(folder / rel, "rb"), work_dir=tmp_path / "work", **kwargs)
    table, rejects, report = run_parser("ios-backup", (folder / "Manifest.db").read_bytes(), ctx)
    rows = [{k: v for k, v in row.items() if k not in SHARED} for row in table.to_pylist()]
    for row in rows:
        row["ts_utc"] = row["ts_utc"].isoformat() if row["ts_utc"] else None
        row["extra"] = json.loads(row["extra"]) if row["extra"] else None
    return rows, rejects, report


@pytest.fixture
def parsed(tmp_path):
    return parse_backup(tmp_path, iphone_backup(tmp_path / "backup", tmp_path / "build"))


def test_sniff():
    parser = registry.get("ios-backup")
    assert parser.sniff(b"SQLite format 3\x00...CREATE TABLE Files (fileID TEXT PRIMARY KEY", "Manifest.db")
    assert parser.sniff(b"\x8a\x13 encrypted bytes", "Manifest.db")   # an encrypted backup's manifest
    assert not parser.sniff(b"SQLite format 3\x00...CREATE TABLE Files", "other.db")
    assert not parser.sniff(b"SQLite format 3\x00...CREATE TABLE message", "Manifest.db")
    assert not parser.sniff(b"", "Manifest.db")


def test_counts_and_order(parsed):
    rows, rejects, report = parsed
    assert report.warnings == []
    assert len(rows) == 15 and len(rejects) == 1     # 12 messages (one rejected) + 4 calls
    assert [r["locator"] for r in rows] == [f"sms.db message ROWID {i}" for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12)] \
        + [f"CallHistory.storedata ZCALLRECORD Z_PK {i}" for i in (1, 2, 3, 4)]
    assert [(r["channel"], r["kind"], r["direction"]) for r in rows] == [
        ("imessage", "message", "incoming"), ("imessage", "message", "outgoing"), ("imessage", "reaction", "incoming"),
        ("imessage", "message", "incoming"), ("imessage", "message", "incoming"), ("sms", "message", "incoming"),
        ("imessage", "message", "incoming"), ("imessage", "message", "outgoing"), ("mms", "message", "incoming"),
        ("imessage", "system", "outgoing"), ("imessage", "reaction", "outgoing"),
        ("call", "outgoing", "outgoing"), ("facetime", "incoming", "incoming"), ("call", "missed", "incoming"),
        ("facetime", "incoming", "incoming")]


def test_a_message_in_full(parsed):
    rows, _, _ = parsed
    assert rows[0] == {
        "ts_utc": "2024-03-01T18:30:05.250000+00:00", "ts_local": "2024-03-01T18:30:05.250", "ts_precision": "ms",
        "tz_source": "source", "channel": "imessage", "kind": "message", "direction": "incoming",
        "sender": "+447700900123", "sender_raw": "+447700900123", "recipients": ["+447700900999"],
        "conversation": "+447700900123", "subject": None, "body": "Are you home?", "duration_s": None,
        "attachments": None, "flags": None, "locator": "sms.db message ROWID 1",
        "extra": {"account": "p:+447700900999", "chat_guid": "iMessage;-;+447700900123",
                  "contact_names": {"+447700900123": "Jordan Example"}, "date_read": "2024-03-01T18:31:00.000Z",
                  "device": "00008030-000A1B2C3D4E5F60", "guid": "GUID-0001", "service": "iMessage"}}


def test_text_from_attributed_body_and_undecodable_rejected(parsed):
    rows, rejects, _ = parsed
    assert (rows[1]["body"], rows[1]["sender"], rows[1]["recipients"]) == (
        "Please stop messaging me.", "+447700900999", ["+447700900123"])
    assert rows[6]["body"] == "See you all at 6 \U0001f37b"
    assert rejects[0].locator == "sms.db message ROWID 10"
    assert rejects[0].reason == "the text of this message is only in attributedBody, and it cannot be decoded"
    assert rejects[0].raw == (f"guid=GUID-0010 date={cocoa('2024-03-02T12:00:00Z')} handle_id=1 is_from_me=0 "
                              "service=iMessage attributedBody(hex)=040b73747265616d747970656481e80367617262616765")


def test_reactions_link_to_the_message(parsed):
    rows, _, _ = parsed
    loved, removed = rows[2], rows[10]
    assert loved["body"] == "Loved \u201cPlease stop messaging me.\u201d"
    assert {k: loved["extra"][k] for k in ("reaction", "reacts_to", "associated_message_guid")} == {
        "reaction": "love", "reacts_to": "GUID-0002", "associated_message_guid": "p:0/GUID-0002"}
    assert rows[1]["extra"]["guid"] == "GUID-0002"
    assert (removed["extra"]["reaction"], removed["extra"]["reaction_removed"], removed["extra"]["reacts_to"]) == (
        "like", True, "GUID-0001")


def test_edited_keeps_every_version_and_unsent_is_flagged(parsed):
    rows, _, _ = parsed
    edited, unsent = rows[3], rows[4]
    assert (edited["body"], edited["flags"]) == ("I just want to talk", ["edited"])
    assert edited["extra"]["edits"] == [
        {"part": 0, "date": "2024-03-01T18:40:00Z", "text": "I want to talk"},
        {"part": 0, "date": "2024-03-01T18:41:30Z", "text": "I just want to talk"}]
    assert (unsent["body"], unsent["flags"]) == (None, ["unsent"])
    assert unsent["extra"]["date_retracted"] == "2024-03-01T18:46:00.000Z"
    assert unsent["extra"]["unsent_parts"] == [0]


def test_group_chat_members(parsed):
    rows, _, _ = parsed
    incoming, outgoing, system = rows[6], rows[7], rows[9]
    assert (incoming["sender"], incoming["recipients"], incoming["conversation"]) == (
        "+447700900456", ["+447700900999", "+447700900123"], "Weekend plans")
    assert outgoing["recipients"] == ["+447700900123", "+447700900456"]
    assert outgoing["extra"]["chat_members"] == ["+447700900123", "+447700900456"]
    assert outgoing["extra"]["contact_names"] == {"+447700900123": "Jordan Example",
                                                  "+447700900456": "Example Dental"}
    assert (system["kind"], system["body"], system["extra"]["item_type"]) == ("system", None, 1)


def test_attachments_stored_or_flagged_missing(parsed, tmp_path):
    rows, _, _ = parsed
    sha = hashlib.sha256(JPEG).hexdigest()
    assert rows[7]["attachments"] == [{"name": "IMG_0001.jpeg", "mime": "image/jpeg", "size": len(JPEG),
                                       "sha256": sha}]
    assert rows[7]["body"] == "I'm not coming \ufffc"
    assert (tmp_path / "blobs" / sha).read_bytes() == JPEG
    assert rows[8]["attachments"] == [{"name": "photo.jpeg", "mime": "image/jpeg", "size": 48213, "sha256": None}]
    assert rows[8]["flags"] == ["attachment_missing"]
    assert rows[8]["extra"]["attachment_paths"] == ["~/Library/SMS/Attachments/cd/12/BBBB-2222/photo.jpeg"]


def test_calls(parsed):
    rows, _, _ = parsed
    calls = rows[11:]
    assert [(c["ts_utc"], c["sender"], c["recipients"], c["duration_s"]) for c in calls] == [
        ("2024-03-03T08:00:00.500000+00:00", "+447700900999", ["+447700900123"], 65),
        ("2024-03-03T09:00:00+00:00", "jordan.k@example.com", ["+447700900999"], 120),
        ("2024-03-03T10:00:00+00:00", "+447700900456", ["+447700900999"], 0),
        ("2024-03-03T11:00:00+00:00", "withheld", ["+447700900999"], 30)]
    assert calls[1]["extra"] == {"answered": 1, "call_type": 8, "contact_names": {"jordan.k@example.com": "Jordan Example"},
                                 "device": "00008030-000A1B2C3D4E5F60", "duration_raw": 120.0, "facetime": "video",
                                 "service_provider": "com.apple.FaceTime", "unique_id": "CALL-0002"}
    assert calls[3]["extra"]["facetime"] == "audio"


def test_every_record_names_the_phone_and_a_backup_naming_none_or_two_is_a_warning(tmp_path, parsed):
    rows, _, _ = parsed
    assert {r["extra"]["device"] for r in rows} == {"00008030-000A1B2C3D4E5F60"}
    rows, _, report = parse_backup(tmp_path, iphone_backup(tmp_path / "none", tmp_path / "b1", udid=None))
    assert len(rows) == 15 and all("device" not in r["extra"] for r in rows)
    assert report.warnings == [
        "the backup names no device (no Lockdown UniqueDeviceID in Manifest.plist, no Unique Identifier or Target "
        "Identifier in Info.plist): it is not compared with other backups for possibly deleted messages and calls"]
    two = iphone_backup(tmp_path / "two", tmp_path / "b2")
    manifest = plistlib.loads((two / "Manifest.plist").read_bytes())
    manifest["Lockdown"]["UniqueDeviceID"] = "00008110-0001A2B3C4D5E6F7"
    (two / "Manifest.plist").write_bytes(plistlib.dumps(manifest, fmt=plistlib.FMT_BINARY))
    rows, _, report = parse_backup(tmp_path, two)
    assert all("device" not in r["extra"] for r in rows)
    assert report.warnings == [
        "the backup names more than one device (00008030-000A1B2C3D4E5F60, 00008110-0001A2B3C4D5E6F7): it is "
        "not compared with other backups for possibly deleted messages and calls"]


def test_missing_databases_are_warnings(tmp_path):
    folder = iphone_backup(tmp_path / "backup", tmp_path / "build", calls=False, contacts=False)
    rows, rejects, report = parse_backup(tmp_path, folder)
    assert (len(rows), len(rejects)) == (11, 1)
    assert report.warnings == [
        "the backup holds no HomeDomain-Library/AddressBook/AddressBook.sqlitedb: nothing was read from it",
        "the backup holds no HomeDomain-Library/CallHistoryDB/CallHistory.storedata: nothing was read from it"]
    assert "contact_names" not in rows[0]["extra"]


def test_seconds_and_nanoseconds_told_apart_per_value(tmp_path):
    db = messages_db(tmp_path / "old.db", layout="ios10",
                     handles=[{"ROWID": 1, "id": "07700 900123", "service": "SMS"}],
                     messages=[{"ROWID": 1, "guid": "A", "text": "old", "handle_id": 1, "service": "SMS",
                                "date": cocoa("2017-05-01T12:00:00Z", nanos=False)},
                               {"ROWID": 2, "guid": "B", "text": "new", "handle_id": 1, "service": "SMS",
                                "date": cocoa("2017-05-01T12:00:01.5Z")},
                               {"ROWID": 3, "guid": "C", "text": "none", "handle_id": 1, "service": "SMS", "date": 0}])
    folder = backup_folder(tmp_path / "backup", {SMS_DB: db.read_bytes()})
    rows, rejects, _ = parse_backup(tmp_path, folder)
    assert [(r["ts_utc"], r["ts_precision"], r["tz_source"], r["flags"]) for r in rows] == [
        ("2017-05-01T12:00:00+00:00", "s", "source", None), ("2017-05-01T12:00:01.500000+00:00", "ms", "source", None),
        (None, None, None, ["undated"])]
    assert rows[0]["sender"] == "+447700900123" and rows[0]["sender_raw"] == "07700 900123"


def test_unknown_layout_names_the_table_and_column(tmp_path):
    db = tmp_path / "sms.db"
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE message (ROWID INTEGER PRIMARY KEY, guid TEXT, text TEXT, handle_id INTEGER, "
                      "service TEXT, is_from_me INTEGER); CREATE TABLE handle (ROWID INTEGER PRIMARY KEY, id TEXT);")
    con.close()
    folder = backup_folder(tmp_path / "backup", {SMS_DB: db.read_bytes()})
    with pytest.raises(InputError) as caught:
        parse_backup(tmp_path, folder)
    assert caught.value.render() == (
        f"{folder}/Manifest.db (HomeDomain-Library/SMS/sms.db): table message has no column date, so this database "
        "is of a layout commtrail does not know. The README lists the iOS and macOS versions commtrail reads; please "
        "report the version this database comes from.")


def test_encrypted_backup_without_password_is_refused(tmp_path):
    folder = backup_folder(tmp_path / "backup", {}, encrypted=True)
    with pytest.raises(InputError) as caught:
        parse_backup(tmp_path, folder)
    assert caught.value.render() == (
        f"{folder}/Manifest.db (Manifest.plist): this iPhone backup is encrypted (IsEncrypted) and no password was "
        "given. Give the backup's password in a file with --password-file FILE (the file holds only the password), "
        "or run commtrail ingest in a terminal to be asked for it.")


def test_private_copies_are_removed_and_originals_untouched(tmp_path):
    folder = iphone_backup(tmp_path / "backup", tmp_path / "build")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    parse_backup(tmp_path, folder)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert list((tmp_path / "work").iterdir()) == []
    assert len(MESSAGES) == 12


def test_the_demo_iphone_backup(tmp_path):
    from commtrail.demo_ios import demo_backup
    rows, rejects, report = parse_backup(tmp_path, demo_backup(tmp_path / "backup", JPEG))
    assert (len(rows), len(rejects), report.warnings) == (19, 0, [])
    assert [r["body"] for r in rows if r["channel"] == "whatsapp"] == [
        "Saw you changed your picture", "Who is he", "I'll be at the station tomorrow"]
    assert sorted((r["channel"], r["kind"]) for r in rows).count(("facetime", "missed")) == 2
    assert [(r["body"], r["flags"]) for r in rows if r["flags"]] == [
        ("I'm outside", ["edited"]), (None, ["unsent"]), ("\ufffc", ["attachment_missing"])]
    assert {r["sender"] for r in rows if r["direction"] == "incoming"} == {"+447700900456", "jk.private@example.com",
                                                                          "wa:Jordan"}


def test_a_damaged_call_history_or_address_book_is_a_warning(tmp_path):
    folder = iphone_backup(tmp_path / "good", tmp_path / "build")
    files = {}
    con = sqlite3.connect(folder / "Manifest.db")
    for fid, domain, rel in con.execute("SELECT fileID, domain, relativePath FROM Files"):
        files[(domain, rel)] = (folder / fid[:2] / fid).read_bytes()
    con.close()
    files[CALLS_DB] = files[CALLS_DB][:100] + b"\xff" * 3000     # the header is intact, the pages are not
    files[CONTACTS_DB] = b"not a database at all"
    damaged = backup_folder(tmp_path / "damaged", files)
    rows, rejects, report = parse_backup(tmp_path, damaged)
    assert (len(rows), len(rejects)) == (11, 1)
    label = f"{damaged}/Manifest.db"
    assert report.warnings == [
        f"{label} (HomeDomain-Library/AddressBook/AddressBook.sqlitedb) (byte 0): this is not an SQLite database (it does not "
        "start with the SQLite header), so it cannot be read. Give the database as the phone or the backup wrote it; "
        "it may be damaged or encrypted. No contact names were offered.",
        f"{label} (HomeDomain-Library/CallHistoryDB/CallHistory.storedata) (opening it): this SQLite database cannot "
        "be read "
        "(database disk image is malformed). It may be damaged or encrypted; give an intact copy. No calls were read."]


def test_call_history_text_that_is_not_utf8_is_read_and_counted(tmp_path):
    from commtrail.demo_ios import call_history
    from scenario import CALLS
    db = call_history(tmp_path / "calls.db", CALLS[:2])
    con = sqlite3.connect(db)
    con.execute("UPDATE ZCALLRECORD SET ZNAME = CAST(x'4a6f7264616ee9' AS TEXT) WHERE Z_PK = 2")   # Latin-1 é
    con.commit()
    con.close()
    folder = backup_folder(tmp_path / "backup", {CALLS_DB: db.read_bytes()})
    rows, _, report = parse_backup(tmp_path, folder)
    assert [r["extra"].get("name") for r in rows] == [None, "Jordan\ufffd"]
    assert report.repairs == 1
    assert report.warnings[-1] == ("1 text value in CallHistory.storedata is not valid UTF-8: their undecodable "
                                   "bytes were read as U+FFFD")


def test_every_call_is_read_when_z_pk_is_not_the_rowid_and_text_is_not_utf8(tmp_path):
    """Calls are read in ROWID order, again after the last ROWID done from a text that is not UTF-8 on:
    a table whose Z_PK is a plain column, one of them NULL (no locator then), loses no call and
    counts the repair once."""
    from commtrail.demo_ios import call_history
    from commtrail.parsers.ios.layouts import CALL_HISTORY
    from scenario import CALLS
    db = call_history(tmp_path / "calls.db", CALLS[:3])
    con = sqlite3.connect(db)
    con.executescript("ALTER TABLE ZCALLRECORD RENAME TO made; "
                      + CALL_HISTORY.replace("Z_PK INTEGER PRIMARY KEY", "Z_PK INTEGER") + "; "
                      "INSERT INTO ZCALLRECORD SELECT * FROM made ORDER BY Z_PK; DROP TABLE made; "
                      "UPDATE ZCALLRECORD SET Z_PK = CASE ROWID WHEN 1 THEN NULL WHEN 2 THEN 7 ELSE 5 END, "
                      "ZNAME = CASE ROWID WHEN 3 THEN CAST(x'4a6f7264616ee9' AS TEXT) END")   # Latin-1 é
    con.close()
    folder = backup_folder(tmp_path / "backup", {CALLS_DB: db.read_bytes()})
    for size in (1, 3):
        rows, _, report = parse_backup(tmp_path, folder, batch_size=size)
        assert [r["locator"] for r in rows] == [None, "CallHistory.storedata ZCALLRECORD Z_PK 7",
                                                "CallHistory.storedata ZCALLRECORD Z_PK 5"]
        assert [r["extra"].get("name") for r in rows] == [None, None, "Jordan\ufffd"]
        assert report.repairs == 1


def test_call_values_read_column_wise_as_one_by_one():
    """directions and reals (ios/database.py, used by calls.py) give what bool() and float() give,
    whatever SQLite returns; a TEXT or a BLOB is no number, even one that spells a number."""
    import numpy as np

    from commtrail.parsers.ios.database import directions, reals
    for values in [(1, None, 2.5), (None, None), (1, 0, None), (float("nan"), 0.0, 1), (2**60, 1), (2**63 - 1, -1)]:
        assert directions(values)[0].tolist() == [int(bool(v)) for v in values] and directions(values)[1] is None
    codes, raw = directions(("1", 2, b"x", None, 0.5))
    assert (codes.tolist(), raw) == ([2, 1, 2, 0, 1], ["1", None, b"x", None, None])
    for values in [(1, None, 2.5), (None,), (3, 4), (2**60 + 1, 1), (1e999, 1)]:
        read, unreadable = reals(values)
        assert np.array_equal(read, np.array([np.nan if v is None else float(v) for v in values]), equal_nan=True)
        assert not unreadable.any()
    read, unreadable = reals(("x", None, b"\xff", "nan", 3, "2.5", b"12"))
    assert np.array_equal(read, [np.nan, np.nan, np.nan, np.nan, 3.0, np.nan, np.nan], equal_nan=True)
    assert unreadable.tolist() == [True, False, True, True, False, True, True]


def test_a_call_whose_date_is_no_time_is_a_reject_and_a_duration_past_int32_is_left_empty(tmp_path):
    """ZDATE holding a text, a number past 2200 or infinity: the call is a reject with its row written
    out (the other calls are kept); a ZDURATION no number or past 2**31 seconds: duration_s empty, the
    value kept in extra.duration_raw, counted in a warning. Before, each of these stopped the parse."""
    from commtrail.demo_ios import call_history
    from scenario import CALLS
    db = call_history(tmp_path / "calls.db", CALLS[:4])
    con = sqlite3.connect(db)
    con.execute("UPDATE ZCALLRECORD SET ZDATE = 'yesterday' WHERE Z_PK = 1")
    con.execute("UPDATE ZCALLRECORD SET ZDATE = 7e17, ZDURATION = 'long' WHERE Z_PK = 2")
    con.execute("UPDATE ZCALLRECORD SET ZDURATION = 1e12 WHERE Z_PK = 3")
    con.execute("UPDATE ZCALLRECORD SET ZDATE = 9e999 WHERE Z_PK = 4")
    con.execute("INSERT INTO ZCALLRECORD (Z_PK, ZDATE, ZDURATION, ZORIGINATED, ZANSWERED, ZCALLTYPE, ZADDRESS) "
                "VALUES (5, 0, 'long', 1, 1, 1, '07700 900123')")
    con.commit()
    con.close()
    folder = backup_folder(tmp_path / "backup", {CALLS_DB: db.read_bytes()})
    for size in (1, 2, 100):
        rows, rejects, report = parse_backup(tmp_path, folder, batch_size=size)
        label = "CallHistory.storedata ZCALLRECORD"
        assert [(r.locator, r.reason) for r in rejects] == [
            (f"{label} Z_PK 1", "ZDATE 'yesterday' is not a number of seconds"),
            (f"{label} Z_PK 2", "ZDATE 700000000000000000 is not a time between 1970 and 2200"),
            (f"{label} Z_PK 4", "ZDATE inf is not a time between 1970 and 2200")]
        assert rejects[0].raw.startswith("ROWID=1 Z_PK=1 ZDATE='yesterday' ZDURATION=65.4 ZORIGINATED=1 ")
        assert [(r["locator"], r["ts_utc"], r["duration_s"], r["extra"]["duration_raw"], r["flags"]) for r in rows] == [
            (f"{label} Z_PK 3", "2024-03-03T10:00:00+00:00", None, 1_000_000_000_000, None),
            (f"{label} Z_PK 5", None, None, "long", ["undated"])]
        assert report.warnings[-1] == ("2 calls in CallHistory.storedata have a ZDURATION that is no number of "
                                       "seconds (0 or more): their duration is left empty, the value is kept in "
                                       "extra.duration_raw")
