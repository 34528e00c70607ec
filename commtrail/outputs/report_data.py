"""Everything the report shows, gathered once from the case; the HTML and PDF writers only lay it out.

Both writers take their cell texts from :func:`exhibit_cells` and :func:`incident_cells`, so the
two files always say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail import __version__
from commtrail.case import Case, Link
from commtrail.errors import UsageError
from commtrail.inventory import read_inventory, shown_paths
from commtrail.outputs.report_evidence import evidence_rows
from commtrail.outputs.manifest import sha256_file
from commtrail.outputs.report_words import words
from commtrail.outputs.screenshot_cells import ScreenshotCells
from commtrail.outputs.sentences import owner_named
from commtrail.review.annotations import Selection, load_annotations
from commtrail.timeline.identity import PHONE_CHECKS, describe, phone_check
from commtrail.timeline.master import read_master, read_possibly_deleted
from commtrail.timeline.produced import (Carry, Production, exhibit_name, last_number, merged_numbers,
                                        out_of_time_order, read_numbering)

EXHIBIT_COLUMNS = ["exhibit", "event_id", "ts_utc", "ts_local", "ts_precision", "tz_source", "channel", "kind", "direction",
                   "sender", "sender_raw", "recipients", "party", "conversation", "subject", "body", "duration_s", "attachments",
                   "flags", "source_path", "locator", "occurrences", "extra"]
TOOL = "commtrail"


@dataclass
class PartySection:
    name: str
    sentences: list[str]
    figures: list[tuple[str, str]]
    charts: list[tuple[Path, str]]
    identifiers: list[dict]


@dataclass
class ReportData:
    title: str
    owner: str
    timezone: str
    parties: list[str]                 # the parties this report is about
    all_parties: bool
    period: tuple[str, str] | None     # first and last local date of the listed events
    master_sha256: str
    version: str
    generated_at: str | None
    exhibits: pa.Table                 # the parties' events, exhibit order
    incidents: pa.Table                # channel 'incident' rows, exhibit order
    unlinked: int
    sections: list[PartySection]
    sources: list[dict]                # inventory rows, each with "shown" (see shown_paths) added
    rejects: list[tuple[str, str, int]]   # (source path, reason, count)
    deleted_total: int | None
    deleted_listed: int
    pdf_date: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=timezone.utc))
    undated: list[dict] = field(default_factory=list)  # undated_cells of the listed undated events
    evidence: pa.Table | None = None   # the evidence files listed (report_evidence.py), exhibit order
    shots: ScreenshotCells = field(default_factory=ScreenshotCells)
    only_listed: int = 0               # messages only in a screenshot, in the listed screenshots
    selection: str | None = None       # how --only starred / --tag chose the listed events (None: all)
    total_events: int = 0              # events in the master, whatever is listed
    notes: list[dict] = field(default_factory=list)    # the reviewer's annotations of the listed events
    numbering: str = ""                # how exhibit numbers were given (see numbering_words)
    late_note: str = ""                # the sentence explaining the mark, when a listed row has it

    def incident_words(self) -> tuple[str, str]:
        """The incident section's introduction and its text when it lists nothing."""
        i = words()["incidents"]
        if self.all_parties:
            return i["intro"], i["none"]
        party = ", ".join(self.parties)
        return i["intro_party"].format(party=party), i["none_party"].format(party=party)

    def listed_words(self) -> str:
        """The cover's count of the events listed: the exhibit log's, and the incident log's when it
        lists any (so that the cover's counts add up to the master's)."""
        if not self.incidents.num_rows:
            return f"{self.exhibits.num_rows:,}"
        return words()["cover"]["events_listed_incidents"].format(exhibits=f"{self.exhibits.num_rows:,}",
                                                                  incidents=f"{self.incidents.num_rows:,}")

    def unlinked_words(self) -> str:
        """The cover's line on events the report does not list because no party is linked to them."""
        w = words()["selection" if self.selection is not None else "cover"]["unlinked"]
        return w.format(count=f"{self.unlinked:,}")

    def selection_words(self, key: str) -> str | None:
        """The selection's sentence for the cover (``cover``) or the exhibit log (``exhibits``);
        None when every event is listed."""
        if self.selection is None:
            return None
        chosen = self.exhibits.num_rows + self.incidents.num_rows
        return words()["selection"][key].format(how=self.selection, chosen=f"{chosen:,}",
                                                total=f"{self.total_events:,}")

    @property
    def shown(self) -> dict[str, str]:
        """Source path as stored -> as the report shows it."""
        return {r["path"]: r["shown"] for r in self.sources}

    def exhibit_batches(self, rows: int = 2000) -> Iterator[list[dict]]:
        """The exhibit rows as dicts, a batch at a time (memory stays flat)."""
        for batch in self.exhibits.to_batches(max_chunksize=rows):
            yield batch.to_pylist()


