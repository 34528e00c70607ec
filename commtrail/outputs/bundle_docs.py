"""The bundle's written documents: the methodology sheet, the rejects list and the certification
templates (US FRE 902(14)-style certificate, UK witness-statement exhibit list). Every figure comes
from the case; nothing here carries the time of the run, so the same case gives the same bytes."""

from __future__ import annotations

import csv
import shlex
from collections import Counter
from importlib import metadata, resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail import __version__
from commtrail.case import Case
from commtrail.inventory import read_inventory
from commtrail.outputs.manifest import sha256_file
from commtrail.outputs.report_data import ReportData, production_words
from commtrail.timeline.master import read_master
from commtrail.timeline.produced import read_numbering

if TYPE_CHECKING:
    from commtrail.outputs.bundle import Payload

DEDUP_RULES = """\
- Every event gets a content-derived id: the channel and, per channel, who, the direction, the time
  cut to the precision both copies share (the minute for WhatsApp, the second otherwise), and the
  text (calls: kind and duration; e-mail: the Message-ID checked against a hash of the content),
  plus the rank of that key among identical keys within one source. So one message found in two
  backups is one event, and three identical texts sent in one minute stay three events.
- Copies are never merged across channels, and nothing is deleted: `master.parquet` keeps one row
  per event and lists every copy of it in `occurrences` (source SHA-256, path, locator).
- The copy shown is the one in the source with the smallest SHA-256. Events are numbered
  (`CT-000001`, ...) in time order, then by where that copy stands in its source.
- `possibly_deleted.parquet` lists events an earlier backup holds within the span of a later
  overlapping backup of the same kind that the later one lacks.
- `screenshot_links.parquet` (when the case holds screenshots) says which messages each screenshot
  shows: the text OCR read in it, matched with RapidFuzz to message texts of the 30 days before it
  (score 85 of 100 or more); a line matched to no message is a message only in a screenshot.
  The master's own rows are never changed by it."""

TZ_POLICY = """\
Times are stored in UTC with the time exactly as the source wrote it (`ts_local`), its precision
and where its zone came from (`tz_source`). Sources with an epoch time or an offset (SMS Backup &
Restore, e-mail) are exact (`source`). WhatsApp text exports and the incident log carry no zone:
they are read in the case's zone, {zone} (`case`). A clock time that occurs twice when summer time
ends is read as the earlier instant (`flag_ambiguous`); one that does not exist when summer time
starts is read with the offset before the change (`flag_nonexistent`); both are marked on their
rows. Reports, transcripts and exports show local time in {zone} with the zone abbreviation."""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_rejects(case: Case, target: Path, names: dict[str, str]) -> int:
    """Every reject of every source (raw text and reason), as CSV; returns the row count."""
    count = 0
    with open(target, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["source", "source_sha256", "locator", "reason", "raw"])
        for row in sorted(read_inventory(case.sources_file), key=lambda r: (r["path"], r["sha256"])):
            path = case.staging / f"{row['sha256']}.rejects.parquet"
            if not path.exists():
                continue
            for batch in pq.ParquetFile(path).iter_batches(columns=["locator", "reason", "raw"]):
                for rec in batch.to_pylist():
                    writer.writerow([names.get(row["sha256"], row["path"]), row["sha256"], rec["locator"],
                                     rec["reason"], rec["raw"]])
                    count += 1
    return count


def _ingest_commands(rows: list[dict]) -> list[str]:
    """The ingest commands the inventory shows (inputs grouped by the time they went in)."""
    runs: dict[object, list[str]] = {}
    for row in sorted(rows, key=lambda r: (r["ingested_at"] is None, r["ingested_at"] or 0, r["path"])):
        given = row["container"] or row["path"]
        inputs = runs.setdefault(row["ingested_at"], [])
        if given not in inputs:
            inputs.append(given)
    out = []
    for when, inputs in runs.items():
        stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "time not recorded"
        out.append(f"- {stamp}: `commtrail ingest CASE {' '.join(shlex.quote(i) for i in inputs)}`")
    return out


