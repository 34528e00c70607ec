"""Local wall-clock time -> UTC, vectorised, with daylight-saving trouble flagged, not guessed.

Sources such as WhatsApp text exports write the local time of the phone with no zone. The case's
zone applies. Two kinds of local time do not name exactly one instant:

- a *repeated* time (the clock goes back: 01:30 happens twice in Europe/London on the last Sunday
  of October): the earlier instant is taken and the row is flagged ``flag_ambiguous``;
- a *skipped* time (the clock goes forward: 01:30 never happens on the last Sunday of March): it is
  read with the offset in force before the change and flagged ``flag_nonexistent``.

Every other row gets ``case``. PEP 495's ``fold=0`` of :mod:`zoneinfo` gives exactly these two
rules. With numpy and zoneinfo only (no pandas, which the ingest would otherwise import for this
alone): the offset is looked up once per distinct local day; a day whose first and last microsecond
read the same offset (see ``_day_offsets``) has that offset throughout, and the times of the few
days in which it changes are worked out one by one.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from commtrail.timeline.utclocal import CHANGES, NAT, US_PER_DAY, distinct, timedelta_us

# Codes returned by to_utc, as indexes into this tuple (the labels of the tz_source column).
TZ_SOURCE_LABELS = ("case", "flag_ambiguous", "flag_nonexistent")
CASE, AMBIGUOUS, NONEXISTENT = 0, 1, 2

_EPOCH = datetime(1970, 1, 1)


def to_utc(naive, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert naive local times in zone ``tz`` to UTC.

    ``naive``: numpy ``datetime64`` (any unit), int64 microseconds since 1970-01-01 *local*, or
    anything numpy reads as one of those (naive datetimes, a pandas Series). NaT stays NaT.

    Returns ``(utc, codes)``: ``utc`` is int64 microseconds since the epoch (NaT as the int64
    minimum), ``codes`` is int8 indexing :data:`TZ_SOURCE_LABELS`.
    """
    local_us = _as_local_us(naive)
    utc = local_us.copy()
    codes = np.zeros(len(local_us), dtype=np.int8)
    dated = np.flatnonzero(local_us != NAT)
    if not len(dated):
        return utc, codes
    zone = ZoneInfo(tz)
    values = local_us[dated]
    days, inverse = distinct(np.floor_divide(values, US_PER_DAY))
    offset = _day_offsets(days, zone)[inverse]
    utc[dated] = values - offset
    for i in np.flatnonzero(offset == CHANGES).tolist():
        utc[dated[i]], codes[dated[i]] = _one(int(values[i]), zone)
    return utc, codes


def to_utc_labels(naive, tz: str) -> tuple[np.ndarray, list[str]]:
    """Like :func:`to_utc`, with the tz_source labels as a list of strings."""
    utc, codes = to_utc(naive, tz)
    return utc, [TZ_SOURCE_LABELS[c] for c in codes.tolist()]


def _as_local_us(naive) -> np.ndarray:
    values = np.asarray(naive)
    if values.dtype == object:  # datetimes
        values = values.astype("M8[us]")
    if values.dtype.kind == "M":
        return values.astype("M8[us]").view(np.int64)
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    raise TypeError(f"cannot read local times from {values.dtype}")


def _wall(local_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=local_us)


def _day_offsets(days: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """Per local day (days since 1970-01-01), its offset in microseconds when it has one throughout,
    else CHANGES. A change inside the day, or at either end (a first time repeated or skipped, a
    last one likewise), shows as its first microsecond read with the earlier offset (fold=0)
    differing from its last read with the later one (fold=1). numpy makes the (naive) datetimes."""
    firsts = (days * US_PER_DAY).view("M8[us]").astype(object).tolist()
    lasts = ((days + 1) * US_PER_DAY - 1).view("M8[us]").astype(object).tolist()
    ends = [(zone.utcoffset(first), zone.utcoffset(last.replace(fold=1))) for first, last in zip(firsts, lasts)]
    return np.array([timedelta_us(a) if a == b else CHANGES for a, b in ends], dtype=np.int64)


def _one(local_us: int, zone: ZoneInfo) -> tuple[int, int]:
    """UTC microseconds and code of one local time (fold=0: the earlier instant of a repeated
    time, the offset before the change for a skipped one)."""
    wall = _wall(local_us)
    first = wall.replace(tzinfo=zone, fold=0)
    if first.utcoffset() == wall.replace(tzinfo=zone, fold=1).utcoffset():
        code = CASE
    else:
        back = first.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
        code = AMBIGUOUS if back == wall else NONEXISTENT
    return local_us - timedelta_us(first.utcoffset()), code
