"""Reading on after damage in SMS Backup & Restore files (commtrail/parsers/smsbr/resync.py and the
session in commtrail/parsers/smsbr/backup.py): a damaged record is a reject with its text and line, and
every record after it is read."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from conftest import make_ctx, new_case, run_parser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commtrail.parsers import registry
from commtrail.parsers.base import Owner, collect
from commtrail.parsers.smsbr import backup as smsbr
from commtrail.parsers.smsbr.resync import Window, after_record, ends_with_record, span_text

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
HEAD = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"


def sms(i: int, body: str | None = None) -> str:
    return (f'  <sms protocol="0" address="+447700900123" date="{1709317800000 + i * 1000}" type="1" '
            f'body="{body if body is not None else f"message {i}"}" read="1" contact_name="Jordan" />')


def mms(i: int, text: str | None = None) -> str:
    text = f"picture {i}" if text is None else text
    return (f'  <mms date="{1709317800000 + i * 1000}" msg_box="1" address="+447700900123" m_type="132">\n'
            f'    <parts>\n      <part seq="0" ct="text/plain" text="{text}" />\n'
            '    </parts>\n    <addrs>\n      <addr address="+447700900123" type="137" />\n    </addrs>\n  </mms>')


def call(i: int, number: str = "+447700900123") -> str:
    return f'  <call number="{number}" duration="{i}" date="{1709317800000 + i * 1000}" type="1" presentation="1" />'


def backup(*records: str, root: str = "smses", count: int | None = None) -> bytes:
    declared = "" if count == -1 else f' count="{len(records) if count is None else count}"'
    return (HEAD + f"<{root}{declared}>\n" + "\n".join(records) + f"\n</{root}>\n").encode()


def parse(data: bytes, name: str = "smsbr-sms", **overrides):
    """(rows as (locator, body or duration), rejects as (locator, reason, raw), warnings)."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_ctx(Path(tmp), timezone="Europe/London", owner=OWNER, **overrides)
        table, rejects, report = run_parser(name, data, ctx)
    rows = [(r["locator"], r["body"] if r["channel"] != "call" else r["duration_s"]) for r in table.to_pylist()]
    return rows, [(r.locator, r.reason, r.raw) for r in rejects], report.warnings


def reason(message: str, line: int, column: int | None = None) -> str:
    where = f"line {line}" + (f", column {column}" if column is not None else "")
    return f"damaged record: not well-formed XML ({message}, {where})"


def warning(*places: str) -> str:
    text = f"{len(places)} damaged record was rejected with its text" if len(places) == 1 else \
        f"{len(places)} damaged records were rejected with their text"
    return (f"the file is not well-formed XML in places: {text}: " + "; ".join(places)
            + "; reading went on at the next record start tag each time")


LT = "Unescaped '<' not allowed in attributes values"


def test_the_issue_example_five_sms_the_second_damaged():
    rows, rejects, warnings = parse(backup(sms(1), sms(2, "two < three"), sms(3), sms(4), sms(5)))
    assert rows == [("sms #1, line 3", "message 1"), ("sms #3, line 5", "message 3"), ("sms #4, line 6", "message 4"),
                    ("sms #5, line 7", "message 5")]
    assert rejects == [("sms #2, line 4", reason(LT, 4, 85), sms(2, "two < three").strip())]  # 85: the `<`
    assert warnings == [warning(f"sms #2, line 4 ({LT}, line 4, column 85)")]


def test_damage_repeated_first_and_last():
    rows, rejects, warnings = parse(backup(sms(1, "a & b"), sms(2), sms(3, "x < y"), sms(4, "x < y"), sms(5),
                                           sms(6, 'say "hi"')))
    assert rows == [("sms #2, line 4", "message 2"), ("sms #5, line 7", "message 5")]
    assert [(locator, why) for locator, why, _ in rejects] == [
        ("sms #1, line 3", reason("xmlParseEntityRef: no name", 3, 84)),  # where a name should follow `&`
        ("sms #3, line 5", reason(LT, 5, 83)),
        ("sms #4, line 6", reason(LT, 6, 83)),
        ("sms #6, line 8", reason("attributes construct error", 8, 86))]  # the `h` after `"say "`
    assert rejects[3][2] == sms(6, 'say "hi"').strip()  # the last record: without the root's end tag
    assert len(warnings) == 1 and warnings[0].startswith("the file is not well-formed XML in places: 4 damaged")


