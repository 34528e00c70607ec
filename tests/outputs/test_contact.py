"""Drafts, failed, queued and outbox messages are kept and shown but never counted as contacts.

Jordan writes twice; the owner answers once by a sent text, and has 2 drafts, 1 failed text and
1 queued text to Jordan, all within 24 hours of Jordan's first message; a draft with no recipient
falls to the unlisted group, which then holds nothing else.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest
from conftest import make_case
from rich.console import Console

from commtrail.outputs.analysis import analyse, sentences
from commtrail.outputs.charts import chart_data
from commtrail.outputs.contact import NOT_SENT, classify, unsent_codes
from commtrail.outputs.report_data import exhibit_cells, gather
from commtrail.outputs.stats import headline, print_stats

OWNER, J1 = "+447700900999", "+447700900123"


def ts(*args):
    return datetime(*args, tzinfo=timezone.utc)


def text(when, body, direction="incoming", flags=None, recipients=(OWNER,), sender=J1):
    return {"ts_utc": when, "channel": "sms", "kind": "message", "direction": direction,
            "sender": sender if direction == "incoming" else OWNER, "recipients": list(recipients),
            "body": body, "flags": flags}


RECORDS = [
    text(ts(2024, 3, 2, 9), "Answer me"),
    text(ts(2024, 3, 2, 9, 5), "Please stop", "outgoing", ["draft"], [J1]),
    text(ts(2024, 3, 2, 9, 6), "Please stop.", "outgoing", ["draft"], [J1]),
    text(ts(2024, 3, 2, 9, 7), "Stop", "outgoing", ["failed"], [J1]),
    text(ts(2024, 3, 2, 9, 8), "Stop!", "outgoing", ["queued", "repaired_chars"], [J1]),
    text(ts(2024, 3, 2, 9, 9), "notes to self", "outgoing", ["draft"], []),
    text(ts(2024, 3, 3, 10), "Why no answer"),
    text(ts(2024, 3, 3, 11), "Leave me alone", "outgoing", None, [J1]),
]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("contact") / "case", {"sms.xml": RECORDS})


def test_the_rule_reads_the_flags():
    flags = pa.chunked_array([pa.array([["draft"], None, ["repaired_chars", "outbox"]], pa.list_(pa.string())),
                              pa.array([[], ["queued", "failed"]], pa.list_(pa.string()))])
    assert unsent_codes(flags).tolist() == [0, -1, 3, -1, 2]
    table = pa.table({"channel": ["sms", "incident", "whatsapp", "call"],
                      "kind": ["message", "incident", "system", "missed"],
                      "flags": pa.array([["failed"], None, None, None], pa.list_(pa.string()))})
    classes = classify(table)
    assert classes.contact.tolist() == [False, False, False, True]
    assert classes.incident.tolist() == [False, True, False, False]
    assert [NOT_SENT[c] if c >= 0 else None for c in classes.unsent] == ["failed", None, None, None]


def test_never_sent_messages_are_not_contacts(case):
    jordan = analyse(case).party("Jordan")
    assert jordan.contacts == 3
    assert jordan.by_direction == {"incoming": 2, "outgoing": 1, "unknown": 0}
    assert jordan.unsent == {"draft": 2, "failed": 1, "queued": 1}
    assert jordan.unsent_exhibits == ["CT-000002", "CT-000003", "CT-000004", "CT-000005"]
    # the drafts are not a reply: Jordan's first message went unanswered for 24 hours
    assert jordan.unanswered.unanswered == 1 and jordan.unanswered.exhibits == ["CT-000001"]
    assert [(r.period.isoformat(), r.direction, r.count) for r in jordan.daily] == [
        ("2024-03-02", "incoming", 1), ("2024-03-03", "incoming", 1), ("2024-03-03", "outgoing", 1)]
    assert jordan.outgoing.persistence.first.exhibit == "CT-000008"


def test_sentences_count_them_apart(case):
    analysis = analyse(case)
    lines = sentences(analysis, "Jordan")
    assert lines[0] == ("Jordan contacted Sam 2 times between 2 March 2024 and 3 March 2024 (2 text messages); "
                        "Sam contacted Jordan once.")
    assert lines[-1] == ("The records also hold 2 drafts, 1 failed message and 1 queued message to Jordan, never "
                         "sent; they are listed with that mark and are not counted as contacts.")
    assert sentences(analysis, "(unknown)") == [
        "The records hold no contact between senders not listed in case.toml and Sam.",
        "The records also hold 1 draft to senders not listed in case.toml, never sent; they are listed with "
        "that mark and are not counted as contacts."]


def test_stats_and_charts_leave_them_out(case):
    analysis = analyse(case)
    figures = headline(case, analysis)["parties"]
    assert (figures["Jordan"]["contacts_to"], figures["Jordan"]["unanswered"], figures["Jordan"]["unsent"]) == (1, 1, 4)
    console = Console(record=True, width=120, color_system=None)
    print_stats(case, console)
    row = next(line for line in console.export_text().splitlines() if line.startswith("│ Never sent"))
    assert [c.strip() for c in row.split("│")[2:4]] == ["4", "1"]
    weekly = chart_data(analysis, analysis.party("Jordan")).weekly
    assert [(d.isoformat(), c, direction, n) for d, c, direction, n in weekly] == [
        ("2024-02-26", "sms", "incoming", 2), ("2024-02-26", "sms", "outgoing", 1)]


def test_the_exhibit_log_shows_them_with_their_mark(case):
    data = gather(case)
    rows = data.exhibits.to_pylist()
    assert [exhibit_cells(r, case.config.links)["notes"] for r in rows[1:5]] == [
        ["Marks: draft, never sent"], ["Marks: draft, never sent"], ["Marks: failed, never sent"],
        ["Marks: queued, never sent, characters repaired"]]
