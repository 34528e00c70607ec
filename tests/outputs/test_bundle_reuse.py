"""A bundle takes the report, transcripts and exports of the last bundle only while nothing they
are made from changed (outputs/bundle_reuse.py)."""

import io
import json

import pytest
from conftest import CASE_TOML
from rich.console import Console

from commtrail.case import Case
from commtrail.cli import main
from commtrail.outputs.bundle import write_bundle
from commtrail.outputs.bundle_reuse import INPUTS, cache_dir
from commtrail.pipeline import ingest_and_build

bagit = pytest.importorskip("bagit")

CHAT = "15/03/2024, 08:40 - Jordan: one\n15/03/2024, 08:45 - Sam: two\n20/03/2024, 10:00 - Jordan: three\n"
GENERATED = ["exports/master-jordan.csv", "exports/master-jordan.jsonl", "exports/master-jordan.xlsx",
             "report/report.html", "report/report.pdf", "transcripts/transcript-jordan.pdf"]


@pytest.fixture
def case(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "WhatsApp Chat with Jordan.txt").write_text(CHAT, encoding="utf-8")
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    assert ingest_and_build(tmp_path / "case", [str(tmp_path / "in")], Console(file=io.StringIO())) == 0
    return Case(tmp_path / "case")


def _generated(bag) -> dict[str, bytes]:
    return {rel: (bag / "data" / rel).read_bytes() for rel in GENERATED}


def test_a_second_bundle_takes_the_kept_files_and_a_change_writes_them_anew(case, tmp_path):
    first = write_bundle(case, tmp_path / "one", "Jordan")
    assert "keep" in first.seconds
    kept = json.loads((cache_dir(case, "jordan") / INPUTS).read_text())
    assert sorted(kept["files"]) == GENERATED
    assert kept["inputs"]["files"]["case.toml"] and kept["inputs"]["scope"] == "jordan"
    second = write_bundle(case, tmp_path / "two", "Jordan")
    assert "keep" not in second.seconds                      # taken, not written
    assert _generated(second.path) == _generated(first.path)
    bagit.Bag(str(second.path)).validate()
    assert main(["verify", str(case.root)]) == 0              # the kept files are in the case's manifest
    # a new title: every generated file is written again and says it
    (case.root / "case.toml").write_text(CASE_TOML.replace('"Test case"', '"Renamed case"'), encoding="utf-8")
    third = write_bundle(Case(case.root), tmp_path / "three", "Jordan")
    assert "keep" in third.seconds
    assert "Renamed case" in (third.path / "data/report/report.html").read_text()


def test_a_changed_kept_file_is_not_taken(case, tmp_path):
    first = write_bundle(case, tmp_path / "one", "Jordan")
    (cache_dir(case, "jordan") / "report" / "report.html").write_text("tampered", encoding="utf-8")
    second = write_bundle(case, tmp_path / "two", "Jordan")
    assert "keep" in second.seconds
    assert _generated(second.path) == _generated(first.path)
    assert (cache_dir(case, "jordan") / "report" / "report.html").read_bytes() == \
        (first.path / "data/report/report.html").read_bytes()


def test_another_scope_or_a_new_production_is_not_taken(case, tmp_path):
    write_bundle(case, tmp_path / "one", "Jordan")
    every = write_bundle(case, tmp_path / "all")
    assert "keep" in every.seconds and cache_dir(case, "all").is_dir()
    (tmp_path / "in2").mkdir()
    (tmp_path / "in2" / "WhatsApp Chat with Jordan.txt").write_text(
        CHAT + "21/03/2024, 10:00 - Jordan: four\n", encoding="utf-8")
    assert ingest_and_build(case.root, [str(tmp_path / "in2")], Console(file=io.StringIO())) == 0
    later = write_bundle(Case(case.root), tmp_path / "two", "Jordan")
    assert "keep" in later.seconds and "four" in (later.path / "data/exports/master-jordan.csv").read_text()
