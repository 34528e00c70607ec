"""The report's summary and charts for one party: the one place the report takes them from.

Both come from the analysis (``outputs/analysis.py``, ``outputs/sentences.py``) and its charts
(``outputs/charts.py``), so the report says exactly what ``commtrail stats`` and
``commtrail chart`` say. The case is analysed once per report (cached on the master's identity).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from commtrail.case import Case
from commtrail.outputs.analysis import CaseAnalysis, analyse, sentences
from commtrail.outputs.charts import write_charts
from commtrail.outputs.report_words import words
from commtrail.outputs.stats import NOT_COVERED, ROWS, event_cell, figure_text, party_figures
from commtrail.outputs.sentences import day_text, event_name


@lru_cache(maxsize=4)
def _analysed(root: str, master_mtime_ns: int) -> tuple[CaseAnalysis, Case]:
    case = Case(Path(root))
    return analyse(case), case


def _analysis(case: Case) -> CaseAnalysis:
    mtime = case.master_file.stat().st_mtime_ns if case.master_file.exists() else 0
    return _analysed(str(case.root), mtime)[0]


def summary(case: Case, party: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Sentences and (label, value) figures about ``party``; every number in the text is a figure."""
    analysis = _analysis(case)
    if party not in {p.name for p in analysis.parties}:
        return [words()["summary"]["none"].format(party=party)], []
    figures = party_figures(analysis.party(party))
    rows = [(label, figure_text(figures, key, how)) for label, key, how in ROWS]
    for event, e in zip(analysis.events, figures["events"]):
        name = f"{event_name(event.kind)}, {day_text(event.when)}"
        rows.append((f"Contacts from them in the 30 days before / after the {name} (and in all after it; "
                     f"{NOT_COVERED} where the records do not reach that period)", event_cell(e)))
    return sentences(analysis, party), rows


def charts(case: Case, party: str) -> list[tuple[Path, str]]:
    """The party's PNG charts in CASE/report/charts/, each with its one-line caption."""
    analysis = _analysis(case)
    if party not in {p.name for p in analysis.parties}:
        return []
    captions = words()["charts"]
    out = []
    for path in write_charts(case, party, analysis):
        if path.suffix == ".png":
            kind = path.stem.rsplit("-", 1)[-1]
            out.append((path, captions[f"{kind}_caption"].format(party=party)))
    return out