def test_unclosed_quote_swallowing_the_next_records():
    """The quote runs on into the next record: the damaged span still ends at the next record
    start tag, and the next record is read."""
    broken = sms(2).replace('contact_name="Jordan" />', 'contact_name="Jordan />')
    rows, rejects, warnings = parse(backup(sms(1), broken, sms(3), sms(4)))
    assert rows == [("sms #1, line 3", "message 1"), ("sms #3, line 5", "message 3"), ("sms #4, line 6", "message 4")]
    assert rejects == [("sms #2, line 4", reason(LT, 5, 3), broken.strip())]  # found at the next tag's `<`


def test_unclosed_record_element():
    """``>`` instead of ``/>``: the next record would be read as its child."""
    open_sms = sms(2).replace(" />", ">")
    rows, rejects, _ = parse(backup(sms(1), open_sms, sms(3), sms(4)))
    assert [locator for locator, _ in rows] == ["sms #1, line 3", "sms #3, line 5", "sms #4, line 6"]
    assert rejects == [("sms #2, line 4", "damaged record: not well-formed XML (<sms> start tag inside another "
                                          "element, line 5)", open_sms.strip())]


def test_damage_inside_an_mms_part_rejects_the_whole_mms():
    data = backup(sms(1), mms(2, "a < b"), sms(3), mms(4), count=4)
    rows, rejects, warnings = parse(data)
    assert rows == [("sms #1, line 3", "message 1"), ("sms #3, line 12", "message 3"), ("mms #4, line 13", "picture 4")]
    assert rejects == [("mms #2, line 4", reason(LT, 6, 45), mms(2, "a < b").strip())]
    assert warnings == [warning(f"mms #2, line 4 ({LT}, line 6, column 45)")]


def test_media_of_a_damaged_mms_are_named():
    gif = "R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
    sha = "b1442e85b03bdcaf66dc58c7abb98745dd2687d86350be9a298a1d9382ac849b"
    damaged = mms(2, "a < b").replace("<parts>\n", f'<parts>\n      <part seq="0" ct="image/gif" data="{gif}" />\n')
    rows, rejects, _ = parse(backup(sms(1), damaged, sms(3)))
    assert len(rows) == 2
    assert rejects[0][1] == reason(LT, 7, 45) + f"; the media of its parts before the damage were kept as blobs {sha}"


def test_damaged_call_log():
    data = backup(call(1), call(2, "+44 7700 <900123"), call(3), call(4, "a&b"), call(5), root="calls")
    rows, rejects, warnings = parse(data, "smsbr-calls")
    assert rows == [("call #1, line 3", 1), ("call #3, line 5", 3), ("call #5, line 7", 5)]
    assert [(locator, why) for locator, why, _ in rejects] == [
        ("call #2, line 4", reason(LT, 4, 26)),
        ("call #4, line 6", reason("EntityRef: expecting ';'", 6, 20))]  # after `&b`
    assert rejects[0][2] == call(2, "+44 7700 <900123").strip()


def test_stray_text_between_records_and_a_damaged_head():
    data = backup(sms(1), "  oops & more", sms(2), count=2)
    rows, rejects, warnings = parse(data)
    assert [locator for locator, _ in rows] == ["sms #1, line 3", "sms #2, line 5"]
    assert rejects == [("after record #1, line 4", "damaged text after record #1 (which was read): not well-formed "
                                                   "XML (xmlParseEntityRef: no name, line 4, column 9)", "oops & more")]
    assert warnings == [
        "the file is not well-formed XML in places: 1 stretch of damaged text between records was rejected with its "
        "text: after record #1, line 4 (xmlParseEntityRef: no name, line 4, column 9); reading went on at the next "
        "record start tag each time"]
    head = backup(sms(1), sms(2)).replace(b'<smses count="2">', b'<smses count="2" <oops>')
    rows, rejects, warnings = parse(head)
    assert [locator for locator, _ in rows] == ["sms #1, line 3", "sms #2, line 4"]
    assert [(locator, raw) for locator, _, raw in rejects] == [
        ("before record #1, line 2", HEAD + '<smses count="2" <oops>')]


def test_a_damaged_last_record_without_the_root_end_tag():
    data = (HEAD + '<smses count="2">\n' + sms(1) + "\n" + sms(2).replace(" />", "") + "\n  <!-- cut -->\n").encode()
    rows, rejects, warnings = parse(data)
    assert rows == [("sms #1, line 3", "message 1")]
    assert rejects == [("sms #2, line 4", reason("error parsing attribute name", 5, 3),
                        sms(2).replace(" />", "").strip() + "\n  <!-- cut -->")]
    assert warnings[1:] == ["the file ends in damage, without the end tag of its root element (</smses>): the "
                            "backup may have been cut off there"]


