"""Sentences that read true: an owner still called "Me", a window the records do not cover, an
empty group. Chris writes once 12 hours before the request for no contact (the records begin
then) and twice after it; the owner answers twice; a WhatsApp system line belongs to nobody."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from conftest import make_case
from rich.console import Console

from commtrail.outputs.analysis import analyse, sentences
from commtrail.outputs.charts import chart_data
from commtrail.outputs.report_data import gather
from commtrail.outputs.stats import print_stats

TOML = """
[case]
title = "Unnamed owner"
timezone = "UTC"
phone_region = "GB"

[owner]
name = "Me"
phones = ["+44 7700 900999"]

[[party]]
name = "Chris"
phones = ["+44 7700 900222"]

[[event]]
date = "2024-05-10T12:00"
kind = "no_contact_request"
"""

OWNER, CHRIS = "+447700900999", "+447700900222"


def sms(when, direction="incoming"):
    inc = direction == "incoming"
    return {"ts_utc": when, "channel": "sms", "kind": "message", "direction": direction,
            "sender": CHRIS if inc else OWNER, "recipients": [OWNER if inc else CHRIS], "body": "x"}


RECORDS = [
    sms(datetime(2024, 5, 10, 0, tzinfo=timezone.utc)),
    {"ts_utc": datetime(2024, 5, 10, 6, tzinfo=timezone.utc), "channel": "whatsapp", "kind": "system",
     "direction": "unknown", "conversation": "Chris", "body": "Messages are end-to-end encrypted"},
    sms(datetime(2024, 5, 10, 13, tzinfo=timezone.utc), "outgoing"),
    sms(datetime(2024, 5, 12, 9, tzinfo=timezone.utc)),
    sms(datetime(2024, 5, 12, 10, tzinfo=timezone.utc), "outgoing"),
    sms(datetime(2024, 5, 20, 9, tzinfo=timezone.utc)),
]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("true") / "case", {"sms.xml": RECORDS}, toml=TOML)


def test_an_owner_without_a_name_is_the_owner(case):
    analysis = analyse(case)
    lines = sentences(analysis)
    assert lines[0] == ("Chris contacted the owner 3 times between 10 May 2024 and 20 May 2024 (3 text messages); "
                        "the owner contacted Chris 2 times.")
    assert not any("Me " in line or " Me" in line for line in lines)
    assert chart_data(analysis, analysis.party("Chris")).owner == "the owner"
    assert gather(case).owner == "the owner (case.toml gives no name)"


def test_a_window_the_records_do_not_cover_is_not_compared(case):
    lines = sentences(analyse(case))
    assert lines[1] == ("Chris contacted the owner 2 times in the 30 days after the request for no contact on "
                        "10 May 2024 (the records end 9 days 21 hours after it), and the records begin only "
                        "12 hours before it, too short a time to compare with.")
    assert lines[2] == "In those 30 days Chris used 1 channel and 1 identifier (1 phone number)."
    assert lines[3] == ("From the request for no contact to the last record on 20 May 2024 (9 days 21 hours), Chris "
                        "contacted the owner 2 times: 1.4 a week on average.")
    assert not any("cover 0" in line for line in lines)


def test_an_empty_group_is_left_out(case):
    analysis = analyse(case)
    assert [p.name for p in analysis.parties] == ["Chris"]       # the unlisted group holds only a system line
    console = Console(record=True, width=120, color_system=None)
    print_stats(case, console)
    text = console.export_text()
    assert "(unknown)" in text.split("Per person")[0]            # the event count by party still lists it
    assert "(unknown)" not in text.split("Per person")[1]
    row = next(line for line in text.splitlines() if line.startswith("│ request for no contact"))
    assert [c.strip() for c in row.split("│")[2:3]] == ["1 / 2 (2)"]


def test_one_call_is_one_call(tmp_path):
    call = {"ts_utc": datetime(2024, 5, 12, 9, tzinfo=timezone.utc), "channel": "call", "kind": "missed",
            "direction": "incoming", "sender": CHRIS, "recipients": [OWNER], "duration_s": 0}
    lines = sentences(analyse(make_case(tmp_path / "case", {"calls.xml": [call]}, toml=TOML)))
    assert "The one call from Chris was missed." in lines
    assert not any(line.startswith("Of the 1 call") for line in lines)


def test_contacts_on_one_day(tmp_path):
    texts = [sms(datetime(2024, 5, 12, 9, tzinfo=timezone.utc)), sms(datetime(2024, 5, 12, 23, tzinfo=timezone.utc))]
    lines = sentences(analyse(make_case(tmp_path / "case", {"sms.xml": texts}, toml=TOML)))
    assert "All contacts from Chris were on one day, 12 May 2024." in lines
    assert not any("never on two days in a row" in line for line in lines)


def test_records_that_begin_after_the_event(tmp_path):
    """The request (10 May 12:00) comes before the first record (12 May 09:00): nothing is said
    about the days between, and the days before are not compared."""
    texts = [sms(datetime(2024, 5, 12, 9, tzinfo=timezone.utc)), sms(datetime(2024, 6, 20, 9, tzinfo=timezone.utc))]
    lines = sentences(analyse(make_case(tmp_path / "late", {"sms.xml": texts}, toml=TOML)))
    assert lines[1] == ("Chris contacted the owner once in the 30 days after the request for no contact on 10 May 2024 "
                        "(the records begin 1 day 21 hours after it), and the records do not reach back to the 30 "
                        "days before it.")
    assert lines[3] == ("From the first record on 12 May 2024, 1 day 21 hours after the request for no contact, to the "
                        "last record on 20 June 2024 (39 days), Chris contacted the owner 2 times: 0.4 a week on "
                        "average.")
    later = [sms(datetime(2024, 7, 1, 9, tzinfo=timezone.utc))]
    lines = sentences(analyse(make_case(tmp_path / "later", {"sms.xml": later}, toml=TOML)))
    assert lines[1] == ("The records do not reach the 30 days after the request for no contact on 10 May 2024: they "
                        "begin 51 days 21 hours after it.")


def test_every_channel_a_parser_writes_has_words_of_its_own():
    """No channel is shown by its code name ("5 imessage contacts"): each has its words."""
    from commtrail.outputs.drawing import CHANNEL_NAMES
    from commtrail.outputs.sentences import channel_counts
    assert channel_counts({"sms": 149, "imessage": 5, "facetime": 2, "telegram": 1}) == \
        "149 text messages, 5 iMessages, 2 FaceTime calls and 1 Telegram message or call"
    written = {"sms", "mms", "whatsapp", "call", "email", "incident", "imessage", "rcs", "facetime", "app-call",
               "telegram", "messenger", "instagram", "gvoice", "signal", "snapchat", "discord", "evidence"}
    assert written - {"incident"} <= set(CHANNEL_NAMES)
    for channel in written - {"incident"}:
        assert f"{channel} contacts" not in channel_counts({channel: 2}), channel   # the fallback wording


def test_the_exhibit_log_has_words_for_every_channel_and_flag_parsers_write():
    """The report never prints a raw code ("imessage", "time_from_mtime") in the exhibit log."""
    from commtrail.outputs.report_words import words
    w = words()
    channels = {"sms", "mms", "whatsapp", "call", "email", "incident", "imessage", "rcs", "facetime", "app-call",
                "telegram", "messenger", "instagram", "gvoice", "signal", "snapchat", "discord", "evidence"}
    assert channels <= set(w["channel_one"])
    flags = {"edited", "deleted", "media_omitted", "header_like_body", "time_out_of_order", "repaired_chars",
             "attachment_missing", "attachment_refused", "time_unreadable", "undated", "date_nonstandard",
             "charset_fallback", "bad_header_line", "header_capped", "draft", "failed", "queued", "outbox",
             "forwarded", "unsent", "recorded", "provider_transcript", "time_from_mtime", "ocr", "null_text",
             "unknown_type"}
    assert flags <= set(w["flags"])
