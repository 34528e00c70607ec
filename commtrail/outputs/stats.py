"""``commtrail stats``: headline figures of a case in the terminal."""

from __future__ import annotations

import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from commtrail.case import Case
from commtrail.inventory import read_inventory
from commtrail.outputs.analysis import WINDOW_DAYS, CaseAnalysis, PartyAnalysis, Window, analyse
from commtrail.outputs.sentences import day_text, event_name, share_text
from commtrail.terminal import plain
from commtrail.timeline.master import read_master, read_possibly_deleted
from commtrail.timeline.screenshots import read_links

NOT_COVERED = "\u2013"     # a period the records do not reach


# Records whose source holds no time (null ts_utc, flag undated): in the master, not in any figure by time.
UNDATED_LABEL = "Undated (no time in the source)"


def headline(case: Case, analysis: CaseAnalysis | None = None) -> dict:
    """The case's headline figures as plain numbers (per party from the analysis)."""
    master = read_master(case, ["channel", "party", "occurrences", "ts_utc"])
    sources = read_inventory(case.sources_file)
    deleted = read_possibly_deleted(case)
    links = read_links(case.root)
    copies = pc.sum(pc.list_value_length(master["occurrences"])).as_py() or 0 if master.num_rows else 0
    by_channel = {}
    by_party = {}
    if master.num_rows:
        for row in master.group_by("channel").aggregate([("channel", "count")]).to_pylist():
            by_channel[row["channel"]] = row["channel_count"]
        for row in master.group_by("party").aggregate([([], "count_all")]).to_pylist():
            by_party[row["party"] or "(unknown)"] = row["count_all"]
    return {
        "events": master.num_rows,
        "undated": master["ts_utc"].null_count if master.num_rows else 0,
        "copies": copies,
        "sources": len(sources),
        "records": sum(s["records"] for s in sources),
        "rejects": sum(s["rejects"] for s in sources),
        "repairs": sum(s["repairs"] for s in sources),
        "warnings": sum(len(s["warnings"] or []) for s in sources),
        "possibly_deleted": deleted.num_rows if deleted is not None else 0,
        "only_in_screenshot": links["event_id"].null_count if links is not None else 0,
        "by_channel": dict(sorted(by_channel.items())),
        "by_party": dict(sorted(by_party.items())),
        "parties": {p.name: party_figures(p) for p in (analysis or analyse(case)).parties},
    }


def party_figures(p: PartyAnalysis) -> dict:
    """One party's headline figures: plain values, dates as ISO strings, exhibits where they point."""
    inc = p.incoming
    per = inc.persistence
    run = per.longest_run
    return {
        "contacts_from": inc.total,
        "contacts_to": p.outgoing.total,
        "channels": inc.by_channel,
        "first": per.first.local.isoformat() if per.first else None,
        "last": per.last.local.isoformat() if per.last else None,
        "days_with_contact": per.days_with_contact,
        "longest_run_days": run.days if run else 0,
        "night": inc.night.contacts,
        "night_share": inc.night.share,
        "busiest_hour": inc.busiest_hour.count if inc.busiest_hour else 0,
        "busiest_day": inc.busiest_day.count if inc.busiest_day else 0,
        "busiest_day_date": inc.busiest_day.start.date().isoformat() if inc.busiest_day else None,
        "repeated_calls": inc.repeated_calls.repeats,
        "unanswered": p.unanswered.unanswered,
        "identifiers": len(p.identifiers),
        "red_flags": sum(1 for h in p.red_flags.hits if h.direction == "incoming"),
        "incidents": p.incidents,
        "undated": p.undated,
        "unsent": sum(p.unsent.values()),
        # a window the records do not cover has no count (None), not a count of 0
        "events": [{"kind": e.event.kind, "when": e.event.when.isoformat(),
                    "before": _covered(e.before), "after": _covered(e.after), "total_after": _covered(e.total_after),
                    "next_contact": e.next_contact.exhibit if e.next_contact else None} for e in p.events],
    }


