"""UTC instants -> local wall-clock time of a zone, vectorised with numpy and :mod:`zoneinfo` only.

The outputs and the epoch-time parsers turn many UTC times into the case's local time. A zone's
offset changes a few times a year, so it is looked up once per distinct UTC day (at the day's
first and last microsecond; remembered per zone and day for the process): a day whose two ends
agree (offset, DST and zone name alike) has one offset throughout, and the instants of the few
days in which it changes are looked up one by one. No pandas: ``commtrail stats`` stays quick to
start and the ingest does not need it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_PER_DAY = 86_400_000_000
NAT = np.iinfo(np.int64).min  # the int64 that stands for "no time"
CHANGES = np.iinfo(np.int64).max  # a day in which the offset changes
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DAYS: dict[tuple[str, int], int] = {}  # (zone, UTC day) -> its offset, or CHANGES


def local_datetime(us: int, zone: ZoneInfo) -> datetime:
    """One UTC time in microseconds as an aware datetime in ``zone``."""
    return (_EPOCH + timedelta(microseconds=int(us))).astimezone(zone)


def _offset_us(us: int, zone: ZoneInfo) -> int:
    return timedelta_us(local_datetime(us, zone).utcoffset())


def timedelta_us(offset: timedelta) -> int:
    """A timedelta (a UTC offset) in whole microseconds."""
    return (offset.days * 86_400 + offset.seconds) * 1_000_000 + offset.microseconds


def _day_offset(day: int, zone: ZoneInfo) -> int:
    key = (str(zone), day)
    found = _DAYS.get(key)
    if found is None:
        first, last = local_datetime(day * US_PER_DAY, zone), local_datetime((day + 1) * US_PER_DAY - 1, zone)
        same = (first.utcoffset(), first.dst(), first.tzname()) == (last.utcoffset(), last.dst(), last.tzname())
        found = _DAYS[key] = timedelta_us(first.utcoffset()) if same else CHANGES
    return found


def distinct(day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``day`` (int64, not empty; sorted) and, per entry, the index of its
    value among them."""
    low = int(day.min())
    span = int(day.max()) - low + 1
    if span <= 4 * len(day) + 1024:  # a counting pass instead of a sort
        index = day - low
        days = np.flatnonzero(np.bincount(index, minlength=span))
        position = np.zeros(span, dtype=np.int64)
        position[days] = np.arange(len(days))
        return days + low, position[index]
    days, inverse = np.unique(day, return_inverse=True)
    return days, inverse.ravel()


def offsets_us(ts: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """The zone's UTC offset in microseconds at each UTC time of ``ts`` (int64 microseconds;
    NaT entries get 0)."""
    ts = np.asarray(ts, dtype=np.int64)
    out = np.zeros(len(ts), dtype=np.int64)
    dated = ts != NAT
    values = ts[dated]
    if not len(values):
        return out
    days, inverse = distinct(np.floor_divide(values, US_PER_DAY))
    found = np.array([_day_offset(d, zone) for d in days.tolist()], dtype=np.int64)[inverse]
    for i in np.flatnonzero(found == CHANGES).tolist():
        found[i] = _offset_us(values[i], zone)
    out[dated] = found
    return out


def to_local_us(ts: np.ndarray, zone: ZoneInfo | str) -> np.ndarray:
    """UTC microseconds -> local wall-clock microseconds in ``zone`` (NaT stays NaT)."""
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    ts = np.asarray(ts, dtype=np.int64)
    local = ts + offsets_us(ts, zone)
    local[ts == NAT] = NAT
    return local


def local_iso(utc_us: object, zone: ZoneInfo | str, unit: str) -> pa.Array:
    """ISO local wall-clock times in ``zone`` (``2024-03-01T18:30:05.123`` for ``unit`` ``ms``) of
    UTC times in microseconds (a numpy or Arrow array without nulls), cut to ``unit``: the
    ``ts_local`` of sources that hold epoch times. Arrow writes the naive local times
    (``2024-03-01 18:30:05.123``) and the space becomes ``T``."""
    local = to_local_us(np.asarray(utc_us, dtype=np.int64), zone)
    naive = pa.array(local.view("datetime64[us]").astype(f"datetime64[{unit}]"))
    return pc.binary_replace_slice(pc.cast(naive, pa.string()), start=10, stop=11, replacement="T")
