"""What the report says, end to end: a small case written by this test goes through the CLI (init,
ingest, report), and every sentence of the report's summary about Jordan — in report.html and in the
text of report.pdf — is compared with figures this test counts itself from its own list of messages,
without commtrail's analysis.

The case: Sam (the owner) and Jordan, Europe/London (all times in GMT), a request for no contact on
1 March 2024 at 18:30. Texts, calls and a WhatsApp chat; two drafts and a failed text that were never
sent; an incident naming Jordan; a text from a number nobody listed; the chat's system line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from commtrail.case import INCIDENT_TEMPLATE
from commtrail.cli import main

pypdf = pytest.importorskip("pypdf")

ZONE = ZoneInfo("Europe/London")
OWNER_PHONE, JORDAN_PHONE, STRANGER_PHONE = "07700 900999", "07700 900123", "07700 900555"
EVENT = datetime(2024, 3, 1, 18, 30, tzinfo=ZONE)
WINDOW = timedelta(days=30)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


@dataclass(frozen=True)
class Rec:
    when: str                   # local time, "YYYY-MM-DD HH:MM"
    channel: str                # sms, call, whatsapp, incident, system
    direction: str              # in (to the owner), out (from the owner)
    who: str | None             # Jordan, stranger, None
    text: str = ""
    flag: str | None = None     # draft, failed: never sent
    call: str | None = None     # missed, answered
    seconds: int = 0

    @property
    def at(self) -> datetime:
        return datetime.strptime(self.when, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE)


RECORDS = [
    Rec("2024-02-20 09:00", "sms", "in", "Jordan", "Hello, are you free later?"),
    Rec("2024-02-20 09:30", "sms", "out", "Jordan", "Not today."),
    Rec("2024-02-22 23:00", "system", "in", None, "Messages and calls are end-to-end encrypted."),
    Rec("2024-02-22 23:10", "whatsapp", "in", "Jordan", "Call me back"),
    Rec("2024-02-23 08:00", "whatsapp", "out", "Jordan", "No."),
    Rec("2024-03-01 18:00", "sms", "out", "Jordan", "Please do not contact me again."),
    Rec("2024-03-02 07:00", "call", "in", "Jordan", call="missed"),
    Rec("2024-03-02 07:05", "call", "in", "Jordan", call="missed"),
    Rec("2024-03-02 07:30", "sms", "in", "Jordan", "Pick up"),
    Rec("2024-03-02 08:00", "sms", "out", "Jordan", "Leave me alone", flag="draft"),
    Rec("2024-03-02 08:01", "sms", "out", "Jordan", "Leave me alone.", flag="draft"),
    Rec("2024-03-03 22:30", "sms", "in", "Jordan", "Answer me. I saw you today."),
    Rec("2024-03-04 12:00", "sms", "out", "Jordan", "Stop", flag="failed"),
    Rec("2024-03-05 12:00", "call", "in", "Jordan", call="answered", seconds=65),
    Rec("2024-03-06 09:00", "whatsapp", "in", "Jordan", "Good morning"),
    Rec("2024-03-08 07:45", "incident", "in", "Jordan", "Waiting by my car when I left for work."),
    Rec("2024-03-10 10:00", "sms", "in", "stranger", "Wrong number?"),
    Rec("2024-03-12 12:00", "sms", "in", "Jordan", "Last one"),
]

CASE_TOML = """[case]
title = "What the report says"
timezone = "Europe/London"
phone_region = "GB"

[owner]
name = "Sam"
phones = ["07700 900999"]
whatsapp_names = ["Sam"]

[[party]]
name = "Jordan"
phones = ["07700 900123"]
whatsapp_names = ["Jordan"]

