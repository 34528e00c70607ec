"""One result row per workload, and the one table ``make bench`` prints at the end.

Every benchmark measures ours against a baseline (another tool, a bare floor, or a time budget)
and returns :class:`Result`: its detail lines and one :class:`Row` per workload. The ratio is
taken in the direction its goal names: ``baseline/ours`` for a speed-up to reach (goal ``>=``),
``ours/baseline`` for a slowdown to stay under (goal ``<=``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One workload: our seconds, the baseline's, their ratio against the goal, peak memory."""

    workload: str
    ours_s: float
    baseline: str            # what ours is measured against ("whatstk", "bare iterparse", "budget")
    baseline_s: float
    ratio_of: str            # "baseline/ours" or "ours/baseline"
    goal: float
    peak_mb: float | None = None
    peak_limit_mb: float | None = None
    ok: bool = True          # any other condition of the goal (e.g. the record count is right)

    @property
    def ratio(self) -> float:
        if self.ratio_of == "baseline/ours":
            return self.baseline_s / self.ours_s if self.ours_s else float("inf")
        return self.ours_s / self.baseline_s if self.baseline_s else float("inf")

    @property
    def goal_text(self) -> str:
        return f"{self.ratio_of} {'>=' if self.ratio_of == 'baseline/ours' else '<='} {self.goal:g}"

    @property
    def met(self) -> bool:
        speed = self.ratio >= self.goal if self.ratio_of == "baseline/ours" else self.ratio <= self.goal
        memory = self.peak_limit_mb is None or (self.peak_mb is not None and self.peak_mb < self.peak_limit_mb)
        return self.ok and speed and memory


def speedup(workload: str, ours_s: float, baseline: str, baseline_s: float, goal: float, **kw) -> Row:
    """A row whose goal is to be at least ``goal`` times as fast as the baseline."""
    return Row(workload, ours_s, baseline, baseline_s, "baseline/ours", goal, **kw)


def within(workload: str, ours_s: float, baseline: str, baseline_s: float, goal: float, **kw) -> Row:
    """A row whose goal is to take at most ``goal`` times the baseline (or a time budget, goal 1)."""
    return Row(workload, ours_s, baseline, baseline_s, "ours/baseline", goal, **kw)


@dataclass
class Result:
    """What one benchmark returns: its detail lines and its table rows."""

    lines: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def text(self) -> str:
        """The detail lines, then the table of the rows (what a benchmark run alone prints)."""
        return "\n".join(self.lines + [table(self.rows)])


HEADER = ("workload", "ours s", "baseline", "baseline s", "ratio", "goal", "peak MB", "peak goal", "result")


def table(rows: list[Row]) -> str:
    """The rows as one plain-text table (columns aligned; numbers right-aligned)."""
    cells = [HEADER] + [(
        r.workload, f"{r.ours_s:.2f}", r.baseline, f"{r.baseline_s:.2f}", f"{r.ratio:.2f}", r.goal_text,
        "-" if r.peak_mb is None else f"{r.peak_mb:,.0f}",
        "-" if r.peak_limit_mb is None else f"< {r.peak_limit_mb:,.0f}",
        "met" if r.met else "NOT met") for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    numeric = {1, 3, 4, 6}
    lines = ["  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    met = sum(r.met for r in rows)
    lines.append(f"{met} of {len(rows)} goals met")
    return "\n".join(lines)


def standalone(doc: str, run: Callable[[Path, float], Result], workdir: Path) -> None:
    """The command line of a benchmark run on its own (``--workdir``, ``--scale``): runs it and
    prints its details and its table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=workdir)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    print(run(args.workdir, args.scale).text())
