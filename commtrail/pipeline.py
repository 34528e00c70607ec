"""The steps that run together after an ingest: stage inputs, rebuild the master, re-hash the case."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from commtrail.case import Case
from commtrail.errors import EXIT_INPUT, EXIT_OK
from commtrail.ingest.console import BarProgress, skipped_line, summary_table
from commtrail.ingest.runner import ingest
from commtrail.outputs.manifest import write_manifest
from commtrail.terminal import make_console, say
from commtrail.timeline.master import CONSISTENCY_FILE, build_master


def ingest_and_build(case_dir: Path, inputs: list[str], console: Console, *, date_order: str | None = None,
                     copy: bool = True, debug: bool = False) -> int:
    """Ingest ``inputs`` into the case, rebuild master.parquet, print the summary; the exit status."""
    case = Case(case_dir)
    with case.lock():
        result = ingest(case, inputs, date_order=date_order, copy=copy, progress=BarProgress(console), debug=debug)
        rows = build_master(case) if result.changed or not case.master_file.exists() else None
        if rows is not None or not case.manifest_file.exists():
            written = [case.sources_file, case.master_file, case.root / CONSISTENCY_FILE, case.root / "case.toml"]
            for outcome in result.outcomes:
                if outcome.status == "ingested" and outcome.sha256:
                    written += [case.staging / f"{outcome.sha256}.parquet",
                                case.staging / f"{outcome.sha256}.rejects.parquet"]
            write_manifest(case, written)
    console.print(summary_table(result))
    if (line := skipped_line(result)) is not None:
        say(console, line)
    err = make_console(stderr=True)
    for outcome in result.outcomes:
        for warning in outcome.warnings:
            say(console, f"Warning: {outcome.label}: {warning}")
        if outcome.error is not None:
            say(err, f"Error: {outcome.error.render()}")
    if rows is not None:
        say(console, f"master.parquet: {rows} events.")
    return EXIT_INPUT if result.failed else EXIT_OK
