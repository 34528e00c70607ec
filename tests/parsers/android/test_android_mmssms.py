"""Android mmssms.db: SMS and MMS records, rejects, attachments, layouts, and dedup with SMS Backup & Restore."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3

import pytest
from android_scenario import JPEG, SMS, build, mmssms, ms

from commtrail.case import Case
from commtrail.cli import main
from commtrail.errors import InputError
from commtrail.inventory import read_inventory
from commtrail.parsers import registry
from commtrail.parsers.android.layouts import MMSSMS, MMSSMS_OLD_SMS
from commtrail.parsers.base import Owner
from commtrail.timeline.master import read_master, read_possibly_deleted
from conftest import damage_page_of, make_ctx, new_case, plain_rows, run_on_disk, run_parser

OWNER = Owner(phones=frozenset({"+447700900999"}))
JORDAN, OTHER = "+447700900123", "+447700900456"


def _read(tmp_path, path, **kwargs):
    return run_on_disk(tmp_path, "android-sms", path, owner=OWNER, timezone="Europe/London", **kwargs)


def test_sms_and_mms_become_records_with_direction_group_and_draft_flags(tmp_path):
    table, rejects, report = _read(tmp_path, mmssms(tmp_path / "phone"))
    rows = plain_rows(table)
    assert [(r["locator"], r["channel"], r["kind"], r["direction"], r["sender"], r["recipients"], r["conversation"],
             r["subject"], r["body"], r["flags"], r["ts_utc"]) for r in rows] == [
        ("mmssms.db sms _id 1", "sms", "message", "incoming", JORDAN, ["+447700900999"], JORDAN, None,
         "Are you home?", None, "2024-03-01T18:00:05.123000+00:00"),
        ("mmssms.db sms _id 2", "sms", "message", "outgoing", "+447700900999", [JORDAN], JORDAN, None,
         "Please stop texting me.", None, "2024-03-01T18:31:00+00:00"),
        ("mmssms.db sms _id 3", "sms", "message", "outgoing", "+447700900999", [JORDAN], JORDAN, None,
         "Draft never sent", ["draft"], "2024-03-02T09:00:00+00:00"),
        ("mmssms.db sms _id 4", "sms", "message", "outgoing", "+447700900999", [JORDAN], JORDAN, None,
         "This one failed", ["failed"], "2024-03-02T09:05:00+00:00"),
        ("mmssms.db sms _id 6", "sms", "message", "incoming", OTHER, ["+447700900999"], OTHER, None,
         "Line one\nLine two", None, "2024-03-02T22:15:00+00:00"),
        # pdu.date is in seconds: 1709316000 is 2024-03-01 18:00:00 UTC
        ("mmssms.db pdu _id 1", "mms", "message", "incoming", JORDAN, ["+447700900999"], JORDAN, None,
         "Look at this", None, "2024-03-01T18:00:00+00:00"),
        ("mmssms.db pdu _id 2", "mms", "message", "outgoing", "+447700900999", [JORDAN, OTHER, "+447700900222"],
         "+447700900123~+447700900222~+447700900456", "Saturday", "Group hello", ["attachment_missing"],
         "2024-03-02T18:00:00+00:00"),
        ("mmssms.db pdu _id 3", "mms", "message", "outgoing", "+447700900999", [JORDAN], JORDAN, None,
         "Unsent MMS draft", ["draft"], "2024-03-03T18:00:00+00:00"),
    ]
    assert {(r["ts_precision"], r["tz_source"]) for r in rows} == {("ms", "source")}
    assert rows[0]["ts_local"] == "2024-03-01T18:00:05.123"
    assert rows[0]["sender_raw"] == JORDAN and rows[1]["sender_raw"] is None
    assert rows[0]["extra"] == {"thread_id": 1, "read": 1, "date_sent": ms("2024-03-01T18:00:03Z"), "status": -1,
                                "subject": None, "service_center": None, "person": None, "protocol": None,
                                "locked": 0, "sub_id": -1, "error_code": 0, "seen": 0, "creator": None,
                                "reply_path_present": None}
    assert rows[5]["extra"]["msg_box"] == "1" and rows[5]["extra"]["m_id"] == "mms-0001"
    assert [(r.locator, r.reason) for r in rejects] == [("mmssms.db sms _id 5", "date 0 is outside 1970-2200")]
    assert "body='No time at all'" in rejects[0].raw
    assert report.warnings == ["1 MMS attachment(s) of mmssms.db are not in app_parts/ beside it: listed without "
                               "their content and flagged attachment_missing"]


def test_an_mms_attachment_beside_the_database_is_stored_and_a_missing_one_is_listed(tmp_path):
    table, _, _ = _read(tmp_path, mmssms(tmp_path / "phone"))
    rows = plain_rows(table)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert rows[5]["attachments"] == [{"name": "photo.jpg", "mime": "image/jpeg", "size": len(JPEG), "sha256": sha}]
    assert (tmp_path / "blobs" / sha).read_bytes() == JPEG
    assert rows[6]["attachments"] == [{"name": "gone.jpg", "mime": "image/jpeg", "size": None, "sha256": None}]
    assert rows[6]["extra"]["parts"][1]["_data"].endswith("app_parts/PART_1709402400000_gone.jpg")


def test_recognised_by_its_tables_whatever_its_name(tmp_path):
    path = mmssms(tmp_path / "phone")
    renamed = tmp_path / "export" / "evidence-1.sqlite"
    renamed.parent.mkdir()
    shutil.copy(path, renamed)
    head = renamed.read_bytes()[:registry.SNIFF_BYTES]
    assert registry.sniff(head, "evidence-1.sqlite").name == "android-sms"
    table, rejects, _ = run_on_disk(tmp_path, "android-sms", renamed, owner=OWNER)
    assert (table.num_rows, len(rejects)) == (8, 1)
    assert table.column("locator")[0].as_py() == "evidence-1.sqlite sms _id 1"


def test_an_older_layout_without_sub_id_or_mms_tables_is_read_with_a_warning(tmp_path):
    old = [{k: v for k, v in row.items()} for row in SMS[:2]]
    path = tmp_path / "old" / "mmssms.db"
    build(path, MMSSMS_OLD_SMS + ";\nCREATE TABLE threads (_id INTEGER PRIMARY KEY, recipient_ids TEXT);", {"sms": old})
    table, rejects, report = _read(tmp_path, path)
    assert table.column("body").to_pylist() == ["Are you home?", "Please stop texting me."]
    assert "sub_id" not in plain_rows(table)[0]["extra"]
    assert report.warnings == ["mmssms.db has no MMS tables (pdu, addr, part): only its SMS were read"]


def test_an_unknown_layout_names_the_table_and_column_missing(tmp_path):
    path = tmp_path / "odd" / "mmssms.db"
    build(path, MMSSMS.replace("body TEXT,", "text TEXT,"), {})
    with pytest.raises(InputError) as caught:
        _read(tmp_path, path)
    assert caught.value.render() == (
        f"{path}: table sms has no column body, so this database is of a layout commtrail does not know. The README "
        "lists the Android versions commtrail reads; please report the version this database comes from.")


def test_rows_in_the_wal_are_read_and_the_input_is_never_written(tmp_path):
    folder = tmp_path / "live"
    path = folder / "mmssms.db"
    con = build(path, MMSSMS, {"sms": SMS[:1]}, wal=True)
    try:
        assert (folder / "mmssms.db-wal").stat().st_size > 0
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        wal = lambda: open(folder / "mmssms.db-wal", "rb")  # noqa: E731
        ctx = make_ctx(tmp_path, source_path=str(path), owner=OWNER, siblings={"mmssms.db-wal": wal},
                       work_dir=tmp_path / "work")
        table, _, report = run_parser("android-sms", path.read_bytes(), ctx)
        assert table.column("body").to_pylist() == ["Are you home?"]
        assert report.used_siblings == {"mmssms.db-wal"}
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
        assert list((tmp_path / "work").iterdir()) == []       # the private copy is gone
    finally:
        con.close()
    # Without its -wal the same main file holds no rows yet.
    table, _, _ = run_parser("android-sms", before["mmssms.db"], make_ctx(tmp_path, owner=OWNER))
    assert table.num_rows == 0


SMSBR = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<smses count="3">
  <sms protocol="0" address="+447700900123" date="{d1}" type="1" subject="null" body="Are you home?" toa="null"
       sc_toa="null" service_center="null" read="1" status="-1" locked="0" date_sent="{s1}" sub_id="-1"
       readable_date="1 Mar 2024 18:00:05" contact_name="Jordan" />
  <sms protocol="0" address="07700 900123" date="{d2}" type="2" subject="null" body="Please stop texting me."
       toa="null" sc_toa="null" service_center="null" read="1" status="-1" locked="0" date_sent="0" sub_id="-1"
       readable_date="1 Mar 2024 18:31:00" contact_name="Jordan" />
  <sms protocol="0" address="+447700900123" date="{d3}" type="1" subject="null" body="Only in this backup"
       toa="null" sc_toa="null" service_center="null" read="1" status="-1" locked="0" date_sent="0" sub_id="-1"
       readable_date="4 Mar 2024 10:00:00" contact_name="Jordan" />
</smses>
"""


