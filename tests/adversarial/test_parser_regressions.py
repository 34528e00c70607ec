"""Inputs the fuzzing found to break a parser, kept as regression tests (smallest form)."""

from __future__ import annotations

import csv

from commtrail.errors import InputError
from commtrail.parsers import incidents

from conftest import make_ctx, run_parser

HEADER = b"date,time,location,description\n"


def test_incident_log_keeps_a_description_longer_than_csvs_default_cell_limit(tmp_path):
    long = "x" * 300_000
    data = HEADER + b"2024-03-02,07:45,Home,\"" + long.encode() + b"\"\n2024-03-03,08:00,Work,short\n"
    table, rejects, report = run_parser("incident-log", data, make_ctx(tmp_path))
    assert (table.num_rows, len(rejects), report.warnings) == (2, 0, [])
    assert table.column("body").to_pylist() == [long, "short"]


def test_incident_log_cell_over_the_limit_refuses_the_file_naming_the_row(tmp_path, monkeypatch):
    old = csv.field_size_limit()
    monkeypatch.setattr(incidents, "CSV_FIELD_LIMIT", 1000)
    csv.field_size_limit(1000)
    try:
        data = HEADER + b"2024-03-02,07:45,Home,ok\n2024-03-03,08:00,Work,\"" + b"y" * 5000 + b"\n"
        try:
            run_parser("incident-log", data, make_ctx(tmp_path, source_path="log.csv"))
        except InputError as exc:
            assert exc.render().startswith("log.csv (row 3): row 3 cannot be read as CSV (field larger than field "
                                           "limit (1000)). Look for a quote")
        else:
            raise AssertionError("no InputError")
    finally:
        csv.field_size_limit(old)


def test_incident_log_keeps_a_cell_under_an_empty_header_cell(tmp_path):
    # Found by fuzzing: the check for unnamed cells compared counts, so a cell under an empty
    # header cell was dropped whenever the row was no longer than the named columns.
    data = b"date,description,,,location,time,x1,x2\n2024-03-01,desc,UNDER AN EMPTY HEADER,,home\n"
    table, rejects, report = run_parser("incident-log", data, make_ctx(tmp_path))
    assert (table.num_rows, len(rejects), report.warnings) == (1, 0, [])
    assert table.column("extra").to_pylist() == ['{"location":"home","unnamed_cells":["UNDER AN EMPTY HEADER"]}']


UTF16_SMS = ("<?xml version='1.0' encoding='UTF-16' standalone='yes' ?>\n<smses count=\"2\">\n"
             "  <sms protocol=\"0\" address=\"07700 900123\" date=\"1709317808123\" type=\"1\" body=\"first\" read=\"1\" "
             "status=\"-1\" />\n"
             "  <sms protocol=\"0\" address=\"07700 900123\" date=\"1709317809123\" type=\"1\" body=\"second\" read=\"1\" "
             "status=\"-1\" />\n</smses>\n").encode("utf-16")


def test_sms_backup_in_utf16_cut_inside_a_character_keeps_its_records(tmp_path):
    # Found by fuzzing (and by the parser's own split-reads property): an odd number of bytes in a
    # UTF-16 file raised UnicodeDecodeError. The dangling byte is now one counted repair, and the
    # U+FFFD it becomes after the root's end tag a reject of its own.
    table, rejects, report = run_parser("smsbr-sms", UTF16_SMS[:-1], make_ctx(tmp_path))
    assert (table.num_rows, len(rejects), report.repairs, len(report.warnings)) == (2, 1, 1, 1)
    assert table.column("body").to_pylist() == ["first", "second"]
    assert (rejects[0].locator, rejects[0].raw) == ("after record #2, line 5", "\ufffd")
    assert "Extra content at the end of the document" in report.warnings[0]


def test_sms_backup_element_with_a_name_lxml_refuses_becomes_a_reject(tmp_path):
    # Found by fuzzing: an unexpected element with an attribute named ":" raised ValueError from lxml.
    data = (b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<calls count=\"2\">\n"
            b"  <call number=\"07700 900123\" duration=\"65\" date=\"1709317805123\" type=\"1\" />\n"
            b"  <odd a=\"1\" :=\"2\"><child>t</child></odd>\n"
            b"  <call number=\"07700 900123\" duration=\"5\" date=\"1709317905123\" type=\"2\" />\n</calls>\n")
    table, rejects, report = run_parser("smsbr-calls", data, make_ctx(tmp_path))
    assert (table.num_rows, len(rejects), report.warnings) == (2, 1, [])
    assert rejects[0].locator == "after record #1"
    assert rejects[0].raw == ('<element-with-an-unusual-name name="odd" attribute-1="a=1" attribute-2=":=2">'
                              '<child/></element-with-an-unusual-name>')   # (text of such elements is not kept)


