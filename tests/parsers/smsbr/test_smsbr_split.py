"""A big SMS Backup & Restore file parsed in two processes (commtrail/parsers/smsbr/split.py):
the output is always the one-process output, and the part process's output is used only when it
is that."""

from __future__ import annotations

import base64
import io
import sys
import time

import pytest
from conftest import make_ctx, new_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commtrail.parsers import registry
from commtrail.parsers.base import Owner, collect
from commtrail.parsers.smsbr import backup as smsbr
from commtrail.parsers.smsbr import split as smsbr_split

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the split forks (Linux only)")

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
GIF = "R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="


def _mms(i: int, data: str) -> str:
    return (f'  <mms date="{1709400000000 + i * 1000}" msg_box="1" address="+447700900123" m_type="132">\n'
            '    <parts>\n'
            f'      <part seq="0" ct="image/gif" name="image{i}.gif" data="{data}" />\n'
            f'      <part seq="0" ct="text/plain" text="picture {i} &#55357;&#56832;" />\n'
            '    </parts>\n'
            '    <addrs>\n'
            '      <addr address="+447700900123" type="137" />\n'
            '      <addr address="insert-address-token" type="151" />\n'
            '    </addrs>\n'
            '  </mms>')


# Damage done to a record's text (an <sms> line or an <mms> block): what no XML parser reads.
DAMAGE = {
    "lt": lambda text: text.replace("message", "mess < age", 1).replace("picture", "pic < ture", 1),
    "amp": lambda text: text.replace("message", "a & b", 1).replace("picture", "a & b", 1),
    "quote": lambda text: text.replace('read="1"', 'read="1', 1).replace('m_type="132"', 'm_type="132', 1),
    "open": lambda text: text.replace(" />", ">", 1),
    "stray": lambda text: text + "\n  stray & text",  # after the record, not in it
}


def sms_backup(n: int, *, bad_dates=(), undecodable=(), comment_at: int | None = None, cut: int = 0,
               damage: dict[int, str] | None = None) -> bytes:
    """A backup of ``n`` records: sms (some with surrogate pairs, `&amp;`, line breaks), MMS with
    media every 7th; bad dates and undecodable media where asked; a comment before a record;
    ``damage``: record index -> a kind of DAMAGE."""
    damage = damage or {}
    records = []
    for i in range(n):
        if i == comment_at:
            records.append("  <!-- a comment the app never writes -->")
        if i in undecodable:
            records.append(_mms(i, "not base64 at all!"))
        elif i % 7 == 3:
            media = base64.b64encode(base64.b64decode(GIF) + i.to_bytes(4, "big")).decode()
            records.append(_mms(i, media))
        else:
            date = "soon" if i in bad_dates else str(1709317800000 + i * 1000)
            body = f"message {i}" + (" &#55357;&#56832;" if i % 5 == 0 else "") + (" &amp;&#10;more" if i % 4 == 0 else "")
            kind = "1" if i % 3 else "2"
            records.append(f'  <sms protocol="0" address="07700 900{i % 50:03d}" date="{date}" type="{kind}" '
                           f'subject="null" body="{body}" read="1" contact_name="(Unknown)" />')
        if i in damage:
            records[-1] = DAMAGE[damage[i]](records[-1])
    text = ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
            "<!--File Created By SMS Backup & Restore-->\n"
            '<?xml-stylesheet type="text/xsl" href="sms.xsl"?>\n'
            f'<smses count="{n}" backup_set="6f1c2f0e-0000-4000-8000-000000000009" type="full">\n'
            + "\n".join(records) + "\n</smses>\n")
    data = text.encode()
    return data[:len(data) - cut] if cut else data


