"""What ``commtrail report`` and ``commtrail export`` wrote in ``CASE/report/``, recorded with what
it was made from, so that a bundle takes those files instead of writing them again while they are
current.

Each writer records ``CASE/report/inputs/<name>.json``: the inputs (as :mod:`bundle_reuse` computes
them: the SHA-256 of the case files read, the program and its libraries, and for the report the
rejects, the names present in originals/ and blobs/ and the fonts), the options that choose what the
file holds (party, selection, format), and the SHA-256 of each file written. The record is removed
before the files are written and written after them, so an interrupted or timestamped write leaves
no record. A bundle takes a file only when a record's inputs equal its own exactly and the file
still has the recorded hash (checked while copying).
"""

from __future__ import annotations

from pathlib import Path

from commtrail.case import CASE_FILE, Case
from commtrail.outputs.bundle_reuse import copy_checked, read_record, write_record
from commtrail.outputs.manifest import sha256_file, update_entries
from commtrail.review.annotations import Selection
from commtrail.timeline.screenshots import LINKS_FILE

# What an export reads: the rows of the master, the case's zone, the screenshot links, and the
# annotations a selection chooses by (productions, fonts and rejects play no part in it).
EXPORT_INPUTS = (CASE_FILE, "master.parquet", "annotations.jsonl", LINKS_FILE)
REPORT = "report"


def records_dir(case: Case) -> Path:
    """The folder of the records."""
    return case.report_dir / "inputs"


def record_path(case: Case, name: str) -> Path:
    """Where the record of the output ``name`` (``report`` or ``export-<stem>.<format>``) goes."""
    return records_dir(case) / f"{name}.json"


def export_name(target: Path) -> str:
    """The record name of the export file ``target``."""
    return f"export-{target.name}"


def report_inputs(known: dict, party: str | None, selection: Selection) -> dict:
    """Everything a report of ``party`` with ``selection`` is made from (``known``: the case's
    inputs, from bundle_reuse.case_inputs)."""
    return {"output": REPORT, "party": party, "selection": selection.options(), **known}


def export_inputs(known: dict, fmt: str, party: str | None, selection: Selection) -> dict:
    """Everything an export in ``fmt`` of ``party`` with ``selection`` is made from (``known``: the
    case's inputs, from bundle_reuse.case_inputs with at least EXPORT_INPUTS)."""
    return {"output": "export", "format": fmt, "party": party, "selection": selection.options(),
            "program": known["program"], "libraries": known["libraries"],
            "files": {name: known["files"][name] for name in EXPORT_INPUTS}}


def forget(case: Case, name: str) -> None:
    """Remove the record ``name`` (its files are about to be rewritten), and its manifest line."""
    path = record_path(case, name)
    if path.exists():
        path.unlink()
        update_entries(case, [path.relative_to(case.root).as_posix()])


def record(case: Case, name: str, inputs: dict, files: list[Path]) -> Path:
    """Record that ``files`` (in the case) were made from exactly ``inputs``; returns the record."""
    path = record_path(case, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_record(path, inputs, {f.resolve().relative_to(case.root.resolve()).as_posix(): sha256_file(f)
                                for f in files})
    return path


def take_current(case: Case, name: str, inputs: dict, targets: dict[str, Path]) -> dict[str, str] | None:
    """Copy each recorded file (path in the case -> where it goes) when the record ``name`` says
    it was made from exactly ``inputs`` and it still has its hash; the hashes by path in the case,
    or None (and nothing left behind) otherwise."""
    files = read_record(record_path(case, name), inputs)
    if files is None or files.keys() != targets.keys():
        return None
    copies = [(case.root / rel, target, files[rel]) for rel, target in sorted(targets.items())]
    return dict(files) if copy_checked(copies) else None
