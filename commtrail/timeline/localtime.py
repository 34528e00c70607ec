"""Local wall-clock time -> UTC, vectorised, with daylight-saving trouble flagged, not guessed.

Sources such as WhatsApp text exports write the local time of the phone with no zone. The case's
zone applies. Two kinds of local time do not name exactly one instant:

- a *repeated* time (the clock goes back: 01:30 happens twice in Europe/London on the last Sunday
  of October): the earlier instant is taken and the row is flagged ``flag_ambiguous``;
- a *skipped* time (the clock goes forward: 01:30 never happens on the last Sunday of March): it is
  read with the offset in force before the change and flagged ``flag_nonexistent``.

Every other row gets ``case``. The bulk conversion runs in pandas; the few flagged rows are worked
out once per distinct value with :mod:`zoneinfo` (PEP 495 ``fold=0`` gives exactly the two rules
above).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

# Codes returned by to_utc, as indexes into this tuple (the labels of the tz_source column).
TZ_SOURCE_LABELS = ("case", "flag_ambiguous", "flag_nonexistent")
CASE, AMBIGUOUS, NONEXISTENT = 0, 1, 2

_NAT = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1)


def to_utc(naive, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert naive local times in zone ``tz`` to UTC.

    ``naive``: numpy ``datetime64`` (any unit), int64 microseconds since 1970-01-01 *local*, or a
    pandas Series/DatetimeIndex of naive timestamps. NaT stays NaT.

    Returns ``(utc, codes)``: ``utc`` is int64 microseconds since the epoch (NaT as the int64
    minimum), ``codes`` is int8 indexing :data:`TZ_SOURCE_LABELS`.
    """
    local_us = _as_local_us(naive)
    n = len(local_us)
    codes = np.zeros(n, dtype=np.int8)
    if n == 0:
        return local_us.copy(), codes
    index = pd.DatetimeIndex(local_us.view("M8[us]"))
    localized = index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    utc = np.asarray(localized.asi8, dtype=np.int64).copy()
    if localized.unit != "us":  # pandas keeps the input unit; be explicit in case it does not
        utc = np.asarray(localized.as_unit("us").asi8, dtype=np.int64).copy()
    trouble = (utc == _NAT) & (local_us != _NAT)
    if trouble.any():
        zone = ZoneInfo(tz)
        rows = np.flatnonzero(trouble)
        values, inverse = np.unique(local_us[rows], return_inverse=True)
        fixed = np.empty(len(values), dtype=np.int64)
        kind = np.empty(len(values), dtype=np.int8)
        for i, value in enumerate(values.tolist()):
            fixed[i], kind[i] = _one(value, zone)
        utc[rows] = fixed[inverse]
        codes[rows] = kind[inverse]
    return utc, codes


def to_utc_labels(naive, tz: str) -> tuple[np.ndarray, list[str]]:
    """Like :func:`to_utc`, with the tz_source labels as a list of strings."""
    utc, codes = to_utc(naive, tz)
    return utc, [TZ_SOURCE_LABELS[c] for c in codes.tolist()]


def _as_local_us(naive) -> np.ndarray:
    if isinstance(naive, (pd.Series, pd.Index)):
        values = naive.to_numpy()
    else:
        values = np.asarray(naive)
    if values.dtype.kind == "M":
        return values.astype("M8[us]").view(np.int64)
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    if values.dtype == object:  # datetimes
        return pd.DatetimeIndex(values).as_unit("us").asi8.astype(np.int64)
    raise TypeError(f"cannot read local times from {values.dtype}")


def _one(local_us: int, zone: ZoneInfo) -> tuple[int, int]:
    """UTC microseconds and code of one local time that pandas found repeated or skipped."""
    wall = _EPOCH + timedelta(microseconds=local_us)
    first = wall.replace(tzinfo=zone, fold=0)          # earlier instant / offset before the change
    instant = first.astimezone(timezone.utc)
    back = instant.astimezone(zone).replace(tzinfo=None)
    code = AMBIGUOUS if back == wall else NONEXISTENT
    delta = instant.replace(tzinfo=None) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, code