def _with_local_time(table: pa.Table, zone: str) -> pa.Table:
    local = table["ts_utc"].cast(pa.timestamp("s", tz="UTC"), safe=False).cast(pa.timestamp("s", tz=zone))
    table = table.append_column("local_date", pc.strftime(local, format="%Y-%m-%d"))
    table = table.append_column("local_time", pc.strftime(local, format="%H:%M:%S"))
    return table.append_column("local_zone", pc.strftime(local, format="%Z"))


def selection_words(selection: Selection) -> str:
    """How a selection chose its events, in the report's words ("starred by the reviewer or ...")."""
    w = words()["selection"]
    parts = [w["starred"]] if selection.starred else []
    if selection.tags:
        parts.append(w["tagged"].format(tags=w["tag_joiner"].join(f"\u201c{t}\u201d" for t in selection.tags)))
    return w["joiner"].join(parts)


def gather(case: Case, party: str | None = None, timestamp: bool = False,
           selection: Selection = Selection(), sections: bool = True) -> ReportData:
    """Read the master, the inventory and the rejects; compute the sections of the report. With a
    ``selection`` only the events it chooses are listed (the summary and charts count them all);
    without ``sections``, no summary, charts or identifier sheet: what a bundle's documents need."""
    config = case.config
    names = [p.name for p in config.parties]
    if party is not None and party not in names:
        raise UsageError(f"there is no party called '{party}' in case.toml.", file=str(case.root / "case.toml"),
                         hint="Parties: " + (", ".join(names) if names else "none yet; add a [[party]] block") + ".")
    chosen = [party] if party is not None else names
    if not case.master_file.exists():
        raise UsageError("this case has no master evidence file yet.", file=str(case.root),
                         hint=f"Ingest the backups first: commtrail ingest {case.root} FILES...")
    picked_ids = selection.events(case) if selection else None
    master = read_master(case, EXHIBIT_COLUMNS)
    total_events = master.num_rows
    if picked_ids is not None:
        master = master.filter(pc.is_in(master["event_id"], pa.array(sorted(picked_ids), pa.string())))
    in_party = pc.fill_null(pc.is_in(master["party"], pa.array(chosen, pa.string())), False)
    incident = pc.fill_null(pc.equal(master["channel"], "incident"), False)
    exhibits = master.filter(pc.and_(in_party, pc.invert(incident)))
    # every incident in a report on all parties; in a report on one party, that party's incidents
    incidents = master.filter(pc.and_(incident, in_party) if party is not None else incident)
    linked = pc.fill_null(pc.is_in(master["party"], pa.array(names, pa.string())), False)
    unlinked = pc.sum(pc.invert(pc.or_(linked, incident) if party is None else linked)).as_py() or 0
    shots = ScreenshotCells.of(case)
    evidence = _with_local_time(evidence_rows(master, exhibits, shots, party is None), config.timezone)
    del master
    exhibits = _with_local_time(exhibits, config.timezone)
    incidents = _with_local_time(incidents, config.timezone)
    exhibits = exhibits.append_column("late", pa.array(out_of_time_order(exhibits["ts_utc"]), pa.bool_()))
    numbering, late_note = numbering_words(case.root, bool(pc.any(exhibits["late"]).as_py()))
    period = None
    if exhibits["local_date"].null_count < exhibits.num_rows:  # undated events have no date
        period = (pc.min(exhibits["local_date"]).as_py(), pc.max(exhibits["local_date"]).as_py())

    parts = []
    if sections:   # the analysis and its charts (matplotlib) only when they are shown
        from commtrail.outputs import report_sections
    for name in chosen if sections else []:
        sentences, figures = report_sections.summary(case, name)
        parts.append(PartySection(name, sentences, figures, report_sections.charts(case, name),
                                     identifier_sheet(case, exhibits, name)))

    sources = read_inventory(case.sources_file)
    sources.sort(key=lambda r: (r["path"], r["sha256"]))
    shown = shown_paths([r["path"] for r in sources], {r["path"]: r["input"] for r in sources})
    for row in sources:
        row["shown"] = shown[row["path"]]
    rejects: list[tuple[str, str, int]] = []
    for row in sources:
        path = case.staging / f"{row['sha256']}.rejects.parquet"
        if not path.exists() or not row["rejects"]:
            continue
        reasons = pq.read_table(path, columns=["reason"])["reason"]
        counts = pc.value_counts(pc.fill_null(reasons, "(no reason given)"))
        pairs = sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()),
                       key=lambda kv: (-kv[1], kv[0]))
        rejects += [(row["shown"], reason, count) for reason, count in pairs]

    deleted = read_possibly_deleted(case)
    deleted_total = None if deleted is None else pc.count_distinct(deleted["event_id"]).as_py() if deleted.num_rows else 0
    deleted_listed = 0
    if deleted is not None and deleted.num_rows and exhibits.num_rows:
        deleted_listed = int(pc.sum(pc.is_in(exhibits["event_id"], pc.unique(deleted["event_id"]))).as_py() or 0)

    ingested = [r["ingested_at"] for r in sources if r.get("ingested_at")]
    pdf_date = datetime.now(timezone.utc).replace(microsecond=0) if timestamp else (
        max(ingested) if ingested else datetime(2000, 1, 1, tzinfo=timezone.utc))
    owner = config.owner_name if owner_named(config.owner_name) else words()["cover"]["owner_unnamed"]
    return ReportData(
        title=config.title, owner=owner, timezone=config.timezone, parties=chosen,
        all_parties=party is None, period=period, master_sha256=sha256_file(case.master_file),
        version=__version__, generated_at=pdf_date.isoformat() if timestamp else None,
        exhibits=exhibits, incidents=incidents, unlinked=unlinked, sections=parts, sources=sources,
        rejects=rejects, deleted_total=deleted_total, deleted_listed=deleted_listed, pdf_date=pdf_date,
        undated=undated_rows(exhibits, incidents, config.links, shown), evidence=evidence, shots=shots,
        numbering=numbering, late_note=late_note,
        only_listed=sum(len(shots.only(e)) for e in evidence["event_id"].to_pylist()),
        selection=selection_words(selection) if selection else None, total_events=total_events,
        notes=reviewer_notes(case, exhibits, incidents) if selection else [])


