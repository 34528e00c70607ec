"""When an evidence file was taken, best source first.

1. EXIF ``DateTimeOriginal`` (else ``DateTimeDigitized``) with its ``OffsetTime...``: exact
   (``tz_source`` ``source``); without an offset it is local time of the case's zone.
2. The time in the file name (data/evidence_names.toml), local time of the case's zone.
3. The file's modification time: weak (copying a file often resets it), flagged ``time_from_mtime``.
4. Nothing: undated (null ``ts_utc``, flag ``undated``).

Local times of the case's zone go through timeline/localtime.py, so repeated and skipped
daylight-saving hours are flagged in ``tz_source`` as everywhere else.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

import numpy as np

from commtrail.timeline.localtime import to_utc_labels

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EXIF_TIME = re.compile(r"(\d{4})[:-](\d\d)[:-](\d\d)[ T](\d\d):(\d\d):(\d\d)$")
_EXIF_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)$")


@dataclass(frozen=True)
class Taken:
    """A time an evidence file was taken, and how it is known."""

    ts_utc: int            # microseconds since the epoch
    ts_local: str          # as the source wrote it
    precision: str         # ms, s or day
    tz_source: str         # source, case, flag_ambiguous, flag_nonexistent
    time_from: str         # exif_original, exif_digitized, file_name, mtime


@dataclass(frozen=True)
class NamePattern:
    source: str
    pattern: re.Pattern[str]
    screenshot: bool


@dataclass(frozen=True)
class NameFacts:
    """What a file name tells: its pattern's source, whether it names a screenshot, the app, the time."""

    source: str
    screenshot: bool
    app: str | None
    taken: Taken | None
    problem: str | None = None


@lru_cache(maxsize=1)
def _data() -> dict:
    with resources.files("commtrail").joinpath("data", "evidence_names.toml").open("rb") as handle:
        return tomllib.load(handle)


@lru_cache(maxsize=1)
def name_patterns() -> tuple[NamePattern, ...]:
    """The file-name patterns of the data file, in order."""
    return tuple(NamePattern(n["source"], re.compile(n["pattern"]), n.get("screenshot", False))
                 for n in _data()["name"])


def screenshot_software() -> tuple[str, ...]:
    """Words that, found in EXIF ``Software``, name a screenshot tool."""
    return tuple(_data()["kind"]["screenshot_software"])


def _local(naive: datetime, zone: str) -> tuple[int, str]:
    """UTC microseconds and tz_source of a wall-clock time of the case's zone."""
    utc, labels = to_utc_labels(np.array([naive], dtype="datetime64[us]"), zone)
    return int(utc[0]), labels[0]


def from_exif(value: object, offset: object, subsec: object, zone: str, time_from: str) -> Taken | None:
    """The time of an EXIF date field with its offset and sub-second fields, or None if unreadable."""
    m = _EXIF_TIME.match(str(value).strip().rstrip("\x00")) if value else None
    if m is None:
        return None
    try:
        naive = datetime(*(int(g) for g in m.groups()))
    except ValueError:
        return None
    digits = re.sub(r"\D", "", str(subsec)) if subsec else ""
    precision = "ms" if digits else "s"
    naive += timedelta(milliseconds=int(digits[:3].ljust(3, "0"))) if digits else timedelta(0)
    raw = m.group(0) + (f".{digits}" if digits else "")
    o = _EXIF_OFFSET.match(str(offset).strip().rstrip("\x00")) if offset else None
    if o is not None:
        sign = -1 if o.group(1) == "-" else 1
        shift = timedelta(hours=int(o.group(2)), minutes=int(o.group(3))) * sign
        aware = naive.replace(tzinfo=timezone(shift)) if abs(shift) < timedelta(hours=24) else None
        if aware is not None:
            return Taken((aware - _EPOCH) // timedelta(microseconds=1), f"{raw} {o.group(0)}", precision,
                         "source", time_from)
    ts, tz_source = _local(naive, zone)
    return Taken(ts, raw, precision, tz_source, time_from)


def from_name(name: str, zone: str) -> NameFacts | None:
    """What the file name (with or without its extension) tells, or None if it fits no pattern."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    for pattern in name_patterns():
        m = pattern.pattern.match(stem)
        if m is None:
            continue
        groups = m.groupdict()
        app = groups.get("app") or None
        try:
            naive, precision = _name_time(groups)
        except ValueError:
            return NameFacts(pattern.source, pattern.screenshot, app, None,
                             f"the time in the file name ({m.group(0)}) is not a real date or time")
        ts, tz_source = _local(naive, zone)
        if precision == "day":
            tz_source = "case"   # a day is a day: midnight's daylight-saving trouble is not the item's
        return NameFacts(pattern.source, pattern.screenshot, app, Taken(ts, _time_text(m), precision, tz_source,
                                                                        "file_name"))
    return None


def _time_text(m: re.Match[str]) -> str:
    """The part of the name that holds the date and time, as written."""
    ends = [m.end(g) for g in ("d", "S", "ms", "ampm") if g in m.re.groupindex and m.group(g) is not None]
    return m.string[m.start("Y"):max(ends)]


def _name_time(groups: dict[str, str | None]) -> tuple[datetime, str]:
    day = datetime(int(groups["Y"]), int(groups["m"]), int(groups["d"]))
    if groups.get("H") is None:
        return day, "day"
    hour = int(groups["H"])
    if groups.get("ampm"):
        if not 1 <= hour <= 12:
            raise ValueError(hour)
        hour = hour % 12 + (12 if groups["ampm"].lower() == "pm" else 0)
    ms = groups.get("ms")
    clock = day.replace(hour=hour, minute=int(groups["M"]), second=int(groups["S"]))
    return clock + timedelta(milliseconds=int(ms or 0)), "ms" if ms else "s"


def from_mtime(modified: datetime | None, zone: str) -> Taken | None:
    """The modification time: an instant when aware (a file system's), else local time of the case's
    zone (a zip member's); whole seconds. ``ts_local`` is the ISO local time in the case's zone."""
    if modified is None:
        return None
    modified = modified.replace(microsecond=0)
    if modified.tzinfo is None:
        ts, tz_source = _local(modified, zone)
        return Taken(ts, modified.isoformat(), "s", tz_source, "mtime")
    local = modified.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return Taken((modified - _EPOCH) // timedelta(microseconds=1), local.isoformat(), "s", "source", "mtime")
