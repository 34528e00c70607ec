"""The report page's one action: write the report of the chosen events, as ``commtrail report``."""

from __future__ import annotations

from collections.abc import Sequence

from commtrail.case import Case


def write_chosen_report(case: Case, only_starred: bool, tags: Sequence[str]) -> str:
    """Write report.html and report.pdf (holding the case lock while writing, and re-hashing what
    was written into the manifest); returns a one-line message saying what was written."""
    from commtrail.outputs.manifest import write_manifest
    from commtrail.outputs.report import write_report
    notices: list[str] = []
    with case.lock():
        paths = write_report(case, warn=notices.append)
        write_manifest(case, paths)
    return " ".join([f"Wrote {paths[0].name} and {paths[1].name} in {case.report_dir}."] + notices)


__all__ = ["write_chosen_report"]
