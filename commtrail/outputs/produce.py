"""Marking the exhibit numbering as produced when a bundle or a report is handed over (the record
itself is ``timeline/produced.py``)."""

from __future__ import annotations

from commtrail.case import Case
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
