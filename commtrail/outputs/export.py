"""Exports of the master: CSV for Excel, XLSX, and JSONL loadable by Timesketch."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq

from commtrail.case import Case
from commtrail.errors import UsageError
from commtrail.atomic import atomic_path
from commtrail.outputs.slugs import case_slugs
from commtrail.outputs.screenshot_cells import SCREENSHOT_COLUMNS, ScreenshotCells
from commtrail.review.annotations import Selection

FORMATS = ("csv", "xlsx", "jsonl")
COLUMNS = ["exhibit", "local_time", "utc_time", "channel", "kind", "direction", "party", "sender", "sender_raw",
           "recipients", "conversation", "subject", "body", "duration_s", "attachments", "flags", "copies",
           "source_path", "locator", "source_sha256", "event_id", *SCREENSHOT_COLUMNS]
# A text cell starting with one of these may be read by a spreadsheet as a formula (or, for "+", "-"
# and "@", as a number or a function). The full-width forms are folded to the ASCII ones by some
# spreadsheets' input methods, so they count too.
FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
QUOTE = "'"
XLSX_CELL_LIMIT = 32_767
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

TIMESTAMP_DESC = {
    ("call", "incoming"): "Call received", ("call", "outgoing"): "Call made",
    ("incident", "incoming"): "Incident noted",
}


def check_party(case: Case, party: str | None) -> None:
    """Refuse a --party name that is not in case.toml, naming those that are."""
    names = [p.name for p in case.config.parties]
    if party is not None and party not in names:
        raise UsageError(f"there is no party called '{party}' in case.toml.",
                         hint=f"Parties in this case: {', '.join(names) or 'none yet'}.")


def export_rows(case: Case, party: str | None = None, only: set[str] | None = None) -> Iterator[dict]:
    """The master's rows as flat dicts (times in UTC and in the case's zone), in exhibit order;
    ``only``: just these event ids (a selection; exhibit numbers stay the master's)."""
    zone = ZoneInfo(case.config.timezone)
    if not case.master_file.exists():
        return
    shots = ScreenshotCells.of(case)
    reader = pq.ParquetFile(case.master_file)
    for batch in reader.iter_batches(batch_size=20_000):
        for row in batch.to_pylist():
            if (party is not None and row["party"] != party) or (only is not None and row["event_id"] not in only):
                continue
            ts = row["ts_utc"]
            yield {
                "exhibit": row["exhibit"],
                "local_time": ts.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if ts else "",
                "utc_time": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ts else "",
                "channel": row["channel"], "kind": row["kind"], "direction": row["direction"],
                "party": row["party"], "sender": row["sender"], "sender_raw": row["sender_raw"],
                "recipients": "; ".join(row["recipients"] or []), "conversation": row["conversation"],
                "subject": row["subject"], "body": row["body"], "duration_s": row["duration_s"],
                "attachments": "; ".join(f"{a['name']} ({a['sha256'] or 'missing'})" for a in row["attachments"] or []),
                "flags": "; ".join(row["flags"] or []), "copies": len(row["occurrences"] or []),
                "source_path": row["source_path"], "locator": row["locator"],
                "source_sha256": row["source_sha256"], "event_id": row["event_id"],
                **shots.columns(row["event_id"]), "_ts": ts, "_extra": row["extra"],
            }


def needs_quote(text: str) -> bool:
    """Whether a text cell could compute in a spreadsheet (see FORMULA_STARTS)."""
    return bool(text) and text[0] in FORMULA_STARTS


def csv_cell(value: object) -> object:
    """A CSV cell that never computes: a text starting with a formula character, or with the quote
    itself, gets one leading apostrophe (so dropping one leading apostrophe always gives the text
    back); numbers stay numbers."""
    if isinstance(value, str) and value and (value[0] == QUOTE or needs_quote(value)):
        return QUOTE + value
    return value


def recover_csv_text(cell: str) -> str:
    """The original text of a CSV export cell (the inverse of :func:`csv_cell` on text)."""
    return cell[1:] if cell.startswith(QUOTE) else cell


# A sink writes one export file from the rows sent to it one by one (None: the last one was sent).
Sink = Generator[None, "dict | None", None]


def _csv_sink(target: Path) -> Sink:
    """CSV in UTF-8 with a BOM, so Excel opens it with the right characters."""
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            while (row := (yield)) is not None:
                writer.writerow(["" if row[c] is None else csv_cell(row[c]) for c in COLUMNS])


def _xlsx_sink(target: Path) -> Sink:
    """XLSX (write-only, streamed). Every text is a string cell, never a formula; one that starts with a
    formula character also carries Excel's "quote prefix" mark, so editing the cell keeps it text.
    The text itself is unchanged. Excel holds at most 32,767 characters a cell: longer texts are cut
    there with a note, and characters XLSX cannot hold are shown as U+FFFD."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES

    book = Workbook(write_only=True)
    sheet = book.create_sheet("master")
    sheet.append(COLUMNS)
    while (row := (yield)) is not None:
        cells = []
        for c in COLUMNS:
            value = row[c]
            if isinstance(value, str):
                value = _XLSX_ILLEGAL.sub("\ufffd", value)
                if len(value) > XLSX_CELL_LIMIT:
                    note = f" [cut at {XLSX_CELL_LIMIT} characters; full text in the CSV or JSONL export]"
                    value = value[: XLSX_CELL_LIMIT - len(note)] + note
                if needs_quote(value) or value in ERROR_CODES:   # a cell object only where openpyxl would not
                    cell = WriteOnlyCell(sheet, value=value)      # make a plain text (plain values are much faster)
                    cell.data_type = "s"  # never a formula or an error value
                    cell.quotePrefix = needs_quote(value)
                    value = cell
            cells.append(value)
        sheet.append(cells)
    with atomic_path(target) as tmp:
        book.save(tmp)


def _jsonl_sink(target: Path) -> Sink:
    """JSON Lines with Timesketch's required fields (message, datetime, timestamp_desc) beside the rest."""
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8") as out:
            while (row := (yield)) is not None:
                ts, extra = row["_ts"], row["_extra"]
                desc = TIMESTAMP_DESC.get((row["channel"], row["direction"]))
                if desc is None:
                    desc = {"incoming": "Message received", "outgoing": "Message sent"}.get(row["direction"], "Message")
                record = {
                    "message": row["body"] if row["body"] is not None else f"{row['channel']} {row['kind']}",
                    "datetime": ts.isoformat() if ts else None,
                    "timestamp": int(ts.timestamp() * 1_000_000) if ts else None,
                    "timestamp_desc": desc,
                    **{k: v for k, v in row.items() if k not in ("_ts", "_extra")},
                    "extra": json.loads(extra) if extra else None,
                }
                out.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")


SINKS: dict[str, Callable[[Path], Sink]] = {"csv": _csv_sink, "xlsx": _xlsx_sink, "jsonl": _jsonl_sink}


def write_exports(rows: Iterable[dict], targets: dict[str, Path]) -> int:
    """Write each export of ``targets`` (format -> file) from one pass over ``rows``; the row count.
    When one fails, none is left behind half written."""
    sinks = [SINKS[fmt](target) for fmt, target in targets.items()]
    count = 0
    try:
        for sink in sinks:
            next(sink)
        for row in rows:
            for sink in sinks:
                sink.send(row)
            count += 1
        for sink in sinks:
            try:
                sink.send(None)
            except StopIteration:
                pass
    finally:
        for sink in sinks:
            sink.close()
    return count


def export_target(case: Case, fmt: str, party: str | None, selection: Selection) -> Path:
    """``report/exports/master[-party][-selected].<fmt>`` in the case."""
    stem = f"master{'' if party is None else '-' + case_slugs(case.config)[party]}{'-selected' if selection else ''}"
    return case.report_dir / "exports" / f"{stem}.{fmt}"


def export(case: Case, fmt: str, party: str | None = None, selection: Selection = Selection()) -> tuple[Path, int]:
    """Write ``report/exports/master[-party][-selected].<fmt>`` (``-selected``: only the events
    ``selection`` chooses) and the record of what it was made from (see current.py, where
    :func:`export_record` finds it); returns the path and the row count."""
    from commtrail.outputs.bundle_reuse import case_inputs
    from commtrail.outputs.current import EXPORT_INPUTS, export_inputs, export_name, forget, record
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}'.", hint=f"Use one of: {', '.join(FORMATS)}.")
    check_party(case, party)
    only = selection.events(case) if selection else None
    target = export_target(case, fmt, party, selection)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    forget(case, export_name(target))
    inputs = export_inputs(case_inputs(case, EXPORT_INPUTS, everything=False), fmt, party, selection)
    count = write_exports(export_rows(case, party, only), {fmt: target})
    record(case, export_name(target), inputs, [target])
    return target, count


def export_record(case: Case, target: Path) -> Path:
    """The record of the export file ``target`` (for the case's manifest)."""
    from commtrail.outputs.current import export_name, record_path
    return record_path(case, export_name(target))
