"""The report page's one action: write the report of the chosen events, as ``commtrail report``."""

from __future__ import annotations

from collections.abc import Sequence

from commtrail.case import Case


def write_chosen_report(case: Case, only_starred: bool, tags: Sequence[str]) -> str:
    """Write report.html and report.pdf of the events the selection chooses (every event when it
    asks for none), holding the case lock while writing and re-hashing what was written into the
    manifest; a one-line message saying what was written and how the events were chosen. A
    selection that chooses nothing raises UsageError, writing nothing."""
    from commtrail.outputs.manifest import write_manifest   # the report's code (matplotlib, fpdf2) only
    from commtrail.outputs.report import write_report       # when a report is written
    from commtrail.review.annotations import Selection
    selection = Selection(starred=only_starred, tags=tuple(dict.fromkeys(tags)))
    notices: list[str] = []
    with case.lock():
        paths = write_report(case, warn=notices.append, selection=selection)
        write_manifest(case, paths)
    chosen = f" (as commtrail report {' '.join(selection.options())})" if selection else " (every event)"
    return " ".join([f"Wrote {paths[0].name} and {paths[1].name} in {case.report_dir}{chosen}."] + notices)


__all__ = ["write_chosen_report"]