def test_one_sms_in_the_database_and_in_an_sms_backup_and_restore_file_is_one_event(tmp_path, capsys):
    folder = tmp_path / "phone"
    mmssms(folder)
    (folder / "sms-20240304.xml").write_text(SMSBR.format(
        d1=ms("2024-03-01T18:00:05.123Z"), s1=ms("2024-03-01T18:00:03Z"), d2=ms("2024-03-01T18:31:00Z"),
        d3=ms("2024-03-04T10:00:00Z")), encoding="utf-8")
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(folder)]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    inventory = sorted(read_inventory(case / "sources.parquet"), key=lambda r: r["path"])
    assert [(r["path"].rsplit("/", 1)[1], r["format"], r["records"], r["rejects"]) for r in inventory] == [
        ("mmssms.db", "android-sms", 8, 1), ("sms-20240304.xml", "smsbr-sms", 3, 0)]
    master = read_master(Case(case)).to_pylist()
    assert len(master) == 9
    copies = {m["body"]: sorted(o["locator"].split(",")[0] for o in m["occurrences"]) for m in master}
    assert copies["Are you home?"] == ["mmssms.db sms _id 1", "sms #1"]
    assert copies["Please stop texting me."] == ["mmssms.db sms _id 2", "sms #2"]
    assert copies["Only in this backup"] == ["sms #3"]
    assert copies["Draft never sent"] == ["mmssms.db sms _id 3"]
    by_body = {m["body"]: m for m in master}
    assert by_body["Are you home?"]["party"] == "Jordan" and by_body["Group hello"]["party"] == "Jordan"


