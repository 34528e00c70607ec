"""The Google Voice Takeout parser: texts, group texts, calls, voicemail transcripts, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from commtrail.errors import InputError
from commtrail.parsers import registry
from commtrail.parsers.platforms.gvoice import sniff
from tests.conftest import FIXTURES, make_ctx, plain_rows, run_parser

CALLS = FIXTURES / "gvoice" / "Voice" / "Calls"
TEXT = CALLS / "Jordan Example - Text - 2024-03-01T18_30_05Z.html"


def _run(tmp_path: Path, path: Path, data: bytes | None = None):
    siblings = {p.name: (lambda p=p: open(p, "rb")) for p in CALLS.iterdir() if p != path}
    ctx = make_ctx(tmp_path, source_path=path.name, siblings=siblings, phone_region="US",
                   timezone="America/New_York")
    return run_parser("gvoice", path.read_bytes() if data is None else data, ctx)


def _rows(table):
    return plain_rows(table)


def test_one_to_one_texts(tmp_path):
    table, rejects, report = _run(tmp_path, TEXT)
    assert (table.num_rows, len(rejects), report.warnings, report.repairs) == (3, 1, [], 0)
    rows = _rows(table)
    assert rows[0] == {
        "event_id": None, "ts_utc": "2024-03-01T18:30:05.120000+00:00", "ts_local": "2024-03-01T10:30:05.120-08:00",
        "ts_precision": "ms", "tz_source": "source", "channel": "gvoice", "kind": "message", "direction": "incoming",
        "sender": "+12025550142", "sender_raw": "Jordan Example", "recipients": ["+12025550199"], "party": None,
        "conversation": "Google Voice +12025550142", "subject": None, "body": "Pick up.\nI'm outside & waiting.",
        "duration_s": None, "attachments": None, "flags": [], "source_sha256": "0" * 64, "source_path": TEXT.name,
        "locator": "message 1", "parser": "gvoice/1",
        "extra": {"labels": ["Text", "Inbox"], "owner_voice_number": "+12025550199", "user_deleted": "False"}}
    # "Me" is the owner, and the owner's own Voice number is the sender
    assert (rows[1]["direction"], rows[1]["sender"], rows[1]["recipients"]) == ("outgoing", "+12025550199",
                                                                                 ["+12025550142"])
    assert rows[2]["attachments"] == [{
        "name": "Jordan Example - Text - 2024-03-01T18_30_05Z-3-1.jpg", "mime": "image/jpeg", "size": 23,
        "sha256": "86bf323a019c0d8a1c5436bafad7af3377b89f1edefd1402a3c7729228550596"}]
    assert [(r.locator, r.reason) for r in rejects] == [("message 4", "no readable time (abbr.dt title)")]
    assert "broken time" in rejects[0].raw


def test_group_texts(tmp_path):
    table, rejects, _ = _run(tmp_path, CALLS / "Group Conversation - 2024-03-02T18_00_00Z.html")
    rows = _rows(table)
    assert [(r["direction"], r["sender"], r["recipients"], r["conversation"]) for r in rows] == [
        ("incoming", "+12025550142", ["+12025550150", "+12025550199"], "Google Voice +12025550142, +12025550150"),
        ("outgoing", "+12025550199", ["+12025550142", "+12025550150"], "Google Voice +12025550142, +12025550150")]


@pytest.mark.parametrize("name, kind, direction, sender, recipients, duration", [
    ("Jordan Example - Missed - 2024-03-03T02_00_00Z.html", "missed", "incoming", "+12025550142", [], 0),
    ("Jordan Example - Received - 2024-03-03T02_10_00Z.html", "incoming", "incoming", "+12025550142", [], 65),
    (" - Placed - 2024-03-03T02_20_00Z.html", "outgoing", "outgoing", None, ["withheld"], 2),
])
def test_calls(tmp_path, name, kind, direction, sender, recipients, duration):
    table, rejects, report = _run(tmp_path, CALLS / name)
    assert (table.num_rows, rejects, report.warnings) == (1, [], [])
    row = _rows(table)[0]
    assert (row["kind"], row["direction"], row["sender"], row["recipients"], row["duration_s"], row["locator"]) == \
        (kind, direction, sender, recipients, duration, "call")


def test_voicemail_keeps_the_transcript_as_the_providers(tmp_path):
    table, _, _ = _run(tmp_path, CALLS / "Jordan Example - Voicemail - 2024-03-03T02_30_00Z.html")
    row = _rows(table)[0]
    assert (row["kind"], row["body"], row["flags"], row["duration_s"]) == (
        "voicemail", "You can't hide from me forever.", ["provider_transcript"], 22)
    assert row["extra"]["transcript"] == "Google Voice's automatic transcript, not the caller's own text"
    assert row["ts_utc"] == "2024-03-03T02:30:00+00:00"
    assert row["attachments"][0]["name"] == "Jordan Example - Voicemail - 2024-03-03T02_30_00Z.mp3"
    assert row["attachments"][0]["mime"] == "audio/mpeg"


def test_unknown_call_kind_is_refused(tmp_path):
    data = (CALLS / "Jordan Example - Missed - 2024-03-03T02_00_00Z.html").read_bytes().replace(b"Missed</a>", b"Beamed</a>")
    with pytest.raises(InputError, match="none of the call kinds commtrail knows"):
        _run(tmp_path, CALLS / "x.html", data)


def test_a_missing_attachment_is_flagged(tmp_path):
    ctx = make_ctx(tmp_path, source_path=TEXT.name, phone_region="US")
    table, _, report = run_parser("gvoice", TEXT.read_bytes(), ctx)
    assert _rows(table)[2]["flags"] == ["attachment_missing"]
    assert report.warnings == ["1 file(s) the page names are not beside it; their records are flagged "
                               "attachment_missing."]


def test_sniff():
    assert sniff(TEXT.read_bytes(), "x")
    assert sniff((CALLS / " - Placed - 2024-03-03T02_20_00Z.html").read_bytes(), "x")
    assert not sniff(b"<html><body><div class='other'></div></body></html>", "x.html")
    assert registry.sniff(TEXT.read_bytes(), "x").name == "gvoice"


@pytest.mark.parametrize("batch_size", [1, 2, 50_000])
def test_messages_of_one_second_come_in_page_order(tmp_path, batch_size):
    """Texts and MMS (a picture that is not beside the page) of one second, written in the page's order."""
    def message(text: str, image: bool) -> str:
        pic = '<div><img src="missing-picture" alt="Image MMS Attachment" /></div>' if image else ""
        return ('<div class="message"><abbr class="dt" title="2024-03-01T10:30:05.000-08:00">t</abbr>: '
                '<cite class="sender vcard"><a class="tel" href="tel:+12025550142"><span class="fn">Jordan Example'
                f'</span></a></cite>: <q>{text}</q>{pic}</div>')
    page = ('<?xml version="1.0" ?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Jordan Example</title>'
            '</head><body><div class="hChatLog hfeed">'
            + "".join(message(f"text {n}", n % 2 == 1) for n in range(5))
            + '</div><div class="tags">Labels: <a rel="tag" href="http://www.google.com/voice#sms">Text</a></div>'
            '</body></html>').encode()
    ctx = make_ctx(tmp_path, source_path="page.html", phone_region="US", timezone="America/New_York",
                   batch_size=batch_size)
    table, rejects, _ = run_parser("gvoice", page, ctx)
    rows = _rows(table)
    assert rejects == []
    assert [(r["locator"], r["body"], r["flags"]) for r in rows] == [
        (f"message {n + 1}", f"text {n}", ["attachment_missing"] if n % 2 else []) for n in range(5)]


