"""The master's rows put together: each event's representative staged row with what dedup worked out,
in exhibit order, without holding the timeline in memory.

Two passes over Arrow data, each on two threads (pyarrow works outside the GIL):

1. Spread: representatives arrive per range of sources in staging order (source, row); the staging
   files are read batch by batch in the same order and the chosen rows taken, completed, and spread
   over files of BUCKETS_PER_FILE buckets of consecutive exhibit numbers (Arrow IPC streams in the
   case's private temporary folder).
2. Sort: each file's rows are read and sorted alone while the previous ones are written to the master.

Memory holds a staging batch per thread, two files' rows, and the locator of every staged record (the
occurrences list every copy).

When the representatives, read in staging order, fill the buckets about one after the other (one
source in about time order; see ``one_pass_plan``), one pass does it: rows are gathered per bucket
in memory and a bucket is sorted and given out once complete, with no temporary files but the
narrow representatives (spooled so that DuckDB is closed first). Either way the rows come out in
exhibit order and MasterWriter cuts them alike, so the master's bytes do not depend on the path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.atomic import PARQUET_OPTIONS
from commtrail.timeline.schema import MASTER_SCHEMA, OCCURRENCE, RECORD_SCHEMA, dumps_extra

ROW_GROUP_ROWS = 100_000
STAGING_BATCH_ROWS = 8_192
BUCKETS_PER_FILE = 4   # the general path's temporary files: each holds this many consecutive buckets
RELEASE_BYTES = 32 * 1024 * 1024   # see ahead()
THREADS = 2

# The master's columns with plain strings for dictionaries (buckets mix batches whose dictionaries
# differ), plus the exhibit order.
PLAIN_SCHEMA = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f
                          for f in MASTER_SCHEMA] + [pa.field("_ord", pa.int64())])
PLAIN_RECORD = pa.schema([PLAIN_SCHEMA.field(name) for name in RECORD_SCHEMA.names])
PLAIN_MASTER = PLAIN_SCHEMA.remove(PLAIN_SCHEMA.get_field_index("_ord"))
IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")

RepresentativeReader = Callable[[int, int], pa.RecordBatchReader]


class AssemblyError(RuntimeError):
    """Staging no longer matches what dedup read (changed under us, or a bug): never write a master."""


class Sources:
    """What the occurrences name: each source's hash and path, and the locator of every staged row
    (of a case with one source, none: each of its events has one copy, the representative, whose
    staged row gives the locator)."""

    def __init__(self, files: Sequence[Path], sources: Sequence[dict]) -> None:
        self.files = list(files)
        self.shas = pa.array([s["sha256"] for s in sources], pa.string())
        self.paths = pa.array([s["path"] for s in sources], pa.string())
        self.locators: pa.Array | None = None
        if len(self.files) > 1:
            columns = [pq.ParquetFile(f).read(columns=["locator"]).column("locator") for f in self.files]
            self.row_offsets = np.cumsum([0] + [len(c) for c in columns], dtype=np.int64)
            self.locators = pa.concat_arrays([chunk.cast(pa.large_string()) for c in columns for chunk in c.chunks])

    def occurrences(self, copies: pa.ListArray, own: pa.Array) -> pa.ListArray:
        """Every copy as {source_sha256, source_path, locator}, from the addresses (source << 32 | row);
        ``own``: the locator of each event's representative row."""
        offsets = copies.offsets.to_numpy()
        address = copies.flatten().to_numpy()
        source = (address >> np.uint64(32)).astype(np.int64)
        where = pa.array(source.astype(np.int32))
        if self.locators is None:   # one source: every event's one copy is its representative
            if len(address) != len(own):
                raise AssemblyError("an event of a case with one source has more than one copy")
            locator = own
        else:
            row = (address & np.uint64(0xFFFFFFFF)).astype(np.int64)
            locator = self.locators.take(pa.array(self.row_offsets[source] + row)).cast(pa.string())
        struct = pa.StructArray.from_arrays([self.shas.take(where), self.paths.take(where), locator],
                                            fields=list(OCCURRENCE))
        return pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), struct,
                                        type=pa.list_(OCCURRENCE))


