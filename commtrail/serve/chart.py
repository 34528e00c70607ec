"""The weekly chart on top of the timeline: one bar per local week of the current filter (or per
few weeks, over five years), each a link that narrows the filter to its weeks (drawn as inline SVG
by the template)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from commtrail.serve.queries import Filter

WIDTH = 1000
HEIGHT = 80
MAX_BARS = 260   # five years of weeks; a longer span gets bars of several weeks


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    height: float
    href: str
    label: str


def weekly_bars(weeks: list[tuple[date, int]], f: Filter) -> list[Bar]:
    """Bars for every week from the first to the last with events (empty weeks drawn as gaps).
    Over MAX_BARS weeks, each bar stands for the same number of consecutive weeks."""
    if not weeks:
        return []
    first, last = weeks[0][0], weeks[-1][0]
    span = (last - first).days // 7 + 1
    per_bar = -(-span // MAX_BARS)   # weeks a bar stands for
    counts: dict[int, int] = {}
    for week, count in weeks:
        slot = (week - first).days // 7 // per_bar
        counts[slot] = counts.get(slot, 0) + count
    n = -(-span // per_bar)
    top = max(counts.values())
    step = WIDTH / n
    bars = []
    for slot, count in sorted(counts.items()):
        start = first + timedelta(weeks=slot * per_bar)
        end = start + timedelta(weeks=per_bar, days=-1)
        what = f"Week of {start.isoformat()}" if per_bar == 1 else f"{start.isoformat()} to {end.isoformat()}"
        bars.append(Bar(x=round(slot * step, 2), width=round(max(step * 0.85, 1.0), 2),
                        height=round(max(HEIGHT * count / top, 1.0), 2),
                        href="/?" + f.query(date_from=start, date_to=end),
                        label=f"{what}: {count} event{'s' if count != 1 else ''}"))
    return bars


__all__ = ["Bar", "HEIGHT", "WIDTH", "weekly_bars"]