def calls_backup(n: int) -> bytes:
    lines = [f'  <call number="{"" if i % 11 == 0 else f"+4477009001{i % 100:02d}"}" duration="{i % 90}" '
             f'date="{1709317800000 + i * 60000}" type="{1 + i % 8}" presentation="{1 + i % 4}" '
             f'readable_date="x" contact_name="(Unknown)" />' for i in range(n)]
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
            f'<calls count="{n}">\n' + "\n".join(lines) + "\n</calls>\n").encode()


@pytest.fixture
def split_always(monkeypatch):
    """Every file on disk is split (not only big ones); the parts started are collected."""
    monkeypatch.setattr(smsbr_split, "MIN_BYTES", 0)
    started: list[smsbr_split.Part] = []
    real = smsbr_split.start

    def spy(*args, **kwargs):
        part = real(*args, **kwargs)
        if part is not None:
            started.append(part)
        return part

    monkeypatch.setattr(smsbr_split, "start", spy)
    return started


def parse(tmp_path, parser: str, data: bytes, *, split: bool, batch_size: int = 50_000):
    """(rows, rejects, report) of ``data`` parsed from a file on disk; with ``split``, a work
    folder is given (and the file may be split), else it is read from memory (never split)."""
    folder = tmp_path / ("split" if split else "whole")
    folder.mkdir(parents=True)
    path = folder / "backup.xml"
    path.write_bytes(data)
    ctx = make_ctx(folder, timezone="Europe/London", owner=OWNER, parser_label=f"{parser}/1",
                   work_dir=folder / "work" if split else None, batch_size=batch_size)
    with open(path, "rb") if split else io.BytesIO(data) as stream:
        table, rejects = collect(registry.get(parser).parse(stream, ctx), ctx)
    if split and (folder / "work").exists():
        assert not any((folder / "work").iterdir()), "the part's files are removed"
    return table.to_pylist(), rejects, ctx.report


def both(tmp_path, parser: str, data: bytes, **kwargs):
    whole = parse(tmp_path, parser, data, split=False, **kwargs)
    split = parse(tmp_path, parser, data, split=True, **kwargs)
    assert split[0] == whole[0]
    assert split[1] == whole[1]
    assert split[2] == whole[2]
    return whole


def test_sms_mms_rejects_and_repairs_in_the_second_part(tmp_path, split_always):
    data = sms_backup(400, bad_dates=(11, 351), undecodable=(300,))
    rows, rejects, report = both(tmp_path, "smsbr-sms", data)
    (part,) = split_always
    assert (part.used, part.why_not) == (True, "")
    assert part.plan.border > len(data) // 2
    assert (len(rows), len(rejects), report.repairs) == (398, 2, 125)  # 58 MMS texts, 67 sms bodies
    assert [r.locator for r in rejects] == ["sms #12, line 34", "sms #352, line 815"]
    assert report.warnings == [
        "1 MMS media parts are not valid base64: their text was kept as a blob and the message flagged "
        "attachment_undecodable: mms #301 part image300.gif: characters outside the base64 alphabet"]
    last = rows[-1]
    assert (last["locator"], last["body"], last["flags"]) == ("sms #400, line 926", "message 399", None)
    media = {a["sha256"] for r in rows for a in r["attachments"] or ()}
    assert len(media) == 57
    assert all((tmp_path / "split" / "blobs" / sha).is_file() for sha in media)


def test_calls(tmp_path, split_always):
    rows, rejects, report = both(tmp_path, "smsbr-calls", calls_backup(1000))
    assert split_always[0].used
    assert (len(rows), len(rejects), report.warnings, report.declared_count) == (1000, 0, [], 1000)
    assert rows[999]["locator"] == "call #1000, line 1002"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(share=st.floats(0.02, 0.98), batch_size=st.sampled_from([1, 7, 50_000]), cut=st.integers(0, 3000),
       damage=st.sampled_from([None, 5, 45]))
