"""case.toml edits take effect: every command that reads the master re-resolves parties first,
with the bytes a fresh case built with the edited case.toml has; an edit that needs the sources
read again is refused by key and line, and nothing is rewritten."""

from __future__ import annotations

import re
import shutil

import pyarrow.parquet as pq
import pytest

from commtrail.cli import main
from commtrail.timeline.master import read_master

pypdf = pytest.importorskip("pypdf")

CHAT = ("14/03/2024, 09:00 - Jordan: Are you there?\n"
        "14/03/2024, 09:01 - Sam: Please stop messaging me\n"
        "15/03/2024, 23:15 - Jordan: Answer me\n")
SMS = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<smses count="2">
  <sms protocol="0" address="07700 900123" date="1709370000000" type="1" body="Why are you ignoring me" read="1" status="-1" readable_date="2 Mar 2024 09:00:00" contact_name="(Unknown)" />
  <sms protocol="0" address="07700 900123" date="1709373600000" type="2" body="Leave me alone" read="1" status="-1" readable_date="2 Mar 2024 10:00:00" contact_name="(Unknown)" />
</smses>
"""
BEFORE = """[case]
title = "Edits"
timezone = "Europe/London"
phone_region = "GB"

[owner]
name = "Sam"
phones = ["+44 7700 900999"]
whatsapp_names = ["Sam"]
"""
PARTY = """
[[party]]
name = "Jordan"
phones = ["+44 7700 900123"]
whatsapp_names = ["Jordan"]
"""
AFTER = BEFORE + PARTY


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "WhatsApp Chat with Jordan.txt").write_text(CHAT, encoding="utf-8")
    (folder / "sms.xml").write_text(SMS, encoding="utf-8")
    return folder


def _build(case, inputs, toml):
    assert main(["init", str(case)]) == 0
    (case / "case.toml").write_text(toml, encoding="utf-8")
    assert main(["ingest", str(case), str(inputs)]) == 0


def _report_files(case):
    """report.html, and report.pdf with its date and file id masked: the PDF is dated by the last
    ingest (sources.parquet's ingested_at), and a fresh case is ingested at another second."""
    pdf = (case / "report" / "report.pdf").read_bytes()
    pdf = re.sub(rb"/CreationDate \(D:\d{14}", b"/CreationDate (D:" + b"0" * 14, pdf)
    pdf = re.sub(rb"/ID \[<[0-9A-F]{32}><[0-9A-F]{32}>\]", b"/ID []", pdf)
    return {"report.html": (case / "report" / "report.html").read_bytes(), "report.pdf": pdf}


def test_an_added_party_takes_effect_with_fresh_bytes(tmp_path, inputs, capsys):
    case = tmp_path / "case"
    _build(case, inputs, BEFORE)
    assert main(["report", str(case)]) == 0
    before = read_master(case_obj(case)).select(["event_id", "exhibit", "party"]).to_pylist()
    assert [r["party"] for r in before] == [None] * 5
    capsys.readouterr()

    (case / "case.toml").write_text(AFTER, encoding="utf-8")
    assert main(["report", str(case)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("case.toml changed since the master was built: parties and identifier links "
                                   "re-resolved from staging (nothing read again; event ids and exhibit numbers "
                                   "unchanged).")
    after = read_master(case_obj(case)).select(["event_id", "exhibit", "party"]).to_pylist()
    assert [(r["event_id"], r["exhibit"]) for r in after] == [(r["event_id"], r["exhibit"]) for r in before]
    assert [r["party"] for r in after] == ["Jordan"] * 5
    html = (case / "report" / "report.html").read_text(encoding="utf-8")
    assert "never seen" not in html
    assert main(["verify", str(case)]) == 0
    # a second command finds nothing to do
    capsys.readouterr()
    assert main(["stats", str(case)]) == 0
    assert "re-resolved" not in capsys.readouterr().out
    edited = {"master.parquet": (case / "master.parquet").read_bytes(), **_report_files(case)}

    # a fresh case, built from scratch with the edited case.toml, at the same place
    shutil.move(case, tmp_path / "edited-case")
    _build(case, inputs, AFTER)
    assert main(["report", str(case)]) == 0
    fresh = {"master.parquet": (case / "master.parquet").read_bytes(), **_report_files(case)}
    for name in edited:
        assert edited[name] == fresh[name], name


def case_obj(path):
    from commtrail.case import Case
    return Case(path)


def _snapshot(case):
    return {p.relative_to(case).as_posix(): p.read_bytes() for p in sorted(case.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_a_broken_edit_is_refused_by_key_and_line(tmp_path, inputs, capsys):
    case = tmp_path / "case"
    _build(case, inputs, AFTER)
    (case / "case.toml").write_text(AFTER.replace('phones = ["+44 7700 900123"]', 'phones = ["07700 9001234567"]'),
                                    encoding="utf-8")
    snapshot = _snapshot(case)
    capsys.readouterr()
    for command in (["report"], ["stats"], ["chart"], ["export", "--format", "csv"]):
        assert main([command[0], str(case), *command[1:]]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"Error: {case / 'case.toml'} (line 13, [party[1]] phones): '07700 9001234567' "
                              "is not a phone number for region GB."), err
    assert _snapshot(case) == snapshot


@pytest.mark.parametrize("old,new,line,message", [
    ('timezone = "Europe/London"', 'timezone = "America/New_York"', 3,
     'timezone was "Europe/London" when the sources in this case were read and is now "America/New_York". '
     "It decided how they were read (smsbr-sms, whatsapp)"),
    ('phone_region = "GB"', 'phone_region = "US"', 4,
     'phone_region was "GB" when the sources in this case were read and is now "US".'),
    ('whatsapp_names = ["Sam"]', 'whatsapp_names = ["Sam C"]', 9,
     'whatsapp_names was ["Sam"] when the sources in this case were read and is now ["Sam C"]. '
     "It decided how they were read (whatsapp)"),
])
def test_an_edit_that_needs_a_new_reading_is_refused(tmp_path, inputs, capsys, old, new, line, message):
    case = tmp_path / "case"
    _build(case, inputs, AFTER)
    (case / "case.toml").write_text(AFTER.replace(old, new), encoding="utf-8")
    snapshot = _snapshot(case)
    capsys.readouterr()
    for command in (["report"], ["ingest", str(inputs)]):
        assert main([command[0], str(case), *command[1:]]) == 2
        err = capsys.readouterr().err
        table = "owner" if "whatsapp" in old else "case"
        key = old.split(" = ")[0]
        assert err.startswith(f"Error: {case / 'case.toml'} (line {line}, [{table}] {key}): {message}"), err
        assert f"Put back {old}" in err
    assert _snapshot(case) == snapshot


def test_an_edit_no_source_depends_on_is_taken(tmp_path, inputs, capsys):
    case = tmp_path / "case"
    _build(case, inputs, AFTER)
    (case / "case.toml").write_text(AFTER.replace('whatsapp_names = ["Sam"]',
                                                  'whatsapp_names = ["Sam"]\nemails = ["sam@example.org"]'),
                                    encoding="utf-8")
    capsys.readouterr()
    assert main(["stats", str(case)]) == 0
    assert "re-resolved" in capsys.readouterr().out
    metadata = pq.read_schema(case / "master.parquet").metadata[b"commtrail.case_toml"]
    assert b'"owner.emails":["sam@example.org"]' in metadata


def test_a_new_date_order_applies_to_later_files(tmp_path, inputs, capsys):
    case = tmp_path / "case"
    _build(case, inputs, AFTER)
    (case / "case.toml").write_text(AFTER.replace('phone_region = "GB"', 'phone_region = "GB"\ndate_order = "DMY"'),
                                    encoding="utf-8")
    capsys.readouterr()
    assert main(["export", str(case), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        'case.toml: date_order is now "DMY" (it was nothing); it applies to files ingested from now on. Files '
        "already in the case keep the order they were read in (their warnings say how it was decided).")


@pytest.mark.parametrize("name,fixture", [
    ("whatsapp", "whatsapp/android_dmy_24h.txt"), ("smsbr-sms", "smsbr/sms-mms.xml"),
    ("smsbr-calls", "smsbr/calls.xml"), ("eml", "email/single.eml"), ("mbox", "email/gmail.mbox"),
    ("incident-log", "incidents/incidents.csv"),
])
def test_what_case_settings_claim_a_format_does_not_read(tmp_path, name, fixture):
    """NOT_READ_BY holds: changing what a format is said not to read changes nothing it stages."""
    from conftest import FIXTURES, make_ctx, run_parser

    from commtrail.timeline.case_settings import NOT_READ_BY
    from commtrail.timeline.identity import Owner

    base = Owner("Sam", frozenset({"+447700900999"}), frozenset({"sam@example.org"}), frozenset({"Sam"}))
    other = {"owner.phones": {"phones": frozenset({"+447700900123"})},
             "owner.emails": {"emails": frozenset({"jordan.k@example.com"})},
             "owner.whatsapp_names": {"whatsapp_names": frozenset({"Jordan"})}}
    data = (FIXTURES / fixture).read_bytes()
    reference, _, _ = run_parser(name, data, make_ctx(tmp_path, owner=base, source_path=fixture))
    claimed = [key for key, formats in NOT_READ_BY.items() if name in formats and key in other]
    assert claimed
    for key in claimed:
        owner = Owner(**{**base.__dict__, **other[key]})
        table, _, _ = run_parser(name, data, make_ctx(tmp_path, owner=owner, source_path=fixture))
        assert table.equals(reference), key


def test_an_owner_platform_account_added_after_a_platform_export_is_refused(tmp_path, inputs, capsys):
    """The owner's Telegram account decides which messages of a Telegram export are the owner's: adding
    it after the export was read would need the export read again, so it is refused by key and line;
    the same key is taken in a case with no Telegram source."""
    from tests.conftest import FIXTURES
    case = tmp_path / "case"
    shutil.copytree(FIXTURES / "telegram" / "chat", inputs / "telegram")
    _build(case, inputs, AFTER)
    (case / "case.toml").write_text(AFTER.replace('whatsapp_names = ["Sam"]',
                                                  'whatsapp_names = ["Sam"]\ntelegram_ids = ["user5550199"]'),
                                    encoding="utf-8")
    capsys.readouterr()
    assert main(["stats", str(case)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {case / 'case.toml'} (line 10, [owner] telegram_ids): telegram_ids was [] when "
                          "the sources in this case were read and is now [\"tg:user5550199\"]. It decided how they "
                          "were read (telegram)"), err
    other = tmp_path / "other"
    shutil.rmtree(inputs / "telegram")
    _build(other, inputs, AFTER)
    (other / "case.toml").write_text((case / "case.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["stats", str(other)]) == 0
    metadata = pq.read_schema(other / "master.parquet").metadata[b"commtrail.case_toml"]
    assert b'"owner.telegram_ids":["tg:user5550199"]' in metadata
