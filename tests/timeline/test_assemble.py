"""The master assembler: buckets of exhibit numbers, ranges of sources, and its integrity guards."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import make_case

from commtrail.timeline import assemble, dedup
from commtrail.timeline.master import build_master, read_master
from commtrail.timeline.schema import make_batch

BASE = datetime(2024, 3, 1, tzinfo=timezone.utc)


def texts(n, start, step_minutes, who="+447700900123"):
    return [{"ts_utc": BASE + timedelta(minutes=start + i * step_minutes), "ts_precision": "ms",
             "tz_source": "source", "channel": "sms", "kind": "message", "direction": "incoming",
             "sender": who, "recipients": ["+447700900999"], "body": f"text {start + i * step_minutes}"}
            for i in range(n)]


# Three overlapping backups whose rows are not in time order (the second is reversed).
SOURCES = {"a.xml": texts(30, 0, 2), "b.xml": list(reversed(texts(30, 40, 2))), "c.xml": texts(25, 90, 1)}


def test_many_small_buckets_and_source_ranges_give_the_same_master(tmp_path, monkeypatch):
    whole = read_master(make_case(tmp_path / "one", SOURCES))
    monkeypatch.setattr(dedup, "BUCKET_BYTES", 700)        # about two events per bucket
    case = make_case(tmp_path / "many", SOURCES)
    assert list((case.root).glob(".duckdb-tmp")) == []      # buckets cleaned up
    split = read_master(case)
    assert split.to_pylist() == whole.to_pylist()
    assert split.num_rows == 30 + 30 + 25 - 10 - 5  # a, b share minutes 40..58; b, c even minutes 90..98
    assert split.column("exhibit").to_pylist() == [f"CT-{i:06d}" for i in range(1, split.num_rows + 1)]
    times = split.column("ts_utc").to_pylist()
    assert times == sorted(times)
    assert sum(len(o) for o in split.column("occurrences").to_pylist()) == 85


def test_occurrences_name_each_copy_with_its_own_locator(tmp_path):
    case = make_case(tmp_path / "c", SOURCES)
    shared = [r for r in read_master(case).to_pylist() if len(r["occurrences"]) == 2]
    assert len(shared) == 15
    first = shared[0]                                       # minute 40: a.xml line 21, b.xml line 30
    assert first["body"] == "text 40"
    assert sorted((o["source_path"], o["locator"]) for o in first["occurrences"]) == [
        ("a.xml", "line 21"), ("b.xml", "line 30")]


def test_a_case_of_one_source_reads_no_locator_map_and_names_each_row_once(tmp_path):
    case = make_case(tmp_path / "c", {"b.xml": SOURCES["b.xml"]})
    staged = sorted(p for p in case.staging.glob("*.parquet") if not p.name.endswith(".rejects.parquet"))
    assert assemble.Sources(staged, [{"sha256": "x", "path": "b.xml"}]).locators is None
    rows = read_master(case).to_pylist()
    assert [(r["body"], [(o["source_path"], o["locator"]) for o in r["occurrences"]]) for r in rows[:2]] == [
        ("text 40", [("b.xml", "line 30")]), ("text 42", [("b.xml", "line 29")])]
    assert [len(r["occurrences"]) for r in rows] == [1] * 30


def test_source_ranges_split_by_the_events_each_source_represents():
    counts = [(0, 10), (1, 10), (2, 10), (3, 70)]
    assert assemble._source_ranges(counts, 4) == [(0, 2), (3, 3)]
    assert assemble._source_ranges([(5, 1)], 8) == [(5, 5)]
    assert assemble._source_ranges([(0, 3), (2, 3), (7, 3), (9, 3)], 2) == [(0, 2), (7, 9)]


def test_a_staging_file_shorter_than_dedup_read_is_refused(tmp_path):
    path = tmp_path / "s.parquet"
    pq.write_table(pa.Table.from_batches([make_batch({"locator": ["line 1", "line 2"]})]), path)
    rows = assemble.StagedRows(path)
    with pytest.raises(assemble.AssemblyError, match="fewer rows"):
        rows.take(np.array([0, 5]))


def test_staged_rows_past_whole_row_groups_are_taken_from_the_row_group_holding_them(tmp_path, monkeypatch):
    monkeypatch.setattr(assemble, "STAGING_BATCH_ROWS", 2)
    path = tmp_path / "s.parquet"
    pq.write_table(pa.Table.from_batches([make_batch({"locator": [f"line {i}" for i in range(10)]})]), path,
                   row_group_size=3)
    rows = assemble.StagedRows(path)
    taken = [rows.take(np.array(wanted)).column("locator").to_pylist() for wanted in ([1], [7, 8], [9])]
    assert taken == [["line 1"], ["line 7", "line 8"], ["line 9"]]
    rows = assemble.StagedRows(path)
    assert rows.take(np.array([0, 4, 6, 9])).column("locator").to_pylist() == ["line 0", "line 4", "line 6", "line 9"]
    with pytest.raises(assemble.AssemblyError, match="fewer rows"):
        rows.take(np.array([10]))


def test_rebuilding_leaves_the_same_bytes_with_many_buckets(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup, "BUCKET_BYTES", 700)
    case = make_case(tmp_path / "c", SOURCES)
    before = case.master_file.read_bytes()
    build_master(case)
    assert case.master_file.read_bytes() == before
