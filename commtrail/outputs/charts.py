"""Charts of the analysis, as PNG and SVG in ``CASE/report/charts/``.

Per party: weekly contacts stacked by channel, daily contacts with a 7-day average, the
hour x weekday pattern, cumulative contacts, identifiers over time and calls by outcome per week.
The drawing is in :mod:`commtrail.outputs.drawing`; this module takes what each chart needs from
the analysis (:func:`chart_data`) and writes the files, for a large case in two processes: a
worker starts drawing each party's charts as soon as that party's figures are done. The files
are the same whichever process draws them.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections import deque
from pathlib import Path

from commtrail.case import Case
from commtrail.outputs.analysis import CALL_ORDER, UNKNOWN, CaseAnalysis, PartyAnalysis, analyse, resolve_party
from commtrail.outputs.drawing import CHART_NAMES, MAX_IDENTIFIER_ROWS, OKABE_ITO, STYLE, ChartData, figures, render
from commtrail.outputs.sentences import day_text, event_name, owner_words, wording

PARALLEL_FROM_ROWS = 200_000     # cases this large draw their charts in two processes


def chart_data(analysis: CaseAnalysis, party: PartyAnalysis) -> ChartData:
    first, last = analysis.first_record.date(), analysis.last_record.date()
    for e in analysis.events:
        first, last = min(first, e.when.date()), max(last, e.when.date())
    ids = party.identifiers
    if len(ids) > MAX_IDENTIFIER_ROWS:
        keep = {i.identifier for i in sorted(ids, key=lambda i: (-i.count, i.first.local, i.identifier))
                [:MAX_IDENTIFIER_ROWS]}
        ids = [i for i in ids if i.identifier in keep]
    return ChartData(
        slug=party.slug, unlisted_group=party.name == UNKNOWN, who=wording()["names"]["unknown"] if party.name == UNKNOWN else party.name,
        owner=owner_words(analysis.owner), zone=analysis.timezone, first=first, last=last,
        events=[(f"{event_name(e.kind)}, {day_text(e.when)}", e.when.replace(tzinfo=None)) for e in analysis.events],
        daily=[(r.period, r.channel, r.direction, r.count) for r in party.daily],
        weekly=[(r.period, r.channel, r.direction, r.count) for r in party.weekly],
        hour_weekday=party.incoming.hour_weekday,
        identifiers=[(i.display, i.kind, i.link is not None, i.days_used) for i in ids],
        identifiers_total=len(party.identifiers),
        call_weeks=[(w.week, w.counts) for w in party.calls.weeks],
        call_labels=[label for label in CALL_ORDER if label in party.calls.totals])


def charts_dir(case: Case) -> Path:
    return case.report_dir / "charts"


def write_charts(case: Case, party: str | None = None, analysis: CaseAnalysis | None = None,
                 workers: int | None = None) -> list[Path]:
    """Draw every chart for every party (or ``party``); returns the files written (PNG and SVG).

    Without ``analysis`` the case is analysed first (see :func:`analyse_and_chart`).
    ``workers``: processes drawing charts (default: 2 for large cases when two cores exist, else 1).
    """
    if analysis is None:
        return analyse_and_chart(case, party, workers)[1]
    wanted = resolve_party(case.config, party) if party is not None else None
    with _Drawer(case, workers) as drawer:
        for p in analysis.parties:
            if wanted is None or p.name == wanted:
                drawer.add(analysis, p)
        return _tidy(drawer.finish(), charts_dir(case), analysis, wanted)


def analyse_and_chart(case: Case, party: str | None = None,
                      workers: int | None = None) -> tuple[CaseAnalysis, list[Path]]:
    """Analyse the case and draw its charts; a second process (large cases) starts drawing each
    party's charts as soon as that party's figures are done, while the next party is analysed."""
    wanted = resolve_party(case.config, party) if party is not None else None
    with _Drawer(case, workers) as drawer:
        analysis = analyse(case, wanted, on_party=drawer.add)
        return analysis, _tidy(drawer.finish(), charts_dir(case), analysis, wanted)


def _tidy(written: list[Path], folder: Path, analysis: CaseAnalysis, wanted: str | None) -> list[Path]:
    """Remove chart files an earlier run left that this run would not write (a renamed party, a
    chart with nothing left to show), so that the folder holds exactly the current charts."""
    keep = {p.name for p in written}
    prefixes = tuple(f"{p.slug}-" for p in analysis.parties if wanted is None or p.name == wanted)
    for path in sorted(folder.glob("*")):
        if path.suffix in (".png", ".svg") and path.name not in keep and (wanted is None or
                                                                          path.name.startswith(prefixes)):
            path.unlink()
    return written


def _master_rows(case: Case) -> int:
    if not case.master_file.exists():
        return 0
    import pyarrow.parquet as pq
    return pq.ParquetFile(case.master_file).metadata.num_rows


class _Drawer:
    """Draws chart jobs here and, for large cases, in one more process (see chartworker.py) that
    takes the oldest waiting job whenever it is free; this process takes the newest ones."""

    def __init__(self, case: Case, workers: int | None) -> None:
        if workers is None:
            workers = 2 if (os.cpu_count() or 1) >= 2 and _master_rows(case) >= PARALLEL_FROM_ROWS else 1
        self.out_dir = charts_dir(case)
        self.out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.jobs: list[tuple[ChartData, str, Path]] = []
        self.queue: deque[int] = deque()
        self.results: dict[int, list[Path]] = {}
        self.busy: int | None = None              # the job the worker is drawing
        self.worker_error = ""
        self.done = threading.Condition()
        self.stderr = None
        self.proc = self._start() if workers > 1 else None
        if self.proc is not None:
            threading.Thread(target=self._read, daemon=True).start()

    def _start(self) -> subprocess.Popen | None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))   # the same commtrail
        self.stderr = tempfile.TemporaryFile()
        try:
            return subprocess.Popen([sys.executable, "-m", "commtrail.outputs.chartworker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        except OSError as exc:               # no second process: everything is drawn here
            self.worker_error = str(exc)
            return None

    def __enter__(self) -> _Drawer:
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.stdin.close()           # the worker ends at the end of its input
            except OSError:
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def add(self, analysis: CaseAnalysis, party: PartyAnalysis) -> None:
        """Queue the charts of one party."""
        if party.contacts == 0:
            return
        data = chart_data(analysis, party)
        with self.done:
            for name in data.charts():
                self.queue.append(len(self.jobs))
                self.jobs.append((data, name, self.out_dir / f"{data.slug}-{name}"))
            self._feed()

    def _feed(self) -> None:
        """Give the worker the oldest waiting job if it is free (called holding the lock)."""
        if self.proc is None or self.busy is not None or not self.queue:
            return
        i = self.queue.popleft()
        try:
            pickle.dump((i, *self.jobs[i]), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except (OSError, ValueError):        # the worker is gone: draw here
            self.queue.appendleft(i)
            self._lost()
            return
        self.busy = i

    def _lost(self) -> None:
        self.proc = None
        if self.busy is not None:
            self.queue.appendleft(self.busy)
            self.busy = None
        self.done.notify_all()

    def _read(self) -> None:
        """Collect the worker's answers (a thread)."""
        proc = self.proc
        while True:
            try:
                i, paths, error = pickle.load(proc.stdout)
            except Exception:                # noqa: BLE001 - EOF or a broken worker: draw here
                with self.done:
                    if not self.worker_error and proc.poll() is not None:
                        self.stderr.seek(0)
                        self.worker_error = self.stderr.read().decode("utf-8", "replace")[-2000:]
                    self._lost()
                return
            with self.done:
                self.busy = None
                if paths is None:            # the worker could not draw it: this process will
                    self.worker_error = error
                    self.queue.appendleft(i)
                else:
                    self.results[i] = [Path(p) for p in paths]
                self._feed()
                self.done.notify_all()

    def finish(self) -> list[Path]:
        """Draw what is left here (newest first), wait for the worker; the files in job order."""
        while True:
            with self.done:
                while not self.queue and self.busy is not None:
                    self.done.wait()
                if not self.queue:
                    break
                i = self.queue.pop()
            self.results[i] = render(*self.jobs[i])
        return [path for i in range(len(self.jobs)) for path in self.results[i]]


__all__ = ["write_charts", "analyse_and_chart", "chart_data", "charts_dir", "ChartData", "figures", "render",
           "CHART_NAMES", "OKABE_ITO", "STYLE"]
