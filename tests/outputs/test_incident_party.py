"""Incidents belong to a person: the incident log's "who" column links a row to a party of case.toml
(by name in any case, by phone number, e-mail or WhatsApp name), and the incident then counts in that
party's figures, report section and --party outputs."""

from __future__ import annotations

from conftest import CASE_TOML, make_case, make_ctx, run_parser

from commtrail.demo_data import incident_log
from commtrail.outputs.analysis import analyse, sentences
from commtrail.outputs.export import export_rows
from commtrail.outputs.report_data import gather, incident_cells

TOML = CASE_TOML.replace('whatsapp_names = ["Jordan"]', 'whatsapp_names = ["Jordan", "J \U0001f642"]') + """
[[party]]
name = "Alex Doe"
"""

LOG = ("Date,Time,Who it was,Location,Description\n"
       "2024-03-02,07:45,jordan,Outside home,Waiting by my car\n"
       "2024-03-03,08:00,07700 900456,Bus stop,Followed me\n"
       "2024-03-04,09:00,JORDAN.K@example.com,Work,Waited at reception\n"
       "2024-03-05,10:00,J \U0001f642,Park,Sat on the next bench\n"
       "2024-03-06,11:00,  alex doe ,Shop,Stared at me\n"
       "2024-03-07,12:00,a man in a red coat,Street,Shouted at me\n"
       "2024-03-08,13:00,,Street,A note on the car\n").encode("utf-8")


def _rows(tmp_path, data: bytes) -> list[dict]:
    table, rejects, _ = run_parser("incident-log", data, make_ctx(tmp_path, source_path="incidents.csv"))
    assert rejects == []
    return table.to_pylist()


def test_the_who_column_is_read(tmp_path):
    rows = _rows(tmp_path, LOG)
    assert [(r["sender"], r["sender_raw"]) for r in rows] == [
        (None, "jordan"), ("+447700900456", "07700 900456"), ("jordan.k@example.com", "JORDAN.K@example.com"),
        (None, "J \U0001f642"), (None, "alex doe"), (None, "a man in a red coat"), (None, None)]


def test_the_template_has_the_column(tmp_path):
    from importlib import resources
    template = resources.files("commtrail.data").joinpath("incident_log_template.csv").read_bytes()
    rows = _rows(tmp_path, template + "2024-03-01,18:30,Jordan,Home,Rang the bell\r\n".encode())
    assert (rows[0]["sender_raw"], rows[0]["body"]) == ("Jordan", "Rang the bell")


def test_incidents_count_for_the_party_they_name(tmp_path):
    case = make_case(tmp_path / "case", {"incidents.csv": _rows(tmp_path, LOG)}, toml=TOML)
    analysis = analyse(case)
    counts = {p.name: (p.incidents, p.incident_exhibits.to_list()) for p in analysis.parties}
    assert counts == {"Jordan": (4, ["CT-000001", "CT-000002", "CT-000003", "CT-000004"]),
                      "Alex Doe": (1, ["CT-000005"]), "(unknown)": (2, ["CT-000006", "CT-000007"])}
    assert sentences(analysis, "Jordan") == ["The records hold no contact between Jordan and Sam.",
                                             "The incident log holds 4 incidents involving Jordan."]
    # --party outputs: the report lists that party's incidents only, the export too
    report = gather(case, "Jordan")
    assert report.incidents["exhibit"].to_pylist() == ["CT-000001", "CT-000002", "CT-000003", "CT-000004"]
    assert report.incident_words()[0] == ("Rows of the owner's own incident log (channel 'incident') that name "
                                          "Jordan, in time order.")
    assert report.unlinked == 2
    assert incident_cells(report.incidents.slice(1, 1).to_pylist()[0])["details"] == ["Who it was: 07700 900456"]
    assert ("Incidents logged", "4") in report.sections[0].figures
    assert [r["exhibit"] for r in export_rows(case, "Alex Doe")] == ["CT-000005"]
    everyone = gather(case)
    assert everyone.incidents.num_rows == 7 and everyone.unlinked == 0
    assert gather(case, "Alex Doe").incident_words() == (
        "Rows of the owner's own incident log (channel 'incident') that name Alex Doe, in time order.",
        "No row of the incident log names Alex Doe.")


def test_the_demo_incidents_name_jordan(tmp_path):
    from commtrail.demo_data import CASE_TOML as DEMO_TOML
    rows = _rows(tmp_path, incident_log())
    assert [r["sender_raw"] for r in rows] == ["Jordan", "Jordan"]
    case = make_case(tmp_path / "demo", {"incidents.csv": rows}, toml=DEMO_TOML)
    jordan = analyse(case).party("Jordan")
    assert jordan.incidents == 2
