"""Staging written on a second thread: every batch in order, errors raised in the caller's thread."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from commtrail.ingest import staging
from commtrail.ingest.staging import BackgroundWriter, write_staging
from commtrail.parsers.base import Reject
from commtrail.timeline.schema import make_batch


def batch(start, n):
    return make_batch({"body": [f"text {i}" for i in range(start, start + n)], "channel": ["sms"] * n})


def test_batches_and_rejects_are_kept_in_order(tmp_path):
    items = [batch(0, 3), Reject(locator="sms #4", reason="no date", raw="<sms/>"), batch(3, 2), batch(5, 4)]
    records, rejects = write_staging(iter(items), tmp_path / "s.parquet")
    assert records == 9
    assert [r.locator for r in rejects] == ["sms #4"]
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.column("body").to_pylist() == [f"text {i}" for i in range(9)]
    assert pq.ParquetFile(tmp_path / "s.parquet").metadata.num_row_groups == 3


def test_a_batch_of_another_shape_is_cast_to_the_record_schema(tmp_path):
    plain = batch(0, 2)
    loose = pa.RecordBatch.from_arrays([c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c
                                        for c in plain.columns], names=plain.schema.names)
    assert write_staging([loose], tmp_path / "s.parquet")[0] == 2
    assert pq.read_table(tmp_path / "s.parquet").column("channel").to_pylist() == ["sms", "sms"]


def test_an_error_of_the_writer_is_raised_in_the_callers_thread(tmp_path, monkeypatch):
    writer = BackgroundWriter(tmp_path / "s.parquet")

    def full_disk(_batch):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(writer._writer, "write_batch", full_disk)
    with pytest.raises(OSError, match="No space left"):
        for i in range(10):                  # the error shows at a later write, or at the end
            writer.write(batch(i, 1))
        writer.close()


def test_an_error_of_the_parser_wins_and_nothing_hangs(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "QUEUED_BATCHES", 1)

    def parse():
        for i in range(5):
            yield batch(i, 1)
        raise ValueError("parser bug")
    with pytest.raises(ValueError, match="parser bug"):
        write_staging(parse(), tmp_path / "s.parquet")
