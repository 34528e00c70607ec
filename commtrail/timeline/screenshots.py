"""Which messages each screenshot shows: its OCR lines matched against the master's message bodies.

Built with the master (``master.build_master``) into ``screenshot_links.parquet``, one row per
message seen in a screenshot: the screenshot's ``event_id``, the first OCR line (1-based) and how
many lines the message took, the OCR text of those lines, and the ``event_id`` of the message it is
(null: **only in a screenshot**, a message no backup holds) with the match score (0-100). The
master itself is never changed. The file exists only while the case holds a screenshot.

How a screenshot is read:

- Only the window of ``WINDOW`` before the screenshot's time is searched (plus ``SLACK``, or a day
  when the screenshot's time is only a day), and only ``message`` records with a text; so the
  work grows with the screenshots, not with the case. An undated screenshot is not matched.
- An OCR line's trailing chrome (a time and the ticks after it, "Edited";
  data/screenshot_chrome.toml) is cut; it is compared with and without it. ``|`` is read as ``I``.
  Texts are compared folded: NFKC, case-folded, every run of characters that are not letters or
  digits (emoji, punctuation) one space.
- A message may wrap over up to ``MAX_SPAN`` lines: from the first unmatched line, every span of
  one to ``MAX_SPAN`` consecutive message lines is joined with spaces and scored against every
  candidate with RapidFuzz's ``fuzz.ratio`` (normalised Indel similarity). Of the candidates
  scoring ``THRESHOLD`` or more, one sent at the clock time shown at the span's end (a bubble's
  time, read in the case's zone) wins, then the best score, the longer span, a message not yet
  matched in this screenshot, the later message; its lines are used up. OCR's misread letters
  cost a few points each.
- A line that matches nothing is a message only in a screenshot when it reads as one: not chrome
  (data/screenshot_chrome.toml: dates, "online", "Type a message"…), and at least
  ``MIN_WORDS`` words with ``MIN_LETTERS`` letters in all (so a name in the header or a battery
  level is not one). Each such line is one row.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.atomic import write_table

LINKS_FILE = "screenshot_links.parquet"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
WINDOW = timedelta(days=30)
SLACK = timedelta(minutes=2)
THRESHOLD = 85.0
MAX_SPAN = 6
MIN_WORDS = 2
MIN_LETTERS = 8

LINKS_SCHEMA = pa.schema([
    pa.field("screenshot", pa.string(), nullable=False),   # event_id of the screenshot
    pa.field("line", pa.int32(), nullable=False),          # first OCR line, 1-based
    pa.field("lines", pa.int32(), nullable=False),         # OCR lines the message took
    pa.field("ocr_text", pa.string(), nullable=False),     # those lines as OCR read them, joined by \n
    pa.field("event_id", pa.string()),                     # the message shown; null: only in a screenshot
    pa.field("score", pa.float64()),                       # fuzz.ratio of the match; null when none
])

_NOT_WORD = re.compile(r"[\W_]+")
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})(?:\s*([ap])\.?\s?m\b)?", re.I)


@lru_cache(maxsize=1)
def _chrome() -> tuple[re.Pattern[str], re.Pattern[str]]:
    with resources.files("commtrail").joinpath("data", "screenshot_chrome.toml").open("rb") as handle:
        data = tomllib.load(handle)
    return (re.compile(data["trailing"], re.I),
            re.compile("(?:" + "|".join(f"(?:{p})" for p in data["lines"]) + r")\Z", re.I))


def fold(text: str) -> str:
    """A text as compared: NFKC, case-folded, non-letters and non-digits (emoji too) as single spaces."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass
class _Line:
    raw: str
    bare: str          # folded, trailing chrome cut
    whole: str         # folded as read
    chrome: bool
    clock: int | None  # the time at its end (a bubble's), minutes after midnight

    @property
    def message_like(self) -> bool:
        words = self.bare.split()
        return (not self.chrome and len([w for w in words if any(c.isalpha() for c in w)]) >= MIN_WORDS
                and sum(c.isalpha() for c in self.bare) >= MIN_LETTERS)


def _lines(ocr_text: str) -> list[_Line]:
    trailing, chrome = _chrome()
    out = []
    for raw in ocr_text.split("\n"):
        read = raw.replace("|", "I")   # OCR's usual reading of a capital I
        cut = trailing.sub("", read).strip()
        bare = fold(cut)
        clocks = _CLOCK.findall(read[len(cut):])
        out.append(_Line(raw, bare, fold(read), not bare or chrome.match(cut.strip(" .,:;!?")) is not None,
                         _minutes(*clocks[-1]) if clocks else None))
    return out


