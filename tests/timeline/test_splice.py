"""timeline/splice.py: leading row groups copied as bytes plus row groups a writer appends make the
file one writer makes of them all."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from commtrail.timeline import splice

SCHEMA = pa.schema([pa.field("n", pa.int64()), pa.field("who", pa.string()), pa.field("tags", pa.list_(pa.string()))],
                   metadata={b"commtrail.test": b"1"})
OPTIONS = {"compression": "zstd", "use_dictionary": ["who"], "write_statistics": ["n", "who"]}


def table(start: int, rows: int) -> pa.Table:
    return pa.table({"n": list(range(start, start + rows)), "who": [f"p{i % 3}" for i in range(start, start + rows)],
                     "tags": [[str(i)] * (i % 4) for i in range(start, start + rows)]}, schema=SCHEMA)


def write(sink, groups: list[tuple[int, int]]) -> None:
    with pq.ParquetWriter(sink, SCHEMA, **OPTIONS) as writer:
        for start, rows in groups:
            writer.write_table(table(start, rows), row_group_size=rows)


GROUPS = [(0, 5), (5, 5), (10, 5), (15, 3)]


def test_a_footer_decodes_and_encodes_to_the_same_bytes(tmp_path):
    path = tmp_path / "a.parquet"
    write(path, GROUPS)
    with open(path, "rb") as handle:
        raw, at = splice.footer_of(handle, path.stat().st_size)
    assert splice.encode(splice.decode(raw)) == raw
    assert at + len(raw) + 8 == path.stat().st_size
    assert splice.can_splice(path)


@pytest.mark.parametrize("kept", [0, 1, 3, 4])
def test_kept_row_groups_and_written_ones_are_the_file_written_at_once(tmp_path, kept):
    whole = tmp_path / "whole.parquet"
    write(whole, GROUPS)
    old = tmp_path / "old.parquet"
    write(old, [*GROUPS[:kept], (100, 7)])     # the same leading groups, then others
    out = tmp_path / "out.parquet"
    with splice.spliced(out, old, kept) as sink:
        write(sink, GROUPS[kept:])
    assert out.read_bytes() == whole.read_bytes()
    assert pq.read_table(out).equals(pq.read_table(whole))


def test_more_row_groups_than_the_file_holds_is_refused(tmp_path):
    old = tmp_path / "old.parquet"
    write(old, GROUPS)
    with pytest.raises(splice.SpliceError), splice.spliced(tmp_path / "out.parquet", old, 5):
        pass


def test_a_file_that_is_not_parquet_is_refused(tmp_path):
    old = tmp_path / "old.parquet"
    old.write_bytes(b"PAR1 not a footer at all")
    assert not splice.can_splice(old)
    with pytest.raises(splice.SpliceError), splice.spliced(tmp_path / "out.parquet", old, 0):
        pass


def test_a_footer_the_decoder_does_not_read_alike_is_not_spliced(tmp_path):
    path = tmp_path / "a.parquet"
    write(path, GROUPS)
    data = bytearray(path.read_bytes())
    length = int.from_bytes(data[-8:-4], "little")
    data[-8 - length] = 0x0B    # the footer's first field a Thrift map, which no Parquet footer holds
    path.write_bytes(bytes(data))
    assert not splice.can_splice(path)


def test_without_a_kernel_copy_the_bytes_go_through_memory(tmp_path, monkeypatch):
    monkeypatch.delattr(splice.os, "copy_file_range")
    whole = tmp_path / "whole.parquet"
    write(whole, GROUPS)
    out = tmp_path / "out.parquet"
    with splice.spliced(out, whole, 2) as sink:
        write(sink, GROUPS[2:])
    assert out.read_bytes() == whole.read_bytes()
