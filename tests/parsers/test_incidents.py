import io
import json
from datetime import datetime, time

import pytest
from conftest import FIXTURES, make_ctx, run_parser

from commtrail.errors import DateOrderAmbiguous, InputError
from commtrail.parsers import incidents, registry
from commtrail.parsers.base import Reject

DIR = FIXTURES / "incidents"


def siblings(*names):
    return {n: (lambda p=DIR / n: open(p, "rb")) for n in names}


def iso(table, i):
    return table.column("ts_utc")[i].as_py().isoformat()


def test_registered():
    assert registry.get("incident-log").parse is incidents.parse


def test_sniff_csv_positive_and_negative():
    assert incidents.sniff((DIR / "incidents.csv").read_bytes(), "incidents.csv")
    assert incidents.sniff((DIR / "incidents_semicolon.csv").read_bytes(), "log.csv")
    template = (incidents.__file__.rsplit("/", 2)[0] + "/data/incident_log_template.csv")
    assert incidents.sniff(open(template, "rb").read(), "incidents.csv")
    assert not incidents.sniff(b"Date,Amount,Payee\n2024-01-01,5,Shop\n", "bank.csv")
    assert not incidents.sniff(b"25/12/2023, 21:04 - Jordan: hello\n", "chat.txt")
    assert not incidents.sniff(b"<?xml version='1.0'?><smses count='1'></smses>", "sms.xml")


def test_csv_comma_with_bom(tmp_path):
    ctx = make_ctx(tmp_path, timezone="Europe/London",
                   siblings=siblings("photo1.jpg", "recording1.m4a", "note-scan.pdf"))
    table, rejects, report = run_parser("incident-log", (DIR / "incidents.csv").read_bytes(), ctx)
    assert table.num_rows == 4
    assert len(rejects) == 1
    assert rejects[0].locator == "row 4"
    assert rejects[0].reason.startswith("the date 'sometime in March' cannot be read")
    assert rejects[0].raw == "sometime in March,,Bus stop,Jordan walked past twice.,,no,,,,"
    assert report.repairs == 0
    assert report.warnings == [
        "row 5: evidence file 'photo2.jpg' was not found beside the incident log; the incident is kept "
        "and flagged attachment_missing.",
        "row 7: the time 'evening' cannot be read; the incident is dated by its day only.",
        "1 blank row(s) held nothing and were passed over.",
    ]
    assert report.used_siblings == {"photo1.jpg", "recording1.m4a", "note-scan.pdf"}
    rows = table.to_pylist()
    first = rows[0]
    assert iso(table, 0) == "2024-03-02T07:45:00+00:00"
    assert first["ts_local"] == "2024-03-02 07:45"
    assert (first["ts_precision"], first["tz_source"]) == ("min", "case")
    assert (first["channel"], first["kind"], first["direction"]) == ("incident", "incident", "incoming")
    assert first["body"] == 'Jordan was waiting by my car.\nHe said "we need to talk" and would not move.'
    assert first["locator"] == "row 2"
    assert first["flags"] is None
    assert first["sender"] is None and first["party"] is None and first["event_id"] is None
    assert [(a["name"], a["mime"], a["size"]) for a in first["attachments"]] == [
        ("photo1.jpg", "image/jpeg", 26), ("recording1.m4a", "audio/mp4", 27)]
    photo_sha = first["attachments"][0]["sha256"]
    assert (tmp_path / "blobs" / photo_sha).read_bytes() == (DIR / "photo1.jpg").read_bytes()
    assert json.loads(first["extra"]) == {
        "location": "Outside my flat, 12 Example Road", "witnesses": "Alex Doe, 07700 900555",
        "police_called": "yes", "report_number": "CR/2024/0001", "officer": "PC Morgan 4521",
        "effect": "Shaken; late for work", "evidence": "photo1.jpg; recording1.m4a"}
    # no time: the day, at local midnight
    assert iso(table, 1) == "2024-03-05T00:00:00+00:00"
    assert (rows[1]["ts_precision"], rows[1]["ts_local"], rows[1]["attachments"]) == ("day", "2024-03-05", None)
    # 01:30 on the night the clocks go forward does not exist: read with the offset before
    assert iso(table, 2) == "2024-03-31T01:30:00+00:00"
    assert rows[2]["tz_source"] == "flag_nonexistent"
    assert rows[2]["flags"] == ["attachment_missing"]
    assert rows[2]["attachments"] == [{"name": "photo2.jpg", "mime": "image/jpeg", "size": None, "sha256": None}]
    assert rows[2]["body"] == "Phone rang three times from a withheld number 😟"
    # unreadable time: kept, dated by the day (BST midnight), flagged
    assert iso(table, 3) == "2024-04-01T23:00:00+00:00"
    assert rows[3]["flags"] == ["time_unreadable"]
    assert rows[3]["ts_local"] == "2024-04-02 evening"
    assert [a["name"] for a in rows[3]["attachments"]] == ["photo1.jpg", "note-scan.pdf"]
    assert rows[3]["attachments"][0]["sha256"] == photo_sha


