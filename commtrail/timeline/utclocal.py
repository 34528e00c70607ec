"""UTC instants -> local wall-clock time of a zone, vectorised with numpy and :mod:`zoneinfo` only.

The outputs turn many UTC times into the case's local time (days, hours, weekdays). The offset
of a zone changes a few times a year, so it is looked up once per distinct UTC hour (at the
hour's first and last microsecond); only the rare hours in which it changes are looked up
instant by instant. No pandas: ``commtrail stats`` stays quick to start.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

US_PER_HOUR = 3_600_000_000
NAT = np.iinfo(np.int64).min  # the int64 that stands for "no time"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def local_datetime(us: int, zone: ZoneInfo) -> datetime:
    """One UTC time in microseconds as an aware datetime in ``zone``."""
    return (_EPOCH + timedelta(microseconds=int(us))).astimezone(zone)


def _offset_us(us: int, zone: ZoneInfo) -> int:
    offset = local_datetime(us, zone).utcoffset()
    return (offset.days * 86_400 + offset.seconds) * 1_000_000 + offset.microseconds


def offsets_us(ts: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """The zone's UTC offset in microseconds at each UTC time of ``ts`` (int64 microseconds;
    NaT entries get 0)."""
    ts = np.asarray(ts, dtype=np.int64)
    out = np.zeros(len(ts), dtype=np.int64)
    dated = ts != NAT
    values = ts[dated]
    if not len(values):
        return out
    hours, inverse = np.unique(np.floor_divide(values, US_PER_HOUR), return_inverse=True)
    first = np.array([_offset_us(h * US_PER_HOUR, zone) for h in hours.tolist()], dtype=np.int64)
    last = np.array([_offset_us(h * US_PER_HOUR + US_PER_HOUR - 1, zone) for h in hours.tolist()], dtype=np.int64)
    found = first[inverse]
    changing = np.flatnonzero((first != last)[inverse])
    for i in changing.tolist():
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
