"""Screenshots linked to the messages they show (timeline/screenshots.py), from images the test draws."""

import json

import pyarrow.parquet as pq
import pytest

from evidence_media import screenshot_case

from commtrail.case import Case
from commtrail.cli import main
from commtrail.timeline.master import read_master
from commtrail.timeline.screenshots import LINKS_FILE, Candidates, fold, match_lines, screenshot_links


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    return screenshot_case(tmp_path_factory.mktemp("links"))


def _ids(case_dir):
    master = read_master(Case(case_dir)).to_pylist()
    by_body = {m["body"]: m["event_id"] for m in master if m["channel"] == "whatsapp" and m["ts_utc"].month == 3}
    shot = [m["event_id"] for m in master if m["kind"] == "screenshot"]
    return by_body, shot[0]


def test_a_screenshot_is_linked_to_the_three_messages_it_shows_and_one_only_in_it(case_dir):
    by_body, shot = _ids(case_dir)
    rows = pq.read_table(case_dir / LINKS_FILE).to_pylist()
    assert [(r["screenshot"], r["line"], r["lines"], r["ocr_text"], r["event_id"], r["score"]) for r in rows] == [
        (shot, 5, 1, "where are you tonight 21:02", by_body["where are you tonight \U0001F621"], 100.0),
        (shot, 6, 2, "| know you are not at your\nmum's house 21:03",
         by_body["I know you are not at your mum's house"], 100.0),
        (shot, 8, 1, "you saw my car outside 21:05", None, None),
        (shot, 9, 1, "answer me or | come round 21:07", by_body["answer me or I come round"], 100.0),
    ]
    links = screenshot_links(case_dir)
    assert links.shows == {shot: [by_body["where are you tonight \U0001F621"],
                                  by_body["I know you are not at your mum's house"],
                                  by_body["answer me or I come round"]]}
    assert links.shown_in == {by_body[b]: [shot] for b in ("where are you tonight \U0001F621",
                                                           "I know you are not at your mum's house",
                                                           "answer me or I come round")}
    assert links.only == {shot: [(8, "you saw my car outside 21:05")]} and links.only_count == 1


def test_the_links_file_is_in_the_manifest_and_leaves_the_master_as_it_was(case_dir):
    manifest = (case_dir / "manifest.sha256").read_text(encoding="utf-8")
    assert f"  {LINKS_FILE}\n" in manifest
    shot = [m for m in read_master(Case(case_dir)).to_pylist() if m["kind"] == "screenshot"][0]
    assert (shot["body"], shot["flags"]) == (None, ["ocr"])
    assert main(["verify", str(case_dir)]) == 0


def _candidates(*bodies: str) -> Candidates:
    """Candidates e0, e1, ... sent at 10:00, 10:01, ... local time."""
    n = len(bodies)
    return Candidates([fold(b) for b in bodies], [f"e{i}" for i in range(n)], list(range(n)),
                      [600 + i for i in range(n)])


def test_repeated_texts_go_to_different_messages_the_latest_first():
    found = match_lines("answer me\nanswer me", _candidates("answer me", "answer me", "answer me"))
    assert [(r["line"], r["event_id"]) for r in found] == [(1, "e2"), (2, "e1")]


def test_the_clock_time_in_a_bubble_picks_the_message_sent_then_even_over_a_better_score():
    found = match_lines("answer me 10:01\nanswer me 10:00 AM\nwe need totalk 10:03",
                        _candidates("answer me", "answer me", "answer me", "we need totalk", "we need to talk"))
    assert [(r["line"], r["event_id"], r["score"]) for r in found] == [(1, "e1", 100.0), (2, "e0", 100.0),
                                                                       (3, "e3", 100.0)]
    found = match_lines("we need totalk 10:04", _candidates("answer me", "answer me", "answer me", "we need totalk",
                                                             "we need to talk"))
    assert [(r["event_id"], r["score"]) for r in found] == [("e4", 96.6)]


def test_ocr_errors_within_the_threshold_match_and_chrome_is_never_a_message():
    found = match_lines("Yesterday\nDelivered\nJordan\nwhere are yuo tonlght\n14 March 2024\nok",
                        _candidates("where are you tonight", "something else entirely"))
    assert [(r["line"], r["event_id"], r["score"]) for r in found] == [(4, "e0", 90.5)]


def test_an_emoji_only_message_is_no_candidate_and_nothing_to_match_leaves_lines_only_in_the_screenshot():
    found = match_lines("I am outside your door now", _candidates("\U0001F621\U0001F621"))
    assert [(r["line"], r["event_id"], r["ocr_text"]) for r in found] == [(1, None, "I am outside your door now")]
    assert fold("Don\u2019t \U0001F621 IGNORE me!!") == "don t ignore me"


def test_screenshots_apart_read_their_own_windows_and_an_undated_one_is_not_matched(tmp_path):
    from datetime import datetime, timezone

    from conftest import make_case

    def at(month, day, hour):
        return datetime(2024, month, day, hour, tzinfo=timezone.utc)

    def message(when, text):
        return {"ts_utc": when, "ts_local": when.isoformat(), "ts_precision": "s", "tz_source": "source",
                "channel": "sms", "kind": "message", "direction": "incoming", "sender": "+447700900123",
                "body": text}

    def shot(when, text):
        return {"ts_utc": when, "ts_local": when and when.isoformat(), "ts_precision": when and "s",
                "tz_source": when and "source", "channel": "evidence", "kind": "screenshot",
                "direction": "unknown", "flags": None if when else ["undated"], "extra": json.dumps({"ocr_text": text})}

    case = make_case(tmp_path / "case", {
        "sms": [message(at(1, 10, 9), "meet me at the station"), message(at(5, 10, 9), "meet me at the station")],
        "shots": [shot(at(1, 10, 10), "meet me at the station 09:00"), shot(at(5, 10, 10), "meet me at the station"),
                  shot(None, "meet me at the station")]})
    master = read_master(case).to_pylist()
    ids = {(m["channel"], m["ts_utc"] and m["ts_utc"].month): m["event_id"] for m in master}
    rows = pq.read_table(case.root / LINKS_FILE).to_pylist()
    assert [(r["screenshot"], r["event_id"]) for r in rows] == [
        (ids[("evidence", 1)], ids[("sms", 1)]), (ids[("evidence", 5)], ids[("sms", 5)])]


def test_a_bubble_time_is_read_in_the_case_zone_in_summer_time(tmp_path):
    from datetime import datetime, timezone

    from conftest import make_case

    def record(hour, minute, **fields):
        when = datetime(2024, 7, 10, hour, minute, tzinfo=timezone.utc)
        return {"ts_utc": when, "ts_local": when.isoformat(), "ts_precision": "s", "tz_source": "source",
                "direction": "incoming", **fields}

    case = make_case(tmp_path / "case", {
        # 09:00 BST is 08:00 UTC; the same words again at 08:59 UTC, later, would win without the clock
        "sms": [record(8, 0, channel="sms", kind="message", sender="+447700900123", body="meet me outside"),
                record(8, 59, channel="sms", kind="message", sender="+447700900123", body="meet me outside")],
        "shots": [record(9, 30, channel="evidence", kind="screenshot", direction="unknown",
                         extra=json.dumps({"ocr_text": "meet me outside 09:00"}))]})
    first = [m["event_id"] for m in read_master(case).to_pylist() if m["channel"] == "sms"][0]
    assert [r["event_id"] for r in pq.read_table(case.root / LINKS_FILE).to_pylist()] == [first]
