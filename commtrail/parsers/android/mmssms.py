"""Android's message store ``mmssms.db`` (``com.android.providers.telephony``) -> SMS and MMS records.

Recognised by its tables (``sms`` with ``pdu``, ``threads`` or ``canonical_addresses``), whatever
the file is called. Read from a private read-only copy with its ``-wal``/``-shm`` files, a chunk at
a time in ``_id`` order (the ROWID, which ``_id`` is in an intact layout): first every SMS, then
every MMS.

- ``sms``: ``date`` in milliseconds, ``type`` 1 inbox, 2 sent, 3 draft, 4 outbox, 5 failed,
  6 queued (the last four flagged), ``address``, ``body``; ``read``, ``thread_id`` and the other
  columns in ``extra``. Channel ``sms``.
- ``pdu`` (one MMS each): ``date`` in **seconds**, ``msg_box`` (1 inbox, 2 sent, 3 draft, 4 outbox,
  5 failed), ``sub``; its ``addr`` rows (``type`` 137 from, 151 to, 130 cc, 129 bcc;
  ``insert-address-token`` is the owner) and ``part`` rows (``text/plain`` parts are the text,
  ``application/smil`` the layout, every other part an attachment whose file ``_data`` names
  under ``app_parts/``: looked for in ``app_parts/`` beside the database, stored in the blob store,
  and when it is not there listed with no hash and flagged ``attachment_missing``). Channel ``mms``.

Who, direction, flags and text come from the SMS Backup & Restore code (:mod:`.rows`), so a
message of this database and of that app's backup of the same phone are one event. A row whose
date is no believable time is a reject with the row written out.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from commtrail.parsers._sqlite import (SQLITE_MAGIC, Columns, LenientText, as_input_error, base_name, columns_json,
                                       columns_of, damaged, each_paused, head_tables, input_copy, keyed_chunks,
                                       out_of_order, query_chunks, read_chunks, require)
from commtrail.parsers._values import as_text, whole, written
from commtrail.parsers.android.layouts import MMS
from commtrail.parsers.android.rows import Unusable, codes, dated, extras, record_batch, row_text, utf8
from commtrail.parsers.base import OutsideInput, ParseContext, Reject
from commtrail.parsers.registry import Parser, register
from commtrail.parsers.smsbr.mms import MmsElement, MmsRows
from commtrail.parsers.smsbr.rows import Rows

VERSION = "1"
NAME = "mmssms.db"   # taken by name too when its first 64 KiB do not show its tables
VERSIONS = "Android"
CHUNK = 20_000
MMS_CHUNK = 2_000
SMS_REQUIRED = ("_id", "thread_id", "address", "date", "type", "body", "read")
MMS_REQUIRED = {"pdu": ("_id", "thread_id", "date", "msg_box"), "addr": ("msg_id", "address", "type"),
                "part": ("mid", "seq", "ct", "text", "_data")}
SMS_EXTRA = ("thread_id", "read", "date_sent", "status", "subject", "service_center", "person", "protocol",
             "locked", "sub_id", "error_code", "seen", "creator", "reply_path_present")
PART_COLUMNS = ("seq", "ct", "name", "chset", "cd", "fn", "cid", "cl", "ctt_s", "ctt_t", "_data", "text")
PARTS_FOLDER = "app_parts/"
SMS_ROW = ("_id", "date", "type", "address", "body", "extra")


def sniff(head: bytes, filename: str) -> bool:
    tables = head_tables(head)
    return "sms" in tables and bool(tables & {"pdu", "threads", "canonical_addresses"}) or \
        head.startswith(SQLITE_MAGIC) and filename == NAME


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[pa.RecordBatch | Reject]:
    label = base_name(ctx)
    with input_copy(stream, ctx) as con:
        con.text_factory = text = LenientText()
        with as_input_error(ctx.source_path):
            have = require(con, ctx.source_path, {"sms": SMS_REQUIRED}, VERSIONS)["sms"]
            has_mms = bool(con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pdu'").fetchone())
            if has_mms:
                require(con, ctx.source_path, MMS_REQUIRED, VERSIONS)
        rows = Rows(ctx, [], [])
        sms_refused = yield from _sms(con, ctx, rows, have, label, text)
        mms_refused = (yield from _Mms(con, ctx, rows, label, text).read()) if has_mms else None
        if sms_refused is not None and (mms_refused is not None or not has_mms):   # not one row of it can be read
            with as_input_error(ctx.source_path, "table sms"):
                raise sms_refused
        for table, what, refused in (("sms", "SMS", sms_refused), ("pdu", "MMS", mms_refused)):
            if refused is not None:   # (the other table was read)
                ctx.report.warn(damaged(label, f"{table} _id", None, refused, f"its {what}"))
        if not has_mms:
            ctx.report.warn(f"{label} has no MMS tables (pdu, addr, part): only its SMS were read")
        text.report(ctx, label)


def _sms(con: sqlite3.Connection, ctx: ParseContext, rows: Rows, have: set[str], label: str,
         text: LenientText) -> Iterator:
    """Every SMS, a chunk at a time; texts come as bytes and become Arrow strings in one step. Returns
    the error of a table SQLite refuses before its first row (the caller tells of it), else None."""
    aside: list[tuple] = []   # rows a damaged table gave out of _id order (rejected)

    def query(careful: bool) -> str:
        return (f"SELECT s.ROWID, s.date, s.type, CAST(s.address AS BLOB), CAST(s.body AS BLOB), "
                f"CAST({columns_json(have, 's', SMS_EXTRA, careful)} AS BLOB) FROM sms s WHERE s.ROWID > ? "
                "ORDER BY s.ROWID")
    try:
        chunks = keyed_chunks(con, query(False), ctx, CHUNK, text, aside, query(True))
    except sqlite3.DatabaseError as exc:
        return exc

    def records(chunk: list[tuple] | Columns) -> Iterator[pa.RecordBatch | Reject]:
        ids, dates, types, addresses, bodies, extra = columns_of(chunk)
        ms, keep, rejects = dated(dates, chunk, label, "sms", row_text(SMS_ROW))
        yield from rejects
        if not len(keep):
            return
        take = keep.tolist()
        pick = (lambda values: [values[i] for i in take]) if len(take) < len(chunk) else (lambda values: values)
        kinds, unusable = codes(pick(types))
        columns = rows.sms_columns([kinds, utf8(pick(addresses), text), utf8(pick(bodies), text)],
                                   len(take), np.zeros(len(take), dtype=bool))
        columns["extra"] = unread.keep(extras(pick(extra), text), "type", pick(types), unusable)
        yield record_batch(ctx, columns, ms, pick(ids), label, "sms")

    unread = Unusable(label, "sms")
    yield from each_paused(read_chunks(chunks, ctx, label, "sms _id", "its SMS"), records)
    yield from out_of_order(aside, ctx, label, "sms", SMS_ROW)
    unread.report(ctx, {"type": "whole number"})
    return None


class _Mms:
    """The MMS of one database, a chunk of ``pdu`` rows at a time with their addresses and parts."""

    def __init__(self, con: sqlite3.Connection, ctx: ParseContext, rows: Rows, label: str,
                 lenient: LenientText) -> None:
        self.con, self.ctx, self.label, self.lenient = con, ctx, label, lenient
        self.builder = MmsRows(rows)
        self.missing = 0
        self.attached = {"addr": 0, "part": 0}
        self.unreadable, self.unreadable_why = 0, None   # MMS whose addr and part rows SQLite refused; its word

    def read(self) -> Iterator[pa.RecordBatch | Reject]:
        """Every MMS. Returns the error of a table SQLite refuses before its first row (the caller
        tells of it), else None."""
        with as_input_error(self.ctx.source_path, "table pdu"):
            names = [d[0] for d in self.con.execute("SELECT * FROM pdu LIMIT 0").description]
        names = ["_id"] + [n for n in names if n != "_id"]   # (the key first: the rows' order is checked on it)
        try:
            chunks = query_chunks(self.con, f"SELECT ROWID, {', '.join(_quoted(n) for n in names[1:])} FROM pdu "
                                  "ORDER BY ROWID", self.ctx, MMS_CHUNK, aside := [])
        except sqlite3.DatabaseError as exc:
            return exc
        yield from each_paused(read_chunks(chunks, self.ctx, self.label, "pdu _id", "its MMS"),
                               lambda chunk: self._chunk(names, chunk))
        yield from out_of_order(aside, self.ctx, self.label, "pdu", names)
        if self.missing:
            self.ctx.report.warn(f"{self.missing} MMS attachment(s) of {self.label} are not in {PARTS_FOLDER} "
                                 "beside it: listed without their content and flagged attachment_missing")
        if self.unreadable:
            self.ctx.report.warn(f"the tables addr and part of {self.label} are damaged ({self.unreadable_why}): "
                                 f"{self.unreadable} MMS whose rows there could not be read are rejects, each with its "
                                 "pdu row written out; the other messages were read")
        self._unattached()
        return None

    def _unattached(self) -> None:
        """Say how many ``addr`` and ``part`` rows went into no MMS: their ``msg_id`` / ``mid`` is no
        ``_id`` of a ``pdu`` row read (a dangling or mistyped reference, or a row after damage)."""
        try:
            counts = self.con.execute("SELECT (SELECT count(*) FROM addr), (SELECT count(*) FROM part)").fetchone()
        except sqlite3.DatabaseError:
            return
        left = {table: count - self.attached[table] for table, count in zip(("addr", "part"), counts)}
        if any(left.values()):
            rejected = ", or that of an MMS whose rows there could not be read" if self.unreadable else ""
            self.ctx.report.warn(f"{left['addr']} addr and {left['part']} part rows of {self.label} belong to no MMS "
                                 f"read (their msg_id / mid is no _id of a pdu row read{rejected}): they are in no "
                                 "record")

    def _chunk(self, names: list[str], chunk: list[tuple]) -> Iterator[pa.RecordBatch | Reject]:
        first, last = chunk[0][0], chunk[-1][0]
        addrs: dict[int, list[dict[str, str]]] = {}
        parts: dict[int, list[dict[str, str]]] = {}
        try:   # (fetchall: one call, not one per row)
            found_addrs = self.con.execute("SELECT msg_id, address, type, charset FROM addr WHERE msg_id BETWEEN ? "
                                           "AND ? ORDER BY msg_id, _id", (first, last)).fetchall()
            found_parts = self.con.execute(f"SELECT mid, {', '.join(PART_COLUMNS)} FROM part WHERE mid BETWEEN ? AND ? "
                                           "ORDER BY mid, seq, _id", (first, last)).fetchall()
        except sqlite3.DatabaseError as exc:   # damaged: these MMS are rejects, the others and every SMS are read
            yield from self._unreadable(names, chunk, exc)
            return
        for msg_id, *values in found_addrs:
            addrs.setdefault(msg_id, []).append(_attrs(("address", "type", "charset"), values, self.lenient))
        for mid, *values in found_parts:
            parts.setdefault(mid, []).append(_attrs(PART_COLUMNS, values, self.lenient))
        out, ids = [], []
        for row in chunk:
            pdu = dict(zip(names, row))
            mine, pieces = addrs.get(pdu["_id"], []), parts.get(pdu["_id"], [])
            self.attached["addr"] += len(mine)
            self.attached["part"] += len(pieces)
            item = self._row(pdu, mine, pieces)
            if isinstance(item, Reject):
                yield item
            else:
                out.append((len(out), item))
                ids.append(pdu["_id"])
        if out:
            _, columns = MmsRows.columns(out)
            ms = columns.pop("ts_ms").to_numpy()
            yield record_batch(self.ctx, columns, ms, ids, self.label, "pdu")

    def _unreadable(self, names: list[str], chunk: list[tuple], exc: sqlite3.DatabaseError) -> Iterator[Reject]:
        """The rejects of a chunk of MMS whose ``addr`` and ``part`` rows SQLite refuses (the tables are
        damaged there): each with its ``pdu`` row written out, counted in a warning."""
        self.unreadable += len(chunk)
        self.unreadable_why = self.unreadable_why or str(exc)
        written_out = row_text(tuple(names))
        for row in chunk:
            yield Reject(locator=f"{self.label} pdu _id {row[0]}",
                         reason=f"its addr and part rows cannot be read, the tables are damaged ({exc}): its people, "
                                "text and attachments are unknown",
                         raw=written_out(row))

    def _row(self, pdu: dict, addrs: list[dict[str, str]], parts: list[dict[str, str]]) -> dict | Reject:
        mms = MmsElement(_attrs([k for k in pdu if k != "_id"], [v for k, v in pdu.items() if k != "_id"],
                                self.lenient))
        seconds = pdu.get("date")
        found = whole(seconds)
        mms.attrs["date"] = str(found * 1000) if found is not None and found >= 0 else \
            written(seconds) if isinstance(seconds, bytes) else str(seconds)
        people = [a["address"] for a in addrs if a.get("address") and a["address"] != "insert-address-token"]
        mms.attrs["address"] = "~".join(dict.fromkeys(people))
        mms.addrs = addrs
        missing = []
        for part in parts:
            stored, gone = self._media(part)
            mms.parts.append(part)
            mms.media.append(stored)
            if gone:
                missing.append({"name": next((part[k] for k in ("name", "cl", "fn") if part.get(k)), None),
                                "mime": part.get("ct"), "size": None, "sha256": None})
        row = self.builder.row(mms, pdu["_id"], None, 0)
        if isinstance(row, Reject):
            return Reject(locator=f"{self.label} pdu _id {pdu['_id']}", reason=f"{row.reason} (pdu.date is in "
                          f"seconds: {seconds!r})", raw=row.raw)
        if missing:
            self.missing += len(missing)
            row["attachments"] = (row["attachments"] or []) + missing
            row["flags"] = (row["flags"] or []) + ["attachment_missing"]
        return row

    def _media(self, part: dict[str, str]) -> tuple[tuple[str, int, None] | None, bool]:
        """(sha256, size, None) of a part's file stored in the blob store, or None; and whether the
        part names a file that is not beside the database. Text and layout parts are not media."""
        path = part.get("_data")
        ct = (part.get("ct") or "").lower()
        if not path or ct in ("text/plain", "application/smil") or part.get("seq") == "-1":
            return None, False
        at = path.replace("\\", "/").rfind(PARTS_FOLDER)
        name = path.replace("\\", "/")[at + len(PARTS_FOLDER):] if at >= 0 else ""
        if not name or "/" in name or name in (".", "..") or self.ctx.open_relative is None:
            return None, True
        try:
            with self.ctx.open_relative(PARTS_FOLDER + name) as stream:
                if self.ctx.blobs is None:
                    return None, True
                sha, size = self.ctx.blobs.put_stream(stream)
        except (FileNotFoundError, OutsideInput, IsADirectoryError, ValueError):   # ValueError: a NUL in the name
            return None, True
        return (sha, size, None), False


def _quoted(name: str) -> str:
    """A column's name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _numeric(schema: str) -> frozenset[str]:
    """The columns of the MMS tables the phone writes numbers into (declared INTEGER in the layout)."""
    return frozenset(re.findall(r"[(,]\s*(\w+) INTEGER", schema))


NUMERIC = _numeric(MMS)


def _attrs(names, values, lenient: LenientText) -> dict[str, str]:
    """A row as the attributes SMS Backup & Restore writes: the non-NULL values, as text. A column the
    phone writes numbers into holds a whole number's digits (a numeric text or a whole REAL read as
    the number), anything else in it as it is (a BLOB as its hex digits), kept in ``extra`` as the
    app's attribute would be; any value of a text column is read as text (:func:`commtrail.parsers._values.as_text`)."""
    return {k: str(v) if type(v) is int else v if type(v) is str and k not in NUMERIC else
            _attr(v, k in NUMERIC, lenient) for k, v in zip(names, values) if v is not None}


def _attr(value: object, numeric: bool, lenient: LenientText) -> str:
    """One value of :func:`_attrs` that is neither an int nor a text in a text column."""
    if numeric:
        found = whole(value)
        return str(found) if found is not None else value.hex().upper() if isinstance(value, bytes) else str(value)
    return as_text(value, lenient)


register(Parser(name="android-sms", version=VERSION,
                description="Android message database (mmssms.db: sms, pdu, addr, part): SMS and MMS",
                sniff=sniff, parse=parse, priority=20, uses_siblings=True))