def test_csv_semicolon_day_first_from_values(tmp_path):
    ctx = make_ctx(tmp_path, timezone="Europe/London")
    table, rejects, report = run_parser("incident-log", (DIR / "incidents_semicolon.csv").read_bytes(), ctx)
    assert (table.num_rows, len(rejects), report.warnings) == (3, 0, [])
    assert [iso(table, i) for i in range(3)] == [
        "2024-03-01T18:30:00+00:00", "2024-03-13T18:15:00+00:00", "2024-03-03T09:00:30+00:00"]
    assert table.column("ts_precision").to_pylist() == ["min", "min", "s"]
    assert table.column("body").to_pylist()[1] == "Sent a friend to ask where I train."
    assert json.loads(table.column("extra")[2].as_py())["report_number"] == "CR/2024/0002"


def test_ambiguous_day_month_refused_unless_told(tmp_path):
    data = b"Date,Time,Location,Description\n01/03/2024,10:00,Home,Knock at the door\n"
    with pytest.raises(DateOrderAmbiguous):
        run_parser("incident-log", data, make_ctx(tmp_path))
    table, _, _ = run_parser("incident-log", data, make_ctx(tmp_path, date_order="MDY", timezone="America/New_York"))
    assert iso(table, 0) == "2024-01-03T15:00:00+00:00"


def test_given_order_never_overrides_what_the_log_proves(tmp_path):
    # issue 13.3: --date-order DMY on a log with 12/25/2023 read as MDY, with a warning naming the row
    data = (b"Date,Time,Location,Description\n12/25/2023,10:00,Home,Knock at the door\n"
            b"01/05/2024,18:00,Work,Waiting outside\n")
    table, rejects, report = run_parser("incident-log", data, make_ctx(tmp_path, date_order="DMY",
                                                                      timezone="Europe/London"))
    assert (table.num_rows, len(rejects)) == (2, 0)
    assert [iso(table, i) for i in range(2)] == ["2023-12-25T10:00:00+00:00", "2024-01-05T18:00:00+00:00"]
    assert report.warnings == [
        "date_order DMY was given, but row 2 has the date '12/25/2023', which can only be month/day; the log "
        "was read as MDY (by its content, not by the order given)."]


def test_twelve_hour_times_and_text_months(tmp_path):
    data = ("Date;Time;Location;Description\n"
            "March 4, 2024;12:05 am;Home;a\n"
            "4th March 2024;12:05 p.m.;Home;b\n"
            "2024-03-04T21:10;;Home;c\n").encode()
    table, rejects, _ = run_parser("incident-log", data, make_ctx(tmp_path))
    assert not rejects
    assert [iso(table, i) for i in range(3)] == [
        "2024-03-04T00:05:00+00:00", "2024-03-04T12:05:00+00:00", "2024-03-04T21:10:00+00:00"]


def test_unknown_columns_kept_in_extra(tmp_path):
    data = b"Incident log for Sam\nDate,Time,Location,Description,Weather\n2024-05-01,08:00,Park,Followed,rain\n"
    table, rejects, report = run_parser("incident-log", data, make_ctx(tmp_path))
    assert table.num_rows == 1
    assert rejects == [Reject("row 1", "above the header row: a title or a note, not an incident",
                              "Incident log for Sam")]
    assert table.column("locator").to_pylist() == ["row 3"]
    assert json.loads(table.column("extra")[0].as_py()) == {"location": "Park", "other_columns": {"Weather": "rain"}}
    assert report.warnings == []


