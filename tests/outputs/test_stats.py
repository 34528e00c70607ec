"""`commtrail stats`: the headline figures, per party, as numbers and as printed tables."""

from __future__ import annotations

import pytest
from conftest import make_case
from rich.console import Console
from test_analysis import RECORDS, TOML

from commtrail.cli import main
from commtrail.outputs.stats import headline, print_stats


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("stats") / "case", {"phone.xml": RECORDS}, toml=TOML)


def test_headline_keeps_the_case_figures(case):
    figures = headline(case)
    assert (figures["events"], figures["copies"], figures["sources"], figures["records"]) == (20, 20, 1, 20)
    assert figures["by_channel"] == {"call": 4, "email": 1, "incident": 1, "sms": 12, "whatsapp": 2}
    assert figures["by_party"] == {"(unknown)": 2, "Alex": 1, "Jordan": 17}


def test_headline_per_party(case):
    jordan = headline(case)["parties"]["Jordan"]
    assert jordan == {
        "contacts_from": 15, "contacts_to": 1,
        "channels": {"call": 4, "email": 1, "sms": 9, "whatsapp": 1},
        "first": "2024-02-20T12:00:00+00:00", "last": "2024-04-01T06:30:00+01:00",
        "days_with_contact": 10, "longest_run_days": 4, "night": 3, "night_share": 0.2,
        "busiest_hour": 5, "busiest_day": 5, "busiest_day_date": "2024-03-02", "repeated_calls": 2,
        "unanswered": 10, "identifiers": 4, "red_flags": 4, "incidents": 1, "undated": 0, "unsent": 0,
        "events": [
            {"kind": "no_contact_request", "when": "2024-03-01T18:30:00+00:00", "before": 3, "after": 10,
             "total_after": 12, "next_contact": "CT-000006"},
            {"kind": "blocked", "when": "2024-03-20T09:00:00+00:00", "before": 11, "after": 4,
             "total_after": 4, "next_contact": "CT-000017"},
            {"kind": "police_report", "when": "2024-06-01T12:00:00+01:00", "before": None, "after": None,
             "total_after": None, "next_contact": None},
        ],
    }


def test_printed_tables(case):
    console = Console(record=True, width=100, color_system=None)
    print_stats(case, console)
    text = console.export_text()
    assert "Per person (times in Europe/London)" in text
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("│ Contacts from them"))
    assert [c.strip() for c in row.split("│")[2:5]] == ["15", "1", "1"]
    row = next(line for line in lines if line.startswith("│ At night"))
    assert [c.strip() for c in row.split("│")[2:5]] == ["3 (20%)", "0 (0%)", "0 (0%)"]
    row = next(line for line in lines if line.startswith("│ request for no contact"))
    assert [c.strip() for c in row.split("│")[2:5]] == ["3 / 10 (12)", "0 / 1 (1)", "0 / 1 (1)"]


def test_cli_stats(case, capsys):
    assert main(["stats", str(case.root)]) == 0
    out = capsys.readouterr().out
    assert "Per person" in out and "Jordan" in out and "Most in any 60" in out