[[event]]
date = "2024-03-01T18:30"
kind = "no_contact_request"
"""


# ------------------------------------------------------------------------------------------------
# the inputs, written from RECORDS

def _ms(rec: Rec) -> int:
    return int(rec.at.timestamp() * 1000)


def sms_xml(records: list[Rec]) -> str:
    types = {("in", None): 1, ("out", None): 2, ("out", "draft"): 3, ("out", "failed"): 5}
    rows = []
    for r in records:
        number = JORDAN_PHONE if r.who == "Jordan" else STRANGER_PHONE
        rows.append(f'  <sms protocol="0" address="{number}" date="{_ms(r)}" type="{types[(r.direction, r.flag)]}" '
                    f'subject="null" body="{r.text}" toa="null" sc_toa="null" service_center="null" read="1" '
                    f'status="-1" locked="0" date_sent="0" sub_id="1" readable_date="{r.when}" contact_name="x" />')
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
            f'<smses count="{len(rows)}" backup_set="b1" backup_date="1710000000000" type="full">\n'
            + "\n".join(rows) + "\n</smses>\n")


def calls_xml(records: list[Rec]) -> str:
    types = {"answered": 1, "missed": 3}
    rows = [f'  <call number="{JORDAN_PHONE}" duration="{r.seconds}" date="{_ms(r)}" type="{types[r.call]}" '
            f'presentation="1" subscription_id="1" readable_date="{r.when}" contact_name="Jordan" />' for r in records]
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
            f'<calls count="{len(rows)}" backup_set="b2" backup_date="1710000000000" type="full">\n'
            + "\n".join(rows) + "\n</calls>\n")


def chat_txt(records: list[Rec]) -> str:
    lines = []
    for r in records:
        stamp = r.at.strftime("%d/%m/%Y, %H:%M")
        author = "" if r.channel == "system" else ("Jordan: " if r.direction == "in" else "Sam: ")
        lines.append(f"{stamp} - {author}{r.text}")
    return "\n".join(lines) + "\n"


def write_inputs(folder: Path, template_header: str) -> list[Path]:
    folder.mkdir()
    texts = [r for r in RECORDS if r.channel == "sms"]
    files = {
        "sms-20240312.xml": sms_xml(texts),
        "calls-20240312.xml": calls_xml([r for r in RECORDS if r.channel == "call"]),
        "WhatsApp Chat with Jordan.txt": chat_txt([r for r in RECORDS if r.channel in ("whatsapp", "system")]),
    }
    # the incident log is the template `commtrail init` wrote, filled in: date, time, who, ..., description
    rows = [f"{r.at:%Y-%m-%d},{r.at:%H:%M},{r.who},Home,\"{r.text}\",,no,,,," for r in RECORDS if r.channel == "incident"]
    files["incidents.csv"] = template_header + "\n" + "\n".join(rows) + "\n"
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in files]


# ------------------------------------------------------------------------------------------------
# the figures, counted here from RECORDS

def day(d: datetime) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def span(delta: timedelta) -> str:
    """The two largest non-zero units, as the report writes a length of time."""
    seconds = int(round(delta.total_seconds()))
    parts = [("day", seconds // 86_400), ("hour", seconds % 86_400 // 3_600), ("minute", seconds % 3_600 // 60)]
    while parts[0][1] == 0:
        parts.pop(0)
    chosen = [parts[0]] + ([parts[1]] if len(parts) > 1 and parts[1][1] else [])
    return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for unit, n in chosen)


def expected_sentences() -> list[str]:
    ordered = sorted(RECORDS, key=lambda r: r.at)                  # all times differ: exhibit order
    exhibit = {r: f"CT-{i:06d}" for i, r in enumerate(ordered, 1)}
    start, end = ordered[0].at, ordered[-1].at                       # what the records cover
    contacts = [r for r in ordered if r.who == "Jordan" and r.channel in ("sms", "call", "whatsapp") and not r.flag]
    incoming = [r for r in contacts if r.direction == "in"]
    outgoing = [r for r in contacts if r.direction == "out"]
    assert (len(incoming), len(outgoing)) == (9, 3)
    names = {"sms": ("text message", "text messages"), "call": ("call", "calls"),
             "whatsapp": ("WhatsApp message", "WhatsApp messages")}
    by_channel = {c: sum(r.channel == c for r in incoming) for c in names}
    breakdown = [f"{n} {names[c][n != 1]}" for c, n in sorted(by_channel.items(), key=lambda kv: (-kv[1], kv[0]))]
    out = [f"Jordan contacted Sam {times(len(incoming))} between {day(incoming[0].at)} and {day(incoming[-1].at)} "
           f"({', '.join(breakdown[:-1])} and {breakdown[-1]}); Sam contacted Jordan {times(len(outgoing))}."]

    # the 30 days before and after the request; the records cover only part of each
    before = [r for r in incoming if EVENT - WINDOW <= r.at < EVENT]
    after = [r for r in incoming if EVENT <= r.at < EVENT + WINDOW]
    assert start > EVENT - WINDOW and end < EVENT + WINDOW
    covered_before, covered_after = EVENT - start, end - EVENT
    out.append(f"Jordan contacted Sam {times(len(after))} in the 30 days after the request for no contact on "
               f"{day(EVENT)} (the records end {span(covered_after)} after it), against {len(before)} in the 30 days "
               f"before (the records begin {span(covered_before)} before it).")
    assert {r.channel for r in after} == {"sms", "call", "whatsapp"}     # one phone number, one WhatsApp name
    out.append("In those 30 days Jordan used 3 channels and 2 identifiers (1 phone number and 1 WhatsApp name).")
    per_week = lambda n, covered: round(round(n / (covered / timedelta(days=1)) * 7, 2), 1)  # noqa: E731
    out.append(f"From the request for no contact to the last record on {day(end)} ({span(covered_after)}), Jordan "
               f"contacted Sam {times(len(after))}: {per_week(len(after), covered_after):.1f} a week on average, "
               f"against {per_week(len(before), covered_before):.1f} a week in the 30 days before.")
    first_after = after[0]
    out.append(f"The first contact from Jordan after the request for no contact came {span(first_after.at - EVENT)} "
               f"later, on {day(first_after.at)} at {first_after.at:%H:%M} (exhibit {exhibit[first_after]}).")

    # persistence: days with contact and the longest run of consecutive days
    days = sorted({r.at.date() for r in incoming})
    runs, run = [], [days[0]]
    for d in days[1:]:
        run = run + [d] if (d - run[-1]).days == 1 else [d]
        runs.append(run)
    longest = max(runs, key=len)                                     # the first of the longest
    out.append(f"Jordan contacted Sam on {len(days)} different days; the longest run was {len(longest)} days in a "
               f"row, from {day(longest[0])} to {day(longest[-1])}.")
    out.append(f"The first contact from Jordan in these records was on {day(incoming[0].at)} at "
               f"{incoming[0].at:%H:%M} (exhibit {exhibit[incoming[0]]}); the last was on {day(incoming[-1].at)} at "
               f"{incoming[-1].at:%H:%M} (exhibit {exhibit[incoming[-1]]}).")
    night = [r for r in incoming if r.at.hour >= 22 or r.at.hour < 6]
    out.append(f"At night, between 22:00 and 06:00 (Europe/London time), Jordan contacted Sam {times(len(night))}: "
               f"{round(100 * len(night) / len(incoming))}% of all contacts from Jordan.")

    # bursts: any 60 minutes, any calendar day
    hour = max(([s for s in incoming if r.at <= s.at < r.at + timedelta(hours=1)] for r in incoming), key=len)
    per_day = max(([s for s in incoming if s.at.date() == r.at.date()] for r in incoming), key=len)
    out.append(f"The most contacts from Jordan within any 60 minutes were {len(hour)}, from {hour[0].at:%H:%M} to "
               f"{hour[-1].at:%H:%M} on {day(hour[0].at)}; the most on one calendar day were {len(per_day)}, on "
               f"{day(per_day[0].at)}.")
    calls = [r for r in incoming if r.channel == "call"]
    close = [b for a, b in zip(calls, calls[1:]) if b.at - a.at <= timedelta(minutes=10)]
    assert len(close) == 1
    a = calls[calls.index(close[0]) - 1]
    out.append(f"Jordan called once within 10 minutes of a previous call, in 1 series; the longest series was 2 calls "
               f"from {a.at:%H:%M} to {close[0].at:%H:%M} on {day(a.at)} (exhibits {exhibit[a]} to "
               f"{exhibit[close[0]]}).")

    # replies: a sent message to Jordan within 24 hours; drafts and failed texts are no reply
    considered = [r for r in incoming if r.call != "answered"]
    known = [r for r in considered if r.at + timedelta(hours=24) <= end]
    unanswered = [r for r in known if not any(r.at < o.at <= r.at + timedelta(hours=24) for o in outgoing)]
    out.append(f"{len(unanswered)} of the {len(known)} contacts from Jordan (answered calls left out) had no reply "
               f"from Sam within 24 hours.")
    open_ = len(considered) - len(known)
    out.append(f"The records end less than 24 hours after {open_} more contact{'s' if open_ != 1 else ''} from "
               f"Jordan that had no reply by then, so whether a reply came is not known.")
    kinds = {k: sum(r.call == k for r in calls) for k in ("answered", "missed")}
    out.append(f"Of the {len(calls)} calls from Jordan: {kinds['answered']} answered and {kinds['missed']} missed.")
    out.append("Jordan used 2 identifiers: 1 phone number and 1 WhatsApp name.")
    flagged = [r for r in incoming if "I saw you" in r.text]
    out.append(f"Red-flag phrases from the default list appear in {len(flagged)} message from Jordan (“I saw you” "
               f"once); each is listed in full with its exhibit number.")
    incidents = [r for r in RECORDS if r.channel == "incident" and r.who == "Jordan"]
    out.append(f"The incident log holds {len(incidents)} incident involving Jordan.")
    drafts = sum(r.flag == "draft" for r in RECORDS if r.who == "Jordan")
    failed = sum(r.flag == "failed" for r in RECORDS if r.who == "Jordan")
    out.append(f"The records also hold {drafts} drafts and {failed} failed message to Jordan, never sent; they are "
               f"listed with that mark and are not counted as contacts.")
    return out


# ------------------------------------------------------------------------------------------------
# the report's text

class _Summary(HTMLParser):
    """The paragraphs under each party's heading in the report's summary section."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self.cover: list[str] = []
        self._in_summary = self._in_p = self._in_h3 = False
        self._party = ""
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self._in_summary = dict(attrs).get("id") == "summary"
        elif self._in_summary and tag in ("p", "h3"):
            self._in_p, self._in_h3, self._text = tag == "p", tag == "h3", ""

    def handle_endtag(self, tag):
        if tag == "h3" and self._in_h3:
            self._party, self._in_h3 = self._text, False
            self.sections[self._party] = []
        elif tag == "p" and self._in_p:
            self._in_p = False
            if self._party:
                self.sections[self._party].append(self._text)
        elif tag == "section":
            self._in_summary = False

    def handle_data(self, data):
        if self._in_p or self._in_h3:
            self._text += data


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("says")
    case = root / "case"
    assert main(["init", str(case), "--timezone", "Europe/London", "--region", "GB"]) == 0
    header = (case / INCIDENT_TEMPLATE).read_text(encoding="utf-8-sig").splitlines()[0]
    (case / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    inputs = write_inputs(root / "inputs", header)
    assert main(["ingest", str(case)] + [str(p) for p in inputs]) == 0
    assert main(["report", str(case)]) == 0
    html = (case / "report" / "report.html").read_text(encoding="utf-8")
    parsed = _Summary()
    parsed.feed(html)
    pdf = pypdf.PdfReader(case / "report" / "report.pdf")
    pdf_text = " ".join(" ".join(page.extract_text().split()) for page in pdf.pages)
    return parsed.sections, html, pdf_text


def test_the_summary_says_what_the_records_hold(report):
    sections, _, _ = report
    assert list(sections) == ["Jordan"]
    said = sections["Jordan"]
    expected = expected_sentences()
    assert len(said) == len(expected)
    for got, want in zip(said, expected):
        assert got == want


def test_the_pdf_says_the_same(report):
    _, _, pdf_text = report
    for sentence in expected_sentences():
        assert " ".join(sentence.split()) in pdf_text


def test_the_cover_and_figures_agree(report):
    _, html, pdf_text = report
    listed = sum(r.who == "Jordan" and r.channel in ("sms", "call", "whatsapp") for r in RECORDS)
    incidents = sum(r.channel == "incident" for r in RECORDS)
    unlinked = sum(r.who != "Jordan" and r.channel != "incident" for r in RECORDS)
    # the cover's counts add up to every event of the master
    assert listed + incidents + unlinked == len(RECORDS) and incidents > 0
    assert (f"<dt>Events listed in this report</dt><dd>{listed} in the exhibit log, {incidents} in the incident "
            f"log</dd>") in html
    assert (f"Events in the master file that are linked to no party in case.toml and so are not listed here: "
            f"{unlinked}.") in html
    sent_to = sum(r.who == "Jordan" and r.direction == "out" and not r.flag and r.channel != "incident"
                  for r in RECORDS)
    assert "Who it was: Jordan" in html and "Who it was: Jordan" in pdf_text
    for label, value in (("Contacts to them", sent_to), ("Incidents logged", 1), ("Never sent (drafts, failed, ...)", 3)):
        assert f"<tr><td>{label}</td><td>{value}</td></tr>" in html
        assert f"{label} {value}" in pdf_text
