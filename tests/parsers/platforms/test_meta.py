"""The Messenger / Instagram parser: mojibake repair, a thread split over two files, media, refusals."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from commtrail.case import Case
from commtrail.cli import main
from commtrail.errors import InputError
from commtrail.parsers import registry
from commtrail.parsers.base import Owner
from commtrail.parsers.platforms.meta import sniff
from commtrail.timeline.master import read_master
from tests.conftest import CASE_TOML, FIXTURES, plain_rows, run_on_disk

THREAD = FIXTURES / "meta" / "messages" / "inbox" / "jordanexample_1234567890"
INSTA = (FIXTURES / "meta" / "instagram" / "your_instagram_activity" / "messages" / "inbox"
         / "jordan.example_17841400000000000")
SAM = Owner(platform_ids=frozenset({"fb:Sam Smith"}))


def _run(tmp_path: Path, path: Path, data: bytes | None = None, **kw):
    return run_on_disk(tmp_path, "meta", path, data, **kw)


def _rows(table):
    return plain_rows(table)


def test_newest_file_of_a_thread(tmp_path):
    path = THREAD / "message_1.json"
    table, rejects, report = _run(tmp_path, path, owner=SAM)
    assert (table.num_rows, len(rejects), report.repairs) == (6, 1, 2)
    assert report.warnings == ["2 text(s) were written byte by byte as \\u00XX characters (Meta's mojibake) and "
                               "were decoded as UTF-8."]
    rows = _rows(table)
    # written oldest first; the locator keeps the place in the (newest-first) file
    assert [(r["locator"], r["kind"], r["direction"], r["duration_s"], r["flags"]) for r in rows] == [
        ("messages[5]", "missed", "incoming", 0, []),
        ("messages[4]", "message", "incoming", None, []),
        ("messages[3]", "message", "incoming", None, []),
        ("messages[2]", "message", "incoming", None, ["deleted"]),
        ("messages[1]", "outgoing", "outgoing", 42, []),
        ("messages[0]", "message", "incoming", None, [])]
    assert rows[5] == {
        "event_id": None, "ts_utc": "2024-03-01T19:06:40.123000+00:00", "ts_local": "2024-03-01T19:06:40.123",
        "ts_precision": "ms", "tz_source": "source", "channel": "messenger", "kind": "message",
        "direction": "incoming", "sender": "fb:Jordan Example", "sender_raw": "Jordan Example",
        "recipients": ["fb:Sam Smith"], "party": None, "conversation": "Jordan Example [jordanexample_1234567890]",
        "subject": None, "body": "Why won't you answer? \U0001F621", "duration_s": None, "attachments": None,
        "flags": [], "source_sha256": "0" * 64, "source_path": str(path), "locator": "messages[0]",
        "parser": "meta/1", "extra": {"is_geoblocked_for_viewer": False}}
    assert rows[1]["extra"]["share"] == {"link": "https://example.com/post/42"}
    assert rows[2]["extra"]["reactions"] == [{"actor": "Sam Smith", "reaction": "\U0001F622"}]
    assert rows[2]["attachments"] == [{"name": "messages/inbox/jordanexample_1234567890/photos/3015_n.jpg",
                                       "mime": "image/jpeg", "size": 19, "sha256": rows[2]["attachments"][0]["sha256"]}]
    assert (tmp_path / "blobs" / rows[2]["attachments"][0]["sha256"]).read_bytes() == \
        (THREAD / "photos" / "3015_n.jpg").read_bytes()
    assert [(r.locator, r.reason) for r in rejects] == [("messages[6]", "timestamp_ms 'yesterday' is not a time")]


def test_older_file_repairs_text_and_refuses_a_path_leaving_the_thread(tmp_path):
    table, rejects, report = _run(tmp_path, THREAD / "message_2.json", owner=SAM)
    assert (table.num_rows, rejects, report.repairs) == (4, [], 1)
    rows = _rows(table)
    assert [r["body"] for r in rows] == [None, None, "Ok", "Caf\u00e9 at 8? Don't be late."]
    assert [r["ts_local"] for r in rows] == ["2024-02-29T17:16:40.000", "2024-02-29T17:33:20.000",
                                             "2024-02-29T17:50:00.000", "2024-02-29T18:06:40.000"]
    assert rows[0]["flags"] == ["attachment_missing"] and rows[0]["attachments"][0]["sha256"] is None
    assert rows[1]["attachments"][0]["size"] == 20


def test_instagram_is_told_by_its_paths_and_without_owner_names_direction_is_unknown(tmp_path):
    table, rejects, report = _run(tmp_path, INSTA / "message_1.json")
    rows = _rows(table)
    assert (table.num_rows, rejects, report.repairs) == (2, [], 3)   # title, participant, sender (once)
    assert {r["channel"] for r in rows} == {"instagram"}
    assert [(r["sender"], r["direction"]) for r in rows] == [("ig:Jord\u00e1n E.", "unknown")] * 2
    assert rows[0]["conversation"] == "Jord\u00e1n E. [jordan.example_17841400000000000]"
    assert rows[1]["attachments"][0]["mime"] == "image/png"
    assert report.warnings[0].startswith("none of the instagram names of the owner in case.toml")


def test_sniff():
    assert sniff((THREAD / "message_1.json").read_bytes(), "x")
    assert sniff(b'{"participants": ["A", "B"], "threadName": "A", "messages": [{"senderName": "A"}]}', "x")
    assert not sniff(b'{"name": "J", "type": "personal_chat", "id": 1, "messages": []}', "message_1.json")
    assert not sniff(b'{"participants": [], "title": "x"}', "message_1.json")
    assert registry.sniff((THREAD / "message_2.json").read_bytes(), "x").name == "meta"


@pytest.mark.parametrize("data, match", [
    (b'{"participants": ["Jordan", "Sam"], "threadName": "Jordan", "messages": [{"senderName": "Jordan", '
     b'"timestamp": 1709320000000, "text": "hi", "type": "text"}]}', "end-to-end-encrypted Messenger chats"),
    (b'{"participants": [{"name": "A"}], "messages": [{"sender_name": "A", "time": 1}], "x": "timestamp_ms"}',
     "first message has no 'timestamp_ms'"),
    (b'{"participants": [{"name": "A"}], "messages": {"timestamp_ms": 1}}', "no 'messages' list"),
    (b'{"participants": [{"name": "A"}], "messages": [{"timestamp_ms": 1, ', "not valid JSON"),
])
def test_unknown_variants_are_refused_whole(tmp_path, data, match):
    with pytest.raises(InputError, match=match):
        list(_run(tmp_path, THREAD / "message_1.json", data))


def test_split_thread_ingests_as_one_conversation(tmp_path, capsys):
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    toml = CASE_TOML.replace('whatsapp_names = ["Sam"]', 'whatsapp_names = ["Sam"]\nmessenger_names = ["Sam Smith"]')
    toml = toml.replace('whatsapp_names = ["Jordan"]', 'whatsapp_names = ["Jordan"]\nmessenger_names = ["Jordan Example"]')
    (case_dir / "case.toml").write_text(toml, encoding="utf-8")
    download = tmp_path / "facebook-sam.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for path in sorted(THREAD.rglob("*")):
            if path.is_file():
                archive.write(path, "your_facebook_activity/messages/inbox/jordanexample_1234567890/"
                              + path.relative_to(THREAD).as_posix())
    assert main(["ingest", str(case_dir), str(download)]) == 0
    out = capsys.readouterr().out
    assert "failed" not in out
    master = read_master(Case(case_dir)).to_pylist()
    assert len(master) == 10
    assert {r["conversation"] for r in master} == {"Jordan Example [jordanexample_1234567890]"}
    assert {r["party"] for r in master} == {"Jordan"}
    assert [r["ts_utc"].isoformat() for r in master][:2] == ["2024-02-29T17:16:40+00:00", "2024-02-29T17:33:20+00:00"]
    # the same thread downloaded again (a second copy of a file) adds no event
    again = tmp_path / "again"
    shutil.copytree(THREAD / "photos", again / "jordanexample_1234567890" / "photos")
    (again / "jordanexample_1234567890" / "message_1.json").write_bytes(
        (THREAD / "message_1.json").read_bytes().replace(b'"magic_words": []', b'"magic_words": [""]'))
    assert main(["ingest", str(case_dir), str(again)]) == 0
    master = read_master(Case(case_dir)).to_pylist()
    assert len(master) == 10 and max(len(r["occurrences"]) for r in master) == 2


def _thread_file(tmp_path: Path, thread: str, messages: list[dict]) -> Path:
    """``messages/inbox/<thread>/message_1.json`` of a thread between Sam Smith and Jordan Example."""
    doc = {"participants": [{"name": "Sam Smith"}, {"name": "Jordan Example"}], "messages": messages,
           "title": "Jordan Example", "thread_path": f"inbox/{thread}"}
    path = tmp_path / "messages" / "inbox" / thread / "message_1.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("batch_size", [1, 2, 3, 50_000])
def test_records_of_one_millisecond_come_oldest_first(tmp_path, batch_size):
    """A file is newest first; its records are written in the reverse order (``messages[N-1]`` first),
    plain messages (built column-wise) and the others (a call, an unsubscribe line, a photo, an
    unsent message) alike, whatever the batch size."""
    special = [{"type": "Call", "call_duration": 0}, {"type": "Unsubscribe", "content": "Sam Smith left."},
               {"photos": [{"uri": "messages/inbox/t_1/photos/none.jpg"}]}, {"is_unsent": True}]
    messages = [{"sender_name": "Jordan Example", "timestamp_ms": 1709317805123,
                 **(special[n // 2] if n % 2 else {"content": f"plain {n}"})} for n in range(9)]
    path = _thread_file(tmp_path, "t_1", messages)
    table, rejects, _ = _run(tmp_path, path, owner=SAM, batch_size=batch_size)
    rows = _rows(table)
    assert rejects == []
    assert [r["locator"] for r in rows] == [f"messages[{n}]" for n in range(8, -1, -1)]
    assert [r["kind"] for r in rows] == ["message", "message", "message", "message", "message", "system",
                                         "message", "missed", "message"]
    assert [r["body"] for r in rows] == ["plain 8", None, "plain 6", None, "plain 4", "Sam Smith left.",
                                         "plain 2", None, "plain 0"]
    assert rows[1]["flags"] == ["deleted"] and rows[3]["flags"] == ["attachment_missing"]


def _whole_file_thread(tmp_path: Path) -> Path:
    """A file without media or rejects (built in one column-wise batch): plain messages, a call
    each way, a missed call, an unsent message, a reaction with mojibake, a share, a system line."""
    special = [{"type": "Call", "call_duration": 42, "content": "Sam Smith called you."},
               {"is_unsent": True, "is_geoblocked_for_viewer": False},
               {"reactions": [{"reaction": "\u00f0\u009f\u0098\u00a1", "actor": "Sam Smith"}], "content": "ok"},
               {"type": "Subscribe", "content": "Jordan Example added Sam Smith."},
               {"share": {"link": "https://example.com/p/1"}, "content": "caf\u00c3\u00a9"},
               {"type": "Call", "call_duration": 0}]
    messages = []
    for n in range(12):
        sender = "Sam Smith" if n % 3 == 0 else "Jordan Example"
        extra = special[n // 2] if n % 2 else {"content": f"plain {n} d\u00c3\u00a9j\u00c3\u00a0",
                                               "is_geoblocked_for_viewer": n == 4}
        messages.append({"sender_name": sender, "timestamp_ms": 1709317805123 - n * 1000, **extra})
    path = _thread_file(tmp_path, "t_2", messages)
    return path


def test_a_whole_file_in_one_batch_gives_the_records_of_the_general_way(tmp_path):
    """The whole-file column-wise batch (calls, unsent, reactions, system lines among plain
    messages) gives the same records, repairs and dictionaries as one batch per record."""
    path = _whole_file_thread(tmp_path)
    whole, rejects, report = _run(tmp_path / "a", path, owner=SAM)
    single, _, report_single = _run(tmp_path / "b", path, owner=SAM, batch_size=1)
    assert rejects == [] and report.repairs == report_single.repairs == 8
    rows = _rows(whole)
    assert rows == _rows(single)
    assert [(r["locator"], r["kind"], r["direction"], r["duration_s"], r["flags"]) for r in rows] == [
        ("messages[11]", "missed", "incoming", 0, []),
        ("messages[10]", "message", "incoming", None, []),
        ("messages[9]", "message", "outgoing", None, []),
        ("messages[8]", "message", "incoming", None, []),
        ("messages[7]", "system", "unknown", None, []),
        ("messages[6]", "message", "outgoing", None, []),
        ("messages[5]", "message", "incoming", None, []),
        ("messages[4]", "message", "incoming", None, []),
        ("messages[3]", "message", "outgoing", None, ["deleted"]),
        ("messages[2]", "message", "incoming", None, []),
        ("messages[1]", "incoming", "incoming", 42, []),
        ("messages[0]", "message", "outgoing", None, [])]
    assert [r["body"] for r in rows] == [None, "plain 10 déjà", "café", "plain 8 déjà",
                                         "Jordan Example added Sam Smith.", "plain 6 déjà", "ok", "plain 4 déjà",
                                         None, "plain 2 déjà", "Sam Smith called you.", "plain 0 déjà"]
    assert rows[2]["extra"] == {"share": {"link": "https://example.com/p/1"}}
    assert rows[6]["extra"] == {"reactions": [{"actor": "Sam Smith", "reaction": "\U0001F621"}]}
    assert rows[7]["extra"] == {"is_geoblocked_for_viewer": True}
    assert rows[4]["extra"] == {"type": "Subscribe"}
    assert rows[8]["extra"] == {"is_geoblocked_for_viewer": False, "is_unsent": True}
    assert rows[0]["extra"] == {"type": "Call"}
    # one batch; its dictionaries list the plain messages' values first, as the merge of the
    # plain records with the others made them
    (batch,) = whole.to_batches()
    assert batch.column("kind").dictionary.to_pylist() == ["message", "missed", "system", "incoming"]
    assert batch.column("direction").dictionary.to_pylist() == ["incoming", "outgoing", "unknown"]


@pytest.mark.parametrize("batch_size", [1, 50_000])
def test_a_call_duration_that_no_call_has_is_kept_not_read_as_missed(tmp_path, batch_size):
    """A call_duration that is no whole number of seconds from 0 (negative, fractional, a text, true)
    said "missed" (a text, a fraction, true) or a negative duration; now the duration is empty, the
    kind is call (answered or missed is unknown) and the value is kept in extra and counted. 42.0 is
    42 seconds; 0 is a missed call, as before."""
    given = [42, 0, -5, 12.5, "120", True, 42.0]
    messages = [{"sender_name": "Jordan Example", "timestamp_ms": 1709317805123 - n * 1000, "type": "Call",
                 "call_duration": d} for n, d in enumerate(given)]
    path = _thread_file(tmp_path, "t_3", messages)
    table, rejects, report = _run(tmp_path, path, owner=SAM, batch_size=batch_size)
    rows = sorted(_rows(table), key=lambda r: r["locator"])
    assert rejects == []
    assert [(r["kind"], r["duration_s"], (r["extra"] or {}).get("call_duration_raw")) for r in rows] == [
        ("incoming", 42, None), ("missed", 0, None), ("call", None, -5), ("call", None, 12.5),
        ("call", None, "120"), ("call", None, True), ("incoming", 42, None)]
    assert report.warnings == ["4 call(s) have a call_duration that is no whole number of seconds (0 or more): their "
                               "duration is left empty and their kind is call (answered or missed is unknown), the "
                               "value is kept in extra.call_duration_raw."]
