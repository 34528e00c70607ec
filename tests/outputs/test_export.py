"""Exports: CSV for Excel, XLSX, JSONL with Timesketch's fields."""

import csv
import json
from datetime import datetime, timezone

import pytest
from openpyxl import load_workbook

from conftest import make_case

from commtrail.errors import UsageError
from commtrail.outputs.export import csv_cell, export, recover_csv_text


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
    assert rows[0]["sender"] == "'+447700900123"                 # a leading + would compute too
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


DANGEROUS = ["=1+1", "+1 (2)", "-1-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "\uff1d1+1", "\uff0b1", "\uff0d1-1",
             "\uff20SUM(A1)", "'=1+1", "'plain"]
HARMLESS = ["plain", " =1", "1-1", "", "\u00a0-1", "Jordan"]


def test_csv_cell_neutralises_every_formula_start_and_keeps_the_text_recoverable():
    assert [csv_cell(t) for t in DANGEROUS] == ["'" + t for t in DANGEROUS]
    assert [csv_cell(t) for t in HARMLESS] == HARMLESS
    assert [recover_csv_text(csv_cell(t)) for t in DANGEROUS + HARMLESS] == DANGEROUS + HARMLESS
    assert csv_cell(-5) == -5 and csv_cell(0) == 0       # numbers stay numbers


@pytest.fixture
def hostile_case(tmp_path):
    bodies = ["-1-1", "+1 (2)", "\uff1dHYPERLINK(1)", "@cmd", "'quoted"]
    recs = [{"ts_utc": datetime(2024, 7, 1, 9, n, tzinfo=timezone.utc), "channel": "call" if n == 0 else "sms",
             "kind": "missed" if n == 0 else "message", "direction": "incoming", "sender": "+447700900123",
             "sender_raw": "-07700 900123", "body": body, "duration_s": 75 if n == 0 else None}
            for n, body in enumerate(bodies)]
    return make_case(tmp_path / "h", {"sms.xml": recs})


def test_csv_export_has_no_cell_that_computes(hostile_case):
    path, n = export(hostile_case, "csv")
    assert n == 5
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    header = rows[0]
    body = [r[header.index("body")] for r in rows[1:]]
    assert body == ["'-1-1", "'+1 (2)", "'\uff1dHYPERLINK(1)", "'@cmd", "''quoted"]
    assert {r[header.index("sender_raw")] for r in rows[1:]} == {"'-07700 900123"}
    assert rows[1][header.index("duration_s")] == "75" and rows[1][header.index("copies")] == "1"
    starts = set("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
    assert not [cell for r in rows[1:] for cell in r if cell and cell[0] in starts]
    assert [recover_csv_text(b) for b in body] == ["-1-1", "+1 (2)", "\uff1dHYPERLINK(1)", "@cmd", "'quoted"]


def test_xlsx_export_keeps_text_exact_typed_as_text_with_quote_prefix(hostile_case):
    path, _ = export(hostile_case, "xlsx")
    sheet = load_workbook(path).active
    header = [c.value for c in sheet[1]]
    cells = [row[header.index("body")] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == ["-1-1", "+1 (2)", "\uff1dHYPERLINK(1)", "@cmd", "'quoted"]
    assert [c.data_type for c in cells] == ["s"] * 5
    assert [c.quotePrefix for c in cells] == [True, True, True, True, False]
    duration = sheet.cell(row=2, column=header.index("duration_s") + 1)
    assert duration.value == 75 and duration.data_type == "n"
    import zipfile
    assert b"<f>" not in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")



def test_party_export_names_never_collide(tmp_path):
    from conftest import CASE_TOML
    toml = CASE_TOML + """
[[party]]
name = "Jordan K"
phones = ["07700 900201"]

[[party]]
name = "Jordan-K"
phones = ["07700 900202"]
"""
    recs = [{"ts_utc": datetime(2024, 7, 1, 9, n, tzinfo=timezone.utc), "channel": "sms", "kind": "message",
             "direction": "incoming", "sender": sender, "body": f"text {n}"}
            for n, sender in enumerate(["+447700900201", "+447700900202", "+447700900202"])]
    case = make_case(tmp_path / "k", {"sms.xml": recs}, toml=toml)
    first, n1 = export(case, "csv", party="Jordan K")
    second, n2 = export(case, "csv", party="Jordan-K")
    plain, _ = export(case, "csv", party="Jordan")
    assert (first.name, n1) == ("master-jordan-k-48c6a35c.csv", 1)
    assert (second.name, n2) == ("master-jordan-k-d1f99205.csv", 2)
    assert plain.name == "master-jordan.csv"
    assert first.read_bytes() != second.read_bytes()


def test_xlsx_texts_that_look_like_error_values_stay_texts(tmp_path):
    import zipfile

    from commtrail.outputs.export import COLUMNS, write_exports
    row = dict.fromkeys(COLUMNS)
    rows = [dict(row, exhibit="CT-000001", body="#N/A", copies=1), dict(row, exhibit="CT-000002", body="#DIV/0!"),
            dict(row, exhibit="CT-000003", body="=1+1"), dict(row, exhibit="CT-000004", body="plain")]
    assert write_exports(iter(rows), {"xlsx": tmp_path / "x.xlsx"}) == 4
    sheet = load_workbook(tmp_path / "x.xlsx").active
    body = [row[12] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in body] == ["#N/A", "#DIV/0!", "=1+1", "plain"]
    assert [c.data_type for c in body] == ["s"] * 4
    assert [c.quotePrefix for c in body] == [False, False, True, False]
    assert sheet.cell(row=2, column=17).value == 1
    xml = zipfile.ZipFile(tmp_path / "x.xlsx").read("xl/worksheets/sheet1.xml")
    assert b't="e"' not in xml and b"<f>" not in xml
