"""Apple databases: times from the Cocoa epoch, and the SQL and Arrow pieces only the iOS readers
use. Opening a private read-only copy, checking the layout and reading in chunks are in
:mod:`commtrail.parsers._sqlite` (shared with the Android parsers).

Times: Apple stores them from the Cocoa epoch (2001-01-01 UTC), in seconds on old systems and in
nanoseconds on iOS 11 / macOS 10.13 and later, sometimes both in one database. Each value is told
apart on its own: no date in seconds reaches 10^11 (the year 5170), no date in nanoseconds after
2001-01-01 00:01:40 falls below it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

COCOA_EPOCH_US = 978_307_200_000_000
NANOSECONDS_FROM = 10**11


def cocoa_us(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cocoa times (int64 seconds or nanoseconds, told apart per value) as epoch microseconds,
    and a mask of the values that were nanoseconds."""
    nanos = np.abs(values) >= NANOSECONDS_FROM
    us = np.where(nanos, values // 1000, values * 1_000_000) + COCOA_EPOCH_US
    return us, nanos


# A Cocoa time (seconds or nanoseconds, per value) as ISO 8601 UTC, in SQL.
_ISO_SQL = ("strftime('%Y-%m-%dT%H:%M:%fZ', CASE WHEN abs({0}) >= {1} THEN {0} / 1e9 ELSE {0} END + 978307200, "
            "'unixepoch')")


def date_field(key: str, column: str) -> str:
    """SQL for ``,"key":"<ISO time>"`` of a Cocoa time column, or NULL when it is 0 or NULL."""
    return f"""CASE WHEN {column} <> 0 THEN ',"{key}":"' || {_ISO_SQL.format(column, NANOSECONDS_FROM)} || '"' END"""


def fragments_sql(fields: list[str]) -> str:
    """SQL for the fragments (``,"key":value...``) of the fields that are not NULL, or NULL for none."""
    return "NULLIF(" + " || ".join(f"coalesce({f}, '')" for f in fields) + ", '')"


def flag_column(n: int, names: tuple[str, ...], masks: dict[str, np.ndarray]) -> pa.Array:
    """The ``flags`` column of ``n`` records: for each, the names (in ``names`` order) whose mask is set."""
    bits = np.zeros(n, dtype=np.int64)
    for i, name in enumerate(names):
        bits |= masks[name].astype(np.int64) << i
    if not bits.any():
        return pa.nulls(n, pa.list_(pa.string()))
    combos, inverse = np.unique(bits, return_inverse=True)
    lists = [[name for i, name in enumerate(names) if c >> i & 1] or None for c in combos.tolist()]
    return pa.array(lists, pa.list_(pa.string())).take(pa.array(inverse.ravel().astype(np.int32)))