def test_damaged_text_after_the_last_record():
    rows, rejects, warnings = parse(backup(sms(1), sms(2)).replace(b"</smses>", b"  oops < \n</smses>"))
    assert [locator for locator, _ in rows] == ["sms #1, line 3", "sms #2, line 4"]
    assert rejects == [("after record #2, line 5", "damaged text after record #2 (which was read): not well-formed XML "
                                                   "(StartTag: invalid element name, line 5, column 9)", "oops <")]
    assert len(warnings) == 1
    rows, rejects, warnings = parse(backup(sms(1), sms(2)).replace(b"</smses>", b"</smsse>"))
    assert (len(rows), [raw for _, _, raw in rejects]) == (2, ["</smsse>"])
    assert warnings[1] == ("the file ends in damage, without the end tag of its root element (</smses>): the backup "
                           "may have been cut off there")


def test_count_reconciles_and_a_difference_is_told():
    rows, rejects, warnings = parse(backup(sms(1), sms(2, "<"), sms(3), count=3))
    assert (len(rows), len(rejects), len(warnings)) == (2, 1, 1)  # 2 + 1 = count: no other warning
    rows, rejects, warnings = parse(backup(sms(1), sms(2, "<"), sms(3), count=5))
    assert warnings[1] == "the root element declares count=5 but the file holds 3 records (2 read, 1 rejected)"


def test_truncated_after_damage():
    data = backup(sms(1), sms(2, "x < y"), sms(3), sms(4), count=4)
    data = data[:data.index(b"message 4") + 4]
    rows, rejects, warnings = parse(data)
    assert [locator for locator, _ in rows] == ["sms #1, line 3", "sms #3, line 5"]
    assert [(locator, why) for locator, why, _ in rejects] == [
        ("sms #2, line 4", reason(LT, 4, 83)),
        ("sms #4, line 6", "incomplete record: the file ends inside it (truncated backup)")]
    assert warnings[1].startswith("the file is truncated: it ends in the middle of an element at byte ")
    assert warnings[1].endswith("the root element declares count=4, 3 records found before the error (1 fewer); "
                                "the incomplete last record was rejected with its text")


def test_a_long_damaged_record_is_kept_in_part():
    big = mms(2, "a < b").replace('<addrs>', '<addrs>' + '<x y="' + "z" * 100_000 + '"/>')
    rows, rejects, _ = parse(backup(sms(1), big, sms(3)))
    assert [locator for locator, _ in rows] == ["sms #1, line 3", "sms #3, line 12"]
    ((locator, _, raw),) = rejects
    size = len(big.strip().encode()) + 3  # and the line feed and indentation before the next record
    assert raw == big.strip()[:65536] + f" [first 65536 characters of {size} bytes]"


def test_the_result_does_not_depend_on_how_the_input_is_read(monkeypatch):
    data = backup(*[sms(i, "x < y" if i % 5 == 2 else None) if i % 4 else mms(i, "a & b" if i == 8 else None)
                    for i in range(1, 40)])
    expected = parse(data)

    class Trickle(io.RawIOBase):
        def __init__(self) -> None:
            self._raw = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._raw.read(3)

    monkeypatch.setattr(smsbr, "FEED", 97)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_ctx(Path(tmp), timezone="Europe/London", owner=OWNER, batch_size=4, parser_label="smsbr-sms/2")
        table, rejects = collect(registry.get("smsbr-sms").parse(Trickle(), ctx), ctx)
    assert [(r["locator"], r["body"]) for r in table.to_pylist()] == expected[0]
    assert [(r.locator, r.reason, r.raw) for r in rejects] == expected[1]
    assert ctx.report.warnings == expected[2]


DAMAGE = {
    "lt": lambda record: record.replace('message', 'mess < age', 1).replace('picture', 'pic < ture', 1),
    "amp": lambda record: record.replace('message', 'a & b', 1).replace('picture', 'a & b', 1),
    "quote": lambda record: record.replace('read="1"', 'read="1', 1).replace('m_type="132"', 'm_type="132', 1),
    "open": lambda record: record.replace(" />", ">", 1),
    "cut": lambda record: record.replace(" />", " ", 1),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.just(n), st.dictionaries(st.integers(1, n), st.sampled_from(sorted(DAMAGE)), max_size=n))),
    st.sampled_from([5, 97, 1 << 20]), st.sampled_from([1, 3, 50_000]))
