"""Marking the exhibit numbering as produced when a bundle or a report is handed over (the record
itself is ``timeline/produced.py``)."""

from __future__ import annotations

from collections.abc import Callable

from commtrail.atomic import write_text
from commtrail.case import Case
from commtrail.errors import CaseError
from commtrail.outputs.manifest import sha256_file, write_manifest
from commtrail.timeline.produced import Production, productions_path, record_production


def produce(case: Case, by: str, party: str | None) -> Production | None:
    """Freeze the master's exhibit numbers as handed over by the command ``by`` (for ``party``, or
    every party) in ``productions.jsonl``, and update the case's manifest; returns the production
    that holds the last numbers (None for an empty master never produced)."""
    scope = f"party {party}" if party else "every party"
    with case.lock():
        production = record_production(case.root, case.master_file, sha256_file(case.master_file), by, scope)
        if productions_path(case.root).exists():
            write_manifest(case, [productions_path(case.root)])
    return production


def _text(case: Case) -> str | None:
    path = productions_path(case.root)
    return path.read_text(encoding="utf-8") if path.exists() else None


def produce_undoably(case: Case, by: str, party: str | None) -> tuple[Production | None, Callable[[], None]]:
    """:func:`produce` for a hand-over that can still fail: also returns what takes the production
    back (productions.jsonl as it was before, and the manifest), which does nothing when nothing
    was recorded, when the file changed again meanwhile, or when another command holds the case."""
    before = _text(case)
    production = produce(case, by, party)
    after = _text(case)

    def take_back() -> None:
        if after == before:
            return
        path = productions_path(case.root)
        try:
            with case.lock():
                if _text(case) != after:
                    return
                if before is None:
                    path.unlink()
                else:
                    write_text(before, path)
                write_manifest(case, [path])
        except CaseError:   # another command holds the case: the production stays recorded
            pass
    return production, take_back
