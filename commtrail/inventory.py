"""The case's source inventory, ``sources.parquet``: one row per ingested input."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from commtrail.atomic import write_table

SOURCES_SCHEMA = pa.schema([
    pa.field("sha256", pa.string()),
    pa.field("path", pa.string()),
    # where the bytes came from on disk: "resolved path|size|mtime_ns", with "!member" for archive
    # members; an input with the same key is skipped without being read again
    pa.field("disk_key", pa.string()),
    pa.field("size", pa.int64()),
    pa.field("format", pa.string()),
    pa.field("parser", pa.string()),
    pa.field("records", pa.int64()),
    pa.field("rejects", pa.int64()),
    pa.field("repairs", pa.int64()),
    pa.field("declared_count", pa.int64()),
    pa.field("warnings", pa.list_(pa.string())),
    pa.field("container", pa.string()),
    pa.field("copied", pa.bool_()),
    pa.field("ingested_at", pa.timestamp("s", tz="UTC")),
])


def read_inventory(path: Path) -> list[dict]:
    """The inventory rows, oldest first (empty when nothing was ingested yet)."""
    if not path.exists():
        return []
    return pq.read_table(path, schema=SOURCES_SCHEMA).to_pylist()


def write_inventory(path: Path, rows: list[dict]) -> None:
    """Rewrite the inventory atomically."""
    table = pa.Table.from_pylist(rows, schema=SOURCES_SCHEMA)
    write_table(table, path)