def reviewer_notes(case: Case, exhibits: pa.Table, incidents: pa.Table) -> list[dict]:
    """The reviewer's annotations of the listed events, in exhibit order: exhibit, starred, tags,
    note, written (the time of its last change)."""
    state = load_annotations(case)
    rows = []
    for table in (exhibits, incidents):
        for exhibit, event_id in zip(table["exhibit"].to_pylist(), table["event_id"].to_pylist()):
            a = state.get(event_id)
            if a is not None and (a.starred or a.tags or a.note):
                rows.append({"exhibit": exhibit, "starred": a.starred, "tags": list(a.tags), "note": a.note,
                             "written": a.written})
    return sorted(rows, key=lambda r: r["exhibit"])


def production_words(productions: list[Production], carries: list[Carry]) -> str:
    """How the numbers were given (timeline/produced.read_numbering), naming every production and
    the produced numbers whose events were merged into another's (the methodology's statement)."""
    n = words()["numbering"]
    if not productions:
        return n["unproduced"]
    spans = "; ".join(f"{p.span} by {p.by} ({p.scope})" for p in productions if p.event_ids)
    text = n["produced"].format(count=len(productions), spans=spans)
    if merged := merged_numbers(productions, carries):
        text += n["merged"].format(merged="; ".join(
            f"{exhibit_name(number)} is now part of {exhibit_name(into)}" for number, into in merged))
    return text


def numbering_words(root: Path, late: bool) -> tuple[str, str]:
    """(how the numbers were given, for a report's or a transcript's cover; the sentence explaining
    the mark of rows numbered after a production, or "" when no listed row has it). While the listed
    rows are in time order (``late`` False) and no produced number was merged into another event, the
    cover says only that, whatever was produced: a production changes nothing it states (see
    bundle_reuse.case_inputs)."""
    n = words()["numbering"]
    productions, carries = read_numbering(root)
    if not productions or not (late or merged_numbers(productions, carries)):
        return n["chronological"], ""
    late_note = n["late"].format(mark=n["mark"], last=exhibit_name(last_number(productions))) if late else ""
    return production_words(productions, carries), late_note


