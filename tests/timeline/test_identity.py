"""Identifiers: honest phone normalisation, what the numbering plan says, one way to show each."""

import pytest

from commtrail.case import load_config
from commtrail.timeline.identity import PHONE_CHECKS, describe, kind_of, normalise_one, phone_check


@pytest.mark.parametrize("raw,region,ident,shown,check", [
    ("07700 900123", "GB", "+447700900123", "+44 7700 900123", "possible"),
    ("+44 20 7946 0018", "US", "+442079460018", "+44 20 7946 0018", "valid"),
    ("0044 7700 900123", "US", "+447700900123", "+44 7700 900123", "possible"),
    # no area code: kept as its digits, never a made-up +15550123 or +4479460018
    ("555-0123", "US", "local:5550123", "5550123 (local number, area unknown)", "local"),
    ("555 0123", "US", "local:5550123", "5550123 (local number, area unknown)", "local"),
    ("+1 555 0123", "GB", "local:+15550123", "+15550123 (local number, area unknown)", "local"),
    ("7946 0018", "GB", "local:79460018", "79460018 (local number, area unknown)", "local"),
    ("12345678901234", "GB", "tel:12345678901234", "12345678901234 (not a possible phone number)", "impossible"),
    ("80800", "GB", "short:80800", "short code 80800", None),
    ("Payphone", "GB", "alpha:Payphone", "sender name \u201cPayphone\u201d", None),
    ("private", "GB", "withheld", "withheld number", None),
    ("Jordan.K@Example.com", "GB", "jordan.k@example.com", "jordan.k@example.com", None),
])
def test_normalise_describe_check(raw, region, ident, shown, check):
    assert normalise_one(raw, region) == ident
    assert describe(ident) == shown
    assert phone_check(ident) == check


def test_classes_read_one_way():
    assert [describe(v) for v in ("payphone", "withheld", "unknown", "owner", "wa:J \U0001f642")] == [
        "payphone", "withheld number", "unknown number", "the owner", "WhatsApp name \u201cJ \U0001f642\u201d"]
    assert kind_of("local:5550123") == "phone"
    assert PHONE_CHECKS["local"] == "local number, area unknown"


def test_a_local_number_links_by_hand(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text('[case]\ntitle = "t"\ntimezone = "America/New_York"\nphone_region = "US"\n'
                    '[owner]\nphones = ["555-0199"]\n'
                    '[[party]]\nname = "Jordan"\nphones = ["555-0123", "(202) 555-0143"]\n', encoding="utf-8")
    config = load_config(path)
    assert sorted(config.links) == ["+12025550143", "local:5550123"]
    assert config.links["local:5550123"].raw == "555-0123"
    assert config.links["local:5550123"].line == 9
    assert config.owner().phones == frozenset({"local:5550199"})


def test_a_local_number_in_a_backup_is_kept_and_linked(tmp_path):
    from commtrail.case import Case
    from commtrail.cli import main
    from commtrail.timeline.master import read_master

    sms = tmp_path / "sms.xml"
    sms.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<smses count="1">\n'
                   '  <sms protocol="0" address="555-0123" date="1709370000000" type="1" body="It is me" '
                   'read="1" status="-1" />\n</smses>\n', encoding="utf-8")
    case = tmp_path / "case"
    assert main(["init", str(case), "--timezone", "America/New_York", "--region", "US"]) == 0
    toml = case / "case.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[[party]]\nname = "Jordan"\nphones = ["555 0123"]\n',
                    encoding="utf-8")
    assert main(["ingest", str(case), str(sms)]) == 0
    rows = read_master(Case(case), ["sender", "sender_raw", "party"]).to_pylist()
    assert rows == [{"sender": "local:5550123", "sender_raw": "555-0123", "party": "Jordan"}]