class StagedRows:
    """Reads one staging file forward, batch by batch, taking the rows asked for (ascending); row
    groups before the next row asked for are skipped unread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = pq.ParquetFile(path)
        sizes = [self._file.metadata.row_group(g).num_rows for g in range(self._file.num_row_groups)]
        self._group_starts = np.cumsum([0] + sizes, dtype=np.int64)
        self._batches: Iterator[pa.RecordBatch] | None = None
        self._batch: pa.RecordBatch | None = None
        self._start = 0
        self._end = 0

    def take(self, rows: np.ndarray) -> pa.Table:
        """The rows at these (sorted, increasing) row numbers, as PLAIN_RECORD."""
        parts = []
        i = 0
        while i < len(rows):
            while rows[i] >= self._end:
                self._advance(int(rows[i]))
            j = int(np.searchsorted(rows, self._end, side="left"))
            if rows[j - 1] - rows[i] == j - 1 - i:   # a run of neighbouring rows (rows ascend, no repeats)
                taken = self._batch.slice(int(rows[i]) - self._start, j - i)
            else:
                taken = self._batch.take(pa.array(rows[i:j] - self._start))
            parts.append(pa.Table.from_batches([taken]).select(PLAIN_RECORD.names).cast(PLAIN_RECORD))
            i = j
        return pa.concat_tables(parts).combine_chunks() if parts else PLAIN_RECORD.empty_table()

    def _advance(self, wanted: int) -> None:
        """The next batch, or the first of the row group holding row ``wanted`` when that lies
        past the one being read."""
        group = int(np.searchsorted(self._group_starts, wanted, side="right")) - 1
        if self._batches is None or group > int(np.searchsorted(self._group_starts, self._end, side="right")) - 1:
            self._batches = self._file.iter_batches(batch_size=STAGING_BATCH_ROWS, use_threads=False,
                                                    row_groups=range(group, self._file.num_row_groups))
            self._end = int(self._group_starts[group])
        try:
            self._batch = next(self._batches)
        except StopIteration:
            raise AssemblyError(f"{self.path.name} holds fewer rows than the dedup read") from None
        self._start = self._end
        self._end += self._batch.num_rows


class BucketWriter:
    """One thread's Arrow IPC streams of master rows, one per run of BUCKETS_PER_FILE buckets of
    consecutive exhibit numbers (a "bucket" here is the number of such a run)."""

    def __init__(self, folder: Path, tag: int) -> None:
        self.folder = folder
        self.tag = tag
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self.rows = 0

    def add(self, table: pa.Table, bucket: np.ndarray) -> None:
        """Append rows (PLAIN_SCHEMA) to the buckets named row by row."""
        self.rows += table.num_rows
        for number, part in _by_bucket(table, bucket):
            self._writer(number).write_table(part)

    def _writer(self, bucket: int) -> pa.ipc.RecordBatchStreamWriter:
        if bucket not in self._writers:
            path = self.folder / f"bucket-{bucket:08d}-{self.tag:04d}.arrow"
            self._writers[bucket] = pa.ipc.new_stream(str(path), PLAIN_SCHEMA, options=IPC_OPTIONS)
        return self._writers[bucket]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def assemble_master(new_reader: Callable[[], RepresentativeReader], counts: Sequence[tuple[int, int]],
                    named: Sources, folder: Path, first: int = 0) -> Iterator[pa.Table]:
    """The master in exhibit order from exhibit order ``first`` on, as tables of its rows (PLAIN_SCHEMA
    without ``_ord``, one per file of buckets; MasterWriter writes them).

    ``new_reader()`` makes a function whose ``(first, last)`` gives the representatives of sources
    first..last (see DedupSession.representatives_reader); ``counts`` says how many each source holds;
    ``named`` are the sources, in the order dedup numbered them."""
    total = sum(n for _, n in counts)
    with ThreadPoolExecutor(THREADS) as pool:
        jobs = [pool.submit(_spread, new_reader(), first, last, named, BucketWriter(folder, tag))
                for tag, (first, last) in enumerate(_source_ranges(counts, 4 * THREADS))]
        spread = sum(job.result() for job in jobs)
    if spread != total:
        raise AssemblyError(f"{total} events numbered, {spread} assembled")
    yield from _sorted_buckets(folder, first, total)


def _source_ranges(counts: Sequence[tuple[int, int]], parts: int) -> list[tuple[int, int]]:
    """Consecutive runs of sources holding about equal numbers of representatives."""
    total = sum(n for _, n in counts)
    ranges: list[tuple[int, int]] = []
    start, held = None, 0
    for source, n in counts:
        start = source if start is None else start
        held += n
        if held * parts >= total * (len(ranges) + 1) or source == counts[-1][0]:
            ranges.append((start, source))
            start = None
    return ranges


def _by_bucket(table: pa.Table, bucket: np.ndarray) -> Iterator[tuple[int, pa.Table]]:
    """The rows of ``table`` grouped by the bucket named row by row (rows keep their order)."""
    if len(bucket) and (bucket == bucket[0]).all():
        yield int(bucket[0]), table
        return
    order = np.argsort(bucket, kind="stable")
    ordered = bucket[order]
    for lo, hi in _runs(ordered):
        yield int(ordered[lo]), table.take(pa.array(order[lo:hi]))


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of equal neighbouring values (none for no values)."""
    if not len(values):
        return []
    cuts = (np.flatnonzero(np.diff(values)) + 1).tolist()
    return list(zip([0, *cuts], [*cuts, len(values)]))