def _counts(values: pa.Array | pa.ChunkedArray, missing: str | None = None) -> Counter:
    """Counter of the values of one column, counted by Arrow (``missing`` names the nulls)."""
    out: Counter = Counter()
    for pair in pc.value_counts(values).to_pylist():
        key = pair["values"] if pair["values"] is not None or missing is None else missing
        out[key] += pair["counts"]
    return out


def source_counts(case: Case) -> tuple[Counter, Counter, Counter, Counter]:
    """Per source SHA-256: events it represents and copies it holds; and the master's dedup methods
    and time-zone sources."""
    master = read_master(case, ["source_sha256", "occurrences", "dup_method", "tz_source"])
    shown = _counts(master["source_sha256"])
    copies: Counter = Counter()
    if master.num_rows:
        copies = _counts(pc.list_flatten(master["occurrences"]).combine_chunks().field("source_sha256"))
    methods = _counts(pc.if_else(pc.equal(master["dup_method"], ""), None, master["dup_method"]), "single copy")
    zones = _counts(pc.if_else(pc.equal(master["tz_source"], ""), None, master["tz_source"]), "none (undated)")
    return shown, copies, methods, zones


def write_methodology(case: Case, report: ReportData, payload: "Payload", target: Path, command: str) -> Path:
    """``methodology.md``: versions, commands, time-zone policy, dedup rules, counts, rejects."""
    import bagit

    config = case.config
    rows = sorted(read_inventory(case.sources_file), key=lambda r: (r["path"], r["sha256"]))
    shown, copies, methods, zones = source_counts(case)
    scope = f"the party {report.parties[0]}" if not report.all_parties else "every party"
    lines = [f"# Methodology: {config.title}", "",
             f"Court bundle of {scope}, made by commtrail {__version__} from the case's master evidence file "
             f"`master.parquet` (SHA-256 {report.master_sha256}). `data/case/master.parquet` and "
             "`data/originals/` cover the whole case; the report, the transcripts and the exports cover "
             f"{scope}.", "",
             "## Programs", "",
             f"- commtrail {__version__}; bagit.py {bagit.VERSION}; fpdf2 {metadata.version('fpdf2')}; pyarrow {pa.__version__}",
             "- parsers: " + (", ".join(sorted({r["parser"] for r in rows if r["parser"]})) or "none"), "",
             "## Commands run", "",
             *_ingest_commands(rows),
             f"- this bundle: `{command}` (the report, the transcripts, the exports and these documents were "
             "written by it from the case)", "",
             "## Exhibit numbers", "", f"Exhibit numbers are {production_words(*read_numbering(case.root))}.", "",
             "## Time-zone policy", "", TZ_POLICY.format(zone=config.timezone), "",
             "Events by where their zone came from: "
             + "; ".join(f"{k}: {v:,}" for k, v in sorted(zones.items())) + ".", "",
             "## Deduplication rules", "", DEDUP_RULES, "",
             "Events by how their copies were matched: "
             + "; ".join(f"{k}: {v:,}" for k, v in sorted(methods.items())) + ".", "",
             "## Counts in and out per source", "",
             "In: what the parser read (records; rejects, kept with their raw text; characters repaired). "
             "Out: events of the master shown from this source, and copies of events it holds.", "",
             "| source | SHA-256 | bytes | format / parser | records | rejects | repairs | events shown | copies held |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = payload.names.get(r["sha256"], f"{r['path']} (not in the bundle: no copy in the case)")
        lines.append(f"| {_cell(name)} | {r['sha256']} | {r['size'] or 0:,} | {_cell(r['format'])} / "
                     f"{_cell(r['parser'])} | {r['records'] or 0:,} | {r['rejects'] or 0:,} | {r['repairs'] or 0:,} | "
                     f"{shown.get(r['sha256'], 0):,} | {copies.get(r['sha256'], 0):,} |")
    lines += ["", f"Totals: {sum(r['records'] or 0 for r in rows):,} records in, "
              f"{sum(r['rejects'] or 0 for r in rows):,} rejects, {sum(shown.values()):,} events out.", ""]
    for r in rows:
        for warning in r["warnings"] or []:
            lines.append(f"- warning, {_cell(payload.names.get(r['sha256'], r['path']))}: {_cell(warning)}")
    lines += ["", "## Rejects", "",
              "Every piece of a source that could not be read, with its raw text and the reason, is in "
              "`data/case/rejects.csv`. By reason:", ""]
    lines += [f"- {_cell(p)}: {_cell(reason)} ({n:,})" for p, reason, n in report.rejects] or ["- none"]
    lines += ["", "## Files", "",
              "- `originals/`: every source as received (file name as given, made safe; the SHA-256 above)",
              "- `report/`: the evidence report (HTML and PDF)",
              "- `transcripts/`: one transcript PDF per party, numbered rows with their exhibit numbers",
              "- `exports/`: " + ", ".join(f"`{e}`" for e in payload.exports),
              "- `case/`: master.parquet, sources.parquet, possibly_deleted.parquet, "
              "screenshot_links.parquet (if any), case.toml, rejects.csv, "
              "productions.jsonl (the exhibit numbers produced)",
              "- `attachments/`, `incident-log/evidence/`: files of the events, named by their SHA-256",
              "- `certification/`: templates to adapt and sign (not legal advice)", "",
              "Outside `data/`: the BagIt manifests (`manifest-sha256.txt`, `tagmanifest-sha256.txt`, "
              "check with `sha256sum -c`) and `hashdeep.txt` (check with `hashdeep -c sha256 -r -l -a -k "
              "hashdeep.txt data`)."]
    if payload.not_copied:
        lines += ["", "Sources whose copy the case does not hold (ingested with --no-copy; only their hash is known):"]
        lines += [f"- {_cell(r['path'])}: SHA-256 {r['sha256']}" for r in payload.not_copied]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _template(name: str) -> Template:
    return Template(resources.files("commtrail.data").joinpath(name).read_text(encoding="utf-8"))


def write_certificates(case: Case, report: ReportData, payload: "Payload", data: Path) -> list[Path]:
    """The two certification templates, filled with the case's figures and hashes."""
    rows = sorted(read_inventory(case.sources_file), key=lambda r: (r["path"], r["sha256"]))
    events = pq.ParquetFile(case.master_file).metadata.num_rows
    table = ["   | No. | source as received | file in the bundle | bytes | format / parser | SHA-256 |",
             "   |---|---|---|---|---|---|"]
    for n, r in enumerate(rows, 1):
        table.append(f"   | {n} | {_cell(r['path'])} | {_cell(payload.names.get(r['sha256'], 'not copied'))} | "
                     f"{r['size'] or 0:,} | {_cell(r['format'])} / {_cell(r['parser'])} | {r['sha256']} |")
    values = {"owner": case.config.owner_name, "version": __version__, "sources_table": "\n".join(table),
              "records": f"{sum(r['records'] or 0 for r in rows):,}",
              "rejects": f"{sum(r['rejects'] or 0 for r in rows):,}", "events": f"{events:,}",
              "master_sha": report.master_sha256, "sources": f"{len(rows):,}"}
    exhibits = []
    listed = [(f"Transcript of communications with {party}", rel) for party, rel in payload.transcripts.items()]
    listed += [("Evidence report (PDF)", "report/report.pdf"), ("Methodology sheet", "methodology.md")]
    listed += [(f"{r['path']} as received ({r['format']})", payload.names[r["sha256"]])
               for r in rows if r["sha256"] in payload.names]
    listed += [("Evidence file of the incident log", rel) for rel in sorted(payload.files.values())
               if rel.startswith("incident-log/")]
    for n, (what, rel) in enumerate(listed, 1):
        digest = payload.hashes[rel] if rel in payload.hashes else sha256_file(data / rel)
        exhibits.append(f"| XX/{n} | {_cell(what)} | `{_cell(rel)}` | {digest} |")
    values["exhibit_rows"] = "\n".join(exhibits)
    folder = data / "certification"
    folder.mkdir()
    out = []
    for template, name in (("bundle_certificate_us.md", "us-fre-902-14-certificate-TEMPLATE.md"),
                           ("bundle_exhibits_uk.md", "uk-witness-statement-exhibit-list-TEMPLATE.md")):
        target = folder / name
        target.write_text(_template(template).substitute(values), encoding="utf-8")
        out.append(target)
    return out
