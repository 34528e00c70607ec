"""``commtrail report``: the evidence report of a case as one HTML file and one PDF file.

The content is gathered once (:mod:`report_data`, with the summary and charts from
:mod:`report_sections`) and laid out by :mod:`report_html` and :mod:`report_pdf`. Without
``timestamp`` re-running on the same case gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from commtrail.case import Case
from commtrail.outputs.bundle_reuse import case_inputs
from commtrail.outputs.current import REPORT, forget, record, report_inputs
from commtrail.outputs.report_data import gather
from commtrail.outputs.report_html import write_html
from commtrail.outputs.report_pdf import write_pdf
from commtrail.review.annotations import Selection


def write_report(case: Case, party: str | None = None, timestamp: bool = False,
                 extra_fonts: Sequence[Path] = (), warn: Callable[[str], None] | None = None,
                 selection: Selection = Selection()) -> list[Path]:
    """Write CASE/report/report.html and report.pdf (and the charts); returns the two files, the
    charts folder and the record of what they were made from (see current.py; none for a
    timestamped report or one with extra fonts, which no bundle takes). ``warn`` receives a notice
    for each script no installed font can show; with a ``selection`` the report lists only the
    events it chooses, with the reviewer's notes."""
    case.report_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    forget(case, REPORT)
    inputs = None if timestamp or extra_fonts else report_inputs(case_inputs(case), party, selection)
    data = gather(case, party, timestamp, selection)
    html = write_html(case, data, case.report_dir / "report.html")
    pdf = write_pdf(case, data, case.report_dir / "report.pdf", extra_fonts, warn)
    folders = sorted({path.parent for section in data.sections for path, _ in section.charts})
    return [html, pdf] + folders + ([record(case, REPORT, inputs, [html, pdf])] if inputs is not None else [])
