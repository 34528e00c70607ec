"""Exports: CSV for Excel, XLSX, JSONL with Timesketch's fields."""

import csv
import json
from datetime import datetime, timezone

import pytest
from openpyxl import load_workbook

from conftest import make_case

from commtrail.errors import UsageError
from commtrail.outputs.export import export


@pytest.fixture
def case(tmp_path):
    recs = [
        {"ts_utc": datetime(2024, 7, 1, 21, 30, tzinfo=timezone.utc), "channel": "sms", "kind": "message",
         "direction": "incoming", "sender": "+447700900123", "sender_raw": "07700 900123",
         "body": "=HYPERLINK(\"x\")\nsecond line 🙂"},
        {"ts_utc": datetime(2024, 7, 1, 22, 0, tzinfo=timezone.utc), "channel": "call", "kind": "missed",
         "direction": "incoming", "sender": "+447700900777", "duration_s": 0},
    ]
    return make_case(tmp_path / "c", {"calls.xml": recs})


def test_csv_has_bom_local_and_utc_times_and_no_formulas(case):
    path, n = export(case, "csv")
    assert n == 2
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines(keepends=True)))
    assert rows[0]["local_time"] == "2024-07-01 22:30:00"      # Europe/London, summer time
    assert rows[0]["utc_time"] == "2024-07-01T21:30:00.000000Z"
    assert rows[0]["body"] == "'=HYPERLINK(\"x\")\nsecond line 🙂"
    assert rows[0]["sender"] == "+447700900123"
    assert rows[0]["party"] == "Jordan" and rows[1]["party"] == ""


def test_party_filter_and_unknown_party(case):
    path, n = export(case, "jsonl", party="Jordan")
    assert n == 1 and path.name == "master-jordan.jsonl"
    with pytest.raises(UsageError) as info:
        export(case, "csv", party="Nobody")
    assert info.value.render() == ("there is no party called 'Nobody' in case.toml. "
                                   "Parties in this case: Jordan.")


def test_jsonl_has_timesketch_fields(case):
    path, n = export(case, "jsonl")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[1]["message"] == "call missed"
    assert lines[1]["datetime"] == "2024-07-01T22:00:00+00:00"
    assert lines[1]["timestamp"] == 1719871200000000
    assert lines[1]["timestamp_desc"] == "Call received"
    assert lines[0]["message"] == "=HYPERLINK(\"x\")\nsecond line 🙂"   # exact text outside Excel formats


def test_xlsx_cells_are_text(case):
    path, n = export(case, "xlsx")
    sheet = load_workbook(path, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "exhibit" and rows[1][0] == "CT-000001"
    assert rows[1][12] == "=HYPERLINK(\"x\")\nsecond line 🙂"
