"""The steps that run together: stage inputs, rebuild the master, re-hash the case; and, before any
command reads the master, make it follow an edited case.toml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from commtrail.case import CASE_FILE, Case
from commtrail.errors import EXIT_INPUT, EXIT_OK, CaseError
from commtrail.outputs.manifest import write_manifest
from commtrail.terminal import make_console, say
from commtrail.timeline.case_settings import Followup, followup
from commtrail.timeline.master import DERIVED_FILES, build_master, master_settings, missing_master, staged_sources
from commtrail.timeline.produced import productions_path

REBUILT = ("case.toml changed since the master was built: parties and identifier links re-resolved from "
           "staging (nothing read again; event ids and exhibit numbers unchanged).")


def case_toml_followup(case: Case) -> Followup:
    """What an edit of case.toml since the master was built asks for (nothing without a master).
    Raises CaseError, changing nothing, for an edit that would need the sources read again."""
    if not case.master_file.exists():
        return Followup()
    path = case.root / CASE_FILE
    formats = [row["format"] for row in staged_sources(case)]
    return followup(case.config, path.read_text(encoding="utf-8"), str(path), master_settings(case), formats)


def follow_case_toml(case: Case, also_written: tuple[Path, ...] = ()) -> Followup:
    """When case.toml changed since the master was built, re-resolve parties (rebuild from staging,
    re-hash ``also_written`` too); what the edit led to. Takes the lock only when there is work."""
    follow = case_toml_followup(case)
    if follow.rebuild:   # only then is the lock needed (reading goes on beside another command)
        with case.lock():
            follow = case_toml_followup(case)
            if follow.rebuild:
                written = [*rebuild_master(case)[1], case.root / CASE_FILE, *also_written]
                if case.pending_file.exists():   # an interrupted ingest: this build finishes its work
                    written.append(case.sources_file)
                write_manifest(case, written)
    return follow


def rebuild_master(case: Case) -> tuple[int, list[Path]]:
    """Build the master (timeline/master.py): its row count and the files the build wrote, for the
    manifest. productions.jsonl is among them only when the build added to it (produced numbers
    carried to new event ids, timeline/produced.py): an edit behind the tool's back stays one."""
    produced = productions_path(case.root)
    before = produced.read_bytes() if produced.exists() else None
    rows = build_master(case)
    written = [case.master_file, *(case.root / f for f in DERIVED_FILES)]
    if produced.exists() and produced.read_bytes() != before:
        written.append(produced)
    return rows, written


def current_case(case_dir: Path, console: Console) -> Case:
    """Open a case for a command that reads the master; when case.toml changed since the master
    was built, re-resolve parties first and say so in one line."""
    case = Case(case_dir)
    _say(follow_case_toml(case), console)
    if case.pending_file.exists() and not case.busy():
        raise CaseError("an ingest of this case was interrupted before it built the master again: the master may "
                        "not hold what that ingest staged.", file=str(case.root),
                        hint="Run that `commtrail ingest` again to finish it (or `commtrail ingest "
                        f"{case.root}` with no files to build the master from what was staged), then this again.")
    if (error := missing_master(case)) is not None:
        raise error
    return case


def _say(follow: Followup, console: Console) -> None:
    """The lines that tell what an edit of case.toml led to."""
    for note in follow.notes:
        say(console, note)
    if follow.rebuild:
        say(console, REBUILT)


def ingest_and_build(case_dir: Path, inputs: list[str], console: Console, *, date_order: str | None = None,
                     copy: bool = True, debug: bool = False, password: Callable[[], str | None] | None = None) -> int:
    """Ingest ``inputs`` into the case, rebuild master.parquet, print the summary; the exit status
    (``password``: gives the password of an encrypted input when one needs it)."""
    from commtrail.ingest.console import BarProgress, skipped_line, summary_table   # only here: parsers are heavy
    from commtrail.ingest.runner import ingest
    case = Case(case_dir)
    with case.lock():
        follow = case_toml_followup(case)
        result = ingest(case, inputs, date_order=date_order, copy=copy, progress=BarProgress(console), debug=debug,
                        password=password)
        rebuild = result.changed or follow.rebuild or not case.master_file.exists()
        rows, built = rebuild_master(case) if rebuild else (None, [])
        if rows is not None or not case.manifest_file.exists():
            written = [case.sources_file, *built, case.root / CASE_FILE]
            for outcome in result.outcomes:
                if outcome.status == "ingested" and outcome.sha256:
                    written += [case.staging / f"{outcome.sha256}.parquet",
                                case.staging / f"{outcome.sha256}.rejects.parquet"]
            write_manifest(case, written)
    _say(follow, console)
    if inputs:
        console.print(summary_table(result))
    elif rows is None:
        say(console, "Nothing given to add, and master.parquet is up to date.")
    if (line := skipped_line(result)) is not None:
        say(console, line)
    err = make_console(stderr=True)
    for outcome in result.outcomes:
        for warning in outcome.warnings:
            say(console, f"Warning: {outcome.label}: {warning}")
        if outcome.error is not None:
            say(err, f"Error: {outcome.error.render()}")
    for notice in result.notices:
        say(console, f"Note: {notice}")
    if rows is not None:
        say(console, f"master.parquet: {rows} events.")
    return EXIT_INPUT if result.failed else EXIT_OK
