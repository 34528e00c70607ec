"""Plain-English factual sentences generated from the analysis figures.

The wording lives in ``commtrail/data/sentences.toml``; this module only picks the templates and
fills in counts, dates (in the case's zone, "1 March 2024") and exhibit numbers. A sentence says
only what a figure counts; nothing is weighed or scored.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from commtrail.outputs.labels import UNKNOWN, WINDOW_DAYS

if TYPE_CHECKING:   # the analysis (pandas) is not imported for the words a report's cover needs
    from commtrail.outputs.analysis import CaseAnalysis, EventFigures, PartyAnalysis

DATA_FILE = "sentences.toml"


@lru_cache(maxsize=1)
def wording() -> dict:
    """The wording data file, parsed."""
    return tomllib.loads(resources.files("commtrail.data").joinpath(DATA_FILE).read_text(encoding="utf-8"))


def number(n: int | float) -> str:
    """1234 -> '1,234'."""
    return f"{n:,}" if isinstance(n, int) or float(n).is_integer() else f"{n:,.1f}"


def plural(forms: list[str], n: int, **extra: str) -> str:
    form = forms[0] if n == 1 else forms[1]
    return form.format(n=number(int(n)), **extra)


def noun(name: str, n: int) -> str:
    return plural(wording()["nouns"][name], n)


def day_text(d: date | datetime) -> str:
    """'1 March 2024'."""
    return f"{d.day} {wording()['months'][d.month - 1]} {d.year}"


def time_text(d: datetime) -> str:
    return f"{d.hour:02d}:{d.minute:02d}"


def moment_text(d: datetime) -> str:
    """'1 March 2024 at 18:30'."""
    return f"{day_text(d)} at {time_text(d)}"


def span_text(start: datetime, end: datetime) -> str:
    """'21:04 to 21:58 on 1 March 2024', or with both dates when they differ."""
    if start.date() == end.date():
        return f"{time_text(start)} to {time_text(end)} on {day_text(start)}"
    return f"{time_text(start)} on {day_text(start)} to {time_text(end)} on {day_text(end)}"


def join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {wording()['and']} " + items[-1]


def duration_text(seconds: float) -> str:
    """The two largest units: '2 days 3 hours', '45 minutes', '30 seconds'."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [("days", days), ("hours", hours), ("minutes", minutes), ("seconds", secs)]
    while parts and parts[0][1] == 0:
        parts.pop(0)
    if not parts:
        return noun("seconds", 0)
    chosen = [parts[0]] + ([parts[1]] if len(parts) > 1 and parts[1][1] else [])
    return " ".join(noun(name, n) for name, n in chosen)


def share_text(share: float) -> str:
    pct = share * 100
    if 0 < pct < 0.5:
        return "under 1%"
    if pct < 10 and not float(round(pct, 1)).is_integer():
        return f"{pct:.1f}%"
    return f"{pct:.0f}%"


def channel_counts(counts: dict[str, int]) -> str:
    words = wording()["channels"]
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return join([plural(words.get(c, words["other"]), n, channel=c) for c, n in items if n])


def identifier_counts(counts: dict[str, int]) -> str:
    words = wording()["identifier_kinds"]
    order = list(words)
    items = sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    return join([plural(words.get(k, words["other"]), n) for k, n in items if n])


def owner_named(name: str) -> bool:
    """Whether case.toml gives the owner a real name (not left as "Me" or the like)."""
    return name.strip().casefold() not in wording()["names"]["owner_placeholders"]


def owner_words(name: str) -> str:
    """The owner as sentences and charts name them: their name, or "the owner"."""
    return name if owner_named(name) else wording()["names"]["owner"]


def _utc(d: datetime) -> datetime:
    """For arithmetic and comparison: Python compares two times of one zone by their wall clocks."""
    return d.astimezone(timezone.utc)


def event_name(kind: str) -> str:
    return wording()["events"].get(kind, wording()["events"]["other"])


