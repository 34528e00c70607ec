"""The weekly chart on top of the timeline: one bar per local week of the current filter, each a
link that narrows the filter to that week (drawn as inline SVG by the template)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from commtrail.serve.queries import Filter

WIDTH = 1000
HEIGHT = 80


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    height: float
    href: str
    label: str


def weekly_bars(weeks: list[tuple[date, int]], f: Filter) -> list[Bar]:
    """Bars for every week from the first to the last with events (empty weeks drawn as gaps)."""
    if not weeks:
        return []
    counts = dict(weeks)
    first, last = weeks[0][0], weeks[-1][0]
    n = (last - first).days // 7 + 1
    top = max(counts.values())
    step = WIDTH / n
    bars = []
    for i in range(n):
        week = first + timedelta(weeks=i)
        count = counts.get(week, 0)
        if not count:
            continue
        end = week + timedelta(days=6)
        bars.append(Bar(x=round(i * step, 2), width=round(max(step * 0.85, 1.0), 2),
                        height=round(max(HEIGHT * count / top, 1.0), 2),
                        href="/?" + f.query(date_from=week, date_to=end),
                        label=f"Week of {week.isoformat()}: {count} event{'s' if count != 1 else ''}"))
    return bars


__all__ = ["Bar", "HEIGHT", "WIDTH", "weekly_bars"]
