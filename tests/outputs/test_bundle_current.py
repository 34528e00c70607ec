"""A bundle takes what ``commtrail report`` and ``commtrail export`` wrote while it is current, and
never a file made from other inputs (outputs/current.py)."""

import io
import json
import shutil

import pyarrow.parquet as pq
import pytest
from conftest import CASE_TOML
from rich.console import Console

from commtrail.case import Case
from commtrail.cli import main
from commtrail.outputs import bundle, current
from commtrail.outputs.current import record_path
from commtrail.pipeline import ingest_and_build
from commtrail.review.annotations import append_annotation

bagit = pytest.importorskip("bagit")

CHAT = "15/03/2024, 08:40 - Jordan: one\n15/03/2024, 08:45 - Sam: two\n20/03/2024, 10:00 - Jordan: three\n"
RECORDS = ["export-master-jordan.csv.json", "export-master-jordan.jsonl.json", "export-master-jordan.xlsx.json",
           "report.json"]
EXPORTS = ["export-master-jordan.csv", "export-master-jordan.xlsx", "export-master-jordan.jsonl"]   # as a bundle takes them


def _ingest(root, folder, text):
    (root / folder).mkdir()
    (root / folder / "WhatsApp Chat with Jordan.txt").write_text(text, encoding="utf-8")
    assert ingest_and_build(root / "case", [str(root / folder)], Console(file=io.StringIO())) == 0


@pytest.fixture
def case(tmp_path):
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    _ingest(tmp_path, "in", CHAT)
    return Case(tmp_path / "case")


@pytest.fixture
def taken(monkeypatch):
    """The records a bundle took its files from, in order (None: looked, but not current)."""
    seen: list[tuple[str, bool]] = []
    real = current.take_current

    def spy(case, name, inputs, targets):
        result = real(case, name, inputs, targets)
        seen.append((name, result is not None))
        return result
    monkeypatch.setattr(bundle, "take_current", spy)
    return seen


def _report_and_exports(case, *extra):
    assert main(["report", str(case.root), "--party", "Jordan", *extra]) == 0
    for fmt in ("csv", "xlsx", "jsonl"):
        assert main(["export", str(case.root), "--format", fmt, "--party", "Jordan"]) == 0


def _payload(bag) -> dict[str, bytes]:
    return {p.relative_to(bag).as_posix(): p.read_bytes() for p in sorted((bag / "data").rglob("*")) if p.is_file()}


def test_report_and_exports_record_their_inputs_and_the_case_verifies(case):
    _report_and_exports(case)
    assert sorted(p.name for p in (case.report_dir / "inputs").iterdir()) == RECORDS
    report = json.loads(record_path(case, "report").read_text())
    assert report["inputs"]["party"] == "Jordan" and report["inputs"]["output"] == "report"
    assert sorted(report["files"]) == ["report/report.html", "report/report.pdf"]
    csv = json.loads(record_path(case, "export-master-jordan.csv").read_text())
    assert sorted(csv["inputs"]["files"]) == ["annotations.jsonl", "case.toml", "master.parquet",
                                              "screenshot_links.parquet"]
    assert main(["verify", str(case.root)]) == 0
    assert main(["report", str(case.root), "--timestamp"]) == 0     # a timestamped report is never taken
    assert not record_path(case, "report").exists()
    assert main(["verify", str(case.root)]) == 0


def test_a_bundle_takes_a_current_report_and_exports_with_the_same_bytes(case, tmp_path, taken, monkeypatch):
    _report_and_exports(case, "--produced")    # produced: the bundle's production then changes nothing
    fresh = tmp_path / "fresh-case"
    shutil.copytree(case.root, fresh)
    shutil.rmtree(fresh / "report")
    monkeypatch.setattr(bundle, "write_exports", None)     # taken, so never written
    one = bundle.write_bundle(case, tmp_path / "one", "Jordan")
    assert taken == [("report", True)] + [(name, True) for name in EXPORTS]
    assert "keep" in one.seconds                                        # the bundle keeps them for the next one
    monkeypatch.undo()
    two = bundle.write_bundle(Case(fresh), tmp_path / "two", "Jordan")   # nothing to take: written
    assert _payload(one.path) == _payload(two.path)
    assert (one.path / "data/report/report.pdf").read_bytes() == (case.report_dir / "report.pdf").read_bytes()
    bagit.Bag(str(one.path)).validate()
    assert main(["verify", str(case.root)]) == 0