def exhibit_mark(row: dict) -> str:
    """The mark after an exhibit number numbered after a production and earlier than a row above it."""
    return " " + words()["numbering"]["mark"] if row.get("late") else ""


# --------------------------------------------------------------------------------------------
# identifiers

def row_identifiers(row: dict, links: dict[str, Link]) -> list[str]:
    """The identifiers of the other side that an event was sent from or to."""
    if row["direction"] == "outgoing":
        recipients = row["recipients"] or []
        linked = [r for r in recipients if r in links and links[r].party == row["party"]]
        return linked or recipients
    return [row["sender"]] if row["sender"] else []


def identifier_sheet(case: Case, exhibits: pa.Table, party: str) -> list[dict]:
    """Per identifier of ``party``: first/last seen (local), events, and its case.toml link."""
    links = case.config.links
    stats: dict[str, dict] = {}
    table = exhibits.filter(pc.fill_null(pc.equal(exhibits["party"], party), False))
    # in time order, undated last (after a production the exhibit order is not)
    table = table.take(pc.sort_indices(table, [("ts_utc", "ascending")])).select(
        ["direction", "sender", "recipients", "party", "local_date", "local_time", "local_zone"])
    for batch in table.to_batches(max_chunksize=5000):
        for row in batch.to_pylist():
            # undated events (no local date; listed last) count, but set no first or last time
            when = f"{row['local_date']} {row['local_time']} {row['local_zone']}" if row["local_date"] else None
            for ident in row_identifiers(row, links):
                s = stats.setdefault(ident, {"first": None, "last": None, "events": 0})
                s["events"] += 1
                if when:
                    s["first"] = s["first"] or when
                    s["last"] = when
    for s in stats.values():
        if s["events"] and s["first"] is None:
            s["first"] = words()["exhibits"]["undated"]
    for ident, link in links.items():
        if link.party == party:
            stats.setdefault(ident, {"first": None, "last": None, "events": 0})
    out = []
    for ident, s in stats.items():
        link = links.get(ident)
        check = phone_check(ident)   # local and impossible numbers say so in their shown text already
        out.append({"identifier": ident, "shown": describe(ident),
                    "check": PHONE_CHECKS[check] if check in ("valid", "possible") else None,
                    "first": s["first"], "last": s["last"],
                    "events": s["events"], "link": link if link and link.party == party else None})
    out.sort(key=lambda r: (r["link"] is None, r["link"].line if r["link"] else 0, -r["events"], r["identifier"]))
    return out


# --------------------------------------------------------------------------------------------
# cell texts shared by the HTML and the PDF