def _covered(window: Window) -> int | None:
    return window.counts["incoming"] if window.covered_days > 0 else None


def event_cell(e: dict) -> str:
    """'before / after (all after)' of one event, as the terminal table and the report show it."""
    before, after, total = (NOT_COVERED if n is None else f"{n:,}" for n in (e["before"], e["after"], e["total_after"]))
    return f"{before} / {after} ({total})"


def print_stats(case: Case, console: Console) -> None:
    """Print the headline figures as tables."""
    analysis = analyse(case)
    figures = headline(case, analysis)
    table = Table(title=plain(case.config.title), show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, key in (("Events in the master file", "events"), ("Copies of them in the sources", "copies"),
                       ("Sources ingested", "sources"), ("Records staged", "records"),
                       ("Rejected pieces (kept, see sources)", "rejects"), ("Repaired characters", "repairs"),
                       ("Warnings", "warnings"), ("Possibly deleted between backups", "possibly_deleted"),
                       ("Only in a screenshot (in no source)", "only_in_screenshot"), (UNDATED_LABEL, "undated")):
        table.add_row(label, str(figures[key]))
    console.print(table)
    for title, key in (("Events by channel", "by_channel"), ("Events by party", "by_party")):
        t = Table(title=title)
        t.add_column(key.split("_")[1])
        t.add_column("events", justify="right")
        for name, count in figures[key].items():
            t.add_row(plain(name), str(count))
        console.print(t)
    print_party_tables(analysis, figures["parties"], console)


ROWS = (
    ("Contacts from them", "contacts_from", None),
    ("Contacts to them", "contacts_to", None),
    ("First contact from them", "first", "date"),
    ("Last contact from them", "last", "date"),
    ("Days with contact from them", "days_with_contact", None),
    ("Longest run of days in a row", "longest_run_days", None),
    ("At night (22:00-06:00)", "night", "night"),
    ("Most in any 60 minutes", "busiest_hour", None),
    ("Most in one calendar day", "busiest_day", "day"),
    ("Calls within 10 min of the last", "repeated_calls", None),
    ("No reply within 24 hours", "unanswered", None),
    ("Identifiers used", "identifiers", None),
    ("Messages with red-flag phrases", "red_flags", None),
    ("Incidents logged", "incidents", None),
    (UNDATED_LABEL, "undated", None),
    ("Never sent (drafts, failed, ...)", "unsent", None),
)


def figure_text(figures: dict, key: str, how: str | None) -> str:
    """One party figure as the terminal table and the report both show it."""
    value = figures[key]
    if how == "date":
        return value[:16].replace("T", " ") if value else "-"
    if how == "night":
        return f"{value:,} ({share_text(figures['night_share'])})" if figures["night_share"] is not None else "0"
    if how == "day":
        return f"{value:,} ({figures['busiest_day_date']})" if figures["busiest_day_date"] else "0"
    return f"{value:,}"


def print_party_tables(analysis: CaseAnalysis, parties: dict, console: Console) -> None:
    """Per-party figures (one column per party) and the counts before and after each event."""
    if not parties:
        return
    t = Table(title=plain(f"Per person (times in {analysis.timezone})"))
    t.add_column("figure", overflow="fold")
    for name in parties:
        t.add_column(plain(name), justify="right", overflow="fold")
    for label, key, how in ROWS:
        t.add_row(label, *(figure_text(f, key, how) for f in parties.values()))
    console.print(t)
    if not analysis.events:
        return
    t = Table(title=f"Contacts from them {WINDOW_DAYS} days before / {WINDOW_DAYS} days after each event "
                    f"(and in all after it; {NOT_COVERED} where the records do not reach that period)")
    t.add_column("event", overflow="fold")
    for name in parties:
        t.add_column(plain(name), justify="right", overflow="fold")
    for i, event in enumerate(analysis.events):
        label = f"{event_name(event.kind)}, {day_text(event.when)}"
        t.add_row(label, *(event_cell(f["events"][i]) for f in parties.values()))
    console.print(t)
