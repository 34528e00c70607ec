"""What bounds the master build's memory: DuckDB's limit, key files written a row group at a time."""

from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from commtrail.timeline import keys
from commtrail.timeline.dedup import build_memory_limit


def test_duckdb_memory_grows_with_the_records_between_a_floor_and_a_ceiling():
    assert [build_memory_limit(n) for n in (0, 1_000_000, 5_000_000, 10_000_000, 10**9)] == [
        "256MB", "256MB", "1220MB", "2441MB", "2560MB"]


def reader(sizes):
    batches = [pa.record_batch({"n": list(range(start, start + size))})
               for start, size in zip([sum(sizes[:i]) for i in range(len(sizes))], sizes)]
    return pa.RecordBatchReader.from_batches(pa.schema([("n", pa.int64())]), batches)


def test_rows_are_regrouped_into_tables_of_exactly_the_rows_asked_each_in_one_chunk():
    tables = list(keys.regrouped(reader([3, 3, 3]), 4))
    assert [t.column("n").to_pylist() for t in tables] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    assert [t.column("n").num_chunks for t in tables] == [1, 1, 1]
    assert [t.num_rows for t in keys.regrouped(reader([4, 4]), 4)] == [4, 4]
    assert [t.num_rows for t in keys.regrouped(reader([]), 4)] == [0]


def key_rows(sizes):
    when = datetime(2024, 3, 1, tzinfo=timezone.utc)
    start = 0
    for size in sizes:
        rows = range(start, start + size)
        yield pa.record_batch({"row": pa.array(rows, pa.uint32()), "ts": pa.array([when] * size, pa.timestamp("us", "UTC")),
                               "channel": ["sms"] * size, "party": [None] * size, "grp": pa.array(rows, pa.uint64()),
                               "size": pa.array([300] * size, pa.int64()), "method": ["content"] * size,
                               "eid_hi": pa.array(rows, pa.uint64()), "eid_lo": pa.array(rows, pa.uint64())},
                              schema=keys.KEY_SCHEMA)
        start += size


def test_a_key_file_written_batch_by_batch_has_the_bytes_of_one_written_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(keys, "KEY_GROUP_ROWS", 5)
    facts = {"fingerprint": {"version": 2}, "span": None, "device": None, "ios": False, "groups": [], "links": []}
    written = []
    for sizes in ([12], [1] * 12, [3, 4, 5]):
        root = tmp_path / str(len(written))
        root.mkdir()
        keys.write_keys(root, "ab" * 32, pa.RecordBatchReader.from_batches(keys.KEY_SCHEMA, key_rows(sizes)), facts)
        written.append(keys.key_path(root, "ab" * 32).read_bytes())
    assert written[0] == written[1] == written[2]
    file = pq.ParquetFile(keys.key_path(tmp_path / "0", "ab" * 32))
    assert [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)] == [5, 5, 2]
    assert file.read().column("row").to_pylist() == list(range(12))