def _minutes(hour: str, minute: str, half: str) -> int | None:
    """Minutes after midnight of a clock time as a phone shows it (24-hour, or 12-hour with a/p)."""
    h, m = int(hour), int(minute)
    if half:
        h = h % 12 + (12 if half.lower() == "p" else 0)
    return h * 60 + m if h < 24 and m < 60 else None


@dataclass
class Candidates:
    """The messages a screenshot may show: folded texts, ids, times (µs) and local clock times
    (minutes after midnight in the case's zone), oldest first."""

    texts: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    clocks: list[int] = field(default_factory=list)

    def between(self, start: int, end: int) -> Candidates:
        """Those sent from ``start`` to ``end`` (µs since the epoch, both included)."""
        a, b = bisect_left(self.times, start), bisect_right(self.times, end)
        return Candidates(self.texts[a:b], self.ids[a:b], self.times[a:b], self.clocks[a:b])


def match_lines(ocr_text: str, candidates: Candidates) -> list[dict]:
    """The rows of one screenshot (without its id): each matched message and each line only in it."""
    lines = _lines(ocr_text)
    used: set[int] = set()
    out: list[dict] = []
    i = 0
    while i < len(lines):
        choice = _best(lines[i:], used, candidates) if candidates.texts else None
        if choice is not None:
            k, c, score = choice
            used.add(c)
            out.append({"line": i + 1, "lines": k, "ocr_text": "\n".join(x.raw for x in lines[i:i + k]),
                        "event_id": candidates.ids[c], "score": round(score, 1)})
            i += k
            continue
        if lines[i].message_like:
            out.append({"line": i + 1, "lines": 1, "ocr_text": lines[i].raw, "event_id": None, "score": None})
        i += 1
    return out


def _best(lines: list[_Line], used: set[int], candidates: Candidates) -> tuple[int, int, float] | None:
    """The best (span length, candidate, score) among the spans starting at ``lines[0]``, or None: a
    message sent at the clock time shown at the span's end first, then the score (see the module).
    Scored one start line at a time, so memory stays at a few rows of candidates."""
    import numpy as np
    from rapidfuzz import fuzz, process   # only where screenshots are matched

    spans = []
    for k in range(1, min(MAX_SPAN, len(lines)) + 1):
        if lines[k - 1].chrome:
            break
        spans.append(k)
    if not spans:
        return None
    queries = [" ".join(line.bare for line in lines[:k]) for k in spans]
    queries += [" ".join([*(line.bare for line in lines[:k - 1]), lines[k - 1].whole]) for k in spans]
    both = process.cdist(queries, candidates.texts, scorer=fuzz.ratio, score_cutoff=THRESHOLD, workers=1)
    scores = np.maximum(both[:len(spans)], both[len(spans):])
    best, key = None, None
    for row, k in enumerate(spans):
        clock = lines[k - 1].clock
        for c in (scores[row] >= THRESHOLD).nonzero()[0].tolist():
            score = float(scores[row][c])
            rank = (clock is not None and candidates.clocks[c] == clock, score, k, c not in used,
                    candidates.times[c], candidates.ids[c])
            if key is None or rank > key:
                best, key = (k, c, score), rank
    return best


def _window(ts: datetime, precision: str | None) -> tuple[datetime, datetime]:
    end = ts + (timedelta(days=1) if precision == "day" else SLACK)
    return ts - WINDOW, end


def _candidates(master: Path, start: datetime, end: datetime, zone: str) -> Candidates:
    table = pq.read_table(master, columns=["event_id", "ts_utc", "body"],
                          filters=[("kind", "=", "message"), ("ts_utc", ">=", start), ("ts_utc", "<=", end)])
    table = table.filter(pc.invert(pc.is_null(table["body"]))).sort_by([("ts_utc", "ascending"),
                                                                       ("event_id", "ascending")])
    local = table["ts_utc"].cast(pa.timestamp("us", tz=zone))
    clocks = pc.add(pc.multiply(pc.hour(local), 60), pc.minute(local)).to_pylist()
    out = Candidates()
    for event_id, ts, body, clock in zip(table["event_id"].to_pylist(), table["ts_utc"].cast(pa.int64()).to_pylist(),
                                         table["body"].to_pylist(), clocks):
        text = fold(body)
        if text:
            out.texts.append(text)
            out.ids.append(event_id)
            out.times.append(ts)
            out.clocks.append(clock)
    return out