def _joined(batches: Iterable[pa.RecordBatch], named: Sources) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Representatives (in staging order) joined to their staged rows: master rows (PLAIN_SCHEMA)
    and the bucket of each."""
    current: tuple[int, StagedRows] | None = None
    for batch in batches:
        src = batch.column("src").to_numpy()
        for lo, hi in _runs(src):
            part = batch.slice(lo, hi - lo)
            index = int(src[lo])
            if current is None or current[0] != index:
                current = (index, StagedRows(named.files[index]))
            staged = current[1].take(part.column("row").to_numpy())
            yield master_rows(staged, part, named), part.column("bucket").to_numpy()


def _spread(reader: RepresentativeReader, first: int, last: int, named: Sources, buckets: BucketWriter) -> int:
    """Join the representatives of sources first..last to their staged rows, into ``buckets``."""
    try:
        for table, bucket in _joined(reader(first, last), named):
            buckets.add(table, bucket // BUCKETS_PER_FILE)
    finally:
        buckets.close()
    return buckets.rows


def one_pass_plan(bucket: np.ndarray, buckets_held: int = 2) -> list[tuple[int, int]] | None:
    """(bucket, events) for every bucket, in order, when the one-pass assembler would hold at most as
    many rows as ``buckets_held`` of the largest buckets at any time, given the bucket of every representative
    in staging order (a bucket is held from its first row until it and every bucket before it are
    complete); None when it would hold more (a source far from time order)."""
    n = len(bucket)
    if not n:
        return []
    numbers, which, counts = np.unique(bucket, return_inverse=True, return_counts=True)
    last = np.zeros(len(numbers), np.int64)
    np.maximum.at(last, which, np.arange(n))
    released = np.maximum.accumulate(last)[which]      # where each row's bucket can go out
    held = np.arange(1, n + 1) - np.cumsum(np.bincount(released, minlength=n))
    if int(held.max()) > buckets_held * int(counts.max()):
        return None
    return list(zip(numbers.tolist(), counts.tolist()))


def assemble_in_staging_order(representatives: Iterable[pa.RecordBatch], bucket_rows: Sequence[tuple[int, int]],
                              named: Sources, first: int = 0) -> Iterator[pa.Table]:
    """The master in exhibit order from exhibit order ``first`` on (one table per bucket: the rows
    ``assemble_master`` gives, cut finer), in one pass without bucket files, for representatives
    that, read in staging order, fill the buckets about one after the other (see one_pass_plan).

    ``representatives`` are all of them in staging order (DedupSession.representatives_reader, or
    those spooled);
    ``bucket_rows`` gives (bucket, events) for every bucket, in order. A bucket is sorted and
    given out once all its rows are in, so memory holds the buckets still being filled."""
    filling: dict[int, list[pa.Table]] = {}
    held = dict.fromkeys((number for number, _ in bucket_rows), 0)
    done = 0
    expected = first
    for table, bucket in _joined(representatives, named):
        for number, part in _by_bucket(table, bucket):
            if number not in held:
                raise AssemblyError(f"an event of bucket {number}, which was not numbered")
            filling.setdefault(number, []).append(part)
            held[number] += part.num_rows
        while done < len(bucket_rows) and held[bucket_rows[done][0]] == bucket_rows[done][1]:
            table, order = _in_exhibit_order(filling.pop(bucket_rows[done][0]))
            expected = _follows(order, expected)
            done += 1
            yield table
    if done != len(bucket_rows) or filling:
        raise AssemblyError(f"{sum(n for _, n in bucket_rows)} events numbered, {sum(held.values())} assembled")


def spooled(reader: pa.RecordBatchReader, path: Path) -> Iterator[pa.RecordBatch]:
    """The reader's batches, written now to an Arrow IPC stream at ``path`` (in the case's private
    temporary folder) and read back from it batch by batch (the file closed once all are read):
    the caller can close what made them (the DuckDB session, whose memory then goes back) first."""
    with reader, pa.ipc.new_stream(str(path), reader.schema, options=IPC_OPTIONS) as out:
        for batch in reader:
            out.write_batch(batch)
    return _read_back(path)


def _read_back(path: Path) -> Iterator[pa.RecordBatch]:
    """The batches of an Arrow IPC stream file, read as an ordinary file: opened by its name,
    pyarrow maps the file into memory, and every page read stays in the process's memory until
    the file is closed (the whole spool, by the end)."""
    with pa.OSFile(str(path), "rb") as file, pa.ipc.open_stream(file) as stream:
        yield from stream


def _sorted_buckets(folder: Path, first: int, total: int) -> Iterator[pa.Table]:
    """Each bucket sorted by exhibit order (the next one loads while the caller writes this one);
    checks that exhibit numbers run from ``first`` without a gap."""
    numbers = sorted({int(p.name.split("-")[1]) for p in folder.glob("bucket-*.arrow")})
    expected = first
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_load_bucket, folder, numbers[0]) if numbers else None
        for i in range(len(numbers)):
            table, order = pending.result()
            pending = pool.submit(_load_bucket, folder, numbers[i + 1]) if i + 1 < len(numbers) else None
            expected = _follows(order, expected)
            yield table
    if expected != first + total:
        raise AssemblyError(f"{total} events numbered, {expected - first} sorted")


def _load_bucket(folder: Path, number: int) -> tuple[pa.Table, np.ndarray]:
    """One bucket's rows read from its files (which are removed) and sorted (see _in_exhibit_order)."""
    parts = []
    for path in sorted(folder.glob(f"bucket-{number:08d}-*.arrow")):
        with pa.OSFile(str(path), "rb") as file, pa.ipc.open_stream(file) as reader:   # not mapped (_read_back)
            parts.append(reader.read_all())
        path.unlink()
    return _in_exhibit_order(parts)


