"""The one record schema, used by staging, rejects and the master alike (see DESIGN.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

DICT = pa.dictionary(pa.int32(), pa.string())
TS_UTC = pa.timestamp("us", tz="UTC")

ATTACHMENT = pa.struct([
    ("name", pa.string()),
    ("mime", pa.string()),
    ("size", pa.int64()),
    ("sha256", pa.string()),
])

OCCURRENCE = pa.struct([
    ("source_sha256", pa.string()),
    ("source_path", pa.string()),
    ("locator", pa.string()),
])

RECORD_FIELDS: list[pa.Field] = [
    pa.field("event_id", pa.string()),
    pa.field("ts_utc", TS_UTC),
    pa.field("ts_local", pa.string()),
    pa.field("ts_precision", DICT),
    pa.field("tz_source", DICT),
    pa.field("channel", DICT),
    pa.field("kind", DICT),
    pa.field("direction", DICT),
    pa.field("sender", pa.string()),
    pa.field("sender_raw", pa.string()),
    pa.field("recipients", pa.list_(pa.string())),
    pa.field("party", pa.string()),
    pa.field("conversation", pa.string()),
    pa.field("subject", pa.string()),
    pa.field("body", pa.string()),
    pa.field("duration_s", pa.int32()),
    pa.field("attachments", pa.list_(ATTACHMENT)),
    pa.field("flags", pa.list_(pa.string())),
    pa.field("source_sha256", pa.string()),
    pa.field("source_path", pa.string()),
    pa.field("locator", pa.string()),
    pa.field("parser", pa.string()),
    pa.field("extra", pa.string()),
]

RECORD_SCHEMA = pa.schema(RECORD_FIELDS)

MASTER_SCHEMA = pa.schema(RECORD_FIELDS + [
    pa.field("occurrences", pa.list_(OCCURRENCE)),
    pa.field("dup_method", DICT),
    pa.field("exhibit", pa.string()),
])

REJECT_SCHEMA = pa.schema([
    pa.field("source_sha256", pa.string()),
    pa.field("source_path", pa.string()),
    pa.field("locator", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("raw", pa.string()),
    pa.field("parser", pa.string()),
])

# Allowed values of the dictionary columns (the fuzz harness checks every parser keeps to them).
TS_PRECISIONS = ("ms", "s", "min", "day")
TZ_SOURCES = ("source", "case", "flag_ambiguous", "flag_nonexistent")
DIRECTIONS = ("incoming", "outgoing", "unknown")


def _column(field: pa.Field, values: Any, length: int) -> pa.Array:
    if values is None:
        return pa.nulls(length, type=field.type)
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if arr.type != field.type:
            arr = arr.cast(field.type)
        return arr
    if pa.types.is_dictionary(field.type):
        return pa.array(values, type=pa.string()).dictionary_encode().cast(field.type)
    return pa.array(values, type=field.type)


def make_batch(columns: Mapping[str, Any], schema: pa.Schema = RECORD_SCHEMA) -> pa.RecordBatch:
    """Build a batch of ``schema`` from a mapping of column name -> values.

    Values may be Python sequences, numpy arrays or pyarrow arrays; columns not given are null.
    ``ts_utc`` accepts datetimes, pandas timestamps or int64 microseconds since the epoch.
    Unknown column names are refused, so a typo cannot silently drop a field.
    """
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise KeyError(f"not in the schema: {sorted(unknown)}")
    lengths = {len(v) for v in columns.values() if v is not None}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {lengths}")
    length = lengths.pop() if lengths else 0
    arrays = []
    for field in schema:
        values = columns.get(field.name)
        if field.name == "ts_utc" and values is not None and not isinstance(values, (pa.Array, pa.ChunkedArray)):
            values = _ts_array(values)
        arrays.append(_column(field, values, length))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A parser's batch with exactly RECORD_SCHEMA (its columns cast when a type differs)."""
    if batch.schema == RECORD_SCHEMA:
        return batch
    return pa.RecordBatch.from_arrays([batch.column(i).cast(f.type) for i, f in enumerate(RECORD_SCHEMA)],
                                      schema=RECORD_SCHEMA)


def _ts_array(values: Any) -> pa.Array:
    try:
        import numpy as np
        if isinstance(values, np.ndarray) and values.dtype.kind == "i":
            return pa.array(values, type=pa.int64()).cast(TS_UTC)
    except ImportError:  # pragma: no cover
        pass
    seq = list(values) if not hasattr(values, "dtype") else values
    if len(seq) and isinstance(next(iter(seq)), int):
        return pa.array(seq, type=pa.int64()).cast(TS_UTC)
    return pa.array(seq, type=TS_UTC)


# The key in ``extra`` of the conversation's identity where the parser tells it from the content
# (WhatsApp: see parsers/whatsapp/chat.py); dedup keys the records of a chat by it.
EXTRA_CHAT = "chat"
# The key in ``extra`` of the phone a backup was made of (iPhone: its UDID); dedup compares only
# backups of one phone for possibly deleted records.
EXTRA_DEVICE = "device"


def dumps_extra(fields: Mapping[str, Any] | None) -> str | None:
    """Serialise source fields that have no column, deterministically (sorted keys)."""
    if not fields:
        return None
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def rows_to_batch(rows: Sequence[Mapping[str, Any]], schema: pa.Schema = RECORD_SCHEMA) -> pa.RecordBatch:
    """Build a batch from row dicts (convenient for parsers whose sources are row-shaped)."""
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return make_batch(columns, schema)