def build_links(master: Path, zone: str) -> pa.Table | None:
    """The links of every screenshot of the master (exhibit order, then line); None: no screenshot.
    ``zone`` is the case's, in which a screenshot shows its clock times. Screenshots whose windows
    overlap share one read of the master."""
    if not _has_screenshots(master):
        return None
    shots = pq.read_table(master, columns=["event_id", "ts_utc", "ts_precision", "extra"],
                          filters=[("channel", "=", "evidence"), ("kind", "=", "screenshot")])
    if shots.num_rows == 0:
        return None
    texts, windows = {}, []
    for shot in shots.to_pylist():
        text = (json.loads(shot["extra"]) if shot["extra"] else {}).get("ocr_text")
        if text and shot["ts_utc"] is not None:
            texts[shot["event_id"]] = text
            windows.append((*_window(shot["ts_utc"], shot["ts_precision"]), shot["event_id"]))
    found: dict[str, list[dict]] = {}
    for group in _overlapping(sorted(windows)):
        pool = _candidates(master, group[0][0], max(end for _, end, _ in group), zone)
        for start, end, shot in group:
            found[shot] = match_lines(texts[shot], pool.between(_micros(start), _micros(end)))
    rows = [{"screenshot": shot, **r} for shot in shots["event_id"].to_pylist() for r in found.get(shot, [])]
    return pa.Table.from_pylist(rows, schema=LINKS_SCHEMA)


def _has_screenshots(master: Path) -> bool:
    """Whether the master holds a screenshot, from two small dictionary columns: most masters hold
    none, and the filtered read of build_links decodes ``extra`` on the way (on a 1,000,000-message
    chat 0.2-0.5 s CPU and 170 MB more at the peak; this look, 0.03 s and next to nothing)."""
    kinds = pq.read_table(master, columns=["channel", "kind"])
    return bool(pc.any(pc.and_(pc.equal(kinds["channel"], "evidence"), pc.equal(kinds["kind"], "screenshot"))).as_py())


def _overlapping(windows: list[tuple[datetime, datetime, str]]) -> list[list[tuple[datetime, datetime, str]]]:
    """Windows sorted by start, grouped where they overlap (a group spans its first start to its last end)."""
    groups: list[list[tuple[datetime, datetime, str]]] = []
    end = None
    for window in windows:
        if end is None or window[0] > end:
            groups.append([])
            end = window[1]
        groups[-1].append(window)
        end = max(end, window[1])
    return groups


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def write_links(master: Path, target: Path, zone: str) -> None:
    """Write ``screenshot_links.parquet`` beside the master (removed when the case has no screenshot)."""
    table = build_links(master, zone)
    if table is None:
        target.unlink(missing_ok=True)
    else:
        write_table(table, target)


def read_links(case_root: Path) -> pa.Table | None:
    """The screenshot links of a case (None when it has no screenshot)."""
    path = case_root / LINKS_FILE
    return pq.read_table(path, schema=LINKS_SCHEMA) if path.exists() else None


@dataclass
class ScreenshotLinks:
    """The links by screenshot and by message, for the outputs."""

    shows: dict[str, list[str]] = field(default_factory=dict)       # screenshot -> events shown, in line order
    shown_in: dict[str, list[str]] = field(default_factory=dict)    # event -> screenshots showing it
    only: dict[str, list[tuple[int, str]]] = field(default_factory=dict)   # screenshot -> (line, OCR text)
    built: bool = False     # the case holds screenshots, so the links were built

    @property
    def only_count(self) -> int:
        """Messages seen only in a screenshot (lines matched to no event)."""
        return sum(len(v) for v in self.only.values())


def screenshot_links(case_root: Path) -> ScreenshotLinks:
    """The links of a case, by screenshot and by message (empty without screenshots)."""
    table = read_links(case_root)
    out = ScreenshotLinks(built=table is not None)
    for row in table.to_pylist() if table is not None else []:
        if row["event_id"] is None:
            out.only.setdefault(row["screenshot"], []).append((row["line"], row["ocr_text"]))
            continue
        shows = out.shows.setdefault(row["screenshot"], [])
        if row["event_id"] not in shows:
            shows.append(row["event_id"])
        shown_in = out.shown_in.setdefault(row["event_id"], [])
        if row["screenshot"] not in shown_in:
            shown_in.append(row["screenshot"])
    return out
