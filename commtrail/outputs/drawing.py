"""Drawing the charts: matplotlib figures from a small :class:`ChartData`, saved as PNG and SVG.

Kept apart from the analysis so that a chart-drawing worker process imports matplotlib and numpy
only. Linear axes; the Okabe-Ito palette plus hatching, markers and line styles, so that the charts
read in print, in grey and for colour-blind readers; every chart has a title and axis labels in
plain words and shows the case.toml events as numbered dashed lines with a key.

Re-running gives byte-identical files: matplotlib's own defaults (not the user's matplotlibrc)
plus a fixed style, no time stamps or software versions in the metadata, a fixed SVG id salt,
fixed size, DPI and font (DejaVu Sans, shipped with matplotlib; SVG text drawn as paths), and
figures made with the object-oriented API (no pyplot state).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter, MaxNLocator

from commtrail.atomic import atomic_path
from commtrail.outputs.labels import CALL_ORDER, WEEKDAYS
from commtrail.timeline.identity import PLATFORM_PREFIXES

# Okabe & Ito (2008), "Color Universal Design": told apart with every common colour-vision deficiency
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
CHANNELS = ["sms", "mms", "whatsapp", "call", "email"]
# each channel keeps its colour and hatching in every chart of every party
CHANNEL_STYLE = {"sms": (OKABE_ITO[0], ""), "whatsapp": (OKABE_ITO[2], "//"), "call": (OKABE_ITO[1], ".."),
                 "email": (OKABE_ITO[3], "xx"), "mms": (OKABE_ITO[4], "\\\\")}
OTHER_STYLES = [(OKABE_ITO[5], "++"), (OKABE_ITO[6], "oo"), (OKABE_ITO[7], "--")]
CHANNEL_NAMES = {"sms": "Text message (SMS)", "mms": "Picture message (MMS)", "whatsapp": "WhatsApp",
                 "call": "Phone call", "email": "E-mail", "telegram": "Telegram", "messenger": "Messenger",
                 "instagram": "Instagram", "gvoice": "Google Voice", "signal": "Signal", "snapchat": "Snapchat",
                 "discord": "Discord", "imessage": "iMessage", "rcs": "RCS message", "facetime": "FaceTime",
                 "app-call": "Call through another app", "evidence": "Evidence file"}
CALL_NAMES = {"answered": "Answered", "missed": "Missed", "rejected": "Rejected", "blocked": "Blocked",
              "voicemail": "Voicemail", "answered elsewhere": "Answered on another device", "other": "Other"}
IDENTIFIER_NAMES = {"phone": "Phone number", "email": "E-mail address", "whatsapp": "WhatsApp name",
                    "short": "Short code", "alpha": "Sender name", "withheld": "Withheld number", "other": "Other",
                    **{kind: words for kind, words in PLATFORM_PREFIXES.values()}}
CHART_NAMES = ("weekly", "daily", "hours", "cumulative", "identifiers", "calls")
MAX_IDENTIFIER_ROWS = 40
EVENT_LINE = (0, (4, 2))
WIDTH, HEIGHT, DPI = 10.0, 5.6, 150
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#d9d9d9",
    "grid.linewidth": 0.6,
    "hatch.linewidth": 0.6,
    "hatch.color": "#333333",
    "legend.frameon": False,
    "svg.hashsalt": "commtrail",
    "svg.id": "commtrail",
    "svg.fonttype": "path",
    "path.simplify": True,
    "image.interpolation": "nearest",
}
PNG_METADATA = {"Software": None}
# layout, in inches (10-point text): fixed rules instead of a layout engine
TITLE_LINE = 0.26        # a 12-point title line with its padding
EVENT_STEP = 15 / 72     # each further level of stacked event numbers
AXIS_BELOW = 0.56        # tick marks, tick labels and the axis label under the plot
LEGEND_ROW = 0.215       # one row of a legend
LEGEND_PAD = 0.16        # a legend's inner padding
KEY_TITLE = "Dashed lines: events"
SVG_METADATA = {"Date": None, "Creator": None}




@dataclass
class ChartData:
    """What the charts of one party need, and nothing else (small, picklable)."""

    slug: str
    unlisted_group: bool             # the "(unknown)" group: identifiers linked to no party
    who: str                         # the party's name, or the wording for unlisted senders
    owner: str
    zone: str
    first: date                      # first and last day shown (records and events)
    last: date
    events: list[tuple[str, datetime]]      # (label, case-local naive time)
    daily: list[tuple[date, str, str, int]]  # (day, channel, direction, count)
    weekly: list[tuple[date, str, str, int]]
    hour_weekday: list[list[int]]
    identifiers: list[tuple[str, str, bool, list[date]]]   # (display, kind, listed, days used)
    identifiers_total: int
    call_weeks: list[tuple[date, dict[str, int]]]
    call_labels: list[str]

    def charts(self) -> list[str]:
        """The charts this party has something to show in.

        Senders not listed in case.toml are many people together: their weekly volume, the
        identifiers (new numbers after a block) and the calls (withheld numbers) say something; a
        daily, cumulative or hour-of-day pattern of strangers mixed together would only mislead,
        so those three are drawn for listed parties only.
        """
        if not self.daily:
            return []
        names = ["weekly"] if self.unlisted_group else ["weekly", "daily", "hours", "cumulative"]
        if self.identifiers:
            names.append("identifiers")
        if self.call_labels:
            names.append("calls")
        return names


def _warm_up() -> None:
    """Load the fonts and the backends in a worker before the first chart arrives."""
    with _style():
        fig = Figure(figsize=(1, 1))
        fig.text(0.5, 0.5, "0")
        fig.savefig(io.BytesIO(), format="png")


def _style():
    """Matplotlib's own defaults (not the user's matplotlibrc) plus ours: the same bytes everywhere."""
    return matplotlib.style.context(["default", STYLE])


def render(data: ChartData, name: str, stem: Path) -> list[Path]:
    """Draw one chart of one party and write it as PNG and SVG."""
    with _style():
        fig = getattr(_Charts(data), name)()
        return _save(fig, stem)


def figures(data: ChartData) -> list[tuple[str, Figure]]:
    """The figures of one party (for callers that embed them rather than write files)."""
    with _style():
        chart = _Charts(data)
        return [(name, getattr(chart, name)()) for name in data.charts()]


def _save(fig: Figure, stem: Path) -> list[Path]:
    paths = []
    for fmt, metadata in (("png", PNG_METADATA), ("svg", SVG_METADATA)):
        target = stem.with_suffix(f".{fmt}")
        extra = {"pil_kwargs": {"compress_level": 3}} if fmt == "png" else {}    # a third faster than 6, 7% larger
        _write_atomic(target, lambda out: fig.savefig(out, format=fmt, dpi=DPI, metadata=metadata, **extra))
        paths.append(target)
        fig.set_layout_engine("none")     # the layout is done: the SVG reuses it
    return paths


def _write_atomic(target: Path, write) -> None:
    """Write beside the target, fsync, rename, fsync the folder: never a half-written chart (readable
    by the user alone)."""
    with atomic_path(target) as tmp:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            write(out)


def _day64(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def _cell_numbers(fig, ax, grid: np.ndarray, cmap, top: int) -> None:
    """The count in each non-empty cell, white on dark cells and black on light ones, drawn as one
    collection of glyph outlines (168 separate text objects take several times longer to draw)."""
    from matplotlib.collections import PathCollection
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D
    from matplotlib.textpath import text_to_path
    prop = FontProperties(family="DejaVu Sans", size=7 if top < 1000 else 6.5 if top < 10_000 else 5.5)
    glyphs: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}   # character -> vertices, codes, advance (points)

    def glyph(ch: str) -> tuple[np.ndarray, np.ndarray, float]:
        if ch not in glyphs:
            one = text_to_path.get_text_width_height_descent(ch, prop, ismath=False)[0]
            two = text_to_path.get_text_width_height_descent(ch + ch, prop, ismath=False)[0]
            outline = TextPath((0, 0), ch, prop=prop)
            glyphs[ch] = (outline.vertices, outline.codes, two - one)
        return glyphs[ch]

    height = glyph("0")[0][:, 1].max()          # digits share one height: centre on half of it
    shapes: dict[str, MplPath] = {}
    paths, offsets, colours = [], [], []
    for y, x in zip(*np.nonzero(grid)):      # an empty cell is left blank (the darkest colour)
        text = f"{int(grid[y, x]):,}"
        if text not in shapes:               # the number from its characters' outlines, centred on (0, 0)
            verts, codes, advance = [], [], 0.0
            for ch in text:
                v, c, width = glyph(ch)
                verts.append(v + (advance, 0.0))
                codes.append(c)
                advance += width
            shapes[text] = MplPath(np.concatenate(verts) - (advance / 2, height / 2), np.concatenate(codes))
        r, g, b, _ = cmap(grid[y, x] / top)
        paths.append(shapes[text])
        offsets.append((x, y))
        colours.append("white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black")
    if paths:      # glyph outlines are in points: scaled to the output's resolution, placed on the cells
        ax.add_collection(PathCollection(paths, offsets=offsets, offset_transform=ax.transData,
                                         transform=Affine2D().scale(1 / 72) + fig.dpi_scale_trans,
                                         facecolors=colours, edgecolors="none", zorder=3))


def _text_width(text: str, size: float) -> float:
    """Width of one line of DejaVu Sans text, in inches (no renderer needed)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path
    width, _, _ = text_to_path.get_text_width_height_descent(text, FontProperties(family="DejaVu Sans", size=size),
                                                             ismath=False)
    return width / 72


