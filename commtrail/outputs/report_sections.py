"""The report's summary and charts for one party: the ONE place the report gets them from.

``summary(case, party)`` returns factual sentences and headline figures; ``charts(case, party)``
draws charts into ``CASE/report/`` and returns (png path, one-line caption). For now both are
computed here from the master with simple counts; when ``outputs/analysis.py`` and
``outputs/charts.py`` land, these two functions are switched to call them and nothing else in
the report changes. Wording comes from ``data/report_en.toml`` (section ``summary``/``charts``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from commtrail.case import Case
from commtrail.outputs.report_words import words
from commtrail.timeline.master import read_master

WINDOW_DAYS = 28
MICRO = 1_000_000


def party_events(case: Case, party: str) -> pa.Table:
    """ts_utc, channel, direction of the party's events (incidents excluded), in time order."""
    table = read_master(case, ["ts_utc", "channel", "direction", "party"])
    mask = pc.and_(pc.equal(table["party"], party), pc.not_equal(table["channel"], "incident"))
    table = table.filter(pc.fill_null(mask, False))
    return table.sort_by([("ts_utc", "ascending")])


def _local_text(when: datetime, zone: ZoneInfo, with_time: bool = True) -> str:
    local = when.astimezone(zone)
    day = f"{local.day} {local.strftime('%B %Y')}"
    return f"{day}, {local.strftime('%H:%M')}" if with_time else day


def _n(value: int) -> str:
    return f"{value:,}"


def _per_week(count: int, days: float) -> str:
    return f"{count * 7 / days:.1f}" if days > 0 else "0.0"


