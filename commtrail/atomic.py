"""Writes that never leave a half-written file: write beside, fsync, rename, fsync the folder.

After a power cut a file written this way is either the old one or the new one, whole."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import pyarrow as pa

# Dictionary encoding only for the columns that repeat (unique ones such as body and locator gain
# nothing from it and cost time). Minimum/maximum statistics only for the columns a reader may
# filter on: the writer holds every row group's statistics until the file is closed, and those of
# the long texts (body, extra, locator) cost about 23 MB of memory per 1,000 row groups where
# these cost under 2 MB.
PARQUET_OPTIONS = {"compression": "zstd",
                   "write_statistics": ["ts_utc", "ts_local", "ts_precision", "tz_source", "channel", "kind",
                                        "direction", "party", "duration_s", "source_sha256", "parser",
                                        "dup_method", "exhibit"],
                   "use_dictionary": ["ts_precision", "tz_source", "channel", "kind", "direction", "sender",
                                      "sender_raw", "conversation", "source_sha256", "source_path", "parser",
                                      "flags", "dup_method", "party", "format",
                                      "occurrences.list.element.source_sha256",
                                      "occurrences.list.element.source_path"]}


def fsync_dir(path: Path) -> None:
    """Make the names of a folder durable (a rename into it survives a power cut)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: Path, mode: int = 0o600) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(table: pa.Table, target: Path, mode: int = 0o600, row_group_size: int | None = None) -> None:
    """Write a Parquet file atomically (``row_group_size``: rows per row group, pyarrow's default when None)."""
    import pyarrow.parquet as pq    # here, so the chart worker's atomic writes do not load pyarrow

    with atomic_path(target, mode) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size, **PARQUET_OPTIONS)


def write_text(text: str, target: Path, mode: int = 0o600) -> None:
    """Write a text file atomically."""
    with atomic_path(target, mode) as tmp:
        tmp.write_text(text, encoding="utf-8")
