"""load_whole_json: orjson first, the standard library for whatever orjson refuses or may read
otherwise, so a file gives the same value, the same records and the same refusal either way."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from commtrail.errors import InputError
from commtrail.parsers.base import Owner, ParseContext
from commtrail.parsers.platforms import common
from commtrail.parsers.platforms.common import load_whole_json
from tests.conftest import FIXTURES, run_on_disk

SAM = Owner(platform_ids=frozenset({"fb:Sam Smith"}))
HEAD = b'{"participants":[{"name":"Sam Smith"},{"name":"Jordan Example"}],"title":"Jordan Example","messages":['
PLAIN = b'{"sender_name":"Jordan Example","timestamp_ms":1709319999000,"content":"Caf\\u00c3\\u00a9?"}'
# Each one is a thread that orjson refuses or may read otherwise than the standard library.
EDGES = {
    "lone surrogate": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"content":"x \\ud83d y"}',
    "NaN": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"content":"x","score":NaN}',
    "Infinity": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"score":-Infinity}',
    "1e400": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"score":1e400}',
    "int beyond 64 bits": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"id":123456789012345678901234}',
    "negative int beyond 64 bits": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"id":-18446744073709551617}',
    "time beyond 64 bits": b'{"sender_name":"Sam Smith","timestamp_ms":17093200000000000000000,"content":"x"}',
    "19 digits in a text": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"content":"ref 1234567890123456789"}',
    "duplicate keys": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"content":"a","content":"b",'
                      b'"timestamp_ms":1709320000001}',
    "invalid UTF-8": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"content":"x \xff\xfe y"}',
    "raw surrogate bytes": b'{"sender_name":"Sam Smith","timestamp_ms":1709320000000,"content":"x \xed\xa0\xbd"}',
}


def _thread(*messages: bytes, bom: bool = False) -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + HEAD + b",".join(messages) + b"]}"


class _Refuses:
    """orjson as if it refused every input: the standard library's way only."""

    JSONDecodeError = orjson.JSONDecodeError

    @staticmethod
    def loads(data: bytes):
        raise orjson.JSONDecodeError("refused", "", 0)


def _ctx() -> ParseContext:
    return ParseContext(source_sha256="0" * 64, source_path="message_1.json")


def _both(monkeypatch, data: bytes):
    """(value, replaced) with orjson, then without; the value as its repr (NaN != NaN)."""
    fast = load_whole_json(data, _ctx(), "file", "hint")
    monkeypatch.setattr(common, "orjson", _Refuses)
    slow = load_whole_json(data, _ctx(), "file", "hint")
    monkeypatch.undo()
    return (repr(fast[0]), fast[1]), (repr(slow[0]), slow[1])


@pytest.mark.parametrize("name", sorted(EDGES))
@pytest.mark.parametrize("bom", [False, True])
def test_edge_values_are_those_of_the_standard_library(monkeypatch, name, bom):
    fast, slow = _both(monkeypatch, _thread(PLAIN, EDGES[name], bom=bom))
    assert fast == slow


def test_what_orjson_would_read_otherwise_goes_the_standard_library_way():
    doc, replaced = load_whole_json(_thread(EDGES["int beyond 64 bits"]), _ctx(), "file", "hint")
    assert doc["messages"][0]["id"] == 123456789012345678901234 and replaced == 0
    doc, _ = load_whole_json(_thread(EDGES["NaN"]), _ctx(), "file", "hint")
    assert math.isnan(doc["messages"][0]["score"])
    doc, replaced = load_whole_json(_thread(EDGES["invalid UTF-8"]), _ctx(), "file", "hint")
    assert doc["messages"][0]["content"] == "x \ufffd\ufffd y" and replaced == 2


def test_a_plain_file_is_read_by_orjson(monkeypatch):
    monkeypatch.setattr(common, "decode_counted", None)   # the standard library's way would fail
    doc, replaced = load_whole_json(_thread(PLAIN), _ctx(), "file", "hint")
    assert doc["messages"][0]["content"] == "Caf\u00c3\u00a9?" and replaced == 0


def test_invalid_json_is_refused_the_same_way(monkeypatch):
    errors = []
    for refuse in (False, True):
        if refuse:
            monkeypatch.setattr(common, "orjson", _Refuses)
        with pytest.raises(InputError) as caught:
            load_whole_json(_thread(PLAIN)[:-3], _ctx(), "file", "hint")
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "line 1" in errors[0]


def _parsed(tmp_path: Path, path: Path, data: bytes | None, batch_size: int) -> list:
    """Every batch (its Arrow IPC bytes), reject and the report of the meta parser over a file."""
    table, rejects, report = run_on_disk(tmp_path, "meta", path, data, owner=SAM, batch_size=batch_size)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return [sink.getvalue(), [(r.locator, r.reason, r.raw) for r in rejects], report.repairs, report.warnings]


THREAD = FIXTURES / "meta" / "messages" / "inbox" / "jordanexample_1234567890"
FILES = [(THREAD / "message_1.json", None), (THREAD / "message_2.json", None)] + [
    (THREAD / "message_1.json", _thread(PLAIN, EDGES[name], PLAIN, bom=name == "NaN"))
    for name in sorted(EDGES) if name != "lone surrogate"]


@pytest.mark.parametrize("path,data", FILES, ids=[f"file{i}" for i in range(len(FILES))])
@pytest.mark.parametrize("batch_size", [50_000, 1])
def test_records_rejects_and_report_are_the_same_with_or_without_orjson(tmp_path, monkeypatch, path, data,
                                                                          batch_size):
    fast = _parsed(tmp_path / "fast", path, data, batch_size)
    monkeypatch.setattr(common, "orjson", _Refuses)
    assert _parsed(tmp_path / "slow", path, data, batch_size) == fast


def test_the_standard_library_reads_what_orjson_refuses_here():
    for name in ("lone surrogate", "NaN", "Infinity", "1e400", "invalid UTF-8", "raw surrogate bytes"):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(_thread(EDGES[name]))
        json.loads(_thread(EDGES[name]).decode("utf-8", "replace"))