def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def exhibit_cells(row: dict, links: dict[str, Link], shown: dict[str, str] | None = None,
                  shots: ScreenshotCells | None = None) -> dict:
    """The texts of one exhibit row, as both writers show it (sources named as in ``shown``; the
    screenshots that show it, or that it shows, from ``shots``)."""
    w = words()
    e = w["exhibits"]
    channel = w["channel_one"].get(row["channel"], row["channel"] or "")
    direction = w["directions"].get(row["direction"], row["direction"] or "")
    idents = [describe(i) for i in row_identifiers(row, links)]
    who = ((e["to"] if row["direction"] == "outgoing" else e["from"]) + " " + ", ".join(idents)) if idents else ""
    if not idents and row.get("conversation"):
        who = e["in_chat"].format(chat=row["conversation"])
    raw = row["sender_raw"]
    if raw and row["direction"] != "outgoing" and idents and raw not in idents[0]:
        who += f" (\u201c{raw}\u201d)"
    text_parts = []
    if row["channel"] == "call":
        kind = (row["kind"] or "").replace("_", " ")
        line = e["call"].format(kind=kind.capitalize() if kind else "")
        if row["duration_s"] is not None:
            line += ", " + e["duration"].format(minutes=row["duration_s"] // 60, seconds=row["duration_s"] % 60)
        text_parts.append(line)
    if row["subject"]:
        text_parts.append(f"{e['subject']}: {row['subject']}")
    if row["body"] is not None and row["body"] != "":
        text_parts.append(row["body"])
    elif row["channel"] != "call":
        text_parts.append(e["no_text"])
    text = "\n".join(text_parts)
    attachments, described = [], []
    for a in row["attachments"] or []:
        bits = [a["name"] or "(no name)"]
        if a["mime"]:
            bits.append(a["mime"])
        bits.append(_size(a["size"]) if a["sha256"] else e["attachment_missing"])
        described.append((" \u00b7 ".join(bits), a["sha256"]))
        attachments.append(" \u00b7 ".join(bits + ([f"SHA-256 {a['sha256']}"] if a["sha256"] else [])))
    notes = []
    flag_names = w["flags"]
    if row["flags"]:
        notes.append(e["flags"] + ": " + ", ".join(flag_names.get(f, f) for f in row["flags"]))
    if row["tz_source"] == "flag_ambiguous":
        notes.append(e["time_flag_ambiguous"])
    elif row["tz_source"] == "flag_nonexistent":
        notes.append(e["time_flag_nonexistent"])
    if shots is not None:
        if shown_in := shots.shown_in(row["event_id"]):
            notes.append(e["shown_in"].format(exhibits=", ".join(shown_in)))
        if shows := shots.shows(row["event_id"]):
            notes.append(e["shows"].format(exhibits=", ".join(shows)))
    copies = len(row["occurrences"] or []) - 1
    precision = row["ts_precision"]
    clock = row["local_time"]
    if precision == "min":
        clock = clock[:5]
    time_text = e["precision_day"] if precision == "day" else f"{clock} {row['local_zone']}"
    if row["ts_utc"] is None:
        time_text = e["undated"]
    return {
        "exhibit": row["exhibit"], "mark": exhibit_mark(row), "date": row["local_date"] or "", "time": time_text,
        "channel": channel, "direction": direction, "who": who, "text": text,
        "attachments": attachments, "attachment_parts": described, "notes": notes,
        "source": (shown or {}).get(row["source_path"], row["source_path"] or ""),
        "locator": row["locator"] or "", "copies": e["copies"].format(count=copies) if copies > 0 else "",
    }


def section_keys(data: ReportData) -> list[str]:
    """The report's sections in order (``undated`` only when some listed event has no time,
    ``evidence`` only when it lists an evidence file)."""
    keys = ["summary", "charts", "exhibits", "incidents", "identifiers", "sources", "certification"]
    if data.selection is not None:
        keys.insert(keys.index("exhibits") + 1, "notes")
    if data.undated:
        keys.insert(keys.index("incidents") + 1, "undated")
    if data.evidence is not None and data.evidence.num_rows:
        keys.insert(keys.index("identifiers"), "evidence")
    return keys


def undated_rows(exhibits: pa.Table, incidents: pa.Table, links: dict[str, Link],
                 shown: dict[str, str] | None = None) -> list[dict]:
    """The exhibit cells of the listed events with no time (null ts_utc, flag undated), with the
    reason the source gave (``extra.undated_reason``), in exhibit order."""
    rows = []
    for table in (exhibits, incidents):
        undated = table.filter(pc.is_null(table["ts_utc"]))
        for row in undated.to_pylist():
            reason = (json.loads(row["extra"]) if row["extra"] else {}).get("undated_reason", "")
            rows.append({**exhibit_cells(row, links, shown), "reason": reason})
    return sorted(rows, key=lambda r: r["exhibit"])


def incident_cells(row: dict, shown: dict[str, str] | None = None) -> dict:
    """The texts of one incident-log row."""
    w = words()
    i = w["incidents"]
    extra = json.loads(row["extra"]) if row["extra"] else {}
    details = [f"{i['who']}: {row['sender_raw']}"] if row["sender_raw"] else []
    for key, label in (("witnesses", i["witnesses"]), ("police_called", i["police"]),
                       ("report_number", i["report_number"]), ("officer", i["officer"]), ("effect", i["effect"])):
        if extra.get(key):
            details.append(f"{label}: {extra[key]}")
    for name, value in sorted((extra.get("other_columns") or {}).items()):
        details.append(f"{name}: {value}")
    base = exhibit_cells(row, {}, shown)
    return {**base, "location": extra.get("location", ""), "details": details,
            "text": row["body"] if row["body"] is not None else w["exhibits"]["no_text"],
            "time": base["time"] if row["ts_precision"] != "day" else w["exhibits"]["precision_day"],
            "ts_local": row["ts_local"] or ""}