def test_sms_backup_record_without_attributes_holding_an_element_becomes_a_reject(tmp_path):
    # Found by fuzzing: lxml hands an element without attributes a read-only mapping, and keeping
    # the unexpected child in it raised KeyError.
    data = (b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<calls count=\"2\">\n  <call><odd/></call>\n"
            b"  <call number=\"07700 900123\" duration=\"5\" date=\"1709317905123\" type=\"2\"><odd/></call>\n</calls>\n")
    table, rejects, report = run_parser("smsbr-calls", data, make_ctx(tmp_path))
    assert (table.num_rows, len(rejects), report.warnings) == (1, 1, [])
    assert (rejects[0].locator, rejects[0].reason, rejects[0].raw) == (
        "call #1, line 3", "no date attribute", '<call other_xml="&lt;odd/&gt;"/>')
    assert '"other_xml":"<odd/>"' in table.column("extra")[0].as_py()


def test_incident_log_sniff_of_a_damaged_workbook_says_no_instead_of_raising():
    # Found by fuzzing: a workbook whose offsets point before its start made zipfile raise ValueError
    # inside sniff, which stopped the whole ingest.
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types>spreadsheetml</Types>")
        z.writestr("xl/sharedStrings.xml", "<sst><si><t>date</t></si></sst>")
    data = bytearray(buf.getvalue())
    end = data.rfind(b"PK\x05\x06")
    data[end + 16:end + 20] = (len(data) + 5000).to_bytes(4, "little")   # central directory "after" the end
    assert incidents.sniff(bytes(data), "log.xlsx") in (True, False)
    # ... and one whose members are encrypted made zipfile raise RuntimeError (the long run found it)
    data = bytearray(buf.getvalue())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + flag_at] |= 1
    assert incidents.sniff(bytes(data), "log.xlsx") in (True, False)


def test_incident_log_keeps_every_column_when_two_share_a_name(tmp_path):
    # Found by fuzzing: cells of unknown columns were kept by column name, so of two columns
    # with the same name only one cell survived.
    data = b"date,time,location,description,Notes,Notes,Notes\n2024-03-01,10:00,home,desc,first,second,third\n"
    table, rejects, report = run_parser("incident-log", data, make_ctx(tmp_path))
    assert (table.num_rows, len(rejects), report.warnings) == (1, 0, [])
    assert table.column("extra").to_pylist() == [
        '{"location":"home","other_columns":{"Notes":"first","Notes (2)":"second","Notes (3)":"third"}}']


def test_incident_log_with_thousands_of_same_named_columns_is_read_quickly(tmp_path):
    # Found by the long fuzz run: naming duplicate columns was cubic in their number.
    import time
    data = b"date,time,location,description" + b",x" * 20_000 + b"\n2024-03-01,10:00,home,desc" + b",v" * 20_000 + b"\n"
    start = time.process_time()
    table, rejects, report = run_parser("incident-log", data, make_ctx(tmp_path))
    assert time.process_time() - start < 10
    assert (table.num_rows, len(rejects)) == (1, 0)
    assert '"x (20000)":"v"' in table.column("extra")[0].as_py()


def test_sms_backup_with_many_comments_in_a_block_is_read_in_linear_time(tmp_path):
    # Found by the long fuzz run: each comment made the XML reader search the rest of its 1 MiB block
    # for `<?`, so 10 MB of comments took a minute.
    import time
    comments = b"<!-- fictional comment -->" * 40_000
    data = (b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<calls count=\"2\">\n"
            b"  <call number=\"07700 900123\" duration=\"65\" date=\"1709317805123\" type=\"1\" />\n" + comments +
            b"\n  <call number=\"07700 900123\" duration=\"5\" date=\"1709317905123\" type=\"2\" />\n</calls>\n")
    start = time.process_time()
    table, rejects, report = run_parser("smsbr-calls", data, make_ctx(tmp_path))
    assert time.process_time() - start < 5
    assert (table.num_rows, len(rejects), report.warnings) == (2, 0, [])
