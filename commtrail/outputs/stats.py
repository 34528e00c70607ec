"""``commtrail stats``: headline figures of a case in the terminal."""

from __future__ import annotations

import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from commtrail.case import Case
from commtrail.inventory import read_inventory
from commtrail.timeline.master import read_master, read_possibly_deleted


def headline(case: Case) -> dict:
    """The case's headline figures as plain numbers."""
    master = read_master(case, ["channel", "party", "occurrences"])
    sources = read_inventory(case.sources_file)
    deleted = read_possibly_deleted(case)
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
        "copies": copies,
        "sources": len(sources),
        "records": sum(s["records"] for s in sources),
        "rejects": sum(s["rejects"] for s in sources),
        "repairs": sum(s["repairs"] for s in sources),
        "warnings": sum(len(s["warnings"] or []) for s in sources),
        "possibly_deleted": deleted.num_rows if deleted is not None else 0,
        "by_channel": dict(sorted(by_channel.items())),
        "by_party": dict(sorted(by_party.items())),
    }


def print_stats(case: Case, console: Console) -> None:
    """Print the headline figures as tables."""
    figures = headline(case)
    table = Table(title=f"{case.config.title}", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, key in (("Events in the master file", "events"), ("Copies of them in the sources", "copies"),
                       ("Sources ingested", "sources"), ("Records staged", "records"),
                       ("Rejected pieces (kept, see sources)", "rejects"), ("Repaired characters", "repairs"),
                       ("Warnings", "warnings"), ("Possibly deleted between backups", "possibly_deleted")):
        table.add_row(label, str(figures[key]))
    console.print(table)
    for title, key in (("Events by channel", "by_channel"), ("Events by party", "by_party")):
        t = Table(title=title)
        t.add_column(key.split("_")[1])
        t.add_column("events", justify="right")
        for name, count in figures[key].items():
            t.add_row(str(name), str(count))
        console.print(t)
