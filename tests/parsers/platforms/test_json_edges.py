"""A lone UTF-16 surrogate escape ("\\ud83d", half of an emoji) in a platform's JSON: the text keeps
U+FFFD in its place, counted as a repair with a warning, and the rest of the file is read (it used to
fail the whole file with a UnicodeEncodeError)."""

from __future__ import annotations

import json

from tests.conftest import FIXTURES, plain_rows, run_on_disk

WARNING = ("{n} lone UTF-16 surrogate escape(s) (half of a character, such as \\ud83d) replaced with U+FFFD; "
           "the file holds them as written.")


def test_messenger_keeps_the_message_with_u_fffd_and_says_so(tmp_path):
    thread = FIXTURES / "meta" / "messages" / "inbox" / "jordanexample_1234567890"
    doc = {"participants": [{"name": "Jordan Example"}, {"name": "Sam Smith"}], "title": "Jordan Example",
           "thread_path": "inbox/jordanexample_1234567890", "messages": [
               {"sender_name": "Jordan Example", "timestamp_ms": 1710492072000, "content": "bad \\ud83d here"},
               {"sender_name": "Jordan Example", "timestamp_ms": 1710492012000, "content": "fine \\ud83d\\ude00"}]}
    data = json.dumps(doc).replace("\\\\u", "\\u").encode()
    assert b'"bad \\ud83d here"' in data
    table, rejects, report = run_on_disk(tmp_path, "meta", thread / "message_9.json", data)
    assert [r["body"] for r in plain_rows(table)] == ["fine \U0001F600", "bad \ufffd here"]
    assert (len(rejects), report.repairs) == (0, 1)
    assert WARNING.format(n=1) in report.warnings


def test_telegram_keeps_both_messages_and_says_so(tmp_path):
    text = ('{"name": "Jordan", "type": "personal_chat", "id": 4000001, "messages": ['
            '{"id": 1, "type": "message", "date": "2024-03-15T08:40:12", "date_unixtime": "1710492012", '
            '"from": "Jordan", "from_id": "user5550101", "text": "bad \\ud83d here", '
            '"text_entities": [{"type": "plain", "text": "bad \\ud83d here"}]}, '
            '{"id": 2, "type": "message", "date": "2024-03-15T08:41:12", "date_unixtime": "1710492072", '
            '"from": "Jordan", "from_id": "user5550101", "text": "fine", '
            '"text_entities": [{"type": "plain", "text": "fine"}]}]}')
    table, rejects, report = run_on_disk(tmp_path, "telegram", tmp_path / "result.json", text.encode())
    assert [r["body"] for r in plain_rows(table)] == ["bad \ufffd here", "fine"]
    assert (len(rejects), report.repairs) == (0, 2)     # the text and its entity
    assert WARNING.format(n=2) in report.warnings


def test_a_numeric_geoblock_value_is_kept_as_written_on_the_column_wise_path(tmp_path):
    """0 and 1 are equal to False and True as dictionary keys: the one-batch path must not turn them
    into booleans (the message-by-message path keeps them as written)."""
    thread = FIXTURES / "meta" / "messages" / "inbox" / "jordanexample_1234567890"
    doc = {"participants": [{"name": "Jordan Example"}, {"name": "Sam Smith"}], "title": "Jordan Example",
           "thread_path": "inbox/jordanexample_1234567890", "messages": [
               {"sender_name": "Jordan Example", "timestamp_ms": 1710492072000, "content": "a",
                "is_geoblocked_for_viewer": 1},
               {"sender_name": "Jordan Example", "timestamp_ms": 1710492012000, "content": "b",
                "is_geoblocked_for_viewer": False}]}
    table, _, _ = run_on_disk(tmp_path, "meta", thread / "message_9.json", json.dumps(doc).encode())
    assert [r["extra"] for r in plain_rows(table)] == [
        {"is_geoblocked_for_viewer": False}, {"is_geoblocked_for_viewer": 1}]