def test_the_usual_flow_takes_the_report_the_first_production_leaves_true(case, tmp_path, taken):
    _report_and_exports(case)               # numbers not produced yet: the bundle produces them
    fresh = tmp_path / "fresh-case"
    shutil.copytree(case.root, fresh)
    shutil.rmtree(fresh / "report")
    one = bundle.write_bundle(case, tmp_path / "one", "Jordan")
    assert taken == [("report", True)] + [(name, True) for name in EXPORTS]
    two = bundle.write_bundle(Case(fresh), tmp_path / "two", "Jordan")   # produced first, then written
    one_payload, two_payload = _payload(one.path), _payload(two.path)
    for payload in (one_payload, two_payload):   # recorded_at: when each production was recorded
        payload.pop("data/case/productions.jsonl")
    assert one_payload == two_payload
    assert b"in time order (numbers once produced" in one_payload["data/report/report.html"]


def test_a_report_stating_productions_is_not_taken_once_another_is_recorded(case, tmp_path, taken):
    assert main(["report", str(case.root), "--party", "Jordan", "--produced"]) == 0
    _ingest(tmp_path, "in2", "14/03/2024, 08:00 - Jordan: earlier than the produced ones\n")
    _report_and_exports(case)               # names production 1; the bundle records production 2
    one = bundle.write_bundle(Case(case.root), tmp_path / "one", "Jordan")
    assert taken == [("report", False)] + [(name, True) for name in EXPORTS]
    html = (one.path / "data/report/report.html").read_text(encoding="utf-8")
    assert "CT-000004 to CT-000004 by bundle (party Jordan)" in html and "\u2020" in html


def _title(case, root):
    (case.root / "case.toml").write_text(CASE_TOML.replace('"Test case"', '"Renamed case"'), encoding="utf-8")


def _ingest_more(case, root):
    _ingest(root, "in2", CHAT + "21/03/2024, 10:00 - Jordan: four\n")


def _star(case, root):
    event = pq.read_table(case.master_file, columns=["event_id"])["event_id"][0].as_py()
    append_annotation(case, event, {"star": True})


def _tamper(case, root):
    for name in ("report/report.html", "report/exports/master-jordan.csv", "report/exports/master-jordan.jsonl",
                 "report/exports/master-jordan.xlsx"):
        with open(case.root / name, "ab") as out:
            out.write(b" ")


@pytest.mark.parametrize("change", [_title, _ingest_more, _star, _tamper])
def test_a_changed_input_or_file_is_never_taken(case, tmp_path, taken, change):
    _report_and_exports(case, "--produced")
    change(case, tmp_path)
    one = bundle.write_bundle(Case(case.root), tmp_path / "one", "Jordan")
    assert taken == [("report", False)] + [(name, False) for name in EXPORTS]
    fresh = tmp_path / "fresh-case"
    shutil.copytree(case.root, fresh)
    shutil.rmtree(fresh / "report")
    two = bundle.write_bundle(Case(fresh), tmp_path / "two", "Jordan")
    assert _payload(one.path) == _payload(two.path)   # what was written anew, not the stale files


def test_another_party_or_selection_is_not_taken(case, tmp_path, taken):
    _report_and_exports(case, "--produced")
    bundle.write_bundle(case, tmp_path / "all")                     # every party: the report was of Jordan
    assert taken[0] == ("report", False)
    assert [name for name, _ in taken[1:]] == ["export-master.csv", "export-master.xlsx", "export-master.jsonl"]
    assert not any(ok for _, ok in taken[1:])


def test_a_bundle_that_fails_takes_its_production_back(case, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("No space left on device")
    monkeypatch.setattr(bundle, "make_bag", fail)
    with pytest.raises(OSError):
        bundle.write_bundle(case, tmp_path / "one", "Jordan")
    assert not (case.root / "productions.jsonl").exists() and not (tmp_path / "one").exists()
    assert main(["verify", str(case.root)]) == 0
    monkeypatch.undo()
    bundle.write_bundle(case, tmp_path / "one", "Jordan")
    assert len((case.root / "productions.jsonl").read_text().splitlines()) == 1
