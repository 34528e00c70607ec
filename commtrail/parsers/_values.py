"""Values of any SQLite storage class read by one rule (a column of SQLite holds whatever was written
into it: an INTEGER, a REAL, a TEXT, a BLOB or NULL, whatever its declared type).

- A **number** is an INTEGER or a REAL, or a TEXT that SQLite itself would store as a number in a
  column of numeric affinity: decimal digits with an optional sign, decimal point and exponent,
  spaces around (``'12'``, ``' -1.5e3 '``; not ``'0x10'``, ``'1_000'``, ``'inf'``). A BLOB is
  never a number.
- A **whole number** (what a code, a count, a flag or a time in whole units must be) is a number
  with no fraction that an int64 holds.
- A **text** is a TEXT as it is, an INTEGER or REAL as written in digits, a BLOB read as UTF-8
  (bytes that are not UTF-8 as U+FFFD, counted by the caller's :class:`~._sqlite.LenientText`).
- A value that is no usable number where one is needed is left out of the record and kept as
  written (:func:`json_value`) in its ``extra``, counted in one warning per column and source.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

# What SQLite reads as a number in a TEXT (sqlite3AtoF): spaces, a sign, digits, a point, an exponent.
_NUMERIC_TEXT = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*\Z")
_INT64 = 1 << 63


def number(value: object) -> int | float | None:
    """The number an SQLite value is, or None (NULL, a BLOB, a text that is no number)."""
    if type(value) is int or type(value) is float:
        return value if type(value) is int or math.isfinite(value) else None
    if isinstance(value, str) and _NUMERIC_TEXT.match(value):
        written = value.strip()
        try:
            return int(written)
        except ValueError:
            found = float(written)
            return found if math.isfinite(found) else None
    return None


def whole(value: object) -> int | None:
    """The whole number an SQLite value is (int64), or None."""
    found = number(value)
    if type(found) is float:
        found = int(found) if found.is_integer() else None
    return found if found is not None and -_INT64 <= found < _INT64 else None


_TYPED = {"q": (np.int64, pa.int64()), "d": (np.float64, pa.float64())}


def arrow(values: Sequence[object], kind: pa.DataType | None = None) -> pa.Array:
    """``pa.array(values, kind)`` (Arrow infers the type when ``kind`` is None). A typed column
    (:func:`commtrail.sqlitefeed.typed`: an ``array`` of int64 or of doubles) of the type asked for,
    or with none asked for, is taken as it is, without a Python object per value, and a column of
    NULLs only (a column an older layout lacks) is made at once; any other is converted value by
    value, by the same rules as before."""
    if type(values) is array and values.typecode in _TYPED:
        dtype, typed_as = _TYPED[values.typecode]
        if kind is None or kind == typed_as:
            return pa.array(np.frombuffer(values, dtype))
    elif type(values) is tuple and values and values[0] is None and values.count(None) == len(values):
        return pa.nulls(len(values), kind)
    return pa.array(values, kind)


def wholes(values: Sequence[object]) -> tuple[pa.Array, np.ndarray]:
    """The values as an int64 column (:func:`whole`; null where there is none) and a mask of those that
    are no whole number though not NULL. A column of Python ints (the usual) is converted by Arrow in
    one step; only a chunk Arrow refuses as a column of integers is read value by value."""
    try:
        read = arrow(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        read = None
    if read is not None and (pa.types.is_int64(read.type) or pa.types.is_null(read.type)):
        return read.cast(pa.int64()), np.zeros(len(values), dtype=bool)
    found = [whole(v) for v in values]
    return pa.array(found, pa.int64()), np.array([f is None and v is not None for f, v in zip(found, values)],
                                                 dtype=bool)


def as_text(value: object, lenient: Callable[[bytes], str]) -> str | None:
    """The text of an SQLite value (see the module's rule); NULL is None."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, bytes):
        return lenient(value)
    return str(value)


def json_value(value: object) -> object:
    """A value as ``extra`` keeps it, as SQLite's JSON writes a column (:func:`._sqlite.columns_json`):
    a BLOB as its hex digits, a REAL that JSON cannot hold as its text, anything else as it is."""
    if isinstance(value, bytes):
        return value.hex().upper()
    if type(value) is float and not math.isfinite(value):
        return str(value)
    return value


def json_fragment(key: str, value: object) -> str:
    """``,"key":value`` for splicing into an ``extra`` JSON text (:func:`._sqlite.splice_json`)."""
    return "," + json.dumps(key) + ":" + json.dumps(json_value(value), ensure_ascii=False)


def written(value: object) -> str:
    """A value as a rejected row writes it out: a text in quotes, a BLOB that is not UTF-8 as an SQL
    blob literal (``x'00FF'``), anything else as Python writes it."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return f"x'{value.hex().upper()}'"
    return repr(value)
