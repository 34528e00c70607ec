"""Columns of records built with Arrow, not row by row in Python: above all ``extra``.

Each field is a *fragment* column: ``,"key":<JSON value>`` for the rows that have it, null for the
others. :func:`objects` joins the fragments of a batch into one JSON object per row (null for a
row with none). Texts are escaped as JSON (only the rare values that need it go through
:func:`json.dumps`); Cocoa dates are written as ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers._arrowtext import wrap
from commtrail.parsers.ios.database import Column, Times, cocoa_us

_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
FEW, PROBE = 8, 256   # a column with at most one distinct value in FEW of its first PROBE rows: fragments made per value


def text(key: str, values: pa.Array) -> pa.Array:
    """Fragments of a text column (null and absent alike: no fragment)."""
    values = values.cast(pa.string())
    if _may_need_escape(values):
        needs = pc.fill_null(pc.match_substring_regex(values, _NEEDS_ESCAPE), False)
        rows = np.flatnonzero(needs.to_numpy(zero_copy_only=False))
        if len(rows):
            escaped = [json.dumps(v, ensure_ascii=False)[1:-1] for v in values.take(pa.array(rows)).to_pylist()]
            values = pc.replace_with_mask(values, needs, pa.array(escaped, pa.string()))
    return wrap(f',"{key}":"', values, '"')


def _may_need_escape(values: pa.Array) -> bool:
    """Whether any byte of the column's text data is a quote, a backslash or a control character
    (a quick look at the whole buffer; only then is each value matched)."""
    data = values.buffers()[2]
    if data is None:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool(((raw < 0x20) | (raw == 0x22) | (raw == 0x5C)).any())


def number(key: str, values: pa.Array, skip_zero: bool = True) -> pa.Array:
    """Fragments of an integer column (0 left out unless ``skip_zero`` is False)."""
    values = values.cast(pa.int64())
    if skip_zero:
        values = pc.if_else(pc.equal(values, 0), pa.scalar(None, pa.int64()), values)
    return wrap(f',"{key}":', values.cast(pa.string()))


def cocoa_date(key: str, values: pa.Array) -> pa.Array:
    """Fragments of a Cocoa time column (seconds or nanoseconds per value; 0 and null left out)."""
    raw = pc.fill_null(values.cast(pa.int64()), 0).to_numpy()
    us, _ = cocoa_us(raw)
    return iso_date(key, us, raw == 0)


def iso_date(key: str, us: np.ndarray, none: np.ndarray) -> pa.Array:
    """Fragments of epoch microseconds as ISO 8601 UTC to the millisecond (left out where ``none`` is set)."""
    stamps = pa.array(us // 1000, pa.int64(), mask=none).cast(pa.timestamp("ms"))
    iso = pc.binary_replace_slice(stamps.cast(pa.string()), start=10, stop=11, replacement="T")
    return wrap(f',"{key}":"', iso, 'Z"')


def times(key: str, values: Sequence[object], read: Times) -> list[pa.Array]:
    """Fragments of a column of Cocoa times read by :func:`~.database.cocoa_times`: ``key`` for
    each time, ``key_raw`` for a value that is no time (kept as it is)."""
    out = [iso_date(key, read.us, read.none | read.bad)]
    if read.bad.any():
        out.append(value(f"{key}_raw", [v if bad else None for v, bad in zip(values, read.bad.tolist())]))
    return out


def constant(fragment: str, n: int) -> pa.Array:
    """The same fragment (``,"key":value``, or "" for none) on ``n`` rows."""
    return pa.array([fragment or None], pa.string()).take(pa.array(np.zeros(n, dtype=np.int32)))


def objects(fragments: list[pa.Array]) -> pa.Array:
    """One JSON object text per row from its fragments; null for a row with no fragment."""
    present = [f for f in fragments if f.null_count < len(f)]   # a column of nulls adds nothing
    if not present:
        return pa.nulls(len(fragments[0]), pa.string())
    joined = pc.binary_join_element_wise(*present, "", null_handling="replace", null_replacement="")
    braced = wrap("", pc.binary_replace_slice(joined, start=0, stop=1, replacement="{"), "}")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), braced)


def inner(texts: pa.Array) -> pa.Array:
    """JSON object texts (or nulls) as fragments: their fields, null for an empty object."""
    fields = pc.utf8_slice_codeunits(texts, 1, -1)
    return pc.if_else(pc.equal(fields, ""), pa.scalar(None, pa.string()), wrap(",", fields))


def extended(texts: pa.Array, fragment: str) -> pa.Array:
    """JSON object texts (or nulls) with one more fragment each."""
    return objects([inner(texts), constant(fragment, len(texts))])


def labels(codes: np.ndarray, names: tuple[str, ...], null: np.ndarray | None = None) -> pa.Array:
    """``names[code]`` per row (null where ``null`` is set)."""
    return pa.array(names, pa.string()).take(pa.array(codes.astype(np.int8), mask=null))


def categories(codes: np.ndarray, names: tuple[str, ...], null: np.ndarray | None = None) -> pa.Array:
    """``names[code]`` per row (null where ``null`` is set) as the record schema's dictionary column:
    the same array as :func:`labels` cast to it (its dictionary holds the names used, in the order
    they first appear), built without looking at the texts."""
    codes = np.asarray(codes).astype(np.int32)
    shown = codes if null is None else codes[~null]
    used = sorted((int(np.argmax(shown == k)), k) for k in range(len(names)) if (shown == k).any())
    number = np.zeros(len(names), dtype=np.int32)
    number[[k for _, k in used]] = np.arange(len(used), dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(number[codes], pa.int32(), mask=null),
                                          pa.array([names[k] for _, k in used], pa.string()))


def value(key: str, values: Sequence[object] | Column) -> pa.Array:
    """Fragments of a column of SQLite values as they come: integers and reals as JSON numbers,
    texts as JSON strings, a blob as its hex digits (upper case, as SQLite's ``hex``); NULL and
    the empty text left out. A column of one type is converted at once, a mixed one value by value;
    a column of integers or texts with few distinct values makes the fragment of each value once."""
    column = values if isinstance(values, Column) else Column(values)
    array = column.array
    if array is not None and pa.types.is_null(array.type):
        return pa.nulls(len(column.values), pa.string())
    if array is not None and (pa.types.is_integer(array.type) or pa.types.is_string(array.type)) \
            and len(pc.unique(array.slice(0, PROBE))) * FEW <= min(len(array), PROBE):   # (its first rows tell)
        encoded = pc.dictionary_encode(array)
        return _typed(key, encoded.dictionary).take(encoded.indices)
    finite = array is not None and pa.types.is_floating(array.type) and pc.all(pc.is_finite(array)).as_py() is not False
    if array is not None and (pa.types.is_integer(array.type) or pa.types.is_string(array.type) or finite):
        return _typed(key, array)
    reals = iter(_reals_json([v for v in column.values if type(v) is float]))
    return pa.array([None if v is None or v == "" else f',"{key}":' + next(reals) if type(v) is float else
                     f',"{key}":' + json.dumps(v.hex().upper() if isinstance(v, bytes) else v, ensure_ascii=False)
                     for v in column.values], pa.string())


def _reals_json(values: list[float]) -> list[str]:
    """Reals as JSON, written as a column of reals is (Arrow's shortest form: 120.0 as ``120``); one
    that is not finite (SQLite holds infinities), which JSON cannot hold as a number, as a text."""
    written = pa.array(values, pa.float64()).cast(pa.string()).to_pylist()
    return [w if math.isfinite(v) else json.dumps(w) for v, w in zip(values, written)]


def _typed(key: str, array: pa.Array) -> pa.Array:
    """Fragments of an array of integers, reals or texts (the empty text left out)."""
    if pa.types.is_integer(array.type):
        return number(key, array, skip_zero=False)
    if pa.types.is_floating(array.type):
        return wrap(f',"{key}":', array.cast(pa.string()))
    return text(key, pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array))
