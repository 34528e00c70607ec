"""One way to show an identifier: the exhibit log, the identifier sheet, the analysis behind the
charts and the sentences all use identity.describe; phone validity is recorded on the sheet."""

from datetime import datetime, timedelta, timezone

from conftest import make_case

from commtrail.outputs.analysis import analyse
from commtrail.outputs.charts import chart_data
from commtrail.outputs.report_data import exhibit_cells, gather, identifier_sheet
from commtrail.timeline.master import read_master

TOML = """
[case]
title = "Display"
timezone = "Europe/London"
phone_region = "GB"

[owner]
name = "Sam"
phones = ["+44 7700 900999"]

[[party]]
name = "Jordan"
phones = ["07700 900123", "7946 0018", "+44 20 7946 0018"]
"""

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def _case(tmp_path):
    records = [
        {"ts_utc": T0, "channel": "sms", "kind": "message", "direction": "incoming",
         "sender": "+447700900123", "sender_raw": "07700 900123", "body": "one"},
        {"ts_utc": T0 + timedelta(hours=1), "channel": "sms", "kind": "message", "direction": "incoming",
         "sender": "local:79460018", "sender_raw": "7946 0018", "body": "two"},
        {"ts_utc": T0 + timedelta(hours=2), "channel": "call", "kind": "missed", "direction": "incoming",
         "sender": "payphone", "duration_s": 0},
        {"ts_utc": T0 + timedelta(hours=3), "channel": "sms", "kind": "message", "direction": "outgoing",
         "recipients": ["+442079460018"], "body": "three"},
    ]
    return make_case(tmp_path / "case", {"sms.xml": records}, toml=TOML)


def test_every_output_spells_an_identifier_alike(tmp_path):
    case = _case(tmp_path)
    rows = read_master(case).to_pylist()
    blank = {"local_date": "", "local_time": "", "local_zone": ""}
    who = [exhibit_cells({**r, **blank}, case.config.links)["who"] for r in rows]
    assert who == ["from +44 7700 900123 (\u201c07700 900123\u201d)",
                   "from 79460018 (local number, area unknown) (\u201c7946 0018\u201d)",
                   "from payphone",
                   "to +44 20 7946 0018"]
    data = gather(case)
    sheet = identifier_sheet(case, data.exhibits, "Jordan")
    assert [(r["shown"], r["check"], r["events"]) for r in sheet] == [
        ("+44 20 7946 0018", "valid number", 1),
        ("+44 7700 900123", "possible number, not in a range the numbering plan allocates", 1),
        ("79460018 (local number, area unknown)", None, 1),
    ]
    analysis = analyse(case)
    party = analysis.party("Jordan")
    assert sorted((i.display, i.check) for i in party.identifiers) == [
        ("+44 20 7946 0018", "valid"), ("+44 7700 900123", "possible"),
        ("79460018 (local number, area unknown)", "local")]
    assert sorted(d for d, *_ in chart_data(analysis, party).identifiers) == [
        "+44 20 7946 0018", "+44 7700 900123", "79460018 (local number, area unknown)"]
