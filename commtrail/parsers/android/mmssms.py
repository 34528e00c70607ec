"""Android's message store ``mmssms.db`` (``com.android.providers.telephony``) -> SMS and MMS records.

Recognised by its tables (``sms`` with ``pdu``, ``threads`` or ``canonical_addresses``), whatever
the file is called. Read from a private read-only copy with its ``-wal``/``-shm`` files, a chunk at
a time in ``_id`` order: first every SMS, then every MMS.

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

import sqlite3
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from commtrail.parsers._sqlite import (SQLITE_MAGIC, LenientText, as_input_error, base_name, columns_json, columns_of,
                                       each_paused, head_tables, input_copy, read_chunks, require)
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
        yield from _sms(con, ctx, rows, have, label, text)
        if has_mms:
            yield from _Mms(con, ctx, rows, label).read()
        else:
            ctx.report.warn(f"{label} has no MMS tables (pdu, addr, part): only its SMS were read")
        text.report(ctx, label)


def _sms(con: sqlite3.Connection, ctx: ParseContext, rows: Rows, have: set[str], label: str,
         text: LenientText) -> Iterator:
    """Every SMS, a chunk at a time; texts come as bytes and become Arrow strings in one step."""
    with as_input_error(ctx.source_path, "table sms"):
        cursor = con.execute(f"SELECT s._id, s.date, s.type, CAST(s.address AS BLOB), CAST(s.body AS BLOB), "
                             f"CAST({columns_json(have, 's', SMS_EXTRA)} AS BLOB) FROM sms s ORDER BY s._id")

    def records(chunk: list[tuple]) -> Iterator[pa.RecordBatch | Reject]:
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
    yield from each_paused(read_chunks(cursor, ctx, label, "sms _id", CHUNK), records)
    unread.report(ctx, {"type": "whole number"})


class _Mms:
    """The MMS of one database, a chunk of ``pdu`` rows at a time with their addresses and parts."""

    def __init__(self, con: sqlite3.Connection, ctx: ParseContext, rows: Rows, label: str) -> None:
        self.con, self.ctx, self.label = con, ctx, label
        self.builder = MmsRows(rows)
        self.missing = 0

    def read(self) -> Iterator[pa.RecordBatch | Reject]:
        with as_input_error(self.ctx.source_path, "table pdu"):
            cursor = self.con.execute("SELECT * FROM pdu ORDER BY _id")
        names = [d[0] for d in cursor.description]
        yield from each_paused(read_chunks(cursor, self.ctx, self.label, "pdu _id", MMS_CHUNK),
                               lambda chunk: self._chunk(names, chunk))
        if self.missing:
            self.ctx.report.warn(f"{self.missing} MMS attachment(s) of {self.label} are not in {PARTS_FOLDER} "
                                 "beside it: listed without their content and flagged attachment_missing")

    def _chunk(self, names: list[str], chunk: list[tuple]) -> Iterator[pa.RecordBatch | Reject]:
        first, last = chunk[0][0], chunk[-1][0]
        addrs: dict[int, list[dict[str, str]]] = {}
        parts: dict[int, list[dict[str, str]]] = {}
        with as_input_error(self.ctx.source_path, "tables addr and part"):
            for msg_id, *values in self.con.execute(
                    "SELECT msg_id, address, type, charset FROM addr WHERE msg_id BETWEEN ? AND ? "
                    "ORDER BY msg_id, _id", (first, last)):
                addrs.setdefault(msg_id, []).append(_attrs(("address", "type", "charset"), values))
            for mid, *values in self.con.execute(
                    f"SELECT mid, {', '.join(PART_COLUMNS)} FROM part WHERE mid BETWEEN ? AND ? "
                    "ORDER BY mid, seq, _id", (first, last)):
                parts.setdefault(mid, []).append(_attrs(PART_COLUMNS, values))
        out, ids = [], []
        for row in chunk:
            pdu = dict(zip(names, row))
            item = self._row(pdu, addrs.get(pdu["_id"], []), parts.get(pdu["_id"], []))
            if isinstance(item, Reject):
                yield item
            else:
                out.append((len(out), item))
                ids.append(pdu["_id"])
        if out:
            _, columns = MmsRows.columns(out)
            ms = columns.pop("ts_ms").to_numpy()
            yield record_batch(self.ctx, columns, ms, ids, self.label, "pdu")

    def _row(self, pdu: dict, addrs: list[dict[str, str]], parts: list[dict[str, str]]) -> dict | Reject:
        mms = MmsElement(_attrs([k for k in pdu if k != "_id"], [v for k, v in pdu.items() if k != "_id"]))
        seconds = pdu.get("date")
        mms.attrs["date"] = str(seconds * 1000) if isinstance(seconds, int) and seconds >= 0 else str(seconds)
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
        except (FileNotFoundError, OutsideInput, IsADirectoryError):
            return None, True
        return (sha, size, None), False


def _attrs(names, values) -> dict[str, str]:
    """A row as the attributes SMS Backup & Restore writes: the non-NULL values, as text."""
    return {k: v if isinstance(v, str) else v.hex() if isinstance(v, bytes) else str(v)
            for k, v in zip(names, values) if v is not None}


register(Parser(name="android-sms", version=VERSION,
                description="Android message database (mmssms.db: sms, pdu, addr, part): SMS and MMS",
                sniff=sniff, parse=parse, priority=20, uses_siblings=True))
