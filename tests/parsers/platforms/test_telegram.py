"""The Telegram Desktop JSON parser: one chat, the whole account, media, calls, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commtrail.errors import InputError
from commtrail.parsers import registry
from commtrail.parsers.base import Owner
from commtrail.parsers.platforms.telegram import sniff
from tests.conftest import FIXTURES, plain_rows, run_on_disk

TG = FIXTURES / "telegram"
PHOTO_SHA = "8ef2ad9804be53d1ecbb5f64483f4ed7427b44fd5bc06fb49827c58de8c8bfea"


def _run(tmp_path: Path, path: Path, data: bytes | None = None, **kw):
    return run_on_disk(tmp_path, "telegram", path, data, **kw)


def _rows(table):
    return plain_rows(table)


def test_one_chat_export(tmp_path):
    path = TG / "chat" / "result.json"
    table, rejects, report = _run(tmp_path, path)
    assert (table.num_rows, len(rejects), report.repairs) == (10, 2, 0)
    assert report.warnings == ["1 photo(s)/file(s) named in the export are not beside it (exported without media, "
                               "or moved); their messages are flagged attachment_missing."]
    rows = _rows(table)
    assert [(r["kind"], r["direction"], r["duration_s"]) for r in rows] == [
        ("message", "incoming", None), ("message", "outgoing", None), ("message", "incoming", None),
        ("message", "incoming", None), ("message", "incoming", None), ("message", "incoming", None),
        ("missed", "incoming", None), ("outgoing", "outgoing", 65), ("system", "unknown", None),
        ("message", "incoming", None)]
    assert rows[1] == {
        "event_id": None, "ts_utc": "2024-03-01T18:31:00+00:00", "ts_local": "2024-03-01T18:31:00",
        "ts_precision": "s", "tz_source": "source", "channel": "telegram", "kind": "message",
        "direction": "outgoing", "sender": "tg:user5550199", "sender_raw": "Sam", "recipients": ["tg:user5550101"],
        "party": None, "conversation": "Jordan Example", "subject": None,
        "body": "Please stop. See https://example.org/order \u2014 no contact.",   # entities joined verbatim
        "duration_s": None, "attachments": None, "flags": [], "source_sha256": "0" * 64, "source_path": str(path),
        "locator": "messages[1]", "parser": "telegram/1",
        "extra": {"chat_id": 5550101, "chat_type": "personal_chat", "id": 102}}
    assert rows[2]["flags"] == ["edited"]
    assert rows[2]["extra"]["edited_unixtime"] == "1709318400"
    assert rows[2]["extra"]["reply_to_message_id"] == 102
    assert rows[3]["flags"] == ["forwarded"] and rows[3]["extra"]["forwarded_from"] == "Alex Sample"
    assert rows[4]["attachments"] == [{"name": "photos/photo_1@01-03-2024_18-35-00.jpg", "mime": "image/jpeg",
                                       "size": 24, "sha256": PHOTO_SHA}]
    assert (tmp_path / "blobs" / PHOTO_SHA).read_bytes() == (TG / "chat/photos/photo_1@01-03-2024_18-35-00.jpg").read_bytes()
    assert rows[5]["flags"] == ["media_omitted"]
    # a path leaving the export's folder is never followed
    assert rows[9]["attachments"] == [{"name": "../../outside/secret.txt", "mime": None, "size": None, "sha256": None}]
    assert rows[9]["flags"] == ["attachment_missing"]
    assert [(r.locator, r.reason) for r in rejects] == [
        ("messages[10]", "date_unixtime 'soon' is not a whole number of seconds"),
        ("messages[11]", "unknown message type 'sticker_pack'")]
    assert rejects[0].raw.startswith('{\n   "id": 111,') and rejects[0].raw.endswith("}")


def test_owner_from_case_sets_direction_in_groups(tmp_path):
    data = (TG / "chat" / "result.json").read_bytes()
    owner = Owner(platform_ids=frozenset({"tg:user5550199"}))
    table, _, _ = _run(tmp_path, TG / "chat" / "result.json", data, owner=owner)
    rows = _rows(table)
    assert rows[0]["recipients"] == ["tg:user5550199"]
    assert rows[1]["direction"] == "outgoing"


def test_full_account_export(tmp_path):
    table, rejects, report = _run(tmp_path, TG / "full" / "result.json")
    assert (table.num_rows, rejects, report.warnings) == (4, [], [])
    rows = _rows(table)
    assert [(r["locator"], r["conversation"], r["kind"], r["direction"], r["recipients"]) for r in rows] == [
        ("chats.list[0] messages[0]", "Jordan Example", "message", "incoming", ["tg:user5550199"]),
        ("chats.list[0] messages[1]", "Jordan Example", "message", "outgoing", ["tg:user5550101"]),
        ("chats.list[1] messages[0]", "Book club", "system", "unknown", []),
        # the owner is known from personal_information.user_id
        ("chats.list[1] messages[1]", "Book club", "message", "incoming", ["tg:user5550199"])]
    assert rows[0]["attachments"][0]["name"] == "chats/chat_01/voice_messages/audio_1@02-03-2024_09-00-00.ogg"
    assert rows[0]["attachments"][0]["mime"] == "audio/ogg"
    assert rows[0]["ts_utc"] == "2024-03-02T09:00:00+00:00"


def test_sniff():
    assert sniff((TG / "chat" / "result.json").read_bytes(), "x")
    assert sniff((TG / "full" / "result.json").read_bytes()[:300], "x")
    assert not sniff(b'{"participants": [{"name": "A"}], "messages": []}', "result.json")
    assert not sniff(b"<smses>", "result.json")
    assert registry.sniff((TG / "chat" / "result.json").read_bytes(), "renamed.txt").name == "telegram"


def test_an_export_without_date_unixtime_is_refused(tmp_path):
    data = b'{"name": "J", "type": "personal_chat", "id": 1, "messages": [{"id": 1, "type": "message", ' \
           b'"date": "2019-01-01T10:00:00", "from": "J", "from_id": "user1", "text": "hi"}]}'
    with pytest.raises(InputError, match="no 'date_unixtime'") as err:
        _run(tmp_path, TG / "chat" / "result.json", data)
    assert err.value.where == "messages[0]"


def test_one_message_without_date_unixtime_after_others_is_a_reject(tmp_path):
    data = b'{"name": "J", "type": "personal_chat", "id": 1, "messages": [{"id": 1, "type": "message", ' \
           b'"date": "2024-01-01T10:00:00", "date_unixtime": "1704103200", "from": "J", "from_id": "user1", ' \
           b'"text": "hi"}, {"id": 2, "type": "message", "date": "2024-01-01T10:01:00", "from": "J", ' \
           b'"from_id": "user1", "text": "no time"}]}'
    table, rejects, _ = _run(tmp_path, TG / "chat" / "result.json", data)
    assert table.num_rows == 1
    assert [(r.locator, r.reason) for r in rejects] == [("messages[1]", "no date_unixtime")]


def test_an_unknown_shape_is_refused(tmp_path):
    data = b'{"about": "x", "personal_information": {"user_id": 1}, "contacts": {"list": []}}'
    assert sniff(data, "result.json")
    with pytest.raises(InputError, match="neither 'messages'"):
        _run(tmp_path, TG / "full" / "result.json", data)


def test_a_truncated_export_keeps_what_came_before(tmp_path):
    data = (TG / "chat" / "result.json").read_bytes()
    cut = data[:data.index(b'"id": 104')]
    table, rejects, report = _run(tmp_path, TG / "chat" / "result.json", cut)
    assert table.num_rows == 3
    assert len(rejects) == 1 and rejects[0].locator.startswith("line ")
    assert report.warnings[0].startswith("the JSON breaks at line ")


def test_stream_reader_gives_the_same_values_in_small_reads():
    import io

    from commtrail.parsers.platforms.jsonstream import JsonStream
    data = (TG / "full" / "result.json").read_bytes()
    for block in (1, 7, 4096):
        js = JsonStream(io.BytesIO(data), block=block)
        got = {}
        for key in js.keys():
            got[key] = js.value()
        assert got == json.loads(data) and js.end()


def test_a_linked_media_file_is_refused_and_the_rest_is_read(tmp_path):
    """A photo that is a link (to any file on the disk) is never opened: its message is kept,
    flagged, with a warning; the export's other messages all go in (issue 14.1, for every platform
    parser through platforms/common.py: store_file)."""
    import shutil
    export = tmp_path / "export"
    shutil.copytree(TG / "chat", export)
    photo = export / "photos" / "photo_1@01-03-2024_18-35-00.jpg"
    photo.unlink()
    (tmp_path / "private.txt").write_text("not part of the export")
    photo.symlink_to(tmp_path / "private.txt")
    table, rejects, report = _run(tmp_path / "out", export / "result.json")
    assert (table.num_rows, len(rejects)) == (10, 2)
    rows = _rows(table)
    assert rows[4]["attachments"] == [{"name": "photos/photo_1@01-03-2024_18-35-00.jpg", "mime": None, "size": None,
                                       "sha256": None}]
    assert rows[4]["flags"] == ["attachment_missing"]
    assert "the file 'photos/photo_1@01-03-2024_18-35-00.jpg' it names was refused (a link, which is not " \
           "followed); it was not read." in report.warnings
    assert not (tmp_path / "out" / "blobs").exists() or \
        all(p.read_bytes() != b"not part of the export" for p in (tmp_path / "out" / "blobs").iterdir())


def _one_second_chat(chat_id: int, first_id: int) -> dict:
    """A chat whose messages all fall in one second: plain texts between a service line, a call, a
    photo (not beside the export) and an edited text, which the parser builds the general way."""
    base = {"type": "message", "date": "2024-03-01T18:30:05", "date_unixtime": "1709317805",
            "from": "Jordan Example", "from_id": f"user{chat_id}"}
    special = [
        {"type": "service", "actor": "Jordan Example", "actor_id": f"user{chat_id}", "action": "pin_message",
         "message_id": first_id, "text": ""},
        {"type": "service", "actor": "Jordan Example", "actor_id": f"user{chat_id}", "action": "phone_call",
         "discard_reason": "missed", "text": ""},
        {"photo": "photos/missing.jpg", "width": 1, "height": 1, "text": ""},
        {"edited_unixtime": "1709317900", "text": "changed"}]
    messages = []
    for n in range(9):
        m = dict(base, **(special[n // 2] if n % 2 else {"text": f"plain {n}"}))
        for k in ("date", "date_unixtime"):
            m[k] = base[k]
        messages.append({"id": first_id + n, **m})
    return {"name": f"Chat {chat_id}", "type": "personal_chat", "id": chat_id, "messages": messages}


@pytest.mark.parametrize("batch_size", [1, 2, 3, 50_000])
def test_records_of_one_second_come_in_file_order(tmp_path, batch_size):
    """Plain messages (built column-wise) and the others (one by one) are written in the file's
    order, within a chat and across the chats of a full export, whatever the batch size."""
    doc = {"about": "x", "personal_information": {"user_id": 5550199},
           "chats": {"about": "x", "list": [_one_second_chat(5550101, 1), _one_second_chat(5550102, 20)]}}
    path = tmp_path / "export" / "result.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc), encoding="utf-8")
    table, rejects, _ = _run(tmp_path, path, batch_size=batch_size)
    rows = plain_rows(table)
    assert rejects == []
    assert [r["locator"] for r in rows] == [f"chats.list[{c}] messages[{i}]" for c in (0, 1) for i in range(9)]
    assert [r["kind"] for r in rows[:9]] == ["message", "system", "message", "missed", "message", "message",
                                            "message", "message", "message"]
    assert [r["body"] for r in rows[:9]] == ["plain 0", "", "plain 2", "", "plain 4", "", "plain 6", "changed",
                                            "plain 8"]
    assert rows[5]["flags"] == ["attachment_missing"] and rows[7]["flags"] == ["edited"]
    assert {r["ts_utc"] for r in rows} == {"2024-03-01T18:30:05+00:00"}
    assert [r["extra"]["id"] for r in rows] == [*range(1, 10), *range(20, 29)]


def test_exhibits_of_one_second_follow_the_file_order(tmp_path):
    """Through ``commtrail ingest``: the exhibit numbers of records of one second follow the order of
    their messages in the export, plain and special messages alike."""
    from commtrail.case import Case
    from commtrail.cli import main
    from commtrail.timeline.master import read_master
    from tests.conftest import CASE_TOML

    case_dir, export = tmp_path / "case", tmp_path / "in" / "telegram"
    case_dir.mkdir()
    export.mkdir(parents=True)
    (case_dir / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    (export / "result.json").write_text(json.dumps(_one_second_chat(5550101, 1)), encoding="utf-8")
    assert main(["ingest", str(case_dir), str(tmp_path / "in")]) == 0
    rows = sorted(read_master(Case(case_dir), ["exhibit", "locator", "body"]).to_pylist(), key=lambda r: r["exhibit"])
    assert [(r["exhibit"], r["locator"]) for r in rows] == [(f"CT-{n + 1:06d}", f"messages[{n}]") for n in range(9)]
    assert [r["body"] for r in rows][:3] == ["plain 0", "", "plain 2"]


def test_a_call_duration_that_no_call_has_is_left_empty_and_counted(tmp_path):
    """duration_seconds -5, 12.5 and "60" were read as -5, 12 and 60 seconds; a duration is a whole
    number of seconds from 0 (42.0 is 42), anything else stays only in extra and is counted."""
    base = {"type": "service", "date": "2024-03-01T18:30:05", "date_unixtime": "1709317805", "actor": "Jordan Example",
            "actor_id": "user5550101", "action": "phone_call", "text": ""}
    given = [30, -5, 12.5, "60", 42.0]
    doc = {"name": "Jordan Example", "type": "personal_chat", "id": 5550101,
           "messages": [{"id": n + 1, **base, "duration_seconds": d} for n, d in enumerate(given)]}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    table, rejects, report = _run(tmp_path, path)
    rows = plain_rows(table)
    assert rejects == []
    assert [(r["duration_s"], r["extra"]["duration_seconds"]) for r in rows] == [
        (30, 30), (None, -5), (None, 12.5), (None, "60"), (42, 42.0)]
    assert report.warnings == ["3 call(s) have a duration_seconds that is no whole number of seconds (0 or more): "
                               "their duration is left empty, the value is kept in extra.duration_seconds."]


def test_a_date_unixtime_that_is_no_whole_number_is_a_reject_not_a_crash(tmp_path):
    """date_unixtime 1e309 (infinity to JSON readers) stopped the parse with a traceback, and
    1709317805.9 was cut to a time; only a whole number of seconds (or its digits) is one."""
    base = {"type": "message", "date": "2024-03-01T18:30:05", "from": "Jordan Example", "from_id": "user5550101"}
    doc = {"name": "Jordan Example", "type": "personal_chat", "id": 5550101,
           "messages": [{"id": 1, **base, "date_unixtime": "1709317805", "text": "a"},
                        {"id": 4, **base, "date_unixtime": "1709317807\x1e", "text": "d"},
                        {"id": 2, **base, "date_unixtime": 1709317806, "text": "b"}]}
    text = json.dumps(doc).replace('"date_unixtime": 1709317806', '"date_unixtime": 1e309')
    text = text.replace('"text": "b"}]', '"text": "b"}, {"id": 3, "type": "message", "date": "2024-03-01T18:30:05", '
                                         '"date_unixtime": 1709317805.9, "text": "c"}]')
    path = tmp_path / "result.json"
    path.write_text(text, encoding="utf-8")
    table, rejects, _ = _run(tmp_path, path)
    assert [r["body"] for r in plain_rows(table)] == ["a", "d"]   # (d: digits and a separator, which int() refused)
    assert [r.reason for r in rejects] == ["date_unixtime inf is not a whole number of seconds",
                                           "date_unixtime 1709317805.9 is not a whole number of seconds"]


def test_values_nested_thousands_deep_end_the_read_like_broken_json(tmp_path):
    """The stream reader's C scanner raised RecursionError (a traceback) on a message nested 100,000
    arrays deep; now that is where the JSON breaks: the messages before it are kept."""
    head = ('{"name": "Jordan Example", "type": "personal_chat", "id": 5550101, "messages": ['
            '{"id": 1, "type": "message", "date": "2024-03-01T18:30:05", "date_unixtime": "1709317805", '
            '"from": "Jordan Example", "from_id": "user5550101", "text": "a"}, ')
    path = tmp_path / "result.json"
    path.write_text(head + '{"id": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}]}", encoding="utf-8")
    table, rejects, report = _run(tmp_path, path)
    assert [r["body"] for r in plain_rows(table)] == ["a"]
    assert [r.reason for r in rejects] == ["not valid JSON: values nested more deeply than the JSON reader can follow "
                                           "(line 1)"]
    assert report.warnings[0].startswith("the JSON breaks at line 1 (values nested more deeply")


def test_a_repeated_key_gives_its_messages_locators_of_their_own(tmp_path):
    """A damaged export that repeats "chats" (or a chat's "messages") gave two records the locator
    "chats.list[0] messages[0]" (found by the fuzzer); verify and the master rely on a locator naming
    one record. The repeat is marked: chats#2, messages#2."""
    message = {"id": 1, "type": "message", "date": "2024-03-01T18:30:05", "date_unixtime": "1709317805",
               "from": "Jordan Example", "from_id": "user5550101", "text": "a"}
    chat = json.dumps({"name": "Jordan Example", "type": "personal_chat", "id": 5550101, "messages": [message]})
    twice = chat[:-1] + ', "messages": ' + json.dumps([dict(message, text="b")]) + "}"
    path = tmp_path / "result.json"
    path.write_text('{"chats": {"list": [' + twice + ']}, "chats": {"list": [' + chat + "]}}", encoding="utf-8")
    table, rejects, _ = _run(tmp_path, path)
    assert rejects == []
    assert [(r["locator"], r["body"]) for r in plain_rows(table)] == [
        ("chats.list[0] messages[0]", "a"), ("chats.list[0] messages#2 messages[0]", "b"),
        ("chats#2.list[0] messages[0]", "a")]
