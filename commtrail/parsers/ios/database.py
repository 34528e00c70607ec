"""Apple databases: times from the Cocoa epoch, and the SQL and Arrow pieces only the iOS readers
use. Opening a private read-only copy, checking the layout and reading in chunks are in
:mod:`commtrail.parsers._sqlite` (shared with the Android parsers).

Times: Apple stores them from the Cocoa epoch (2001-01-01 UTC), in seconds on old systems and in
nanoseconds on iOS 11 / macOS 10.13 and later, sometimes both in one database. Each value is told
apart on its own: no date in seconds reaches 10^11 (the year 5170), no date in nanoseconds after
2001-01-01 00:01:40 falls below it.

Values of the wrong type: SQLite enforces no column type, any column may hold an INTEGER, REAL,
TEXT, BLOB or NULL. The readers convert a chunk's column at once (Arrow) and, only where Arrow
refuses it or finds another type, value by value under these rules (:func:`cocoa_times`,
:func:`texts`, :func:`reals`):

- a number is a value SQLite holds as an INTEGER or a REAL. A TEXT is never a number, even one
  that spells a number (in a column declared INTEGER, REAL or TIMESTAMP SQLite itself stores such
  a text as the number; one left a TEXT was written so on purpose or by another tool), nor a BLOB;
- a time is a number whose Cocoa time falls between 1970 and 2200 (:data:`MIN_US`, :data:`MAX_US`);
- a text is a TEXT; a BLOB in a text column is read as UTF-8 (bytes that are not UTF-8 as U+FFFD,
  counted as repairs, like a TEXT that is not UTF-8); a number there is its decimal digits;
- a value that cannot be read where a number or an id is needed is kept as it is in ``extra``
  under ``<column>_raw`` (a BLOB as its hex digits) and counted in one warning per column
  (:class:`Unreadable`); a message or call whose own time cannot be read is a reject with its row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers._sqlite import LenientText, as_text_sql
from commtrail.parsers._values import arrow, as_text
from commtrail.parsers.base import ParseContext, counted
from commtrail.parsers.smsbr.rows import MAX_MS, MIN_MS

COCOA_EPOCH_US = 978_307_200_000_000
NANOSECONDS_FROM = 10**11
# The times a record can have (those of Android's call log: 1970 to 2200), as epoch microseconds and Cocoa seconds.
MIN_US, MAX_US = MIN_MS * 1000, MAX_MS * 1000
MIN_COCOA_S, MAX_COCOA_S = (MIN_US - COCOA_EPOCH_US) / 1e6, (MAX_US - COCOA_EPOCH_US) / 1e6
# What Arrow and numpy raise for a column they cannot convert.
REFUSED = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError, TypeError)


def cocoa_us(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cocoa times (int64 seconds or nanoseconds, told apart per value) as epoch microseconds,
    and a mask of the values that were nanoseconds."""
    nanos = np.abs(values) >= NANOSECONDS_FROM
    us = np.where(nanos, values // 1000, values * 1_000_000) + COCOA_EPOCH_US
    return us, nanos


@dataclass(frozen=True)
class Times:
    """A column of Cocoa times read: epoch microseconds (0 where there is none), and masks of the
    values precise to the millisecond (nanoseconds, or a REAL with a fraction), of those NULL or 0
    (no time), and of those that are no time (:func:`cocoa_times`)."""

    us: np.ndarray
    precise: np.ndarray
    none: np.ndarray
    bad: np.ndarray

    def take(self, keep: np.ndarray) -> "Times":
        return Times(self.us[keep], self.precise[keep], self.none[keep], self.bad[keep])


def cocoa_times(values: Sequence[object]) -> Times:
    """A column of Cocoa times as SQLite gives them: a column of INTEGERs and NULLs converted at
    once, any other value by value (a REAL is seconds or nanoseconds as an INTEGER is; a TEXT or a
    BLOB is no time). A number outside 1970-2200 is no time either."""
    try:
        array = arrow(values)
    except REFUSED:
        array = None
    if array is None or not (pa.types.is_integer(array.type) or pa.types.is_null(array.type)):
        return _times_one_by_one(values)
    raw = (array if array.null_count == 0 else pc.fill_null(array.cast(pa.int64()), 0)).to_numpy()
    us, nanos = cocoa_us(raw)
    none = raw == 0
    return Times(us, nanos, none, ~none & ((us < MIN_US) | (us > MAX_US)))


def _times_one_by_one(values: Sequence[object]) -> Times:
    n = len(values)
    us, precise = np.zeros(n, np.int64), np.zeros(n, bool)
    none, bad = np.zeros(n, bool), np.zeros(n, bool)
    for i, value in enumerate(values):
        if value is None or (type(value) in (int, float) and value == 0):
            none[i] = True
            continue
        time = _cocoa_time(value)
        if time is None or not MIN_US <= time[0] <= MAX_US:
            bad[i] = True
        else:
            us[i], precise[i] = time
    return Times(us, precise, none, bad)


def _cocoa_time(value: object) -> tuple[int, bool] | None:
    """(epoch microseconds, precise to the millisecond) of one Cocoa time, None for no number."""
    if type(value) is int:
        nanos = abs(value) >= NANOSECONDS_FROM
        return (value // 1000 if nanos else value * 1_000_000) + COCOA_EPOCH_US, nanos
    if type(value) is float and math.isfinite(value):
        nanos = abs(value) >= NANOSECONDS_FROM
        return round(value / 1000 if nanos else value * 1_000_000) + COCOA_EPOCH_US, nanos or not value.is_integer()
    return None


# A Cocoa time (seconds or nanoseconds, per value) in seconds, and as ISO 8601 UTC, in SQL.
_SECONDS_SQL = "CASE WHEN abs({0}) >= {1} THEN {0} / 1e9 ELSE {0} END"
_ISO_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ', {0} + 978307200, 'unixepoch')"


def date_field(key: str, column: str) -> str:
    """SQL for ``,"key":"<ISO time>"`` of a Cocoa time column, or NULL when it is 0 or NULL; a value
    that is no time (no INTEGER or REAL, or outside 1970-2200) as ``,"key_raw":<value>`` (a BLOB as
    its hex digits; :func:`raw_dates` counts them)."""
    seconds = _SECONDS_SQL.format(column, NANOSECONDS_FROM)
    return (f"""CASE WHEN {column} <> 0 THEN CASE WHEN typeof({column}) IN ('integer', 'real') AND {seconds} """
            f"""BETWEEN {MIN_COCOA_S!r} AND {MAX_COCOA_S!r} THEN ',"{key}":"' || {_ISO_SQL.format(seconds)} || '"' """
            f"""ELSE ',"{key}_raw":' || json_quote({as_text_sql(column)}) END END""")


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


# -- values of the wrong type (see the module's docstring) ------------------------------------------
class Column:
    """A column of SQLite values as they came, and as one Arrow array of the type Arrow infers
    (worked out once, on first use): None for a column of mixed types Arrow refuses."""

    def __init__(self, values: Sequence[object]) -> None:
        self.values = values

    @cached_property
    def array(self) -> pa.Array | None:
        try:
            return arrow(self.values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None


def reals(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """SQLite values as float64 (NaN for NULL), and a mask of the values that are no number (a TEXT,
    even one that spells a number, or a BLOB): NaN too."""
    try:
        return arrow(values, pa.float64()).to_numpy(zero_copy_only=False), np.zeros(len(values), bool)
    except REFUSED:   # a text, or an integer a float64 cannot hold exactly
        read = np.array([real(v) for v in values], dtype=np.float64)
        return read, np.isnan(read) & np.array([v is not None for v in values], dtype=bool)


def real(value: object) -> float:
    """One SQLite value as a float: NaN for NULL and for a value that is no number."""
    return float(value) if type(value) in (int, float) else np.nan   # type: ignore[arg-type]


def directions(values: Sequence[object] | Column) -> tuple[np.ndarray, list | None]:
    """A column of yes/no flags (``is_from_me``, ``ZISFROMME``, ``ZORIGINATED``, ``ZANSWERED``) as
    0 (no: NULL or 0), 1 (yes: another number) or 2 (unknown: no number), and the values that are no
    number, None where the value is one (None when every value is one)."""
    column = values if isinstance(values, Column) else Column(values)
    array, values = column.array, column.values
    if array is not None and pa.types.is_null(array.type):
        return np.zeros(len(values), dtype=np.int8), None
    if array is not None and (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
        filled = array if array.null_count == 0 else pc.fill_null(array, 0)
        return (filled.to_numpy(zero_copy_only=False) != 0).astype(np.int8), None
    codes = np.array([int(bool(v)) if v is None or type(v) in (int, float) else 2 for v in values], dtype=np.int8)
    return codes, [v if c == 2 else None for v, c in zip(values, codes.tolist())]


def integers(values: Sequence[object], default: int) -> tuple[np.ndarray, np.ndarray]:
    """A column of codes as int64 (``default`` for NULL and for a value that is no INTEGER), and
    a mask of the values that are no INTEGER (a REAL, a TEXT, a BLOB)."""
    array = Column(values).array
    if array is not None and (pa.types.is_integer(array.type) or pa.types.is_null(array.type)):
        return pc.fill_null(array.cast(pa.int64()), default).to_numpy(), np.zeros(len(values), dtype=bool)
    bad = np.array([v is not None and type(v) is not int for v in values], dtype=bool)
    return np.array([v if type(v) is int else default for v in values], dtype=np.int64), bad


def is_id(value: object) -> bool:
    """Whether a value can be a ROWID: an INTEGER (or a REAL that is one, as SQLite compares them), or NULL."""
    return value is None or type(value) is int or (type(value) is float and value.is_integer())


def texts(values: list, lenient: LenientText) -> pa.Array:
    """A text column as Arrow strings: converted at once when Arrow takes it (TEXTs, NULLs, BLOBs
    of UTF-8), else value by value (:func:`commtrail.parsers._values.as_text`)."""
    try:
        return pa.array(values, pa.string())
    except REFUSED:
        return pa.array([as_text(v, lenient) for v in values], pa.string())


class Unreadable:
    """How many values of each column could not be read (left out, kept raw in ``extra``): one
    warning per column at the end."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + int(n)

    def report(self, ctx: ParseContext, record: str, label: str) -> None:
        """``what`` completes "<n> <record>s in <label> have ..." (``record``: the word for one, "call")."""
        for what, n in self.counts.items():
            ctx.report.warn(f"{counted(n, f'{record} in {label} has', f'{record}s in {label} have')} {what}")


def distinct_rows(columns: Sequence[list]) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct combinations of the columns' values, row by row (as a dict of tuples would tell
    them apart): the index of each combination's first row, in row order, and each row's number
    of combination in that order. None when a column is not all whole numbers or all texts (with
    NULLs): such values are for the caller to combine one by one."""
    codes: np.ndarray | None = None
    for values in columns:
        try:
            array = arrow(values)
        except REFUSED:
            return None
        if not (pa.types.is_integer(array.type) or pa.types.is_string(array.type) or pa.types.is_null(array.type)):
            return None
        encoded = pc.dictionary_encode(array, null_encoding="encode")
        found = encoded.indices.to_numpy().astype(np.int64)
        codes = found if codes is None else np.unique(codes * len(encoded.dictionary) + found, return_inverse=True)[1]
    if codes is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, first, number = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[number]
