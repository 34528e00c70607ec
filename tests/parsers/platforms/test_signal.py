"""The Signal (sigtop JSON) parser: direction, edits, reactions, calls, attachments, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from commtrail.errors import InputError
from commtrail.parsers import registry
from commtrail.parsers.platforms.signal import sniff
from tests.conftest import FIXTURES, make_ctx, plain_rows, run_parser

CHAT = FIXTURES / "signal" / "Jordan Example.json"


def _run(tmp_path: Path, data: bytes | None = None, siblings: bool = True):
    sib = {p.name: (lambda p=p: open(p, "rb")) for p in CHAT.parent.iterdir() if p != CHAT} if siblings else {}
    ctx = make_ctx(tmp_path, source_path="signal/Jordan Example.json", siblings=sib, timezone="Europe/London")
    return run_parser("signal", CHAT.read_bytes() if data is None else data, ctx)


def _rows(table):
    return plain_rows(table)


def test_a_conversation(tmp_path):
    table, rejects, report = _run(tmp_path)
    assert (table.num_rows, len(rejects), report.warnings, report.repairs) == (8, 1, [], 0)
    rows = _rows(table)
    assert [(r["kind"], r["direction"], r["sender"], r["recipients"], r["duration_s"], r["flags"]) for r in rows] == [
        ("message", "incoming", "+447700900123", [], None, []),
        ("message", "outgoing", None, ["+447700900123"], None, []),
        ("message", "incoming", "+447700900123", [], None, ["edited"]),
        ("message", "incoming", "+447700900123", [], None, []),
        ("incoming", "incoming", "+447700900123", [], 90, []),
        ("missed", "incoming", "+447700900123", [], None, []),
        ("message", "incoming", "+447700900123", [], None, ["deleted"]),
        ("system", "unknown", None, [], None, [])]
    first = rows[0]
    assert (first["ts_utc"], first["ts_local"], first["ts_precision"], first["conversation"], first["body"],
            first["locator"], first["channel"]) == ("2024-03-04T10:00:00+00:00", "2024-03-04T10:00:00.000", "ms",
                                                    "Jordan Example", "Why did you block me?", "messages[0]", "signal")
    assert first["extra"]["received_at_ms"] == 1709546402500
    edited = rows[2]["extra"]
    assert [v["body"] for v in edited["editHistory"]] == ["You'll regret this.", "You will be sorry."]
    assert edited["reactions"][0]["emoji"] == "\U0001F622"
    assert rows[3]["attachments"] == [{"name": "photo-2024-03-04.png", "mime": "image/png", "size": 26,
                                       "sha256": "85585ea3520b58269b826ad8d03d11b8248d27da50b3d61526a2f69a22b8041e"}]
    assert [(r.locator, r.reason) for r in rejects] == [("messages[8]", "sent_at 'yesterday' is not a time")]


def test_an_attachment_not_exported_is_flagged_with_what_the_message_says(tmp_path):
    table, _, report = _run(tmp_path, siblings=False)
    row = _rows(table)[3]
    assert row["attachments"] == [{"name": "photo-2024-03-04.png", "mime": "image/png", "size": 26, "sha256": None}]
    assert row["flags"] == ["attachment_missing"]
    assert report.warnings[0].startswith("1 attachment(s) are not beside the file")


def test_a_sender_without_number_is_their_signal_account(tmp_path):
    data = b'[{"sent_at": 1709546400000, "conversationId": "c", "type": "incoming", "body": "hi", ' \
           b'"sourceServiceId": "1b2c3d4e-0000-4000-8000-000000000123"}]'
    table, _, _ = _run(tmp_path, data)
    assert _rows(table)[0]["sender"] == "signal:1b2c3d4e-0000-4000-8000-000000000123"


@pytest.mark.parametrize("data, match", [
    (b'[{"conversationId": "c", "timestamp": 1, "type": "incoming", "x": "sent_at"}]', "variant commtrail does not know"),
    (b'[{"conversationId": "c", "sent_at": 1,', "not valid JSON"),
    # 100,000 arrays inside each other (found by the fuzzer): RecursionError, a traceback, before
    (b'[{"conversationId": "c", "sent_at": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]",
     "nests its values more deeply than any export does"),
])
def test_unknown_variants_are_refused(tmp_path, data, match):
    with pytest.raises(InputError, match=match):
        _run(tmp_path, data)


def test_sniff():
    assert sniff(CHAT.read_bytes(), "x")
    assert not sniff(b'{"participants": [], "messages": [{"timestamp_ms": 1}]}', "x.json")
    assert registry.sniff(CHAT.read_bytes(), "x").name == "signal"


@pytest.mark.parametrize("batch_size", [1, 2, 50_000])
def test_records_of_one_millisecond_come_in_file_order(tmp_path, batch_size):
    """Texts, a call, a system line and a message with a missing attachment, all of one millisecond,
    are written in the file's order whatever the batch size."""
    import json
    ms = 1709546400000
    kinds = [{"type": "incoming", "source": "+447700900123", "body": "one"},
             {"type": "call-history", "callHistoryDetails": {"wasIncoming": True}},
             {"type": "outgoing", "body": "two"},
             {"type": "group-v2-change"},
             {"type": "incoming", "source": "+447700900123", "body": "three",
              "attachments": [{"fileName": "none.png", "contentType": "image/png"}]},
             {"type": "outgoing", "body": "four"}]
    data = json.dumps([{"sent_at": ms, "id": f"m-{n}", **k} for n, k in enumerate(kinds)]).encode()
    ctx = make_ctx(tmp_path, source_path="signal/Jordan Example.json", batch_size=batch_size)
    table, rejects, _ = run_parser("signal", data, ctx)
    rows = _rows(table)
    assert rejects == []
    assert [(r["locator"], r["kind"], r["body"]) for r in rows] == [
        ("messages[0]", "message", "one"), ("messages[1]", "missed", None), ("messages[2]", "message", "two"),
        ("messages[3]", "system", None), ("messages[4]", "message", "three"), ("messages[5]", "message", "four")]
    assert rows[4]["flags"] == ["attachment_missing"]