def test_a_duration_past_a_float_is_no_duration_not_a_crash():
    """400 digits of seconds are an infinity as a float, which int() refused with an error."""
    from commtrail.parsers.platforms.gvoice import _seconds
    assert (_seconds("PT1M30S"), _seconds("PT" + "9" * 400 + "S"), _seconds("PT2147483648S")) == (90, None, None)
    # a fraction is rounded (half to even), as the iPhone's call durations are; it was cut
    assert (_seconds("PT5.6S"), _seconds("PT4.5S"), _seconds("PT2147483647.6S")) == (6, 4, None)


def test_a_comment_inside_a_message_is_no_text_and_no_crash(tmp_path):
    """An HTML comment inside a message's <q> stopped the parse with lxml's ValueError (found by the
    fuzzer); a comment is no text of the message, the text around it is kept."""
    data = TEXT.read_bytes().replace(b"<q>Please leave me alone.</q>", b"<q>Please <!-- x -->leave me alone.</q>")
    table, rejects, _ = _run(tmp_path / "comment", TEXT, data)
    before, before_rejects, _ = _run(tmp_path / "plain", TEXT)
    assert _rows(table) == _rows(before) and len(rejects) == len(before_rejects)


def test_a_duration_with_a_fraction_is_rounded_and_kept_as_written(tmp_path):
    """PT1M5.6S was cut to 65 s; it is 66 s, and the duration as Google wrote it stays in extra."""
    path = CALLS / "Jordan Example - Received - 2024-03-03T02_10_00Z.html"
    table, rejects, _ = _run(tmp_path, path, path.read_bytes().replace(b'title="PT1M5S"', b'title="PT1M5.6S"'))
    [row] = _rows(table)
    assert (row["duration_s"], row["extra"]["duration"], rejects) == (66, "PT1M5.6S", [])
