"""Figures and sentences of outputs/analysis.py on a small case built by hand.

The case (Europe/London; all records fictional) has Jordan, Alex, unlisted senders, a system line
and an incident, a DST change on 31 March 2024, and three events: a request for no contact, a
block, and a police report after the last record (no contact after it). Exhibits are numbered
in time order:

 CT-000001 20 Feb 12:00 sms  in  Jordan 900123 "Hello"
 CT-000002 20 Feb 12:30 sms  out to 900123 "Hi"                       (a reply within 24 h)
 CT-000003 21 Feb 23:15 sms  in  900123 "I know where you live"       (night, red flag)
 CT-000004 22 Feb 08:00 wa   in  wa:Jordan "Skills are great"          ("kill" inside a word)
 CT-000005  1 Mar 12:00 wa   system line (no party)
 --- 1 Mar 18:30 request for no contact
 CT-000006  2 Mar 10:00 call missed   900123
 CT-000007  2 Mar 10:04 call missed   900123
 CT-000008  2 Mar 10:12 call rejected 900456                          (3 calls within 10 min)
 CT-000009  2 Mar 10:40 call answered 900123, 65 s
 CT-000010  2 Mar 10:45 sms  in  900123 "I'M OUTSIDE."                (5 in 60 min)
 CT-000011  3 Mar 00:30 sms  in  900123 "you’ll regret this"           (night, curly apostrophe)
 CT-000012  4 Mar 12:00 mail in  jordan.k@ subject "Watching you"
 CT-000013  5 Mar 07:00 sms  in  900123 "ok"
 CT-000014 10 Mar 10:00 sms  in  Alex 900200 "hi"
 CT-000015 10 Mar 15:00 incident logged for 900123
 --- 20 Mar 09:00 block
 CT-000016 22 Mar 21:00 sms  in  unlisted 900789
 CT-000017 30 Mar 12:00Z sms in  900456 (12:00 GMT, Saturday)
 CT-000018 31 Mar 12:00Z sms in  900456 (13:00 BST, Sunday)
 CT-000019 31 Mar 21:30Z sms in  900123 (22:30 BST: night)
 CT-000020  1 Apr 05:30Z sms in  900123 (06:30 BST: not night)
 --- 1 Jun 12:00 police report
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from conftest import CASE_TOML, make_case

from commtrail.errors import UsageError
from commtrail.outputs.analysis import analyse, resolve_party, sentences, shift_days, slug
from commtrail.outputs.redflags import Phrase, find_hits, python_pattern

OWNER = "+447700900999"
J1, J2, NEW, ALEX = "+447700900123", "+447700900456", "+447700900789", "+447700900200"

TOML = CASE_TOML + """
[[party]]
name = "Alex"
phones = ["07700 900200"]

[[event]]
date = "2024-03-20T09:00"
kind = "blocked"