class _Writer:
    def __init__(self, analysis: CaseAnalysis, party: PartyAnalysis) -> None:
        self.a, self.p = analysis, party
        w = wording()
        self.t = w["sentences"]
        self.base = {"party": w["names"]["unknown"] if party.name == UNKNOWN else party.name,
                     "owner": owner_words(analysis.owner)}

    def say(self, key: str, **values: object) -> str:
        template = self.t[key]
        text = template.format(**self.base, **values)
        if template.startswith(("{party}", "{owner}")):     # "senders not listed ...", "the owner"
            text = text[:1].upper() + text[1:]
        return text

    def all(self) -> list[str]:
        p = self.p
        out: list[str] = []
        inc, outg = p.incoming, p.outgoing
        reply = (self.t["reply"].format(**self.base, out_times=noun("times", outg.total)) if outg.total
                 else self.t["no_reply"].format(**self.base))
        if p.contacts == 0:
            out.append(self.say("none"))
            return out + self.apart()
        if inc.total == 0:
            out.append(self.say("overview_no_incoming", reply=reply))
        else:
            first, last = inc.persistence.first.local, inc.persistence.last.local
            period = (self.t["period_on"].format(first=day_text(first)) if first.date() == last.date()
                      else self.t["period_between"].format(first=day_text(first), last=day_text(last)))
            out.append(self.say("overview", times=noun("times", inc.total), period=period,
                                breakdown=channel_counts(inc.by_channel), reply=reply))
        for ev in p.events:
            out.extend(self.event(ev))
        if inc.total:
            out.extend(self.persistence())
            out.append(self.say("night" if inc.night.contacts else "night_none", night=noun("times", inc.night.contacts),
                                share=share_text(inc.night.share or 0.0), night_from=f"{inc.night.from_hour:02d}:00",
                                night_to=f"{inc.night.to_hour:02d}:00", zone=self.a.timezone))
            hb, db = inc.busiest_hour, inc.busiest_day
            if hb.count > 1:
                out.append(self.say("burst", hour_count=number(hb.count), hour_span=span_text(hb.start, hb.end),
                                    day_count=number(db.count), day=day_text(db.start)))
            rc = inc.repeated_calls
            if rc.series:
                first, last = rc.longest.exhibits[0], rc.longest.exhibits[len(rc.longest.exhibits) - 1]
                out.append(self.say("repeated", repeats=noun("times", rc.repeats), minutes=rc.within_minutes,
                                    series=noun("series", len(rc.series)), longest=noun("calls", rc.longest.calls),
                                    span=span_text(rc.longest.start, rc.longest.end),
                                    first_exhibit=first, last_exhibit=last))
            u = p.unanswered
            if u.considered == 1:
                out.append(self.say("unanswered_one" if u.unanswered else "answered_one", hours=u.within_hours))
            elif u.considered:
                out.append(self.say("unanswered" if u.unanswered else "all_answered", unanswered=number(u.unanswered),
                                    considered=number(u.considered), hours=u.within_hours))
            if u.not_known:
                out.append(self.say("reply_not_known", hours=u.within_hours,
                                    contacts=noun("more_contacts" if u.considered else "contacts", u.not_known)))
        if p.calls.totals:
            incoming_kinds = {k: n for k, n in p.calls.totals.items() if k != "outgoing"}
            if incoming_kinds:
                words = wording()["call_kinds"]
                kinds = [words.get(k, words["other"]).format(n=number(n)) for k, n in incoming_kinds.items()]
                calls = sum(incoming_kinds.values())
                if calls == 1:     # "The one call from Alex was missed."
                    out.append(self.say("calls_one", kind=kinds[0].split(" ", 1)[1]))
                else:
                    out.append(self.say("calls", calls=noun("calls", calls), kinds=join(kinds)))
        out.extend(self.identifiers())
        out.extend(self.red_flags())
        return out + self.apart()

    def apart(self) -> list[str]:
        """What is counted apart from the contacts: incidents and messages never sent."""
        p, out = self.p, []
        if p.incidents:
            out.append(self.say("incidents", incidents=noun("incidents", p.incidents)))
        if p.unsent:
            words = wording()["unsent"]
            out.append(self.say("unsent", unsent=join([plural(words[k], n) for k, n in p.unsent.items()])))
        return out

    def event(self, ev: EventFigures) -> list[str]:
        e = ev.event
        name, when = event_name(e.kind), day_text(e.when)
        after, before, total = ev.after, ev.before, ev.total_after
        if total.covered_days <= 0 and self.a.last_record is not None and self.a.last_record < e.when:
            return [self.say("event_records_end", end=day_text(self.a.last_record), event=name, date=when)]

        first, last = self.a.first_record, self.a.last_record
        late = _utc(first) > _utc(e.when)        # the records begin after the event

        def since(d: datetime) -> str:
            return duration_text(abs((_utc(d) - _utc(e.when)).total_seconds()))

        # a window the records do not cover is said so, and is not compared with
        if before.covered_days <= 0:
            before_part = self.t["event_before_none"].format(window=WINDOW_DAYS)
        elif before.covered_days < 1:
            before_part = self.t["event_before_short"].format(begin=since(first))
        else:
            note = (self.t["coverage"].format(parts=self.t["records_begin_before"].format(begin=since(first)))
                    if _utc(first) > _utc(before.start) else "")
            before_part = self.t["event_before"].format(count=number(before.counts["incoming"]), window=WINDOW_DAYS,
                                                       note=note)
        parts = ([self.t["records_begin_after"].format(begin=since(first))] if late else []) + \
            ([self.t["records_end_after"].format(end=since(last))] if _utc(last) < _utc(after.end) else [])
        after_note = self.t["coverage"].format(parts=join(parts)) if parts else ""
        count = after.counts["incoming"]
        if after.covered_days <= 0:
            out = [self.say("event_after_none", window=WINDOW_DAYS, event=name, date=when, begin=since(first))]
        else:
            out = [self.say("event" if count else "event_none_after", after=noun("times", count), window=WINDOW_DAYS,
                            event=name, date=when, after_note=after_note, before=before_part)]
        if count:
            kinds = identifier_counts(after.identifiers)
            out.append(self.say("event_used" if kinds else "event_used_channels", window=WINDOW_DAYS, kinds=kinds,
                                channels=noun("channels", after.channels),
                                identifiers=noun("identifiers", sum(after.identifiers.values()))))
        if total.counts["incoming"] and total.covered_days >= 1 and total.per_week["incoming"] is not None:
            rate_before = before.per_week["incoming"]
            key = "event_total_late" if late else "event_total" if rate_before is not None else "event_total_alone"
            out.append(self.say(key, event=name, start=day_text(first), begin=since(first),
                                end=day_text(total.end), span=duration_text(total.covered_days * 86_400),
                                total=noun("times", total.counts["incoming"]), window=WINDOW_DAYS,
                                rate=number(round(total.per_week["incoming"], 1)),
                                rate_before=number(round(rate_before, 1)) if rate_before is not None else ""))
        if ev.next_contact is not None:
            out.append(self.say("event_next", event=name, delay=duration_text(ev.next_contact_seconds),
                                date=day_text(ev.next_contact.local), time=time_text(ev.next_contact.local),
                                exhibit=ev.next_contact.exhibit))
        else:
            out.append(self.say("event_no_next", event=name, date=when))
        return out

    def persistence(self) -> list[str]:
        per = self.p.incoming.persistence
        out = []
        run = per.longest_run
        if run.days > 1:
            out.append(self.say("persistence", days=number(per.days_with_contact), run=noun("days", run.days),
                                run_start=day_text(run.start), run_end=day_text(run.end)))
        elif per.days_with_contact > 1:
            out.append(self.say("persistence_single", days=noun("days", per.days_with_contact)))
        elif self.p.incoming.total > 1:
            out.append(self.say("persistence_one_day", day=day_text(per.first.local)))
        out.append(self.say("first_last" if self.p.incoming.total > 1 else "only_one", first=moment_text(per.first.local),
                            first_exhibit=per.first.exhibit, last=moment_text(per.last.local),
                            last_exhibit=per.last.exhibit))
        return out

    def identifiers(self) -> list[str]:
        ids = self.p.identifiers
        if not ids:
            return []
        kinds: dict[str, int] = {}
        for i in ids:
            kinds[i.kind] = kinds.get(i.kind, 0) + 1
        out = [self.say("identifiers", identifiers=noun("identifiers", len(ids)), kinds=identifier_counts(kinds))]
        for i in ids:
            if i.first_after is None or i.incoming == 0:
                continue
            ev = self.a.events[i.first_after["event"]]
            listed = (self.t["listed"].format(party=i.link["party"], line=i.link["line"]) if i.link
                      else self.t["not_listed"])
            out.append(self.say("new_identifier", display=i.display, listed=listed, first=day_text(i.first.local),
                                delay=duration_text(i.first_after["seconds"]), event=event_name(ev.kind),
                                event_date=day_text(ev.when), count=noun("times", i.count)))
        return out

    def red_flags(self) -> list[str]:
        rf = self.p.red_flags
        if not rf.hits:
            return []
        source = "case.toml" if rf.source.startswith("case.toml") else "the default list"
        incoming = [h for h in rf.hits if h.direction == "incoming"]
        out = []
        if incoming:
            counts: dict[str, int] = {}
            for h in incoming:
                for ph in h.phrases:
                    counts[ph] = counts.get(ph, 0) + 1
            phrases = join([f"“{ph}” {noun('times', n)}" for ph, n in counts.items()])
            out.append(self.say("red_flags", hits=noun("messages", len(incoming)), source=source,
                                phrases=phrases))
        outgoing = sum(1 for h in rf.hits if h.direction == "outgoing")
        if outgoing:
            out.append(self.say("red_flags_outgoing", hits=noun("messages", outgoing)))
        return out


def party_sentences(analysis: CaseAnalysis, party: PartyAnalysis) -> list[str]:
    """The sentences about one party."""
    return _Writer(analysis, party).all()


def sentences(analysis: CaseAnalysis, party: str | None = None) -> list[str]:
    """The sentences about every analysed party (or about ``party``), in order."""
    out: list[str] = []
    for p in analysis.parties:
        if party is None or p.name == party:
            out.extend(party_sentences(analysis, p))
    return out