def test_random_damage_loses_nothing(monkeypatch, shape, feed, batch_size):
    """Damage at random records of a backup: records + rejects = count, every undamaged record is
    read exactly, every damaged one is a reject with its own line, however the input is fed."""
    n, damaged = shape
    monkeypatch.setattr(smsbr, "FEED", feed)
    records = [mms(i) if i % 3 == 0 else sms(i) for i in range(1, n + 1)]
    for i, kind in damaged.items():
        records[i - 1] = DAMAGE[kind](records[i - 1])
    lines = [3]
    for record in records:
        lines.append(lines[-1] + record.count("\n") + 1)
    rows, rejects, warnings = parse(backup(*records), batch_size=batch_size)
    assert len(rows) + len(rejects) == n
    assert rows == [(f"{'mms' if i % 3 == 0 else 'sms'} #{i}, line {lines[i - 1]}",
                     f"picture {i}" if i % 3 == 0 else f"message {i}") for i in range(1, n + 1) if i not in damaged]
    assert [locator for locator, _, _ in rejects] == [
        f"{'mms' if i % 3 == 0 else 'sms'} #{i}, line {lines[i - 1]}" for i in sorted(damaged)]
    assert [raw for _, _, raw in rejects] == [records[i - 1].strip() for i in sorted(damaged)]
    assert len(warnings) == (1 if damaged else 0)


@pytest.mark.parametrize("text, expected", [
    (b'<sms a="1" b=\'2\' />\n  ', b"\n  "),
    (b'<call a="x > y"/> & <', b" & <"),
    (b'<sms a="1">', None),
    (b'<mms a="1"><parts/></mms> </mms>', b" </mms>"),
    (b'<mms a="1"><parts/></mm', None),
    (b'<part a="1"/>', None),
])
def test_after_record(text, expected):
    assert after_record(text) == expected


def test_ends_with_record():
    assert ends_with_record(b'<sms a="1" />\n  ')
    assert not ends_with_record(b'<sms a="1" />\n & ')
    assert ends_with_record(b'<mms a="1"><parts/></mms>\n')
    assert not ends_with_record(b'<sms a="1" b="2')


def test_window_and_span_text():
    window = Window()
    window.add(b"ab\ncd\xc3\xa9f")
    window.add(b"gh")
    assert (window.column(3), window.column(8), window.get(1, 4)) == (0, 4, b"b\nc")
    window.keep_from(4)
    assert (window.at, window.get(0, 7), window.column(8)) == (4, b"d\xc3\xa9", None)
    assert span_text(b'<sms a="1"/>\n </smses>\n', 23, last=True) == '<sms a="1"/>'
    assert span_text(b'<sms a="1"/>\n', 13, last=False) == '<sms a="1"/>'
    assert span_text(b"<sms a=", 100, last=False) == "<sms a= [first 7 characters of 100 bytes]"


def test_ingest_keeps_the_records_after_the_damage(tmp_path, capsys):
    import pyarrow.parquet as pq

    from commtrail.cli import main

    backup_file = tmp_path / "sms-20240301.xml"
    backup_file.write_bytes(backup(sms(1), sms(2, "two < three"), sms(3), sms(4), sms(5)))
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(backup_file)]) == 0
    capsys.readouterr()
    (staging,) = [p for p in (case / "staging").glob("*.parquet") if not p.name.endswith(".rejects.parquet")]
    assert [r["body"] for r in pq.read_table(staging).to_pylist()] == [f"message {i}" for i in (1, 3, 4, 5)]
    assert [(r["locator"], r["raw"]) for r in pq.read_table(staging.with_suffix(".rejects.parquet")).to_pylist()] == [
        ("sms #2, line 4", sms(2, "two < three").strip())]
    assert [(r["records"], r["rejects"]) for r in pq.read_table(case / "sources.parquet").to_pylist()] == [(4, 1)]


def test_a_damaged_record_longer_than_a_block():
    """The next record's start tag is found blocks later: the bytes from it on are still there."""
    for damage in ('m_type="1<32"', 'a="<"'):  # found at once, or only after the long text
        big = mms(2).replace("<addrs>", "<addrs>" + '<x y="' + "z" * (3 << 20) + '" />')
        big = big.replace('m_type="132"', damage) if "m_type" in damage else big.replace("<x y", f"<x {damage} y")
        rows, rejects, _ = parse(backup(sms(1), big, sms(3), mms(4), *[sms(i) for i in range(5, 3000)]))
        assert rows[:4] == [("sms #1, line 3", "message 1"), ("sms #3, line 12", "message 3"),
                            ("mms #4, line 13", "picture 4"), ("sms #5, line 21", "message 5")]
        assert len(rows) == 2998
        ((locator, _, raw),) = rejects
        assert (locator, raw[-41:]) == ("mms #2, line 4", f"[first 65536 characters of {len(big.strip()) + 3} bytes]")