[[event]]
date = "2024-06-01T12:00"
kind = "police_report"
"""


def ts(*args):
    return datetime(*args, tzinfo=timezone.utc)


def sms(when, sender, body, direction="incoming", recipients=None):
    return {"ts_utc": when, "channel": "sms", "kind": "message", "direction": direction, "sender": sender,
            "recipients": recipients or [OWNER], "body": body}


def call(when, sender, kind, duration=0):
    return {"ts_utc": when, "channel": "call", "kind": kind, "direction": "incoming", "sender": sender,
            "recipients": [OWNER], "duration_s": duration}


RECORDS = [
    sms(ts(2024, 2, 20, 12), J1, "Hello"),
    sms(ts(2024, 2, 20, 12, 30), OWNER, "Hi", "outgoing", [J1]),
    sms(ts(2024, 2, 21, 23, 15), J1, "I know where you live"),
    {"ts_utc": ts(2024, 2, 22, 8), "channel": "whatsapp", "kind": "message", "direction": "incoming",
     "sender": "wa:Jordan", "conversation": "Jordan", "ts_precision": "min", "body": "Skills are great"},
    {"ts_utc": ts(2024, 3, 1, 12), "channel": "whatsapp", "kind": "system", "direction": "unknown",
     "conversation": "Jordan", "body": "Messages are end-to-end encrypted"},
    call(ts(2024, 3, 2, 10), J1, "missed"),
    call(ts(2024, 3, 2, 10, 4), J1, "missed"),
    call(ts(2024, 3, 2, 10, 12), J2, "rejected"),
    call(ts(2024, 3, 2, 10, 40), J1, "incoming", 65),
    sms(ts(2024, 3, 2, 10, 45), J1, "I'M OUTSIDE."),
    sms(ts(2024, 3, 3, 0, 30), J1, "you\u2019ll regret this"),
    {"ts_utc": ts(2024, 3, 4, 12), "channel": "email", "kind": "message", "direction": "incoming",
     "sender": "jordan.k@example.com", "recipients": ["sam@example.org"], "subject": "Watching you", "body": "hello"},
    sms(ts(2024, 3, 5, 7), J1, "ok"),
    sms(ts(2024, 3, 10, 10), ALEX, "hi"),
    {"ts_utc": ts(2024, 3, 10, 15), "channel": "incident", "kind": "incident", "direction": "incoming",
     "sender": J1, "body": "Car parked outside the house for an hour"},
    sms(ts(2024, 3, 22, 21), NEW, "It's me, new number"),
    sms(ts(2024, 3, 30, 12), J2, "saturday"),
    sms(ts(2024, 3, 31, 12), J2, "sunday"),
    sms(ts(2024, 3, 31, 21, 30), J1, "late"),
    sms(ts(2024, 4, 1, 5, 30), J1, "early"),
]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("analysis") / "case", {"phone.xml": RECORDS}, toml=TOML)


@pytest.fixture(scope="module")
def analysis(case):
    return analyse(case)


@pytest.fixture(scope="module")
def jordan(analysis):
    return analysis.party("Jordan")


def ex(*numbers):
    return [f"CT-{n:06d}" for n in numbers]


def test_parties_and_totals(analysis, jordan):
    assert [p.name for p in analysis.parties] == ["Jordan", "Alex", "(unknown)"]
    assert [p.slug for p in analysis.parties] == ["jordan", "alex", "unknown"]
    assert analysis.master_rows == 20
    assert analysis.first_record.isoformat() == "2024-02-20T12:00:00+00:00"
    assert analysis.last_record.isoformat() == "2024-04-01T06:30:00+01:00"
    assert jordan.contacts == 16
    assert jordan.by_direction == {"incoming": 15, "outgoing": 1, "unknown": 0}
    assert jordan.by_channel == {"call": {"incoming": 4}, "email": {"incoming": 1},
                                 "sms": {"incoming": 9, "outgoing": 1}, "whatsapp": {"incoming": 1}}
    assert jordan.incidents == 1 and list(jordan.incident_exhibits) == ex(15)
    unknown = analysis.party("(unknown)")
    assert (unknown.contacts, unknown.system_lines, unknown.incidents) == (1, 1, 0)
    assert analysis.party("Alex").contacts == 1


def test_weekly_and_daily_counts(jordan):
    weekly = [(r.period.isoformat(), r.channel, r.direction, r.count) for r in jordan.weekly]
    assert weekly == [
        ("2024-02-19", "sms", "incoming", 2), ("2024-02-19", "sms", "outgoing", 1),
        ("2024-02-19", "whatsapp", "incoming", 1),
        ("2024-02-26", "call", "incoming", 4), ("2024-02-26", "sms", "incoming", 2),
        ("2024-03-04", "email", "incoming", 1), ("2024-03-04", "sms", "incoming", 1),
        ("2024-03-25", "sms", "incoming", 3),
        ("2024-04-01", "sms", "incoming", 1),
    ]
    daily = {(r.period, r.channel): r.count for r in jordan.daily if r.direction == "incoming"}
    assert daily[(date(2024, 3, 2), "call")] == 4
    assert daily[(date(2024, 3, 3), "sms")] == 1          # 00:30 GMT is 3 March
    assert daily[(date(2024, 3, 31), "sms")] == 2
    assert daily[(date(2024, 4, 1), "sms")] == 1


def test_before_and_after_the_request(jordan):
    request = jordan.events[0]
    assert request.event.kind == "no_contact_request"
    before, after, total = request.before, request.after, request.total_after
    assert before.start.isoformat() == "2024-01-31T18:30:00+00:00"
    assert after.end.isoformat() == "2024-03-31T18:30:00+01:00"     # same clock time across the DST change
    assert after.days == 29.9583                                    # 30 calendar days less the lost hour
    assert before.counts == {"incoming": 3, "outgoing": 1, "unknown": 0}
    assert after.counts == {"incoming": 10, "outgoing": 0, "unknown": 0}
    assert (before.covered_days, after.covered_days) == (10.2708, 29.9583)
    assert before.per_week["incoming"] == 2.04 and after.per_week["incoming"] == 2.34
    assert after.incoming_by_channel == {"call": 4, "email": 1, "sms": 5}
    assert (after.channels, after.identifiers) == (3, {"email": 1, "phone": 2})
    assert total.counts["incoming"] == 12 and total.per_week["incoming"] == 2.76
    assert total.end.isoformat() == "2024-04-01T06:30:00+01:00"
    assert request.next_contact.exhibit == "CT-000006"
    assert request.next_contact_seconds == 15.5 * 3600


def test_event_with_no_contact_after_it(analysis, jordan):
    police = jordan.events[2]
    assert police.next_contact is None and police.next_contact_seconds is None
    assert police.after.counts["incoming"] == 0 and police.after.per_week["incoming"] is None
    assert police.total_after.counts["incoming"] == 0
    alex_block = analysis.party("Alex").events[1]           # Alex's only contact is before the block
    assert alex_block.before.counts["incoming"] == 1
    assert alex_block.next_contact is None
    block = jordan.events[1]
    assert block.next_contact.exhibit == "CT-000017" and block.next_contact_seconds == 874800
    assert block.after.counts["incoming"] == 4 and block.after.per_week["incoming"] == 2.36
    unknown_block = analysis.party("(unknown)").events[1]
    assert unknown_block.next_contact.exhibit == "CT-000016"


def test_persistence_and_first_last(jordan):
    per = jordan.incoming.persistence
    assert per.days_with_contact == 10
    assert (per.longest_run.days, per.longest_run.start, per.longest_run.end) == (4, date(2024, 3, 2), date(2024, 3, 5))
    assert per.first.exhibit == "CT-000001" and per.last.exhibit == "CT-000020"
    assert per.last.local.isoformat() == "2024-04-01T06:30:00+01:00"


def test_night_share_and_hours_follow_the_dst_change(jordan):
    night = jordan.incoming.night
    assert (night.contacts, night.total, night.share) == (3, 15, 0.2)
    assert list(night.exhibits) == ex(3, 11, 19)             # 22:30 BST counts; 06:30 BST does not
    grid = jordan.incoming.hour_weekday
    assert grid[5][12] == 1          # Saturday 30 March 12:00 GMT
    assert grid[6][13] == 1          # Sunday 31 March 12:00 UTC = 13:00 BST
    assert grid[6][12] == 0
    assert grid[6][22] == 1          # 21:30 UTC = 22:30 BST
    assert grid[0][6] == 1           # Monday 1 April 05:30 UTC = 06:30 BST
    assert grid[5][10] == 5          # the five contacts on Saturday 2 March, 10:00-10:45
    assert sum(map(sum, grid)) == 15


def test_bursts(jordan):
    hour, day = jordan.incoming.busiest_hour, jordan.incoming.busiest_day
    assert (hour.count, hour.basis) == (5, "rolling 60-minute window")
    assert hour.start.isoformat() == "2024-03-02T10:00:00+00:00" and hour.end.isoformat() == "2024-03-02T10:45:00+00:00"
    assert list(hour.exhibits) == ex(6, 7, 8, 9, 10)
    assert hour.by_channel == {"call": 4, "sms": 1}
    assert (day.count, day.basis, day.start.date()) == (5, "calendar day", date(2024, 3, 2))
    assert list(day.exhibits) == ex(6, 7, 8, 9, 10)


def test_repeated_calls(jordan):
    rc = jordan.incoming.repeated_calls
    assert (rc.calls, len(rc.series), rc.repeats) == (4, 1, 2)
    assert rc.longest.calls == 3 and list(rc.longest.exhibits) == ex(6, 7, 8)
    assert rc.longest.kinds == {"missed": 2, "rejected": 1}
    assert rc.longest.start.isoformat() == "2024-03-02T10:00:00+00:00"
    assert rc.longest.end.isoformat() == "2024-03-02T10:12:00+00:00"


def test_unanswered(jordan):
    u = jordan.unanswered
    # the answered call is left out; CT-000001 had a reply; the records end less than 24 hours after
    # CT-000018 to CT-000020, so whether they had a reply is not known
    assert (u.considered, u.unanswered, u.not_known) == (11, 10, 3)
    assert list(u.exhibits) == ex(3, 4, 6, 7, 8, 10, 11, 12, 13, 17)
    assert u.by_channel == {"call": 3, "email": 1, "sms": 5, "whatsapp": 1}


def test_calls_by_kind(jordan):
    assert jordan.calls.totals == {"answered": 1, "missed": 2, "rejected": 1}
    assert [(w.week, w.counts) for w in jordan.calls.weeks] == [
        (date(2024, 2, 26), {"answered": 1, "missed": 2, "rejected": 1})]


def test_identifiers(analysis, jordan):
    rows = [(i.identifier, i.display, i.kind, i.count, i.incoming, i.outgoing, i.channels, i.first.exhibit,
             i.last.exhibit, i.link["key"] if i.link else None, i.first_after) for i in jordan.identifiers]
    assert rows == [
        (J1, "+44 7700 900123", "phone", 11, 10, 1, ["call", "sms"], "CT-000001", "CT-000020", "party[1].phones[1]", None),
        ("wa:Jordan", "WhatsApp name “Jordan”", "whatsapp", 1, 1, 0, ["whatsapp"], "CT-000004", "CT-000004",
         "party[1].whatsapp_names[1]", None),
        (J2, "+44 7700 900456", "phone", 3, 3, 0, ["call", "sms"], "CT-000008", "CT-000018", "party[1].phones[2]",
         {"event": 0, "kind": "no_contact_request", "when": "2024-03-01T18:30:00+00:00", "days": 0.65, "seconds": 56520.0}),
        ("jordan.k@example.com", "jordan.k@example.com", "email", 1, 1, 0, ["email"], "CT-000012", "CT-000012",
         "party[1].emails[1]", {"event": 0, "kind": "no_contact_request", "when": "2024-03-01T18:30:00+00:00",
                                "days": 2.73, "seconds": 235800.0}),
    ]
    assert jordan.identifiers[2].days_used == [date(2024, 3, 2), date(2024, 3, 30), date(2024, 3, 31)]
    new = analysis.party("(unknown)").identifiers
    assert [(i.identifier, i.link, i.first_after["kind"], i.first_after["days"]) for i in new] == [
        (NEW, None, "blocked", 2.5)]


def test_red_flags_default_list(analysis, jordan):
    rf = jordan.red_flags
    assert rf.source.startswith("the default list")
    hits = [(h.exhibit, h.local.isoformat(), h.field, h.phrases, h.groups, h.text) for h in rf.hits]
    assert hits == [
        ("CT-000003", "2024-02-21T23:15:00+00:00", "body", ["I know where you"], ["surveillance"], "I know where you live"),
        ("CT-000010", "2024-03-02T10:45:00+00:00", "body", ["I'm outside"], ["surveillance"], "I'M OUTSIDE."),
        ("CT-000011", "2024-03-03T00:30:00+00:00", "body", ["you'll regret"], ["threat"], "you\u2019ll regret this"),
        ("CT-000012", "2024-03-04T12:00:00+00:00", "subject", ["watching you"], ["surveillance"], "Watching you"),
    ]
    assert rf.by_direction == {"incoming": 4}
    assert analysis.party("Alex").red_flags.hits == []


def test_red_flags_from_case_toml(tmp_path):
    toml = TOML + '\n[analysis]\nred_flags = ["live", "Regret", "great"]\n'
    case = make_case(tmp_path / "c", {"phone.xml": RECORDS[:12]}, toml=toml)
    rf = analyse(case, "Jordan").party("Jordan").red_flags
    assert rf.source == "case.toml [analysis] red_flags"
    assert [(h.exhibit, h.phrases, h.groups) for h in rf.hits] == [
        ("CT-000003", ["live"], ["case.toml"]), ("CT-000004", ["great"], ["case.toml"]),
        ("CT-000011", ["Regret"], ["case.toml"])]


def test_phrase_matching_rules():
    assert python_pattern("kill").search("I will KILL you")
    assert not python_pattern("kill").search("skills")
    assert python_pattern("I'm outside").search("im here. I\u2019m   outside!")
    assert python_pattern("hurt you").search("hurt\nyou")
    assert not python_pattern("die").search("diet")
    import pyarrow as pa
    texts = pa.array(["skill", None, "Kill.", "killé", "who were you with?"])
    hits = find_hits(texts, [Phrase("kill", "threat"), Phrase("who were you with", "surveillance")])
    assert [(h.index, [p.text for p in h.phrases]) for h in hits] == [(2, ["kill"]), (4, ["who were you with"])]


def test_sentences(analysis):
    lines = sentences(analysis, "Jordan")
    assert lines[0] == ("Jordan contacted Sam 15 times between 20 February 2024 and 1 April 2024 (9 text messages, "
                        "4 calls, 1 e-mail and 1 WhatsApp message); Sam contacted Jordan once.")
    assert ("Jordan contacted Sam 10 times in the 30 days after the request for no contact on 1 March 2024, "
            "against 3 in the 30 days before (the records begin 10 days 6 hours before it).") in lines
    assert ("In those 30 days Jordan used 3 channels and 3 identifiers (2 phone numbers and 1 e-mail address)."
            in lines)
    assert ("Jordan contacted Sam 4 times in the 30 days after the block on 20 March 2024 (the records end 11 days "
            "20 hours after it), against 11 in the 30 days before (the records begin 28 days 21 hours before it)."
            in lines)
    assert ("The first contact from Jordan after the request for no contact came 15 hours 30 minutes later, "
            "on 2 March 2024 at 10:00 (exhibit CT-000006).") in lines
    assert "The records end on 1 April 2024, before the police report on 1 June 2024." in lines
    assert ("Jordan contacted Sam on 10 different days; the longest run was 4 days in a row, "
            "from 2 March 2024 to 5 March 2024.") in lines
    assert ("At night, between 22:00 and 06:00 (Europe/London time), Jordan contacted Sam 3 times: "
            "20% of all contacts from Jordan.") in lines
    assert ("The most contacts from Jordan within any 60 minutes were 5, from 10:00 to 10:45 on 2 March 2024; "
            "the most on one calendar day were 5, on 2 March 2024.") in lines
    assert ("Jordan called 2 times within 10 minutes of a previous call, in 1 series; the longest series was 3 calls "
            "from 10:00 to 10:12 on 2 March 2024 (exhibits CT-000006 to CT-000008).") in lines
    assert ("10 of the 11 contacts from Jordan (answered calls left out) had no reply from Sam within 24 hours."
            in lines)
    assert ("The records end less than 24 hours after 3 more contacts from Jordan that had no reply by then, so "
            "whether a reply came is not known.") in lines
    assert "Of the 4 calls from Jordan: 1 answered, 2 missed and 1 rejected." in lines
    assert "Jordan used 4 identifiers: 2 phone numbers, 1 e-mail address and 1 WhatsApp name." in lines
    assert ("+44 7700 900456 (listed for Jordan in case.toml, line 15) was first used on 2 March 2024, "
            "15 hours 42 minutes after the request for no contact on 1 March 2024; it was used 3 times in all.") in lines
    assert ("Red-flag phrases from the default list appear in 4 messages from Jordan (“I know where you” once, "
            "“I'm outside” once, “you'll regret” once and “watching you” once); each is listed in full "
            "with its exhibit number.") in lines
    assert ("jordan.k@example.com (listed for Jordan in case.toml, line 16) was first used on 4 March 2024, "
            "2 days 17 hours after the request for no contact on 1 March 2024; it was used once in all.") in lines
    assert lines[-1] == "The incident log holds 1 incident involving Jordan."
    alex = sentences(analysis, "Alex")
    assert ("Alex did not contact Sam in the 30 days after the block on 20 March 2024 (the records end 11 days "
            "20 hours after it), against 1 in the 30 days before (the records begin 28 days 21 hours before it)."
            in alex)
    assert not any(line.startswith("From the block") for line in alex)      # no "0 times: 0.0 a week"
    assert "There is no contact from Alex after the block on 20 March 2024 in these records." in alex
    assert "The only contact from Alex in these records was on 10 March 2024 at 10:00 (exhibit CT-000014)." in alex
    assert "Alex never contacted Sam at night, between 22:00 and 06:00 (Europe/London time)." in alex
    assert not any("never on two days in a row" in line for line in alex)
    assert "The one contact from Alex (answered calls left out) had no reply from Sam within 24 hours." in alex
    unknown = sentences(analysis, "(unknown)")
    assert unknown[0] == ("Senders not listed in case.toml contacted Sam once on 22 March 2024 (1 text message); "
                          "Sam did not contact senders not listed in case.toml.")
    assert ("+44 7700 900789 (not listed in case.toml) was first used on 22 March 2024, 2 days 12 hours after the "
            "block on 20 March 2024; it was used once in all.") in unknown


def test_to_dict_is_json(analysis):
    data = analysis.to_dict()
    text = json.dumps(data, sort_keys=True)
    assert json.loads(text)["parties"][0]["incoming"]["busiest_hour"]["exhibits"] == ex(6, 7, 8, 9, 10)
    short = analysis.to_dict(exhibits=False)
    assert short["parties"][0]["unanswered"]["exhibits"] == {"count": 10, "first": "CT-000003", "last": "CT-000017"}


def test_one_party_and_unknown_names(case):
    only = analyse(case, "jordan")
    assert [p.name for p in only.parties] == ["Jordan"]
    assert only.parties[0].contacts == 16
    assert resolve_party(case.config, "unknown") == "(unknown)"
    with pytest.raises(UsageError) as err:
        resolve_party(case.config, "Jamie")
    assert "Jordan, Alex" in err.value.render()
    assert err.value.exit_code == 2


def test_helpers():
    from zoneinfo import ZoneInfo
    london = ZoneInfo("Europe/London")
    moved = shift_days(datetime(2024, 3, 1, 18, 30, tzinfo=london), 30, london)
    assert moved.isoformat() == "2024-03-31T18:30:00+01:00"
    assert slug("Zoë O'Neill") == "zoe-o-neill" and slug("(unknown)") == "unknown" and slug("张") == "party"


def test_party_slugs_are_distinct_whatever_the_order():
    from commtrail.outputs.slugs import party_slugs
    names = ["Jordan K", "Alex", "Jordan-K", "张", "李"]
    slugs = party_slugs(names)
    assert slugs == {"Jordan K": "jordan-k-48c6a35c", "Alex": "alex", "Jordan-K": "jordan-k-d1f99205",
                     "张": "party-f56a049f", "李": "party-c16667ca"}
    assert len(set(slugs.values())) == 5
    assert party_slugs(list(reversed(names))) == slugs


def test_empty_master(tmp_path):
    case = make_case(tmp_path / "empty", {}, toml=TOML)
    result = analyse(case)
    assert [p.name for p in result.parties] == ["Jordan", "Alex"]
    assert result.parties[0].contacts == 0 and result.first_record is None
    assert sentences(result) == ["The records hold no contact between Jordan and Sam.",
                                 "The records hold no contact between Alex and Sam."]
