"""--only starred / --tag NAME on report, export and bundle: the reviewer's selection of events."""

import csv
import re
from datetime import datetime, timedelta, timezone

import pytest
from conftest import make_case

from commtrail.cli import main
from commtrail.outputs.manifest import verify, write_manifest
from commtrail.review import annotations as ann
from commtrail.review.annotations import append_annotation
from commtrail.timeline.master import read_master

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def _sms(n, sender="+447700900123"):
    return {"ts_utc": T0 + timedelta(hours=n), "channel": "sms", "kind": "message", "direction": "incoming",
            "sender": sender, "recipients": ["+447700900999"], "body": f"message {n}"}


@pytest.fixture
def case(tmp_path, monkeypatch):
    """Six events of Jordan and one of an unknown number; the reviewer starred CT-000002 and
    CT-000005 (with a note), tagged CT-000004 "threat", starred CT-000003 and took the star back,
    and starred the unknown number's event CT-000007."""
    case = make_case(tmp_path / "c", {"sms.xml": [_sms(n) for n in range(6)] + [_sms(6, "+447700900777")]})
    write_manifest(case)
    monkeypatch.setattr(ann, "_now", lambda: datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc))
    ids = dict(zip(read_master(case, ["exhibit"])["exhibit"].to_pylist(),
                   read_master(case, ["event_id"])["event_id"].to_pylist()))
    append_annotation(case, ids["CT-000002"], {"star": True})
    append_annotation(case, ids["CT-000005"], {"star": True, "note": "Sent after the request <stop>"})
    append_annotation(case, ids["CT-000004"], {"tags": ["threat"]})
    append_annotation(case, ids["CT-000003"], {"star": True})
    append_annotation(case, ids["CT-000003"], {"star": False})
    append_annotation(case, ids["CT-000007"], {"star": True})
    return case


def _listed(html):
    section = html[html.index('<section id="exhibits">'):html.index("</section>", html.index('<section id="exhibits">'))]
    return re.findall(r'<tr id="(CT-\d+)">', section)


def test_report_only_starred_lists_exactly_the_starred_exhibits_with_the_notes(case, capsys):
    assert main(["report", str(case.root), "--only", "starred"]) == 0
    html = (case.root / "report" / "report.html").read_text(encoding="utf-8")
    assert _listed(html) == ["CT-000002", "CT-000005"]
    assert ("<dt>Selection</dt><dd>only the events starred by the reviewer: 2 of the 7 events in the case</dd>"
            in html)
    assert ("This report lists only the events starred by the reviewer: 2 of the 7 events in the case, chosen "
            "from the reviewer&#x27;s annotations") in html
    assert "Chosen events that are linked to no party in case.toml and so are not listed here: 1." in html
    notes = html[html.index('<section id="notes">'):]
    notes = notes[:notes.index("</section>")]
    assert "<h2>Reviewer&#x27;s notes</h2>" in notes and "they are the reviewer&#x27;s, not evidence" in notes.lower()
    assert re.findall(r'<tr><td><a href="#(CT-\d+)">.*?</td><td>(.*?)</td><td dir="auto">(.*?)</td>'
                      r'<td class="text" dir="auto">(.*?)</td><td>(.*?)</td></tr>', notes) == [
        ("CT-000002", "starred", "", "", "2026-03-01T10:00:00Z"),
        ("CT-000005", "starred", "", "Sent after the request &lt;stop&gt;", "2026-03-01T10:00:00Z")]
    assert verify(case).ok
    pypdf = pytest.importorskip("pypdf")
    pdf = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(case.root / "report" / "report.pdf")
                            .pages).split())
    assert "only the events starred by the reviewer: 2 of the 7 events in the case" in pdf
    assert "Reviewer's notes" in pdf and "Sent after the request <stop>" in pdf


def test_a_broken_chain_is_a_warning_of_the_report(case, capsys):
    path = case.root / "annotations.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0].replace(b'"star":true', b'"star":false') + b"".join(lines[1:]))
    assert main(["report", str(case.root), "--only", "starred"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert ("Warning: annotations.jsonl line 2: the hash chain is broken (its prev does not match line 1, which "
            "was edited, or lines before it were removed) (run commtrail verify)") in out
    assert _listed((case.root / "report" / "report.html").read_text(encoding="utf-8")) == ["CT-000005"]


def test_report_starred_or_tagged_and_without_a_selection(case):
    assert main(["report", str(case.root), "--only", "starred", "--tag", "threat"]) == 0
    html = (case.root / "report" / "report.html").read_text(encoding="utf-8")
    assert _listed(html) == ["CT-000002", "CT-000004", "CT-000005"]
    assert ("only the events starred by the reviewer or tagged \u201cthreat\u201d by the reviewer: 3 of the 7 "
            "events in the case") in html
    assert main(["report", str(case.root)]) == 0
    html = (case.root / "report" / "report.html").read_text(encoding="utf-8")
    assert _listed(html) == [f"CT-00000{n}" for n in range(1, 7)]
    assert 'id="notes"' not in html and "<dt>Selection</dt>" not in html


def test_a_selection_that_chooses_nothing_is_refused(case, capsys):
    assert main(["export", str(case.root), "--format", "csv", "--tag", "nothing"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no event of this case is chosen by --tag nothing; nothing was written." in err
    assert "(tags in this case: threat)" in err


def test_export_of_a_selection_keeps_the_master_exhibit_numbers(case, capsys):
    assert main(["export", str(case.root), "--format", "csv", "--tag", "threat", "--only", "starred"]) == 0
    path = case.root / "report" / "exports" / "master-selected.csv"
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["exhibit"], r["body"]) for r in rows] == [
        ("CT-000002", "message 1"), ("CT-000004", "message 3"), ("CT-000005", "message 4"),
        ("CT-000007", "message 6")]
    assert verify(case).ok


def test_bundle_of_a_selection(case, tmp_path):
    out = tmp_path / "bundle"
    assert main(["bundle", str(case.root), str(out), "--only", "starred"]) == 0
    data = out / "data"
    assert (data / "case" / "annotations.jsonl").read_bytes() == (case.root / "annotations.jsonl").read_bytes()
    assert _listed((data / "report" / "report.html").read_text(encoding="utf-8")) == ["CT-000002", "CT-000005"]
    with open(data / "exports" / "master-selected.csv", encoding="utf-8-sig", newline="") as f:
        assert [r["exhibit"] for r in csv.DictReader(f)] == ["CT-000002", "CT-000005", "CT-000007"]
    assert "commtrail bundle CASE OUT --only starred" in (data / "methodology.md").read_text(encoding="utf-8")
    assert main(["verify", str(out)]) == 0
