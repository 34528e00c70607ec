"""What the review app asks of the master: filtered pages, counts, weekly counts and one event,
as DuckDB queries over master.parquet (never the whole master in memory)."""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import duckdb

from commtrail.case import Case
from commtrail.errors import UsageError
from commtrail.timeline.master import CONSISTENCY_FILE, query_connection
from commtrail.timeline.screenshots import LINKS_FILE

PAGE_MAX = 500
POSSIBLY_DELETED = "possibly_deleted"
IN_SCREENSHOT = "in_screenshot"             # a message some screenshot shows
ONLY_IN_SCREENSHOT = "only_in_screenshot"   # a screenshot showing a message no event matches
# Flags the master does not hold, read from a file beside it: the file, and the query (over
# ``{src}``, that file) of the event ids it marks. An event's flags include them; no file, no event.
DERIVED_FLAGS = {
    POSSIBLY_DELETED: (CONSISTENCY_FILE, "SELECT event_id FROM {src}"),
    IN_SCREENSHOT: (LINKS_FILE, "SELECT event_id FROM {src} WHERE event_id IS NOT NULL"),
    ONLY_IN_SCREENSHOT: (LINKS_FILE, "SELECT screenshot FROM {src} WHERE event_id IS NULL"),
}
_CASELESS = re.compile(r"[\x00-\x40\x5b-\x60\x7b-\x7f]+")   # ASCII characters that are not letters
# The columns a listing shows (the event page reads every column of its one row).
LIST_COLUMNS = ("event_id", "exhibit", "ts_utc", "ts_local", "channel", "kind", "direction", "party",
                "sender", "recipients", "subject", "body", "flags", "attachments")


class BadFilter(UsageError):
    """A filter value the app cannot read (a date not written YYYY-MM-DD, a limit out of range)."""


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"the filter {name}={value!r} is not a date.", hint="Write it as YYYY-MM-DD.") from None


@dataclass(frozen=True)
class Filter:
    """One view of the timeline; its URL query string is the bookmark of that view."""

    party: str = ""
    identifier: str = ""
    channel: str = ""
    direction: str = ""
    kind: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    flags: tuple[str, ...] = ()
    starred: bool = False
    tag: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Filter:
        """The filter a query string names (Flask's request.args or a plain dict)."""
        get = getattr(args, "getlist", None)
        flags = get("flags") if get else ([args["flags"]] if args.get("flags") else [])
        return cls(party=args.get("party", ""), identifier=args.get("identifier", ""),
                   channel=args.get("channel", ""), direction=args.get("direction", ""),
                   kind=args.get("kind", ""), date_from=_date(args.get("from"), "from"),
                   date_to=_date(args.get("to"), "to"), q=args.get("q", ""),
                   flags=tuple(sorted({f for f in flags if f})),
                   starred=str(args.get("starred", "")).lower() in ("1", "true", "yes", "on"),
                   tag=args.get("tag", ""))

    def query(self, **changes: Any) -> str:
        """This filter (with ``changes``) as a URL query string, empty values left out."""
        f = replace(self, **changes)
        pairs: list[tuple[str, str]] = [
            (k, v) for k, v in (("party", f.party), ("identifier", f.identifier), ("channel", f.channel),
                                ("direction", f.direction), ("kind", f.kind),
                                ("from", f.date_from.isoformat() if f.date_from else ""),
                                ("to", f.date_to.isoformat() if f.date_to else ""), ("q", f.q)) if v]
        pairs += [("flags", flag) for flag in f.flags]
        if f.starred:
            pairs.append(("starred", "1"))
        if f.tag:
            pairs.append(("tag", f.tag))
        return urlencode(pairs)

    def needs_annotations(self) -> bool:
        return self.starred or bool(self.tag)