def _legend_width(labels: list[str], ncols: int, title: str | None, handle: float = 2.0) -> float:
    """About how wide a legend of these labels is, in inches."""
    em = 10 / 72
    rows = -(-len(labels) // ncols)
    columns = [labels[c * rows:(c + 1) * rows] for c in range(ncols)]
    width = sum(max(_text_width(t, 10) for t in col) + (handle + 0.8) * em for col in columns if col)
    width += (ncols - 1) * 2.0 * em + 0.8 * em
    return max(width, _text_width(title, 10) + em if title else 0.0)


def _row_major(handles: list, ncols: int) -> list:
    """Order legend entries so that they read left to right, row by row (legends fill by column)."""
    rows = -(-len(handles) // ncols)
    grid = [handles[r * ncols:(r + 1) * ncols] for r in range(rows)]
    return [grid[r][c] for c in range(ncols) for r in range(rows) if c < len(grid[r])]


class _Charts:
    def __init__(self, data: ChartData) -> None:
        self.d = data
        # the x range: whole weeks from the first record (or event) to the last, with a small margin
        pad = np.timedelta64(2, "D")
        self.week0 = data.first - timedelta(days=data.first.weekday())
        self.week1 = data.last - timedelta(days=data.last.weekday())
        self.xlim = (_day64(self.week0) - pad, _day64(self.week1) + np.timedelta64(7, "D") + pad)
        self.event_levels = 0
        present = {r[1] for r in data.daily if r[2] == "incoming"}
        self.channels = [c for c in CHANNELS if c in present] + sorted(present - set(CHANNELS))

    # -- helpers -------------------------------------------------------------------------------

    def figure(self, height: float = HEIGHT) -> tuple[Figure, object]:
        """A figure with one axes; :meth:`place` sets the layout (fixed rules: faster than a layout
        engine, and the same for every chart of a kind)."""
        fig = Figure(figsize=(WIDTH, height), dpi=DPI)
        return fig, fig.add_axes((0.1, 0.1, 0.8, 0.8))

    def place(self, fig, ax, *, left: float, bottom: float, top: float, right: float = 0.3) -> None:
        """Put the axes ``left``/``bottom``/``top``/``right`` inches from the figure's edges."""
        w, h = fig.get_size_inches()
        ax.set_position((left / w, bottom / h, 1 - (left + right) / w, 1 - (bottom + top) / h))

    def top_margin(self, title_lines: int = 1) -> float:
        """Room for the title and the numbered event markers above the plot."""
        events = (0.2 + EVENT_STEP * (self.event_levels - 1)) if self.event_levels else 0.0
        return 0.1 + TITLE_LINE * title_lines + events

    def periods(self, weekly: bool) -> np.ndarray:
        if weekly:
            return np.arange(_day64(self.week0), _day64(self.week1) + np.timedelta64(1, "D"), np.timedelta64(7, "D"))
        return np.arange(_day64(self.d.first), _day64(self.d.last) + np.timedelta64(1, "D"), np.timedelta64(1, "D"))

    def dense(self, weekly: bool) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Every day (or week) shown; incoming counts per channel; outgoing totals."""
        periods = self.periods(weekly)
        index = {p: i for i, p in enumerate(periods.astype("datetime64[D]").tolist())}
        counts = {c: np.zeros(len(periods), np.int64) for c in self.channels}
        outgoing = np.zeros(len(periods), np.int64)
        for period, channel, direction, count in (self.d.weekly if weekly else self.d.daily):
            i = index.get(period)
            if i is None:
                continue
            if direction == "incoming":
                counts[channel][i] += count
            elif direction == "outgoing":
                outgoing[i] += count
        return periods, counts, outgoing

    def events(self, ax) -> list:
        """The case.toml events as dashed vertical lines, numbered above the plot; the key's entries."""
        lo, hi = self.xlim
        span = float((hi - lo) / np.timedelta64(1, "m"))
        placed: list[tuple[float, int]] = []
        handles = []
        for n, (label, when) in enumerate(self.d.events, 1):
            x = np.datetime64(when, "m")
            ax.axvline(x, color="#000000", linestyle=EVENT_LINE, linewidth=1.1, zorder=5)
            frac = float((x - lo) / np.timedelta64(1, "m")) / span
            level = 0
            while any(abs(frac - f) < 0.03 and lv == level for f, lv in placed):
                level += 1       # numbers of events close together are stacked, not overlapped
            placed.append((frac, level))
            ax.annotate(str(n), xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 4 + 15 * level),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8, annotation_clip=False,
                        bbox={"boxstyle": "circle,pad=0.25", "facecolor": "white", "edgecolor": "#000000",
                              "linewidth": 0.8})
            handles.append(Line2D([], [], color="#000000", linestyle=EVENT_LINE, linewidth=1.1, label=f"{n}: {label}"))
        self.event_levels = max((lv for _, lv in placed), default=-1) + 1
        return handles

    def title(self, ax, text: str) -> None:
        ax.set_title(text, pad=6 + 15 * self.event_levels)

    def legends(self, fig, event_handles: list, handles: list, ncols: int, title: str | None = None) -> float:
        """The data legend and the key to the numbered event lines below the plot (side by side when
        they fit, else one above the other); returns the height they take, in inches."""
        ncols = max(1, min(ncols, len(handles)))
        handles = _row_major(handles, ncols)
        w = fig.get_size_inches()[0]
        data_rows = -(-len(handles) // ncols) + (1 if title else 0)
        data_h = data_rows * LEGEND_ROW + LEGEND_PAD
        data_w = _legend_width([x.get_label() for x in handles], ncols, title)
        inches = {"bbox_transform": fig.dpi_scale_trans}     # anchors in inches: they hold if the height changes
        if not event_handles:
            fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(w / 2, data_h + 0.08), ncols=ncols,
                       title=title, **inches)
            return data_h
        key_h = (len(event_handles) + 1) * LEGEND_ROW + LEGEND_PAD
        key_w = _legend_width([x.get_label() for x in event_handles], 1, KEY_TITLE, handle=2.5)
        if key_w + data_w + 0.3 <= w:
            height = max(key_h, data_h)
            fig.legend(handles=event_handles, loc="upper left", bbox_to_anchor=(0.08, height + 0.08), ncols=1,
                       title=KEY_TITLE, alignment="left", handlelength=2.5, **inches)
            fig.legend(handles=handles, loc="upper right", bbox_to_anchor=(w - 0.08, height + 0.08), ncols=ncols,
                       title=title, alignment="left", **inches)
            return height
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.08, key_h + data_h + 0.08), ncols=ncols,
                   title=title, alignment="left", **inches)
        fig.legend(handles=event_handles, loc="upper left", bbox_to_anchor=(0.08, key_h + 0.08), ncols=1,
                   title=KEY_TITLE, alignment="left", handlelength=2.5, **inches)
        return key_h + data_h

    def count_layout(self, fig, ax, legend_h: float) -> None:
        """Layout of a chart with a date axis below and counts on the left."""
        ticks = ax.yaxis.get_major_locator().tick_values(*ax.get_ylim())
        widest = max((_text_width(f"{v:,.0f}", 10) for v in ticks if v >= 0), default=0.1)
        self.place(fig, ax, left=0.36 + widest, bottom=legend_h + 0.08 + AXIS_BELOW, top=self.top_margin())

    def date_axis(self, ax, label: str) -> None:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
        formatter = mdates.ConciseDateFormatter(
            locator, formats=["%Y", "%b %Y", "%d %b", "%H:%M", "%H:%M", "%S.%f"],
            zero_formats=["", "%b %Y", "%b %Y", "%d %b", "%H:%M", "%H:%M"], show_offset=False)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(formatter)
        ax.set_xlim(*self.xlim)
        ax.set_xlabel(label)

    def count_axis(self, ax, label: str, top: int) -> None:
        ax.set_ylabel(label)
        ax.set_ylim(0, max(1, top) * 1.08)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.grid(axis="x", visible=False)

    def stacked(self, ax, periods: np.ndarray, series: list[tuple[str, np.ndarray, str, str]]) -> tuple[np.ndarray, list]:
        """Stacked weekly bars, one compound path per series (fast to draw, small in SVG)."""
        bottom = np.zeros(len(periods), np.int64)
        x = mdates.date2num(periods.astype("datetime64[s]"))
        handles = []
        for label, values, color, hatch in series:
            keep = values > 0
            x0, b, t = x[keep], bottom[keep], (bottom + values)[keep]
            verts = np.stack([np.c_[x0, b], np.c_[x0, t], np.c_[x0 + 6, t], np.c_[x0 + 6, b]], axis=1)
            if len(verts):    # one compound path per series: its hatching is drawn once, not per bar
                path = MplPath.make_compound_path_from_polys(verts.astype(float))
                ax.add_artist(PathPatch(path, facecolor=color, edgecolor="#333333", linewidth=0.3, hatch=hatch,
                                        zorder=3, transform=ax.transData))   # limits are set by hand
            handles.append(Patch(label=label, facecolor=color, edgecolor="#333333", linewidth=0.3, hatch=hatch))
            bottom = bottom + values
        return bottom, handles

    # -- the charts ----------------------------------------------------------------------------

    def weekly(self) -> Figure:
        d = self.d
        fig, ax = self.figure()
        periods, counts, _ = self.dense(weekly=True)
        others = [c for c in self.channels if c not in CHANNEL_STYLE]
        series = [(CHANNEL_NAMES.get(c, c), counts[c],
                   *(CHANNEL_STYLE.get(c) or OTHER_STYLES[others.index(c) % len(OTHER_STYLES)]))
                  for c in self.channels]
        total, handles = self.stacked(ax, periods, series)
        keys = self.events(ax)
        self.title(ax, f"Contacts from {d.who} to {d.owner} per week, by channel")
        self.count_axis(ax, "Contacts in the week", int(total.max()) if len(total) else 0)
        self.date_axis(ax, f"Week (Monday to Sunday, {d.zone} time)")
        self.count_layout(fig, ax, self.legends(fig, keys, handles, ncols=3, title="Channel"))
        return fig

    def daily(self) -> Figure:
        d = self.d
        fig, ax = self.figure()
        periods, counts, _ = self.dense(weekly=False)
        total = sum(counts.values()) if counts else np.zeros(len(periods), np.int64)
        edges = np.r_[periods, periods[-1:] + np.timedelta64(1, "D")]
        bars = ax.stairs(total, mdates.date2num(edges.astype("datetime64[s]")), fill=True, color=OKABE_ITO[1],
                         linewidth=0, label="Contacts that day", zorder=3)
        running = np.cumsum(np.r_[0, total])
        days = np.arange(len(total))
        average = (running[days + 1] - running[np.maximum(0, days + 1 - 7)]) / np.minimum(days + 1, 7)
        line, = ax.plot(periods + np.timedelta64(12, "h"), average, color="#000000", linewidth=1.6,
                        label="Average of the 7 days up to that day", zorder=4)
        keys = self.events(ax)
        self.title(ax, f"Contacts from {d.who} to {d.owner} per day")
        self.count_axis(ax, "Contacts in the day", int(total.max()) if len(total) else 0)
        self.date_axis(ax, f"Day ({d.zone} time)")
        self.count_layout(fig, ax, self.legends(fig, keys, [bars, line], ncols=1))
        return fig

    def hours(self) -> Figure:
        d = self.d
        fig, ax = self.figure(height=4.6)
        grid = np.array(d.hour_weekday, dtype=np.int64)
        top = max(1, int(grid.max()))
        image = ax.imshow(grid, cmap="cividis", vmin=0, vmax=top, aspect="auto")
        _cell_numbers(fig, ax, grid, image.get_cmap(), top)
        ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)])
        ax.set_yticks(range(7), WEEKDAYS)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel(f"Hour of the day ({d.zone} time; 22 means 22:00 to 22:59)")
        ax.set_ylabel("Day of the week")
        ax.set_title(f"Contacts from {d.who} to {d.owner} by hour and day of the week")
        w, h = fig.get_size_inches()
        left = 0.36 + max(_text_width(day, 10) for day in WEEKDAYS)
        top_in, bottom_in = self.top_margin(), 0.14 + AXIS_BELOW
        self.place(fig, ax, left=left, bottom=bottom_in, top=top_in, right=1.25)
        cax = fig.add_axes(((w - 1.05) / w, bottom_in / h, 0.16 / w, 1 - (bottom_in + top_in) / h))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label("Contacts")
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        return fig

    def cumulative(self) -> Figure:
        d = self.d
        fig, ax = self.figure()
        periods, counts, outgoing = self.dense(weekly=False)
        incoming = sum(counts.values()) if counts else np.zeros(len(periods), np.int64)
        x = np.r_[periods, periods[-1:] + np.timedelta64(1, "D")]    # running totals at each midnight
        inc, out = np.r_[0, np.cumsum(incoming)], np.r_[0, np.cumsum(outgoing)]
        a, = ax.step(x, inc, where="post", color=OKABE_ITO[4], linewidth=2.0, label=f"From {d.who} to {d.owner}",
                     zorder=4)
        b, = ax.step(x, out, where="post", color=OKABE_ITO[3], linewidth=1.6, linestyle=(0, (1, 1.5)),
                     label=f"From {d.owner} to {d.who}", zorder=4)
        keys = self.events(ax)
        self.title(ax, f"Contacts between {d.who} and {d.owner}, added up over time")
        self.count_axis(ax, "Contacts so far", int(max(inc[-1], out[-1])))
        self.date_axis(ax, f"Date ({d.zone} time)")
        self.count_layout(fig, ax, self.legends(fig, keys, [a, b], ncols=1))
        return fig

    def identifiers(self) -> Figure:
        d = self.d
        rows = len(d.identifiers)
        fig, ax = self.figure()
        kinds = [k for k in IDENTIFIER_NAMES if any(i[1] == k for i in d.identifiers)]
        weekly = (d.last - d.first).days > 366       # long spans: one dot per week stays legible
        for row, (_, kind, _, used) in enumerate(d.identifiers):
            k = kinds.index(kind)
            days = np.array(used, dtype="datetime64[D]")
            if weekly:   # the Monday of each week of use, dot in mid-week
                days = np.unique(days - ((days.astype(np.int64) + 3) % 7).astype("timedelta64[D]"))
                days = days + np.timedelta64(84, "h")
            else:
                days = days + np.timedelta64(12, "h")
            ax.plot(days, np.full(len(days), row), linestyle="none", marker=MARKERS[k % 8], markersize=4.5,
                    markerfacecolor=OKABE_ITO[k % 8], markeredgecolor="#222222", markeredgewidth=0.3, zorder=4)
        mark = not d.unlisted_group      # in the unlisted group every identifier is unlisted: no need to say
        labels = [f"{display}{' (not in case.toml)' if mark and not listed else ''}"
                  for display, _, listed, _ in d.identifiers]
        ax.set_yticks(range(rows), labels)
        ax.set_ylim(rows - 0.5, -0.5)
        ax.grid(axis="x", visible=False)
        keys = self.events(ax)
        title = f"Identifiers used by {d.who}, first used at the top\none dot per {'week' if weekly else 'day'} of use"
        if rows < d.identifiers_total:
            title += f"; the {rows} most used of {d.identifiers_total:,} identifiers"
        self.title(ax, title)
        ax.set_ylabel("Identifier")
        self.date_axis(ax, f"Date ({d.zone} time)")
        handles = [Line2D([], [], linestyle="none", marker=MARKERS[i % 8], markersize=6, markerfacecolor=OKABE_ITO[i % 8],
                          markeredgecolor="#222222", markeredgewidth=0.3, label=IDENTIFIER_NAMES[k])
                   for i, k in enumerate(kinds)]
        legend_h = self.legends(fig, keys, handles, ncols=3, title="Kind of identifier")
        widest = max((_text_width(t, 10) for t in labels), default=0.5)
        bottom, top = legend_h + 0.08 + AXIS_BELOW, self.top_margin(title.count("\n") + 1)
        fig.set_size_inches(WIDTH, bottom + top + max(1.2, 0.3 * rows))     # 0.3 inch per identifier
        self.place(fig, ax, left=min(0.36 + widest, WIDTH / 2), bottom=bottom, top=top)
        return fig

    def calls(self) -> Figure:
        d = self.d
        fig, ax = self.figure()
        periods = self.periods(weekly=True)
        index = {p: i for i, p in enumerate(periods.astype("datetime64[D]").tolist())}
        counts = {label: np.zeros(len(periods), np.int64) for label in d.call_labels}
        for week, by_label in d.call_weeks:
            i = index.get(week)
            if i is not None:
                for label, n in by_label.items():
                    counts[label][i] += n
        series = []
        for label in d.call_labels:
            i = CALL_ORDER.index(label)
            name = f"Made by {d.owner}" if label == "outgoing" else CALL_NAMES.get(label, label)
            series.append((name, counts[label], OKABE_ITO[i % 8], HATCHES[i % 8]))
        total, handles = self.stacked(ax, periods, series)
        keys = self.events(ax)
        self.title(ax, f"Calls between {d.who} and {d.owner} per week, by outcome")
        self.count_axis(ax, "Calls in the week", int(total.max()) if len(total) else 0)
        self.date_axis(ax, f"Week (Monday to Sunday, {d.zone} time)")
        self.count_layout(fig, ax, self.legends(fig, keys, handles, ncols=4, title="Call"))
        return fig