def _in_exhibit_order(parts: list[pa.Table]) -> tuple[pa.Table, np.ndarray]:
    """One bucket's rows (PLAIN_SCHEMA) sorted, without ``_ord`` (MasterWriter casts them to
    MASTER_SCHEMA), and their exhibit order."""
    table = pa.concat_tables(parts)
    order = pc.sort_indices(table.column("_ord")).to_numpy()
    # Rows come mostly in order: put runs of neighbours together as slices (no copy) where they are few.
    cuts = np.flatnonzero(np.diff(order) != 1) + 1
    if len(order) and len(cuts) <= len(order) // 64:
        starts = np.concatenate([[0], cuts]).tolist()
        ends = [*cuts.tolist(), len(order)]
        table = pa.concat_tables([table.slice(int(order[a]), b - a) for a, b in zip(starts, ends)])
    else:
        table = table.take(pa.array(order))
    return table.drop_columns(["_ord"]), table.column("_ord").combine_chunks().to_numpy()


def _follows(order: np.ndarray, expected: int) -> int:
    """The exhibit order after a bucket's; checks that it runs on from ``expected`` without a gap."""
    if len(order) and (order[0] != expected or (np.diff(order) != 1).any()):
        raise AssemblyError(f"exhibit order has a gap near {expected}")
    return expected + len(order)