def test_absolute_evidence_path_is_refused_unopened(tmp_path):
    evidence = tmp_path / "scan.png"
    evidence.write_bytes(b"\x89PNG fictional")
    data = f"Date,Time,Location,Description,Evidence files\n2024-05-01,08:00,Park,Followed,{evidence}\n".encode()
    table, _, report = run_parser("incident-log", data, make_ctx(tmp_path))
    assert table.column("attachments")[0].as_py() == [{"name": str(evidence), "mime": "image/png", "size": None,
                                                        "sha256": None}]
    assert table.column("flags")[0].as_py() == ["attachment_refused"]
    assert report.warnings == [f"row 2: evidence file '{evidence}' was refused (an absolute path that leads outside "
                               "its folder): only files in the incident log's own folder (or below it, or in the same "
                               "archive) are read. It was not opened; the incident is kept and flagged "
                               "attachment_refused."]


def test_subfolder_evidence_is_flagged_not_guessed(tmp_path):
    data = b"Date,Time,Location,Description,Evidence files\n2024-05-01,08:00,Park,Followed,photos/photo1.jpg\n"
    ctx = make_ctx(tmp_path, siblings=siblings("photo1.jpg"))
    table, _, report = run_parser("incident-log", data, ctx)
    assert table.column("flags")[0].as_py() == ["attachment_missing"]
    assert report.warnings == ["row 2: evidence file 'photos/photo1.jpg' was not found at that path from the "
                               "incident log's folder; the incident is kept and flagged attachment_missing."]


def test_subfolder_evidence_is_read_through_the_relative_opener(tmp_path):
    import io
    opened = []

    def open_relative(path):
        opened.append(path)
        if path != "photos/photo1.jpg":
            raise FileNotFoundError(path)
        return io.BytesIO(b"jpeg bytes")
    data = b"Date,Time,Location,Description,Evidence files\n2024-05-01,08:00,Park,Followed,photos/photo1.jpg\n"
    table, _, report = run_parser("incident-log", data, make_ctx(tmp_path, open_relative=open_relative))
    att = table.column("attachments")[0].as_py()
    assert opened == ["photos/photo1.jpg"] and report.warnings == []
    assert att == [{"name": "photos/photo1.jpg", "mime": "image/jpeg", "size": 10,
                    "sha256": __import__("hashlib").sha256(b"jpeg bytes").hexdigest()}]


def test_windows_1252_csv_is_read_with_a_warning(tmp_path):
    data = "Date,Time,Location,Description\n2024-05-01,08:00,Caf\u00e9,Sat opposite me\n".encode("cp1252")
    table, _, report = run_parser("incident-log", data, make_ctx(tmp_path))
    assert table.column("extra")[0].as_py() == '{"location":"Caf\u00e9"}'
    assert len(report.warnings) == 1 and "Windows-1252" in report.warnings[0]


def _xlsx(path, rows, title=None):
    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title or "Incidents"
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path.read_bytes()


XLSX_ROWS = [
    ["Date", "Time", "Location", "Description", "Witnesses", "Police called", "Report number",
     "Officer & badge", "How it affected you", "Evidence files"],
    [datetime(2024, 6, 1), time(22, 15), "Home", "Banging on the door for ten minutes 😡", "Neighbour, flat 3",
     "Yes", 12345, "PC Evans 101", "Terrified", "photo1.jpg"],
    ["02/06/2024", "7:05 am", "Street", "Drove past slowly, twice. מספיק", None, "No", None, None, None, None],
    ["not a date", None, None, "Unreadable row", None, None, None, None, None, None],
]


def test_xlsx(tmp_path):
    data = _xlsx(tmp_path / "log.xlsx", XLSX_ROWS)
    assert incidents.sniff(data[:65536], "log.xlsx")
    ctx = make_ctx(tmp_path, timezone="Europe/London", date_order="DMY", siblings=siblings("photo1.jpg"))
    table, rejects, report = run_parser("incident-log", data, ctx)
    assert (table.num_rows, len(rejects), report.warnings) == (2, 1, [])
    assert rejects[0].locator == "sheet 'Incidents' row 4"
    assert rejects[0].raw.startswith("not a date\t\t\tUnreadable row")
    rows = table.to_pylist()
    assert iso(table, 0) == "2024-06-01T21:15:00+00:00"
    assert rows[0]["ts_local"] == "2024-06-01 00:00:00 22:15:00"
    assert rows[0]["ts_precision"] == "min"
    assert rows[0]["body"] == "Banging on the door for ten minutes 😡"
    assert json.loads(rows[0]["extra"])["report_number"] == "12345"
    assert rows[0]["attachments"][0]["size"] == 26
    assert iso(table, 1) == "2024-06-02T06:05:00+00:00"
    assert rows[1]["body"] == "Drove past slowly, twice. מספיק"
    assert rows[1]["locator"] == "sheet 'Incidents' row 3"


