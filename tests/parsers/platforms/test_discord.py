"""The Discord data package parser: JSON and the older CSV, snowflake times, the one-sided warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from commtrail.errors import InputError
from commtrail.parsers import registry
from commtrail.parsers.base import Owner
from commtrail.parsers.platforms.discord import PARTIAL, sniff
from tests.conftest import FIXTURES, plain_rows, run_on_disk

NEW = FIXTURES / "discord" / "package" / "messages" / "c1215300000000000000" / "messages.json"
OLD = FIXTURES / "discord" / "old" / "messages" / "c1100000000000000000" / "messages.csv"
SAM = Owner(platform_ids=frozenset({"discord:900000000000000199"}))


def _run(tmp_path: Path, path: Path, data: bytes | None = None, **kw):
    return run_on_disk(tmp_path, "discord", path, data, **kw)


def _rows(table):
    return plain_rows(table)


def test_json_package(tmp_path):
    table, rejects, report = _run(tmp_path, NEW, owner=SAM)
    assert (table.num_rows, len(rejects), report.warnings) == (3, 1, [PARTIAL])
    rows = _rows(table)
    assert [(r["ts_utc"], r["ts_precision"], r["direction"], r["sender"], r["recipients"]) for r in rows] == [
        ("2024-03-07T20:00:00.250000+00:00", "ms", "outgoing", "discord:900000000000000199", ["discord:900000000000000142"]),
        ("2024-03-07T20:02:00+00:00", "ms", "outgoing", "discord:900000000000000199", ["discord:900000000000000142"]),
        ("2024-03-07T20:03:00.500000+00:00", "ms", "outgoing", "discord:900000000000000199", ["discord:900000000000000142"])]
    assert rows[0]["conversation"] == "Discord channel 1215300000000000000"
    assert rows[1]["extra"]["attachment_urls"] == [
        "https://cdn.discordapp.com/attachments/1215300000000000000/1215389006561284098/proof.png"]
    assert (rows[0]["body"], rows[0]["locator"], rows[0]["channel"]) == ("Leave me alone, Jordan.", "messages[0]", "discord")
    assert [(r.locator, r.reason) for r in rejects] == [("messages[3]", "Timestamp 'later' is not a time")]


def test_without_the_owners_id_recipients_stay_unknown(tmp_path):
    table, _, _ = _run(tmp_path, NEW)
    assert {(r["sender"], tuple(r["recipients"])) for r in _rows(table)} == {(None, ())}


def test_older_csv(tmp_path):
    table, rejects, report = _run(tmp_path, OLD, owner=SAM)
    assert (table.num_rows, len(rejects), report.warnings) == (2, 1, [PARTIAL])
    rows = _rows(table)
    assert [(r["body"], r["ts_utc"], r["conversation"], r["locator"]) for r in rows] == [
        ("Two lines,\nwith a comma", "2024-03-07T20:00:00.250000+00:00", "Discord Book club #general", "record 1"),
        ("Stop.", "2024-03-07T20:02:00+00:00", "Discord Book club #general", "record 2")]
    assert [(r.locator, r.reason) for r in rejects] == [("record 3", "5 fields, not 4")]


def test_an_unknown_shape_is_refused(tmp_path):
    with pytest.raises(InputError, match="not valid JSON"):
        _run(tmp_path, NEW, b'[{"ID": 1, "Timestamp": "x", "Contents": "y"')


def test_sniff():
    assert sniff(NEW.read_bytes(), "x") and sniff(OLD.read_bytes(), "x")
    assert not sniff(b"ID,Timestamp,Contents,Attachments,Extra\n", "messages.csv")
    assert registry.sniff(OLD.read_bytes(), "x").name == "discord"


@pytest.mark.parametrize("batch_size", [1, 2, 50_000])
def test_messages_of_one_second_come_in_file_order(tmp_path, batch_size):
    """Texts and messages with attachment links, of one second, written in the file's order."""
    import json
    folder = tmp_path / "messages" / "c1215300000000000000"
    folder.mkdir(parents=True)
    (folder / "channel.json").write_text('{"id": "1215300000000000000", "type": 1}', encoding="utf-8")
    items = [{"ID": n, "Timestamp": "2024-03-07 20:00:00", "Contents": f"m {n}",
              "Attachments": f"https://cdn.example.com/{n}.png" if n % 2 else ""} for n in range(5)]
    path = folder / "messages.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    table, rejects, _ = _run(tmp_path / "out", path, batch_size=batch_size)
    rows = _rows(table)
    assert rejects == []
    assert [(r["locator"], r["body"], "attachment_urls" in r["extra"]) for r in rows] == [
        (f"messages[{n}]", f"m {n}", n % 2 == 1) for n in range(5)]


def test_an_id_that_is_no_snowflake_leaves_the_time_of_the_timestamp(tmp_path):
    """An ID of 1e309 (infinity to JSON readers) stopped the parse with a traceback, and 12.9 was cut to
    12; an ID that is no whole number is no snowflake: the record keeps its Timestamp, to the second."""
    path = tmp_path / "messages" / "c1" / "messages.json"
    path.parent.mkdir(parents=True)
    path.write_text('[{"ID": 1e309, "Timestamp": "2024-03-07 20:03:00", "Contents": "a"},'
                    ' {"ID": 1215388504293380097.5, "Timestamp": "2024-03-07 20:00:00", "Contents": "b"},'
                    ' {"ID": "1215388504293380097", "Timestamp": "2024-03-07 20:00:00", "Contents": "c"},'
                    ' {"ID": "1215388504293380097\\u001e", "Timestamp": "2024-03-07 20:00:00", "Contents": "d"}]',
                    encoding="utf-8")
    table, rejects, _ = _run(tmp_path, path, owner=SAM)
    assert rejects == []
    assert [(r["body"], r["ts_utc"], r["ts_precision"]) for r in _rows(table)] == [
        ("a", "2024-03-07T20:03:00+00:00", "s"), ("b", "2024-03-07T20:00:00+00:00", "s"),
        ("c", "2024-03-07T20:00:00.250000+00:00", "ms"), ("d", "2024-03-07T20:00:00.250000+00:00", "ms")]