def test_two_copies_of_one_phones_database_share_their_events_and_show_what_the_later_lacks(tmp_path, capsys):
    first = mmssms(tmp_path / "march")
    later_sms = [row for row in SMS if row["_id"] != 6] + [
        {"_id": 7, "thread_id": 1, "address": "+447700900123", "date": ms("2024-03-05T12:00:00Z"), "type": 1,
         "body": "Answer me", "read": 0}]
    later = mmssms(tmp_path / "april", sms=later_sms)
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(first), str(later)]) == 0
    capsys.readouterr()
    master = read_master(Case(case)).to_pylist()
    assert len(master) == 9
    assert {m["body"]: len(m["occurrences"]) for m in master} == {
        "Are you home?": 2, "Please stop texting me.": 2, "Draft never sent": 2, "This one failed": 2,
        "Line one\nLine two": 1, "Look at this": 2, "Group hello": 2, "Unsent MMS draft": 2, "Answer me": 1}
    gone = read_possibly_deleted(Case(case)).to_pylist()
    events = {m["event_id"]: m["body"] for m in master}
    assert [(events[g["event_id"]], g["earlier_path"], g["later_path"]) for g in gone] == [
        ("Line one\nLine two", str(first), str(later))]


def test_text_that_is_not_utf8_is_read_with_replacement_characters_and_counted(tmp_path):
    path = mmssms(tmp_path / "phone", sms=SMS[:2])
    con = sqlite3.connect(path)
    con.execute("UPDATE sms SET body = CAST(x'4f6b20ff21' AS TEXT) WHERE _id = 2")   # "Ok \xff!"
    con.commit()
    con.close()
    table, _, report = _read(tmp_path, path)
    assert table.column("body").to_pylist()[:2] == ["Are you home?", "Ok \ufffd!"]
    assert report.repairs == 1
    assert ("1 text value in mmssms.db is not valid UTF-8: their undecodable bytes were read as U+FFFD"
            in report.warnings)


