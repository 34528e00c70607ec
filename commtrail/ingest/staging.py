"""Staging files: a parser's batches written to Parquet while it goes on parsing.

Encoding and compressing a batch (pyarrow, outside the GIL) runs on a second thread while the
parser reads the next one, so a source is staged in about the time its parse takes. At most two
batches wait in between, so memory stays flat; an error of the writer (a full disk) is raised in
the caller's thread at the next write or at the end.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from commtrail.atomic import PARQUET_OPTIONS
from commtrail.parsers.base import Reject
from commtrail.timeline.schema import RECORD_SCHEMA, conform

QUEUED_BATCHES = 2


class BackgroundWriter:
    """A Parquet writer fed from the calling thread and writing on its own."""

    def __init__(self, path: Path, schema: pa.Schema = RECORD_SCHEMA) -> None:
        self._writer = pq.ParquetWriter(path, schema, **PARQUET_OPTIONS)
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(QUEUED_BATCHES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="staging-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pool = pa.default_memory_pool()
        while (batch := self._queue.get()) is not None:
            if self._error is None:  # after an error, keep taking batches so the caller never blocks
                try:
                    self._writer.write_batch(batch)
                except BaseException as exc:  # raised again in the caller's thread
                    self._error = exc
            del batch
            pool.release_unused()  # this thread's freed memory back at once (see smsbr._Batches)

    def write(self, batch: pa.RecordBatch) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(batch)

    def close(self) -> None:
        """Wait for the queued batches, close the file; raise the writer's error if it had one."""
        self._queue.put(None)
        self._thread.join()
        try:
            self._writer.close()
        except BaseException:
            if self._error is None:
                raise
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            self.close()
            return
        try:  # the caller's error wins; the file is left for its atomic_path to remove
            self.close()
        except BaseException:
            pass


def write_staging(items: Iterable[pa.RecordBatch | Reject], path: Path) -> tuple[int, list[Reject]]:
    """Drain a parser's output into a staging file; returns (records written, rejects)."""
    records = 0
    rejects: list[Reject] = []
    with BackgroundWriter(path) as writer:
        for item in items:
            if isinstance(item, Reject):
                rejects.append(item)
                continue
            writer.write(conform(item))
            records += item.num_rows
    return records, rejects
