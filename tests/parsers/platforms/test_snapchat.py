"""The Snapchat chat_history.json parser: both shapes, the partial-download warning, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from commtrail.errors import InputError
from commtrail.parsers import registry
from commtrail.parsers.platforms.snapchat import PARTIAL, sniff
from tests.conftest import FIXTURES, make_ctx, plain_rows, run_parser

OLD = FIXTURES / "snapchat" / "old" / "chat_history.json"
NEW = FIXTURES / "snapchat" / "new" / "chat_history.json"


def _run(tmp_path: Path, path: Path, data: bytes | None = None):
    ctx = make_ctx(tmp_path, source_path="snapchat/json/chat_history.json", timezone="Europe/London")
    return run_parser("snapchat", path.read_bytes() if data is None else data, ctx)


def _rows(table):
    return plain_rows(table)


def test_older_shape(tmp_path):
    table, rejects, report = _run(tmp_path, OLD)
    assert (table.num_rows, len(rejects), report.warnings) == (3, 1, [PARTIAL])
    rows = _rows(table)
    assert [(r["direction"], r["sender"], r["sender_raw"], r["recipients"], r["body"]) for r in rows] == [
        ("incoming", "snap:jordan.example", "jordan.example", [], "I saw you at the station."),
        ("incoming", "snap:jordan.example", "jordan.example", [], None),
        ("outgoing", None, None, ["snap:jordan.example"], "Stop following me.")]
    assert (rows[0]["ts_utc"], rows[0]["ts_local"], rows[0]["ts_precision"], rows[0]["locator"]) == (
        "2024-03-05T21:15:00+00:00", "2024-03-05T21:15:00", "s", '"Received Saved Chat History"[0]')
    assert rows[0]["extra"] == {"Media Type": "TEXT", "history": "Received Saved Chat History"}
    assert [(r.locator, r.reason) for r in rejects] == [
        ('"Received Unsaved Chat History"[0]', "Created 'March 5th' is not a time such as '2024-03-01 18:30:05 UTC'")]


def test_newer_shape(tmp_path):
    table, rejects, report = _run(tmp_path, NEW)
    assert (table.num_rows, rejects, report.warnings) == (3, [], [PARTIAL])
    rows = _rows(table)
    assert [(r["ts_utc"], r["direction"], r["sender"], r["recipients"], r["conversation"]) for r in rows] == [
        ("2024-03-06T08:00:01.234000+00:00", "incoming", "snap:jordan.example", [], "Snapchat jordan.example"),
        ("2024-03-06T08:02:00+00:00", "outgoing", "snap:sam.smith", ["snap:jordan.example"], "Snapchat jordan.example"),
        ("2024-03-06T09:00:00+00:00", "incoming", "snap:jordan.example", [], "Snapchat Weekend plans")]
    assert rows[0]["ts_precision"] == "ms"    # Created(microseconds) holds milliseconds here
    assert rows[2]["extra"]["Media IDs"] == "b~EiQSFTM0fictional"


def test_an_unknown_shape_is_refused(tmp_path):
    data = b'{"Media Type": "TEXT", "Created": "x", "IsSender": {"a": 1}}'
    with pytest.raises(InputError, match="not an object of chat lists"):
        _run(tmp_path, NEW, data)


def test_sniff():
    assert sniff(OLD.read_bytes(), "x") and sniff(NEW.read_bytes(), "x")
    assert not sniff(b'[{"ID": 1, "Timestamp": "2024-01-01 00:00:00", "Contents": "x"}]', "chat_history.json")
    assert registry.sniff(NEW.read_bytes(), "x").name == "snapchat"


@pytest.mark.parametrize("batch_size", [1, 2, 50_000])
def test_chats_of_one_second_come_in_file_order(tmp_path, batch_size):
    """Texts and media chats of one second, in two conversations, written in the file's order."""
    import json
    def chat(n: int, media: str) -> dict:
        return {"From": "jordan.example", "Media Type": media, "Created": "2024-03-06 08:00:01 UTC",
                "Content": f"chat {n}" if media == "TEXT" else None, "Conversation Title": None,
                "IsSender": n % 3 == 0, "Media IDs": "b~x" if media != "TEXT" else ""}
    doc = {"jordan.example": [chat(0, "TEXT"), chat(1, "MEDIA"), chat(2, "TEXT")],
           "alex.sample": [chat(3, "NOTE"), chat(4, "TEXT")]}
    ctx = make_ctx(tmp_path, source_path="snapchat/json/chat_history.json", batch_size=batch_size)
    table, rejects, _ = run_parser("snapchat", json.dumps(doc).encode(), ctx)
    rows = _rows(table)
    assert rejects == []
    assert [(r["locator"], r["body"], r["extra"]["Media Type"]) for r in rows] == [
        ('"jordan.example"[0]', "chat 0", "TEXT"), ('"jordan.example"[1]', None, "MEDIA"),
        ('"jordan.example"[2]', "chat 2", "TEXT"), ('"alex.sample"[0]', None, "NOTE"),
        ('"alex.sample"[1]', "chat 4", "TEXT")]