def test_a_write_the_phone_had_not_finished_is_rolled_back_in_the_copy_and_said(tmp_path):
    path = mmssms(tmp_path / "phone", sms=SMS[:2])
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA cache_size=1")           # the unfinished write spills into the file itself
    con.execute("BEGIN")
    for _ in range(2000):
        con.execute("INSERT INTO sms (thread_id, address, date, type, body, read) VALUES (1, '+447700900123', "
                    "1709316000000, 1, ?, 0)", ("x" * 200,))
    taken = tmp_path / "taken"
    taken.mkdir()
    for suffix in ("", "-journal"):
        shutil.copy(f"{path}{suffix}", f"{taken / 'mmssms.db'}{suffix}")
    con.execute("ROLLBACK")
    con.close()
    before = {p.name: p.read_bytes() for p in taken.iterdir()}
    journal = lambda: open(taken / "mmssms.db-journal", "rb")  # noqa: E731
    ctx = make_ctx(tmp_path, source_path=str(taken / "mmssms.db"), owner=OWNER,
                   siblings={"mmssms.db-journal": journal}, work_dir=tmp_path / "work")
    table, _, report = run_parser("android-sms", before["mmssms.db"], ctx)
    assert table.column("body").to_pylist()[:2] == ["Are you home?", "Please stop texting me."]
    assert table.num_rows == 5                        # the two SMS and the three MMS, none of the 2000
    assert report.warnings[0] == ("mmssms.db-journal holds a write the phone had not finished: the database was "
                                  "read as it was before that write, as SQLite on the phone would read it (the "
                                  "-journal is kept in blobs/)")
    assert {p.name: p.read_bytes() for p in taken.iterdir()} == before
    assert hashlib.sha256(before["mmssms.db-journal"]).hexdigest() in {p.name for p in (tmp_path / "blobs").iterdir()}


DAMAGED = ("the tables addr and part of mmssms.db are damaged (database disk image is malformed): 3 MMS whose rows "
           "there could not be read are rejects, each with its pdu row written out; the other messages were read")


@pytest.mark.parametrize("damaged,unattached", [
    ("part", "8 addr and 6 part rows of mmssms.db belong to no MMS read (their msg_id / mid is no _id of a pdu row "
             "read, or that of an MMS whose rows there could not be read): they are in no record"),
    ("addrMsgIdIndex", None)])
def test_damaged_mms_tables_make_their_mms_rejects_and_keep_every_sms(tmp_path, damaged, unattached):
    """A page of part (or of the index of addr) overwritten: SQLite refuses the look-up of the MMS's
    addr and part rows. Every SMS is read as before; each MMS is a reject with its pdu row (the whole
    database used to be refused)."""
    path = mmssms(tmp_path / "phone")
    damage_page_of(path, damaged)
    table, rejects, report = _read(tmp_path, path)
    assert [r["locator"] for r in plain_rows(table)] == [f"mmssms.db sms _id {i}" for i in (1, 2, 3, 4, 6)]
    assert [(r.locator, r.reason) for r in rejects] == [("mmssms.db sms _id 5", "date 0 is outside 1970-2200")] + [
        (f"mmssms.db pdu _id {i}", "its addr and part rows cannot be read, the tables are damaged (database disk "
                                   "image is malformed): its people, text and attachments are unknown")
        for i in (1, 2, 3)]
    assert rejects[1].raw.startswith("_id=1 thread_id=1 ")
    assert report.warnings == [DAMAGED] + ([unattached] if unattached else [])


@pytest.mark.parametrize("damaged,locators,warning", [
    ("sms", [f"pdu _id {i}" for i in (1, 2, 3)],
     "mmssms.db is damaged before its first sms row (database disk image is malformed): none of its SMS could be "
     "read"),
    ("pdu", [f"sms _id {i}" for i in (1, 2, 3, 4, 6)],
     "mmssms.db is damaged before its first pdu row (database disk image is malformed): none of its MMS could be "
     "read")])
def test_a_damaged_sms_or_pdu_table_keeps_the_other(tmp_path, damaged, locators, warning):
    """The first page of sms (or of pdu) overwritten: nothing of that table can be read, and the other
    is read whole (the whole database used to be refused); a warning names the table."""
    path = mmssms(tmp_path / "phone")
    damage_page_of(path, damaged)
    table, rejects, report = _read(tmp_path, path)
    assert [r["locator"] for r in plain_rows(table)] == [f"mmssms.db {where}" for where in locators]
    assert warning in report.warnings


def test_a_database_with_both_tables_damaged_is_refused(tmp_path):
    path = mmssms(tmp_path / "phone")
    damage_page_of(path, "sms")
    damage_page_of(path, "pdu")
    with pytest.raises(InputError, match=r"this SQLite database cannot be read \(database disk image is malformed\)"):
        _read(tmp_path, path)