@dataclass
class Where:
    """A WHERE clause and its parameters, built from a filter."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


@dataclass(frozen=True)
class View:
    """A filtered view: the number of matching events, one page of them, the weekly counts."""

    total: int
    rows: list[dict]
    weeks: list[tuple[date, int]]


def _local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(timezone.utc)


class Master:
    """Read-only queries over one case's master; safe to use from the server's threads."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.zone = ZoneInfo(case.config.timezone)
        self._con = query_connection("256MB")
        self._local = threading.local()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
        return cur

    def close(self) -> None:
        self._con.close()

    def source(self) -> str:
        """The master as a table expression (callers check that it exists first)."""
        return "read_parquet(" + _quote(str(self.case.master_file)) + ")"

    def file(self, name: str) -> str | None:
        """A parquet file of the case (``name`` beside the master) as a table expression; None when
        the case has none."""
        path = self.case.root / name
        return f"read_parquet({_quote(str(path))})" if path.exists() else None

    def select(self, sql: str, params: list[Any]) -> list[dict]:
        """The rows of one query, as dicts."""
        return _rows(self._cursor().execute(sql, params))

    def _marked(self, flag: str) -> str | None:
        """The query of the event ids a derived flag marks (None: its file is absent)."""
        name, query = DERIVED_FLAGS[flag]
        src = self.file(name)
        return query.format(src=src) if src else None

    def derived_flags(self, event_ids: list[str]) -> dict[str, list[str]]:
        """The derived flags of these events (each event's in the order of ``DERIVED_FLAGS``)."""
        parts, params = [], []
        for flag in DERIVED_FLAGS:
            marked = self._marked(flag)
            if marked and event_ids:
                parts.append(f"SELECT DISTINCT id, ? AS flag, {len(parts)} AS rank "
                             f"FROM ({marked}) AS m(id) WHERE list_contains(?, id)")
                params += [flag, event_ids]
        out: dict[str, list[str]] = {}
        if parts:
            for event_id, flag, _ in self._cursor().execute(" UNION ALL ".join(parts) + " ORDER BY rank",
                                                            params).fetchall():
                out.setdefault(event_id, []).append(flag)
        return out

    def where(self, f: Filter, chosen: Collection[str] | None) -> Where:
        """The WHERE clause of a filter; ``chosen`` are the event ids the annotation filters allow."""
        w = Where()
        for column, value in (("party", f.party), ("channel", f.channel), ("direction", f.direction),
                              ("kind", f.kind)):
            if value == "(none)" and column == "party":
                w.add("party IS NULL")
            elif value:
                w.add(f"{column} = ?", value)
        if f.identifier:
            w.add("(sender = ? OR list_contains(recipients, ?))", f.identifier, f.identifier)
        if f.date_from:
            w.add("ts_utc >= ?", _local_midnight_utc(f.date_from, self.zone))
        if f.date_to:
            w.add("ts_utc < ?", _local_midnight_utc(f.date_to + timedelta(days=1), self.zone))
        if f.q:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", f.q) + "%"
            run = _caseless_run(f.q)
            # the text read by OCR of screenshots counts too (kept in extra, never in body)
            ocr = "(channel = 'evidence' AND json_extract_string(extra, '$.ocr_text') ILIKE ? ESCAPE '\\')"
            if run:   # a case-sensitive contains() first: far cheaper than ILIKE, and never narrower
                w.add("((contains(body, ?) AND body ILIKE ? ESCAPE '\\') "
                      f"OR (contains(subject, ?) AND subject ILIKE ? ESCAPE '\\') OR {ocr})",
                      run, pattern, run, pattern, pattern)
            else:
                w.add(f"(body ILIKE ? ESCAPE '\\' OR subject ILIKE ? ESCAPE '\\' OR {ocr})", pattern, pattern, pattern)
        for flag in f.flags:
            if flag in DERIVED_FLAGS:
                marked = self._marked(flag)
                w.add(f"event_id IN ({marked})" if marked else "FALSE")
            else:
                w.add("list_contains(flags, ?)", flag)
        if chosen is not None:
            if not chosen:
                w.add("FALSE")
            else:
                w.add("event_id IN (SELECT unnest(?::VARCHAR[]))", sorted(chosen))
        return w

    def view(self, w: Where, limit: int, offset: int, weekly: bool = False) -> View:
        """One scan of the master for a filtered view: how many events match, the ``limit`` of
        them from ``offset`` in exhibit order, and (``weekly``) the events per local week (weeks
        start on Monday). The matching exhibits are chosen on narrow columns; then only the
        page's rows are read whole (their row groups found by the exhibit range)."""
        if not self.case.master_file.exists():
            return View(0, [], [])
        src = self.source()
        weeks = ("(SELECT list((week, n) ORDER BY week) FROM (SELECT CAST(date_trunc('week', timezone(?, ts_utc)) "
                 "AS DATE) AS week, count(*) AS n FROM hits WHERE ts_utc IS NOT NULL GROUP BY week))"
                 if weekly else "NULL")
        sql = (f"WITH hits AS MATERIALIZED (SELECT exhibit, ts_utc FROM {src} WHERE {w.sql()}) "
               f"SELECT (SELECT count(*) FROM hits), "
               f"(SELECT list(exhibit ORDER BY exhibit) FROM "
               f"(SELECT exhibit FROM hits ORDER BY exhibit LIMIT ? OFFSET ?)), {weeks}")
        params = [*w.params, limit, offset] + ([self.case.config.timezone] if weekly else [])
        total, exhibits, week_counts = self._cursor().execute(sql, params).fetchone()
        rows: list[dict] = []
        if exhibits:
            cols = ", ".join(LIST_COLUMNS)
            rows = _rows(self._cursor().execute(
                f"SELECT {cols} FROM {src} WHERE exhibit BETWEEN ? AND ? AND list_contains(?, exhibit) "
                f"ORDER BY exhibit", [exhibits[0], exhibits[-1], exhibits]))
        return View(total, rows, [(week, n) for week, n in week_counts or []])

    def values(self, column: str) -> list[str]:
        """The distinct values of a narrow column (the choices of a filter's drop-down)."""
        if column not in ("party", "channel", "direction", "kind") or not self.case.master_file.exists():
            return []
        sql = f"SELECT DISTINCT {column} FROM {self.source()} WHERE {column} IS NOT NULL ORDER BY 1"
        return [str(r[0]) for r in self._cursor().execute(sql).fetchall()]

    def flag_names(self) -> list[str]:
        """Every flag set on some event, ``possibly_deleted``, and the screenshot flags when the
        case holds screenshots."""
        if not self.case.master_file.exists():
            return []
        sql = f"SELECT DISTINCT unnest(flags) FROM {self.source()} ORDER BY 1"
        derived = {POSSIBLY_DELETED} | {f for f, (name, _) in DERIVED_FLAGS.items() if self.file(name)}
        return sorted({str(r[0]) for r in self._cursor().execute(sql).fetchall()} | derived)

    def event(self, event_id: str) -> dict | None:
        """Every column of one event, or None when the master has no such event."""
        if not self.case.master_file.exists():
            return None
        rows = _rows(self._cursor().execute(f"SELECT * FROM {self.source()} WHERE event_id = ?", [event_id]))
        return rows[0] if rows else None

    def event_id_of(self, exhibit: str) -> str | None:
        """The event id of an exhibit number (None when the master has no such exhibit)."""
        if not self.case.master_file.exists():
            return None
        row = self._cursor().execute(f"SELECT event_id FROM {self.source()} WHERE exhibit = ?", [exhibit]).fetchone()
        return row[0] if row else None

    def neighbours(self, exhibit: str) -> tuple[str | None, str | None]:
        """The event ids of the exhibits just before and after this one (whole timeline)."""
        src = self.source()
        before = self._cursor().execute(f"SELECT event_id FROM {src} WHERE exhibit < ? ORDER BY exhibit DESC LIMIT 1",
                                        [exhibit]).fetchone()
        after = self._cursor().execute(f"SELECT event_id FROM {src} WHERE exhibit > ? ORDER BY exhibit LIMIT 1",
                                       [exhibit]).fetchone()
        return (before[0] if before else None, after[0] if after else None)

    def staged_copy(self, source_sha256: str, locator: str) -> list[dict]:
        """The staged rows of one source at one locator: the occurrence as that source wrote it."""
        path = self.case.staging / f"{source_sha256}.parquet"
        if not _is_sha256(source_sha256) or not path.exists():
            return []
        sql = (f"SELECT ts_local, sender_raw, subject, body, flags, extra FROM read_parquet({_quote(str(path))}) "
               f"WHERE locator = ?")
        return _rows(self._cursor().execute(sql, [locator]))

    def possibly_deleted(self, event_id: str) -> list[dict]:
        """Rows of possibly_deleted.parquet naming this event (the backups that hold and lack it)."""
        src = self.file(CONSISTENCY_FILE)
        return self.select(f"SELECT earlier_path, later_path FROM {src} WHERE event_id = ?", [event_id]) if src else []


def _caseless_run(text: str) -> str:
    """The longest run of ASCII characters that are not letters (digits, spaces, punctuation) in a
    search text, when it holds at least two that are not spaces; else empty. No character changes
    case into one of them, so every text that matches the search case-insensitively holds the run
    as it is: a phone number, a time or an exhibit number is found by a plain substring test first."""
    run = max(_CASELESS.findall(text), key=len, default="")
    return run if len(run.replace(" ", "")) >= 2 else ""


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


__all__ = ["BadFilter", "DERIVED_FLAGS", "Filter", "IN_SCREENSHOT", "Master", "ONLY_IN_SCREENSHOT", "PAGE_MAX",
           "POSSIBLY_DELETED", "View", "Where"]
