"""The people table and assigning an identifier to a party (case.toml edited, comments kept)."""

from datetime import datetime, timedelta, timezone

import pytest
from conftest import CASE_TOML, make_case

from commtrail.cli import main
from commtrail.errors import UsageError
from commtrail.outputs.manifest import verify, write_manifest
from commtrail.review.people import assign_identifier, identifier_rows
from commtrail.timeline.master import read_master

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
TOML = CASE_TOML.replace('name = "Jordan"\n', 'name = "Jordan"   # the ex-partner\n')


def _sms(n, sender, raw, channel="sms"):
    return {"ts_utc": T0 + timedelta(hours=n), "channel": channel, "kind": "message", "direction": "incoming",
            "sender": sender, "sender_raw": raw, "recipients": ["+447700900999"], "body": f"message {n}"}


RECORDS = [_sms(0, "+447700900123", "07700 900123"), _sms(1, "+447700900555", "07700 900555"),
           _sms(2, "+447700900555", "+44 7700 900555"), _sms(3, "alpha:BANK", "BANK"),
           _sms(4, "wa:Alex R", "Alex R", "whatsapp")]


@pytest.fixture
def case(tmp_path):
    case = make_case(tmp_path / "c", {"sms.xml": RECORDS}, toml=TOML)
    write_manifest(case)
    return case


def test_every_identifier_with_its_party_counts_and_hints_unassigned_first(case):
    rows = [(r["identifier"], r["label"], r["kind"], r["party"], r["owner"], r["assignable"], r["count"],
             r["first_ts"], r["last_ts"], r["hints"]) for r in identifier_rows(case)]
    assert rows == [
        ("+447700900555", "+44 7700 900555", "phone", None, False, True, 2, "2024-03-01T10:00:00Z",
         "2024-03-01T11:00:00Z", ["channels: sms", "written as \u201c07700 900555\u201d"]),
        ("alpha:BANK", "sender name \u201cBANK\u201d", "alpha", None, False, False, 1, "2024-03-01T12:00:00Z",
         "2024-03-01T12:00:00Z", ["channels: sms", "written as \u201cBANK\u201d"]),
        ("wa:Alex R", "WhatsApp name \u201cAlex R\u201d", "whatsapp", None, False, True, 1,
         "2024-03-01T13:00:00Z", "2024-03-01T13:00:00Z", ["channels: whatsapp", "written as \u201cAlex R\u201d"]),
        ("+447700900123", "+44 7700 900123", "phone", "Jordan", False, True, 1, "2024-03-01T09:00:00Z",
         "2024-03-01T09:00:00Z", ["channels: sms", "written as \u201c07700 900123\u201d"]),
        ("+447700900999", "+44 7700 900999", "phone", None, True, False, 5, "2024-03-01T09:00:00Z",
         "2024-03-01T13:00:00Z", ["channels: sms, whatsapp"]),
    ]


def test_assigning_to_a_known_party_keeps_comments_writes_the_backup_and_moves_the_events(case):
    before = (case.root / "case.toml").read_text(encoding="utf-8")
    message = assign_identifier(case, "07700 900555", "Jordan")
    assert message == ("+44 7700 900555 is now listed for Jordan under phones in case.toml (the previous "
                       "version is case.toml.bak); the master's parties were re-resolved.")
    assert (case.root / "case.toml.bak").read_text(encoding="utf-8") == before
    assert (case.root / "case.toml").read_text(encoding="utf-8") == before.replace(
        'phones = ["07700 900123", "+44 7700 900456"]',
        'phones = ["07700 900123", "+44 7700 900456", "+44 7700 900555"]')
    assert read_master(case, ["party"])["party"].to_pylist() == ["Jordan", "Jordan", "Jordan", None, None]
    result = verify(case)
    assert result.ok and result.edited == []


def test_a_new_name_makes_a_new_party_block_and_whatsapp_names_go_under_their_key(case):
    before = (case.root / "case.toml").read_text(encoding="utf-8")
    message = assign_identifier(case, "wa:Alex R", "Alex")
    assert message.startswith("WhatsApp name \u201cAlex R\u201d is now listed for Alex (a new [[party]] block) "
                              "under whatsapp_names")
    assert (case.root / "case.toml").read_text(encoding="utf-8") == before.replace(
        "\n[[event]]", '\n[[party]]\nname = "Alex"\nwhatsapp_names = ["Alex R"]\n\n[[event]]')
    assert read_master(case, ["party"])["party"].to_pylist() == ["Jordan", None, None, None, "Alex"]


@pytest.mark.parametrize("identifier, party, message", [
    ("+44 7700 900123", "Alex",
     "+44 7700 900123 is already listed for Jordan (case.toml line 15, party[1].phones[1])."),
    ("+447700900999", "Alex", "+44 7700 900999 is one of the owner's (Sam) identifiers, not a party's."),
    ("BANK", "Alex", "sender name \u201cBANK\u201d cannot be listed for a party in case.toml: only phone "
                     "numbers, e-mail addresses, WhatsApp names and platform accounts can."),
    ("+447700900555", "  ", "the party's name is empty."),
])
def test_refusals_change_nothing(case, identifier, party, message):
    before = (case.root / "case.toml").read_bytes()
    with pytest.raises(UsageError) as err:
        assign_identifier(case, identifier, party)
    assert err.value.message == message
    assert (case.root / "case.toml").read_bytes() == before
    assert not (case.root / "case.toml.bak").exists()


def test_the_assign_command(case, capsys):
    assert main(["assign", str(case.root), "07700 900555", "Alex"]) == 0
    out = capsys.readouterr().out
    assert "+44 7700 900555 is now listed for Alex (a new [[party]] block)" in out
    assert read_master(case, ["party"])["party"].to_pylist() == ["Jordan", "Alex", "Alex", None, None]
    assert main(["assign", str(case.root), "07700 900555", "Jordan"]) == 2
    assert "is already listed for Alex" in capsys.readouterr().err


def test_a_name_in_another_case_is_the_existing_party_and_a_second_assign_changes_nothing(case):
    assert assign_identifier(case, "07700 900555", "jordan").startswith(
        "+44 7700 900555 is now listed for Jordan under phones")
    text = (case.root / "case.toml").read_bytes()
    assert assign_identifier(case, "+447700900555", "Jordan") == (
        "+44 7700 900555 is already listed for Jordan (case.toml line 15); nothing changed.")
    assert (case.root / "case.toml").read_bytes() == text


def test_a_first_party_in_a_new_case_goes_after_the_template_comments(tmp_path):
    from commtrail.case import Case, init_case
    init_case(tmp_path / "new")
    before = (tmp_path / "new" / "case.toml").read_text(encoding="utf-8")
    assert assign_identifier(Case(tmp_path / "new"), "tg:12345", "Jordan") == (
        "Telegram account \u201cuser12345\u201d is now listed for Jordan (a new [[party]] block) under telegram_ids "
        "in case.toml (the previous version is case.toml.bak).")
    assert (tmp_path / "new" / "case.toml").read_text(encoding="utf-8") == (
        before + '\n[[party]]\nname = "Jordan"\ntelegram_ids = ["user12345"]\n\n')
    assert Case(tmp_path / "new").config.links["tg:user12345"].party == "Jordan"