def test_any_border_gives_the_one_process_result(tmp_path_factory, monkeypatch, share, batch_size, cut, damage):
    """Wherever the border falls, wherever the file is cut off or damaged."""
    monkeypatch.setattr(smsbr_split, "MIN_BYTES", 0)
    monkeypatch.setattr(smsbr_split, "PARENT_SHARE", share)
    tmp_path = tmp_path_factory.mktemp("share")
    data = sms_backup(60, bad_dates=(40,), cut=cut)
    if damage is not None:
        data = data.replace(f"message {damage} ".encode(), f"message {damage} & ".encode())
    both(tmp_path, "smsbr-sms", data, batch_size=batch_size)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(share=st.floats(0.02, 0.98), batch_size=st.sampled_from([1, 7, 50_000]), cut=st.sampled_from([0, 0, 300]),
       damage=st.dictionaries(st.integers(0, 59), st.sampled_from(sorted(DAMAGE)), max_size=6))
def test_damage_on_either_side_of_the_border(tmp_path_factory, monkeypatch, share, batch_size, cut, damage):
    """Damaged records and text anywhere, the border anywhere: the one-process result, and with
    the whole file, every record is read or rejected."""
    monkeypatch.setattr(smsbr_split, "MIN_BYTES", 0)
    monkeypatch.setattr(smsbr_split, "PARENT_SHARE", share)
    rows, rejects, report = both(tmp_path_factory.mktemp("damage"), "smsbr-sms",
                                 sms_backup(60, bad_dates=(40,), damage=damage, cut=cut), batch_size=batch_size)
    if not cut:
        records = [r for r in rejects if r.locator.startswith(("sms #", "mms #"))]
        assert len(rows) + len(records) == 60
        assert len(rejects) - len(records) == sum(kind == "stray" for kind in damage.values())


def _border_record(data: bytes, tmp_path) -> int:
    """The index of the record the border falls on when ``data`` is split in the middle."""
    path = tmp_path / "probe.xml"
    path.write_bytes(data)
    with open(path, "rb") as f:
        the_plan = smsbr_split.plan(f, make_ctx(tmp_path, work_dir=tmp_path / "work"))
    return data[:the_plan.border].count(b"<sms ") + data[:the_plan.border].count(b"<mms ")


@pytest.mark.parametrize("where, kind, used, why", [
    (-1, "lt", False, "an XML error before the border"),  # the last record before the border
    (0, "lt", True, ""),  # the border's own record, first in the part process
    (1, "open", True, ""),
    (-1, "stray", False, "the border is not between two records"),  # text the parser has not read yet
    (-1, "open", False, "the border is not between two records"),  # its end would be at the border
])
def test_damage_next_to_the_border(tmp_path, split_always, where, kind, used, why):
    first = _border_record(sms_backup(200), tmp_path)
    data = sms_backup(200, damage={first + where: kind})
    rows, rejects, report = both(tmp_path, "smsbr-sms", data)
    (part,) = split_always
    assert (part.used, part.why_not) == (used, why)
    records = [r for r in rejects if r.locator.startswith(("sms #", "mms #"))]
    assert len(rows) + len(records) == 200
    if kind != "stray":
        assert [r.locator.split(",")[0] for r in rejects] == [f"{'mms' if (first + where) % 7 == 3 else 'sms'} "
                                                               f"#{first + where + 1}"]