def master_rows(staged: pa.Table, reps: pa.RecordBatch, named: Sources) -> pa.Table:
    """Staged rows completed with their event's id, party, near duplicates, copies and exhibit."""
    columns = {name: staged.column(name) for name in PLAIN_RECORD.names}
    columns["event_id"] = reps.column("event_id")
    columns["party"] = reps.column("party")
    columns["extra"] = with_near_duplicates(staged.column("extra"), reps.column("near"))
    columns["occurrences"] = named.occurrences(reps.column("copies"), staged.column("locator").combine_chunks())
    columns["dup_method"] = reps.column("dup_method")
    columns["exhibit"] = reps.column("exhibit")
    columns["_ord"] = reps.column("ord")
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in PLAIN_SCHEMA], schema=PLAIN_SCHEMA)


def with_near_duplicates(extra: pa.ChunkedArray | pa.Array, near: pa.Array) -> pa.ChunkedArray | pa.Array:
    """The ``extra`` JSON with ``near_duplicates`` (ids of events linked, not merged) added where any."""
    linked = near.is_valid()
    if not pc.any(linked).as_py():
        return extra
    texts = []
    for text, ids in zip(pc.filter(extra, linked).to_pylist(), pc.filter(near, linked).to_pylist()):
        fields = json.loads(text) if text else {}
        fields["near_duplicates"] = ids
        texts.append(dumps_extra(fields))
    whole = extra.combine_chunks() if isinstance(extra, pa.ChunkedArray) else extra
    return pc.replace_with_mask(whole, linked, pa.array(texts, pa.string()))


class MasterWriter:
    """Writes master rows in row groups of exactly ROW_GROUP_ROWS rows (the last one fewer), each cast
    to MASTER_SCHEMA in one chunk: a row group's bytes depend on its rows alone, not on how the
    assembly cut them (bucket sizes), so a build that keeps the leading row groups of the last
    master (timeline/reuse.py) writes the bytes of a build from scratch."""

    def __init__(self, path: Path, metadata: dict) -> None:
        self._writer = pq.ParquetWriter(path, MASTER_SCHEMA.with_metadata(metadata), **PARQUET_OPTIONS)
        self._held: list[pa.Table] = []
        self._count = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append master rows (MASTER_SCHEMA, or its columns with plain strings for dictionaries)."""
        self._held.append(table.cast(PLAIN_MASTER))
        self._count += table.num_rows
        self.rows += table.num_rows
        while self._count >= ROW_GROUP_ROWS:
            self._group(ROW_GROUP_ROWS)

    def __enter__(self) -> MasterWriter:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        """Write the rows held (the last, shorter row group) and the footer; after an error, only close."""
        if kind is None and self._count:
            self._group(self._count)
        self._writer.close()

    def _group(self, rows: int) -> None:
        """Write the first ``rows`` rows held as one row group. Its columns are put in one chunk one
        after the other, each chunked column let go once its copy is made: the rows are held
        once and a column twice, not the whole row group twice."""
        whole = pa.concat_tables(self._held)
        self._held = [whole.slice(rows)] if whole.num_rows > rows else []
        columns = whole.slice(0, rows).columns
        del whole
        for i, field in enumerate(MASTER_SCHEMA):
            column, columns[i] = columns[i], None
            columns[i] = column.combine_chunks().cast(field.type)
            del column
        self._writer.write_table(pa.Table.from_arrays(columns, schema=MASTER_SCHEMA), row_group_size=rows)
        self._count -= rows
        del columns
        pa.default_memory_pool().release_unused()   # the row group's memory back now (see ahead())


def ahead(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """The same tables, the next one made on a thread of its own while the caller handles this one.
    The making thread hands back the memory it freed (Arrow's allocator keeps it per thread) once
    per RELEASE_BYTES of tables made: handed back after every small table, the pages were soon
    taken again, for more system CPU and the same peak."""
    since = 0

    def made() -> pa.Table | None:
        nonlocal since
        table = next(tables, None)
        since += 0 if table is None else table.nbytes
        if table is None or since >= RELEASE_BYTES:
            pa.default_memory_pool().release_unused()
            since = 0
        return table

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(made)
        while (table := pending.result()) is not None:
            pending = pool.submit(made)
            yield table