def test_xlsx_every_sheet_is_read(tmp_path):
    import openpyxl
    book = openpyxl.Workbook()
    first = book.active
    first.title = "2023"
    for row in (["Incident log kept by Sam"], [], ["Date", "Time", "Location", "Description"],
                ["13/11/2023", "21:00", "Home", "Phoned eleven times"]):
        first.append(row)
    notes = book.create_sheet("Notes")
    notes.append(["Ask the police for the CAD number"])
    second = book.create_sheet("2024")
    for row in (["Date", "Time", "Location", "Description"], ["02/01/2024", "08:15", "Work", "Waited outside"]):
        second.append(row)
    book.save(tmp_path / "log.xlsx")
    data = (tmp_path / "log.xlsx").read_bytes()
    table, rejects, report = run_parser("incident-log", data, make_ctx(tmp_path))
    assert table.column("locator").to_pylist() == ["sheet '2023' row 4", "sheet '2024' row 2"]
    assert [iso(table, i) for i in range(2)] == ["2023-11-13T21:00:00+00:00", "2024-01-02T08:15:00+00:00"]
    assert table.column("body").to_pylist() == ["Phoned eleven times", "Waited outside"]
    assert rejects == [
        Reject("sheet '2023' row 1", "above the header row: a title or a note, not an incident",
               "Incident log kept by Sam\t\t\t"),
        Reject("sheet 'Notes' row 1", "the sheet 'Notes' has no header row naming incident-log columns (date, "
               "description, ...) in its first 5 rows", "Ask the police for the CAD number")]
    assert report.warnings == ["the sheet 'Notes' has no header row naming incident-log columns; its 1 row(s) are "
                               "kept as rejects."]


def test_xlsx_other_spreadsheet_not_claimed(tmp_path):
    data = _xlsx(tmp_path / "budget.xlsx", [["Month", "Rent", "Food"], ["Jan", 700, 200]])
    assert not incidents.sniff(data[:65536], "budget.xlsx")


def test_xlsx_without_incident_header_is_refused(tmp_path):
    data = _xlsx(tmp_path / "budget.xlsx", [["Month", "Rent", "Food"], ["Jan", 700, 200]])
    with pytest.raises(InputError):
        run_parser("incident-log", data, make_ctx(tmp_path))


def test_non_seekable_stream(tmp_path):
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._b = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buf):
            chunk = self._b.read(min(len(buf), 7))
            buf[:len(chunk)] = chunk
            return len(chunk)

    ctx = make_ctx(tmp_path, parser_label="incident-log/1")
    data = _xlsx(tmp_path / "log.xlsx", XLSX_ROWS[:2])
    from commtrail.parsers.base import collect
    table, _ = collect(incidents.parse(Pipe(data), ctx), ctx)
    assert table.num_rows == 1
    table, _ = collect(incidents.parse(Pipe((DIR / "incidents_semicolon.csv").read_bytes()), ctx), ctx)
    assert table.num_rows == 3


def test_init_writes_template(tmp_path):
    from commtrail.case import init_case
    init_case(tmp_path / "case")
    data = (tmp_path / "case" / "incident-log" / "incidents.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfDate (")
    table, rejects, _ = run_parser("incident-log", data, make_ctx(tmp_path))
    assert table.num_rows == 0 and not rejects


@pytest.mark.parametrize("zone,date,clock", [("Europe/Berlin", "0001-01-01", "00:30"),
                                             ("America/New_York", "9999-12-31", "23:30")])
def test_a_date_at_the_edge_of_the_calendar_is_a_reject_not_a_crash(tmp_path, zone, date, clock):
    """A typed year 1 (or 9999) moved past the calendar's edge by the zone's offset stopped the parse
    with OverflowError (found by the fuzzer); the row is a reject, the other rows are read."""
    data = f"Date,Time,Location,Description\n2024-03-01,18:30,Home,He came to the door\n{date},{clock},Home,Typo\n".encode()
    table, rejects, _ = run_parser("incident-log", data, make_ctx(tmp_path, timezone=zone))
    assert table.column("body").to_pylist() == ["He came to the door"]
    assert [(r.locator, r.reason) for r in rejects] == [
        ("row 3", f"the date '{date}' is at the very edge of the calendar (year {date[:4].lstrip('0')}), so it cannot "
                  "be placed in time (write it as 2024-03-01 or 01/03/2024)")]