def summary(case: Case, party: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Sentences and (label, value) figures about ``party``; every number in the text is a figure."""
    w = words()["summary"]
    zone = ZoneInfo(case.config.timezone)
    table = party_events(case, party)
    total = table.num_rows
    figures: list[tuple[str, str]] = [(w["fig_total"], _n(total))]
    if total == 0:
        return [w["none"].format(party=party)], figures
    directions = dict(zip(*_counts(table["direction"])))
    incoming, outgoing = directions.get("incoming", 0), directions.get("outgoing", 0)
    other = total - incoming - outgoing
    figures += [(w["fig_incoming"], _n(incoming)), (w["fig_outgoing"], _n(outgoing))]
    if other:
        figures.append((w["fig_unknown_direction"], _n(other)))
    channels = sorted(zip(*_counts(table["channel"])), key=lambda kv: (-kv[1], kv[0]))
    channel_names = words()["channels"]
    for name, count in channels:
        figures.append((w["fig_channel"].format(channel=channel_names.get(name, name)), _n(count)))
    times = table["ts_utc"]
    first, last = times[0].as_py(), times[-1].as_py()
    figures += [(w["fig_first"], _local_text(first, zone)), (w["fig_last"], _local_text(last, zone))]
    sentences = [
        w["total"].format(party=party, total=_n(total), first=_local_text(first, zone, False),
                          last=_local_text(last, zone, False), incoming=_n(incoming), outgoing=_n(outgoing)),
        w["channels"].format(list=", ".join(f"{_n(c)} {channel_names.get(n, n)}" for n, c in channels)),
    ]
    incoming_ts = pc.filter(times, pc.equal(table["direction"], "incoming")).cast(pa.int64()).to_numpy()
    for event in case.config.events:
        at = int((event.when_utc - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1))
        span = WINDOW_DAYS * 86400 * MICRO
        before = int(((incoming_ts >= at - span) & (incoming_ts < at)).sum())
        after = int(((incoming_ts >= at) & (incoming_ts < at + span)).sum())
        after_all = int((incoming_ts >= at).sum())
        label = words()["event_kinds"].get(event.kind, event.kind)
        when = _local_text(event.when_utc, zone)
        rate_before, rate_after = _per_week(before, WINDOW_DAYS), _per_week(after, WINDOW_DAYS)
        figures += [
            (w["fig_before"].format(event=label, when=when, days=WINDOW_DAYS), _n(before)),
            (w["fig_after"].format(event=label, when=when, days=WINDOW_DAYS), _n(after)),
            (w["fig_after_all"].format(event=label, when=when), _n(after_all)),
        ]
        sentences.append(w["event"].format(
            event=label, when=when, note=f" ({event.note})" if event.note else "", party=party,
            days=WINDOW_DAYS, before=_n(before), after=_n(after), rate_before=rate_before,
            rate_after=rate_after, after_all=_n(after_all)))
    return sentences, figures


def _counts(column: pa.ChunkedArray) -> tuple[list[str], list[int]]:
    values = pc.value_counts(pc.fill_null(column.cast(pa.string()), "unknown"))
    return values.field("values").to_pylist(), values.field("counts").to_pylist()


def charts(case: Case, party: str) -> list[tuple[Path, str]]:
    """PNG charts about ``party`` in CASE/report/, each with its one-line caption."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    w = words()["charts"]
    table = party_events(case, party)
    if table.num_rows == 0:
        return []
    zone = ZoneInfo(case.config.timezone)
    out_dir = case.report_dir
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    slug = _slug(party)
    results: list[tuple[Path, str]] = []
    plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "commtrail"})

    # 1. events per week, incoming and outgoing, with the case's key dates
    local = table["ts_utc"].cast(pa.timestamp("us", tz=case.config.timezone))
    days = pc.floor_temporal(local, unit="day").cast(pa.timestamp("us")).cast(pa.int64()).to_numpy() // (86400 * MICRO)
    weekday = (days + 3) % 7          # 1970-01-01 was a Thursday; weeks start on Monday
    weeks = days - weekday
    first, last = int(weeks.min()), int(weeks.max())
    edges = np.arange(first, last + 8, 7)
    incoming = np.asarray(pc.equal(table["direction"], "incoming").to_numpy(zero_copy_only=False), dtype=bool)
    counts_in, _ = np.histogram(weeks[incoming], bins=edges)
    counts_out, _ = np.histogram(weeks[~incoming], bins=edges)
    starts = [datetime(1970, 1, 1) + timedelta(days=int(d)) for d in edges[:-1]]
    fig, ax = plt.subplots(figsize=(7.5, 3.2), dpi=150)
    width = timedelta(days=6)
    ax.bar(starts, counts_in, width=width, align="edge", color="#b2182b", label=w["incoming"].format(party=party))
    ax.bar(starts, counts_out, width=width, align="edge", bottom=counts_in, color="#8c8c8c",
           label=w["outgoing"].format(party=party))
    top = max(1, int((counts_in + counts_out).max()))
    for i, event in enumerate(case.config.events):
        when = event.when_utc.astimezone(zone).replace(tzinfo=None)
        if starts[0] - timedelta(days=14) <= when <= starts[-1] + timedelta(days=21):
            ax.axvline(when, color="#2166ac", linestyle="--", linewidth=1)
            ax.text(when, top * (1.02 + 0.1 * (i % 3)), f" {i + 1}", color="#2166ac", fontsize=8, va="bottom")
    ax.set_ylim(0, top * 1.35)
    ax.set_ylabel(w["per_week"])
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = out_dir / f"chart-{slug}-weekly.png"
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    keys = "; ".join(f"{i + 1} = {words()['event_kinds'].get(e.kind, e.kind)} "
                     f"{e.when_utc.astimezone(zone).strftime('%Y-%m-%d')}" for i, e in enumerate(case.config.events))
    results.append((path, w["weekly_caption"].format(party=party, events=keys or w["no_events"])))

    # 2. events by channel and direction
    names, totals = _counts(table["channel"])
    order = sorted(range(len(names)), key=lambda i: (-totals[i], names[i]))
    channel_names = words()["channels"]
    labels = [channel_names.get(names[i], names[i]) for i in order]
    inc = [int(pc.sum(pc.and_(pc.equal(table["channel"], names[i]),
                              pc.equal(table["direction"], "incoming"))).as_py() or 0) for i in order]
    oth = [totals[i] - inc[k] for k, i in enumerate(order)]
    fig, ax = plt.subplots(figsize=(7.5, 0.5 + 0.45 * len(labels)), dpi=150)
    y = np.arange(len(labels))
    ax.barh(y, inc, color="#b2182b", label=w["incoming"].format(party=party))
    ax.barh(y, oth, left=inc, color="#8c8c8c", label=w["outgoing"].format(party=party))
    for k in range(len(labels)):
        ax.text(inc[k] + oth[k], y[k], f" {inc[k] + oth[k]:,}", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, max(inc[k] + oth[k] for k in range(len(labels))) * 1.15)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    path = out_dir / f"chart-{slug}-channels.png"
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    results.append((path, w["channels_caption"].format(party=party)))
    return results


def _slug(name: str) -> str:
    import hashlib
    import re
    base = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:40]
    return f"{base}-{hashlib.sha256(name.encode()).hexdigest()[:6]}" if base else hashlib.sha256(name.encode()).hexdigest()[:8]
