"""Android calllog.db: call records, rejects, layouts, and dedup with an SMS Backup & Restore calls file."""

from __future__ import annotations

import pytest
from android_scenario import CALLS, build, calllog, ms

from commtrail.case import Case
from commtrail.cli import main
from commtrail.errors import InputError
from commtrail.inventory import read_inventory
from commtrail.parsers import registry
from commtrail.parsers.android.layouts import CALLLOG
from commtrail.parsers.base import Owner
from commtrail.timeline.master import read_master
from conftest import new_case, plain_rows, run_on_disk

OWNER = Owner(phones=frozenset({"+447700900999"}))
ME, JORDAN, OTHER = ["+447700900999"], "+447700900123", "+447700900456"


def test_every_call_type_becomes_a_call_with_its_kind_direction_and_duration(tmp_path):
    path = calllog(tmp_path / "phone")
    assert registry.sniff(path.read_bytes()[:registry.SNIFF_BYTES], "calls.bin").name == "android-calls"
    table, rejects, report = run_on_disk(tmp_path, "android-calls", path, owner=OWNER, timezone="Europe/London")
    rows = plain_rows(table)
    assert [(r["locator"], r["channel"], r["kind"], r["direction"], r["sender"], r["recipients"], r["duration_s"],
             r["ts_utc"]) for r in rows] == [
        ("calllog.db calls _id 1", "call", "missed", "incoming", JORDAN, ME, 0, "2024-03-01T20:00:00+00:00"),
        ("calllog.db calls _id 2", "call", "incoming", "incoming", JORDAN, ME, 95, "2024-03-01T20:05:10.500000+00:00"),
        ("calllog.db calls _id 3", "call", "outgoing", "outgoing", "+447700900999", [JORDAN], 12,
         "2024-03-01T21:00:00+00:00"),
        ("calllog.db calls _id 4", "call", "blocked", "incoming", "withheld", ME, 0, "2024-03-02T03:10:00+00:00"),
        ("calllog.db calls _id 5", "call", "voicemail", "incoming", OTHER, ME, 30, "2024-03-02T08:00:00+00:00"),
        ("calllog.db calls _id 6", "call", "rejected", "incoming", OTHER, ME, 0, "2024-03-02T08:30:00+00:00"),
    ]
    assert rows[1]["sender_raw"] == "07700 900123" and rows[1]["ts_local"] == "2024-03-01T20:05:10.500"
    assert {k: v for k, v in rows[0]["extra"].items() if v not in (None, "")} == {
        "presentation": 1, "name": "Jordan", "countryiso": "GB", "features": 0, "block_reason": 0}
    assert len(rows[0]["extra"]) == 21     # every column of the layout that has no column of its own
    assert rows[1]["extra"]["geocoded_location"] == "United Kingdom"
    assert [(r.locator, r.reason) for r in rejects] == [("calllog.db calls _id 7", "date is NULL")]
    assert report.warnings == []


def test_a_calls_table_without_a_duration_column_is_refused_by_name(tmp_path):
    path = tmp_path / "odd" / "calllog.db"
    build(path, CALLLOG.replace("duration INTEGER,", ""), {})
    with pytest.raises(InputError) as caught:
        run_on_disk(tmp_path, "android-calls", path, owner=OWNER)
    assert caught.value.render().startswith(f"{path}: table calls has no column duration, so this database is of a "
                                            "layout commtrail does not know.")


CALLS_XML = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<calls count="2">
  <call number="07700 900123" duration="95" date="{d2}" type="1" presentation="1" subscription_id="1"
        post_dial_digits="" readable_date="1 Mar 2024 20:05:10" contact_name="Jordan" />
  <call number="+447700900123" duration="12" date="{d3}" type="2" presentation="1" subscription_id="1"
        post_dial_digits="" readable_date="1 Mar 2024 21:00:00" contact_name="Jordan" />
</calls>
"""


def test_one_call_in_the_database_and_in_an_sms_backup_and_restore_calls_file_is_one_event(tmp_path, capsys):
    folder = tmp_path / "phone"
    calllog(folder, CALLS[:6])
    (folder / "calls-20240304.xml").write_text(CALLS_XML.format(d2=ms("2024-03-01T20:05:10.500Z"),
                                                                d3=ms("2024-03-01T21:00:00Z")), encoding="utf-8")
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(folder)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    inventory = sorted(read_inventory(case / "sources.parquet"), key=lambda r: r["path"])
    assert [(r["path"].rsplit("/", 1)[1], r["format"], r["records"]) for r in inventory] == [
        ("calllog.db", "android-calls", 6), ("calls-20240304.xml", "smsbr-calls", 2)]
    master = read_master(Case(case)).to_pylist()
    assert len(master) == 6
    assert [(m["kind"], m["duration_s"], len(m["occurrences"]), m["party"]) for m in master] == [
        ("missed", 0, 1, "Jordan"), ("incoming", 95, 2, "Jordan"), ("outgoing", 12, 2, "Jordan"),
        ("blocked", 0, 1, None), ("voicemail", 30, 1, "Jordan"), ("rejected", 0, 1, "Jordan")]
