"""What the Android database readers share: turning rows of an SMS Backup & Restore shape into record
batches, and refusing rows whose time is not believable.

``mmssms.db`` and ``calllog.db`` hold what the SMS Backup & Restore app writes into its XML (it
reads the same tables), so the columns of a record come from the same code
(:class:`commtrail.parsers.smsbr.rows.Rows`): the same message or call read from the database and
from that app's backup gets the same sender, recipients, direction, kind and text, and is one event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers._arrowtext import wrap
from commtrail.parsers._sqlite import LenientText, splice_json
from commtrail.parsers._values import arrow, json_fragment, wholes, written
from commtrail.parsers.base import ParseContext, Reject, counted
from commtrail.parsers.smsbr.rows import MAX_MS, MIN_MS, ROW_COLUMNS, repeat_dict, repeat_str
from commtrail.timeline.schema import make_batch
from commtrail.timeline.utclocal import local_iso


def dated(ms: Sequence[object], rows: Sequence[tuple], label: str, table: str,
          raw: Callable[[tuple], str]) -> tuple[np.ndarray, np.ndarray, list[Reject]]:
    """(epoch ms of the rows kept, their indexes, rejects for the others): a time that is missing,
    not a whole number (:func:`commtrail.parsers._values.whole`) or outside 1970-2200 is a reject
    with the row written out."""
    numbers, unusable = wholes(ms)
    values = pc.fill_null(numbers, -1).to_numpy()
    good = (values >= MIN_MS) & (values <= MAX_MS)
    rejects = []
    for i in np.flatnonzero(~good).tolist():
        value = ms[i]
        why = ("date is NULL" if value is None else f"date {written(value)} is not a whole number of milliseconds"
               if unusable[i] else f"date {written(value)} is outside 1970-2200")
        rejects.append(Reject(locator=f"{label} {table} _id {rows[i][0]}", reason=why, raw=raw(rows[i])))
    keep = np.flatnonzero(good)
    return values[keep], keep, rejects


def record_batch(ctx: ParseContext, columns: dict[str, pa.Array], ms: np.ndarray, ids: list[int],
                 label: str, table: str) -> pa.RecordBatch:
    """A batch of records from the columns of :data:`ROW_COLUMNS` (those missing are null), times in
    epoch ms (UTC, exact to the millisecond) and the rows' ``_id`` for the locators."""
    n = len(ms)
    for name, kind in ROW_COLUMNS.items():
        if name != "ts_ms":
            columns.setdefault(name, pa.nulls(n, kind))
    return make_batch({
        "ts_utc": ms * 1000,
        "ts_local": local_iso(ms * 1000, ctx.timezone, "ms"),
        "ts_precision": repeat_dict("ms", n),
        "tz_source": repeat_dict("source", n),
        **{name: columns[name] for name in ROW_COLUMNS if name != "ts_ms"},
        "source_sha256": repeat_str(ctx.source_sha256, n),
        "source_path": repeat_str(ctx.source_path, n),
        "locator": wrap(f"{label} {table} _id ", pc.cast(arrow(ids, pa.int64()), pa.string())),
        "parser": repeat_str(ctx.parser_label, n),
    })


def codes(values: Sequence[object]) -> tuple[pa.Array, np.ndarray]:
    """A code column (``type``, ``presentation``) as the text SMS Backup & Restore writes (digits), and
    a mask of the values that are no whole number (null in the column; see :class:`Unusable`)."""
    numbers, unusable = wholes(values)
    return pc.cast(numbers, pa.string()), unusable


class Unusable:
    """The values of one source that are no usable number where one is needed: each left empty in its
    record, kept as it is in ``extra`` under ``<column>_raw``, and counted in one warning per column."""

    def __init__(self, label: str, table: str) -> None:
        self.label, self.table = label, table
        self.counts: dict[str, int] = {}

    def keep(self, extra: pa.Array, column: str, values: Sequence[object], unusable: np.ndarray) -> pa.Array:
        """``extra`` with the raw value of each unusable row added (the column unchanged when none is)."""
        if not unusable.any():
            return extra
        self.counts[column] = self.counts.get(column, 0) + int(np.count_nonzero(unusable))
        texts = extra.to_pylist()
        for i in np.flatnonzero(unusable).tolist():
            texts[i] = splice_json(texts[i] or "{}", json_fragment(f"{column}_raw", values[i]))
        return pa.array(texts, pa.string())

    def fragment(self, column: str, value: object) -> str:
        """``,"<column>_raw":value`` for one row's ``extra`` (see :func:`.splice_json`), counted."""
        self.counts[column] = self.counts.get(column, 0) + 1
        return json_fragment(f"{column}_raw", value)

    def report(self, ctx: ParseContext, what: dict[str, str]) -> None:
        """One warning per column (``what``: what each column should hold)."""
        for column, count in self.counts.items():
            ctx.report.warn(f"{counted(count, f'row of {self.label} has', f'rows of {self.label} have')} a "
                            f"{self.table}.{column} that is no {what[column]}: it is left empty, the value is kept in "
                            f"extra.{column}_raw")


def utf8(values: Sequence[bytes | None], lenient: LenientText) -> pa.Array:
    """Text read as bytes (``CAST(... AS BLOB)``: no Python string is made per value) as a string
    column; bytes that are not UTF-8 are read as U+FFFD and counted in ``lenient``."""
    binary = pa.array(values, pa.binary())
    try:
        return binary.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([None if v is None else lenient(v) for v in values], pa.string())


def extras(values: Sequence[bytes | None], lenient: LenientText) -> pa.Array:
    """The ``extra`` JSON texts SQLite wrote (:func:`commtrail.parsers._sqlite.object_sql`, read as
    bytes), an empty object as null."""
    array = utf8(values, lenient)
    return pc.if_else(pc.equal(array, "{}"), pa.scalar(None, pa.string()), array)


def row_text(names: tuple[str, ...]) -> Callable[[tuple], str]:
    """A function writing a rejected row as ``name=value`` pairs (:func:`commtrail.parsers._values.written`:
    text read as bytes decoded, bytes that are not UTF-8 as a blob literal)."""
    def text(row: tuple) -> str:
        return " ".join(f"{name}={written(value)}" for name, value in zip(names, row))
    return text