def test_xml_errors_in_the_second_part(tmp_path, split_always):
    """A backup cut off inside its last record, and one damaged in its second half: the part
    process's output is used and says what one process says."""
    rows, rejects, report = both(tmp_path, "smsbr-sms", sms_backup(200, cut=40))
    assert split_always[0].used
    assert (len(rows), rejects[-1].locator) == (199, "mms #200, line 456")  # 4 lines of head, 171 sms, 28 MMS
    assert report.warnings == [
        "the file is truncated: it ends in the middle of an element at byte 38945, line 463 (AttValue: \" or ' "
        "expected); every complete record before it was kept; the root element declares count=200, "
        "199 records found before the error (1 fewer); the incomplete last record was rejected with its text"]
    rows, rejects, report = both(tmp_path / "damaged", "smsbr-sms",
                                 sms_backup(200).replace(b"message 180 ", b"message 180 & "))
    assert split_always[1].used
    assert (len(rows), [r.locator for r in rejects]) == (199, ["sms #181, line 419"])
    assert rejects[0].reason == ("damaged record: not well-formed XML (xmlParseEntityRef: no name, line 419, "
                                 "column 108) (the raw text shows 1 repaired character references)")
    assert report.warnings == [
        "the file is not well-formed XML in places: 1 damaged record was rejected with its text: sms #181, line 419 "
        "(xmlParseEntityRef: no name, line 419, column 108); reading went on at the next record start tag each time"]


@pytest.mark.parametrize("case, why", [
    ("comment", "markup other than records before the border"),
    ("error in the first part", "an XML error before the border"),
])
def test_odd_files_are_read_by_one_process(tmp_path, split_always, case, why):
    if case == "comment":
        data = sms_backup(200, comment_at=20)
    else:
        data = sms_backup(200).replace(b"message 20 ", b"message 20 & ")
    rows, rejects, report = both(tmp_path, "smsbr-sms", data)
    (part,) = split_always
    assert not part.used
    assert part.why_not.startswith(why)
    if case != "comment":  # the first part's error: this process reads on, the part's output is not asked for
        assert (len(rows), [r.locator for r in rejects]) == (199, ["sms #21, line 52"])


def test_a_failing_part_process_is_replaced(tmp_path, split_always, monkeypatch):
    def fail(*args):
        raise MemoryError("no room")
    monkeypatch.setattr(smsbr_split, "lines_and_records", fail)
    both(tmp_path, "smsbr-sms", sms_backup(100))
    assert split_always[0].why_not == "the part process failed: MemoryError('no room')"


def test_a_slow_part_process_is_stopped(tmp_path, split_always, monkeypatch):
    real = smsbr_split.lines_and_records

    def slow(*args):
        time.sleep(30)
        return real(*args)
    monkeypatch.setattr(smsbr_split, "lines_and_records", slow)
    monkeypatch.setattr(smsbr_split, "PATIENCE", 0.2)
    started = time.monotonic()
    both(tmp_path, "smsbr-sms", sms_backup(100))
    assert time.monotonic() - started < 10
    assert split_always[0].why_not.startswith("the part process took longer than 0 s")


def test_a_border_inside_something_is_refused(tmp_path, split_always, monkeypatch):
    monkeypatch.setattr(smsbr._Session, "between_records", lambda self: False)
    both(tmp_path, "smsbr-sms", sms_backup(100))
    assert split_always[0].why_not == "the border is not between two records"


def test_not_split(tmp_path, monkeypatch):
    """Small files, streams that are not files on disk, UTF-16 files and contexts without a work
    folder are read by one process."""
    data = sms_backup(100)
    path = tmp_path / "backup.xml"
    path.write_bytes(data)
    ctx = make_ctx(tmp_path, work_dir=tmp_path / "work")
    with open(path, "rb") as f:
        assert smsbr_split.plan(f, ctx) is None  # under MIN_BYTES
    monkeypatch.setattr(smsbr_split, "MIN_BYTES", 0)
    with open(path, "rb") as f:
        assert smsbr_split.plan(f, ctx) is not None
        assert smsbr_split.plan(f, make_ctx(tmp_path)) is None  # no work folder
        f.read(1)
        assert smsbr_split.plan(f, ctx) is None  # not at its start
    assert smsbr_split.plan(io.BytesIO(data), ctx) is None
    utf16 = tmp_path / "utf16.xml"
    utf16.write_bytes(data.decode().replace("UTF-8", "UTF-16").encode("utf-16"))
    with open(utf16, "rb") as f:
        assert smsbr_split.plan(f, ctx) is None


def test_lines_and_records_before_the_border(tmp_path, monkeypatch):
    data = sms_backup(50, comment_at=None)
    path = tmp_path / "backup.xml"
    path.write_bytes(data)
    root_at = data.index(b"<smses")
    monkeypatch.setattr(smsbr_split, "COUNT_BLOCK", 7)  # tags across block ends
    with open(path, "rb") as f:
        for end in (root_at, data.index(b"<sms "), data.index(b"<mms "), len(data) - 9):
            expected = (data[:end].count(b"\n"), data[root_at:end].count(b"<sms ") + data[root_at:end].count(b"<mms "))
            assert smsbr_split.lines_and_records(f.fileno(), root_at, end) == expected
    with_comment = sms_backup(50, comment_at=10)
    path.write_bytes(with_comment)
    with open(path, "rb") as f:
        assert smsbr_split.lines_and_records(f.fileno(), root_at, len(with_comment) - 9) is None
        assert smsbr_split.lines_and_records(f.fileno(), root_at, with_comment.index(b"<!-- a")) is not None


def test_ingest_of_a_split_file_gives_the_same_case(tmp_path, split_always, monkeypatch, capsys):
    import pyarrow.parquet as pq

    from commtrail.cli import main

    backup = tmp_path / "sms-20240301.xml"
    backup.write_bytes(sms_backup(300, bad_dates=(200,)))
    # ingest parses in a process of its own (under the memory cap): the part's fate comes back in a file
    from commtrail.parsers.smsbr import backup as smsbr
    used = tmp_path / "parts-used"
    real_take = smsbr._take_part

    def take(session, part):
        taken = yield from real_take(session, part)
        with open(used, "a", encoding="utf-8") as note:
            note.write(f"{part.used}\n")
        return taken
    monkeypatch.setattr(smsbr, "_take_part", take)
    staged = {}
    for name, min_bytes in (("whole", 1 << 40), ("split", 0)):
        monkeypatch.setattr(smsbr_split, "MIN_BYTES", min_bytes)
        case = new_case(tmp_path / name)
        assert main(["ingest", str(case), str(backup)]) == 0
        (staging,) = [p for p in (case / "staging").glob("*.parquet") if not p.name.endswith(".rejects.parquet")]
        staged[name] = (pq.read_table(staging).to_pylist(), pq.read_table(staging.with_suffix(".rejects.parquet")).to_pylist(),
                        pq.read_table(case / "master.parquet").to_pylist())
        assert [p for p in case.glob(".tmp/**/*") if p.is_file()] == []  # the part's files are gone
        assert main(["verify", str(case)]) == 0
    capsys.readouterr()
    assert used.read_text(encoding="utf-8").split() == ["True"]
    assert staged["split"] == staged["whole"]
    rows, rejects, master = staged["split"]
    assert (len(rows), len(rejects), len(master)) == (299, 1, 299)


def test_the_part_process_dies_with_ingest(tmp_path):
    """A killed ingest leaves no part process behind (it would hold the case's lock)."""
    import os
    import signal
    import subprocess

    path = tmp_path / "backup.xml"
    path.write_bytes(sms_backup(100))
    script = f"""
import os, sys, time
from commtrail.parsers import registry
from commtrail.parsers.base import ParseContext
from commtrail.parsers.smsbr import split as smsbr_split
smsbr_split.MIN_BYTES = 0
smsbr_split.lines_and_records = lambda *a: time.sleep(60)
ctx = ParseContext(source_sha256="0" * 64, source_path="x", work_dir={str(tmp_path / "work")!r})
with open({str(path)!r}, "rb") as f:
    part = smsbr_split.start(f, ctx, "smses", None)
    print(part._process.pid, flush=True)
    time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
            with open(f"/proc/{child}/stat") as stat:
                if stat.read().split()[2] == "Z":  # dead, not yet reaped
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the part process outlived the process that started it")
