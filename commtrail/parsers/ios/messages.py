"""Apple Messages databases (an iPhone's ``sms.db``, a Mac's ``chat.db``) -> records and rejects.

One reader for both: the tables are the same (``message``, ``handle``, ``chat``,
``chat_message_join``, ``chat_handle_join``, ``attachment``, ``message_attachment_join``).
Rows are read in ROWID order, a chunk at a time; SQLite does the joins and writes each row's
``extra`` JSON (field by field, leaving out NULLs), Python works per chunk and per distinct
sender/chat, so memory stays flat (``bench/ios.py`` measures it against a bare ``SELECT``).

- channel: ``message.service`` (``SMS``, ``iMessage``, ``RCS``; an SMS with attachments, a subject
  or in a group is ``mms``); another service is its own lower-case name; none at all, the chat's.
- text: ``text``, or when it is NULL the string decoded from ``attributedBody``; a message whose
  ``attributedBody`` cannot be decoded is a reject with its bytes, never a record without its text.
- kind: ``reaction`` for tapbacks (``associated_message_type`` 2000-2007, and 3000-3007 when one
  is taken back), linked by ``reacts_to`` in ``extra``; ``system`` for group events
  (``item_type`` not 0); else ``message``.
- flags: ``edited`` (every version kept in ``extra.edits``), ``unsent`` (retracted by its
  sender), ``attachment_missing``, ``undated``.
"""

from __future__ import annotations

import json
import plistlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers._smsbr_rows import local_times
from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.ios.contacts import ContactHints
from commtrail.parsers.ios.database import (COCOA_EPOCH_US, NANOSECONDS_FROM, LenientText, as_input_error, cocoa_us,
                                            damaged,
                                            date_field, flag_column, json_field, object_sql, optional, require,
                                            splice_json)
from commtrail.parsers.ios.typedstream import decode_text
from commtrail.timeline.identity import normalise_one
from commtrail.timeline.schema import ATTACHMENT, TS_UTC, make_batch

CHUNK = 20_000
LIST = pa.list_(pa.string())
REQUIRED = {
    "message": ("ROWID", "guid", "text", "handle_id", "service", "date", "is_from_me"),
    "handle": ("ROWID", "id"),
    "chat": ("ROWID", "guid", "chat_identifier"),
    "chat_message_join": ("chat_id", "message_id"),
    "chat_handle_join": ("chat_id", "handle_id"),
}
ATTACHMENT_TABLES = {"attachment": ("ROWID", "filename"), "message_attachment_join": ("message_id", "attachment_id")}
GROUP_STYLE = 43
REACTIONS = ("love", "like", "dislike", "laugh", "emphasize", "question", "emoji", "sticker")
SERVICES = {"SMS": "sms", "iMessage": "imessage", "RCS": "rcs"}

def _reaction_sql(t: str) -> str:
    names = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(REACTIONS))
    return f"CASE WHEN {t} BETWEEN 2000 AND 2007 OR {t} BETWEEN 3000 AND 3007 THEN CASE {t} % 1000 {names} END END"


def _guid_target_sql(g: str) -> str:
    """``p:0/GUID`` and ``bp:GUID`` (what a reaction names) -> GUID."""
    return (f"CASE WHEN instr({g}, '/') > 0 THEN substr({g}, instr({g}, '/') + 1) "
            f"WHEN instr({g}, ':') > 0 THEN substr({g}, instr({g}, ':') + 1) ELSE {g} END")


def message_query(have: set[str]) -> str:
    """The SELECT of every message with its chat and its `extra` JSON (columns a layout lacks are NULL).

    `extra` is put together by SQLite, field by field (``json_quote`` escapes the texts), so that
    a field that is NULL, 0 or absent from the layout is left out."""
    col = lambda name: optional(have, "m", name)  # noqa: E731
    assoc_type, assoc_guid = col("associated_message_type"), col("associated_message_guid")
    reaction = _reaction_sql(assoc_type)
    fields = [
        json_field("guid", "m.guid"), json_field("service", "m.service"), json_field("account", col("account")),
        date_field("date_read", col("date_read")), date_field("date_delivered", col("date_delivered")),
        json_field("associated_message_guid", assoc_guid),
        json_field("associated_message_type", f"NULLIF({assoc_type}, 0)"),
        json_field("reaction", reaction),
        f"CASE WHEN {reaction} IS NOT NULL THEN ',\"reacts_to\":' || json_quote({_guid_target_sql(assoc_guid)}) END",
        f"""CASE WHEN {assoc_type} BETWEEN 3000 AND 3007 THEN ',"reaction_removed":true' END""",
        json_field("emoji", col("associated_message_emoji")),
        date_field("date_edited", col("date_edited")), date_field("date_retracted", col("date_retracted")),
        json_field("item_type", f"NULLIF({col('item_type')}, 0)"),
        json_field("group_action_type", f"NULLIF({col('group_action_type')}, 0)"),
        json_field("other_handle", f"NULLIF({col('other_handle')}, 0)"),
        json_field("group_title", col("group_title")),
        json_field("error", f"NULLIF({col('error')}, 0)"),
        json_field("balloon_bundle_id", col("balloon_bundle_id")),
        json_field("expressive_send_style_id", col("expressive_send_style_id")),
        json_field("reply_to_guid", col("reply_to_guid")),
        json_field("thread_originator_guid", col("thread_originator_guid")),
    ]
    return f"""SELECT m.ROWID, m.text, m.attributedBody, m.handle_id, m.service, m.date, m.is_from_me,
        {reaction}, {col('date_edited')}, {col('date_retracted')}, {col('message_summary_info')},
        {col('cache_has_attachments')}, {col('item_type')}, {col('subject')}, {col('destination_caller_id')},
        (SELECT min(chat_id) FROM chat_message_join WHERE message_id = m.ROWID), {object_sql(fields)}, m.guid
        FROM message m WHERE m.ROWID > ? ORDER BY m.ROWID"""


(ROWID, TEXT, BODY, HANDLE, SERVICE, DATE, FROM_ME, REACTION, EDITED, RETRACTED, SUMMARY, HAS_ATT, ITEM_TYPE,
 SUBJECT, CALLER, CHAT, EXTRA, GUID) = range(18)


@dataclass(frozen=True)
class Chat:
    guid: str | None
    identifier: str
    name: str | None
    service: str | None
    group: bool
    members: tuple[str, ...]       # normalised, sorted
    members_raw: tuple[str, ...]


@dataclass(frozen=True)
class Who:
    """The columns one distinct (direction, handle, chat, own address, channel inputs) gives."""

    channel: str
    sender: str | None
    sender_raw: str | None
    recipients: tuple[str, ...] | None
    conversation: str | None
    extra: str              # a JSON fragment `,"key":value...` (chat, group members, contact hints), or ""


class MessagesReader:
    """Reads one Messages database. ``label`` names it in locators, ``file_label`` in errors;
    ``open_attachment`` opens an attachment by the path the database writes
    (``~/Library/SMS/Attachments/...``) or raises FileNotFoundError."""

    def __init__(self, con: sqlite3.Connection, ctx: ParseContext, label: str,
                 open_attachment: Callable[[str], BinaryIO] | None, hints: ContactHints, file_label: str) -> None:
        self.con, self.ctx, self.label, self.file_label = con, ctx, label, file_label
        self.open_attachment = open_attachment
        self.hints = hints
        self.last_done: int | None = None    # the ROWID of the last message yielded
        with as_input_error(file_label):
            self._setup()

    def _setup(self) -> None:
        con, ctx, file_label = self.con, self.ctx, self.file_label
        have = require(con, file_label, REQUIRED)
        self.message_columns = have["message"]
        has_attachments = all(con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (t,)).fetchone()
                              for t in ATTACHMENT_TABLES)
        self.attachment_query = _attachment_query(require(con, file_label, ATTACHMENT_TABLES)["attachment"]) \
            if has_attachments else None
        phones = sorted(ctx.owner.phones)
        self.owner = phones[0] if phones else None
        self.handles = self._handles()
        self.chats = self._chats()
        self._who: dict[tuple, int] = {}
        self._whos: list[Who] = []

    # -- small tables, read whole ------------------------------------------------------------------
    def _handles(self) -> dict[int, tuple[str, str]]:
        region = self.ctx.phone_region
        return {rowid: (raw, normalise_one(raw, region))
                for rowid, raw in self.con.execute("SELECT ROWID, id FROM handle") if raw is not None}

    def _chats(self) -> dict[int, Chat]:
        members: dict[int, list[tuple[str, str]]] = {}
        for chat_id, handle_id in self.con.execute("SELECT chat_id, handle_id FROM chat_handle_join"):
            if handle_id in self.handles:
                members.setdefault(chat_id, []).append(self.handles[handle_id])
        have = require(self.con, self.file_label, {"chat": ()})["chat"]
        style = optional(have, "c", "style")
        chats = {}
        for rowid, guid, ident, name, service, chat_style in self.con.execute(
                f"SELECT c.ROWID, c.guid, c.chat_identifier, {optional(have, 'c', 'display_name')}, "
                f"{optional(have, 'c', 'service_name')}, {style} FROM chat c"):
            found = sorted(set(members.get(rowid, ())), key=lambda m: m[1])
            chats[rowid] = Chat(guid, ident, name or None, service, chat_style == GROUP_STYLE or len(found) > 1,
                                tuple(m[1] for m in found), tuple(m[0] for m in found))
        return chats

    # -- who and which channel, per distinct combination -----------------------------------------------
    def _who_index(self, row: tuple) -> int:
        key = (row[FROM_ME], row[HANDLE], row[CHAT], row[CALLER], row[SERVICE], bool(row[HAS_ATT]),
               row[SUBJECT] is not None)
        found = self._who.get(key)
        if found is None:
            found = self._who[key] = len(self._whos)
            self._whos.append(self._make_who(*key))
        return found

    def _make_who(self, from_me, handle_id, chat_id, caller, service, has_att, has_subject) -> Who:
        region = self.ctx.phone_region
        chat = self.chats.get(chat_id)
        handle = self.handles.get(handle_id)
        me = normalise_one(caller, region) if caller else self.owner
        group = chat is not None and chat.group
        service = service or (chat.service if chat else None)
        if service == "SMS" and (has_att or has_subject or group):
            channel = "mms"
        elif service in SERVICES:
            channel = SERVICES[service]
        else:
            channel = (service or "messages").lower()
        members = chat.members if chat else (handle[1],) if handle else ()
        if from_me:
            sender, sender_raw = me, None
            recipients = members or ((handle[1],) if handle else None)
        else:
            sender, sender_raw = (handle[1], handle[0]) if handle else (None, None)
            others = tuple(m for m in members if m != sender) if group else ()
            recipients = ((me,) if me else ()) + others or None
        conversation = (chat.name or chat.identifier) if chat else (handle[0] if handle else None)
        fragment: dict = {"chat_guid": chat.guid, "chat_name": chat.name} if chat else {}
        fragment = {k: v for k, v in fragment.items() if v is not None}
        if group:
            fragment["chat_members"] = list(chat.members_raw)
        names = self.hints.names_for(([sender] if sender else []) + list(recipients or ()))
        if names:
            fragment["contact_names"] = names
        extra = "," + json.dumps(fragment, ensure_ascii=False, sort_keys=True, separators=(",", ":"))[1:-1] \
            if fragment else ""
        return Who(channel, sender, sender_raw, recipients, conversation, extra)

    # -- the messages ----------------------------------------------------------------------------------
    def read(self) -> Iterator[pa.RecordBatch | Reject]:
        """Every message; a database found damaged part way is a warning, what came before is kept."""
        try:
            for rows in self._rows():
                yield from self._chunk(rows)
                self.last_done = rows[-1][ROWID]
        except sqlite3.DatabaseError as exc:
            self.ctx.report.warn(damaged(self.label, "message ROWID", self.last_done, exc))

    def _rows(self) -> Iterator[list[tuple]]:
        """The message rows a chunk at a time. Text is read by SQLite's own UTF-8 decoder; text that
        is not UTF-8 makes it fail, and the chunk is read again from the last ROWID done, with the
        bytes that are not UTF-8 read as U+FFFD from there on, each such value counted as a repair."""
        query = message_query(self.message_columns)
        chunk = max(1, min(self.ctx.batch_size, CHUNK))
        last = -(1 << 63)
        cursor = self.con.execute(query, (last,))
        while True:
            try:
                rows = cursor.fetchmany(chunk)
            except sqlite3.OperationalError as exc:
                if "decode" not in str(exc) or self.con.text_factory is not str:
                    raise
                self.con.text_factory = LenientText()
                cursor = self.con.execute(query, (last,))
                continue
            if not rows:
                if isinstance(self.con.text_factory, LenientText):
                    self.con.text_factory.report(self.ctx, self.label)
                return
            last = rows[-1][ROWID]
            yield rows

    def _chunk(self, rows: list[tuple]) -> Iterator[pa.RecordBatch | Reject]:
        keep, bodies = [], []
        for row in rows:
            text = row[TEXT]
            if text is None and row[BODY] is not None:
                text = decode_text(row[BODY])
                if text is None:
                    yield Reject(locator=self._locator(row[ROWID]), reason="the text of this message is only in "
                                 "attributedBody, and it cannot be decoded", raw=_raw_row(row))
                    continue
            keep.append(row)
            bodies.append(text)
        if not keep:
            return
        n = len(keep)
        cols = list(zip(*keep))
        who_idx = pa.array([self._who_index(row) for row in keep], pa.int32())
        whos = self._whos
        dates = np.array([d or 0 for d in cols[DATE]], dtype=np.int64)
        undated = dates == 0
        us, nanos = cocoa_us(dates)
        edited = np.array([bool(d) for d in cols[EDITED]]) & ~np.array([bool(d) for d in cols[RETRACTED]])
        retracted = np.array([bool(d) for d in cols[RETRACTED]])
        reaction = np.array([r is not None for r in cols[REACTION]])
        system = np.array([bool(t) for t in cols[ITEM_TYPE]]) & ~reaction
        extras = [splice_json(e, whos[i].extra) for e, i in zip(cols[EXTRA], who_idx.to_pylist())]
        attachments, missing, paths = self._attachments(cols[ROWID])
        for i in np.flatnonzero(edited | retracted).tolist():
            extras[i] = _with(extras[i], _versions(cols[SUMMARY][i]))
        for i, found in paths.items():
            extras[i] = _with(extras[i], {"attachment_paths": found})
        flags = _flags(n, edited=edited, unsent=retracted, attachment_missing=missing, undated=undated)
        kind = np.where(reaction, "reaction", np.where(system, "system", "message"))
        ms = np.where(undated, 0, us // 1000)
        ts_local = pc.if_else(pa.array(undated), pa.scalar(None, pa.string()), local_times(ms, self.ctx.timezone))
        table = {name: pa.array([getattr(w, name) for w in whos], pa.string()).take(who_idx)
                 for name in ("channel", "sender", "sender_raw", "conversation")}
        table["recipients"] = pa.array([list(w.recipients) if w.recipients else None for w in whos], LIST).take(who_idx)
        precision = np.where(undated, None, np.where(nanos, "ms", "s"))
        ids = pa.array(cols[ROWID], pa.int64())
        yield make_batch({
            "ts_utc": pa.array(us, pa.int64(), mask=undated).cast(TS_UTC),
            "ts_local": ts_local,
            "ts_precision": pa.array(precision.tolist(), pa.string()),
            "tz_source": pa.array(np.where(undated, None, "source").tolist(), pa.string()),
            **table,
            "kind": pa.array(kind.tolist(), pa.string()),
            "direction": pa.array(np.where(np.array(cols[FROM_ME], dtype=bool), "outgoing", "incoming").tolist()),
            "subject": pa.array(cols[SUBJECT], pa.string()),
            "body": pa.array(bodies, pa.string()),
            "attachments": attachments,
            "flags": flags,
            "source_sha256": pa.array([self.ctx.source_sha256] * n, pa.string()),
            "source_path": pa.array([self.ctx.source_path] * n, pa.string()),
            "locator": pc.binary_join_element_wise(f"{self.label} message ROWID ", pc.cast(ids, pa.string()), ""),
            "parser": pa.array([self.ctx.parser_label] * n, pa.string()),
            "extra": pa.array(extras, pa.string()),
        })

    def _locator(self, rowid: int) -> str:
        return f"{self.label} message ROWID {rowid}"

    # -- attachments -----------------------------------------------------------------------------------
    def _attachments(self, rowids: tuple) -> tuple[pa.Array, np.ndarray, dict[int, list[str]]]:
        """The attachments column, a mask of rows with a missing one, and the paths each row names."""
        n = len(rowids)
        missing = np.zeros(n, dtype=bool)
        if self.attachment_query is None:
            return pa.nulls(n, pa.list_(ATTACHMENT)), missing, {}
        position = {r: i for i, r in enumerate(rowids)}
        lists: list[list[dict] | None] = [None] * n
        paths: dict[int, list[str]] = {}
        for message_id, filename, mime, transfer_name, total in self.con.execute(
                self.attachment_query, (rowids[0], rowids[-1])):
            i = position.get(message_id)
            if i is None:   # a rejected message: its attachments are named in no record
                continue
            name = transfer_name or (filename.rsplit("/", 1)[-1] if filename else None)
            sha, size = self._store(filename)
            if sha is None:
                missing[i] = True
                size = total
            if lists[i] is None:
                lists[i] = []
            lists[i].append({"name": name, "mime": mime, "size": size, "sha256": sha})
            paths.setdefault(i, []).append(filename)
        return pa.array(lists, pa.list_(ATTACHMENT)), missing, paths

    def _store(self, filename: str | None) -> tuple[str | None, int | None]:
        if not filename or self.open_attachment is None or self.ctx.blobs is None:
            return None, None
        try:
            with self.open_attachment(filename) as stream:
                return self.ctx.blobs.put_stream(stream)
        except FileNotFoundError:
            return None, None


def _attachment_query(have: set[str]) -> str:
    """The attachments of the messages with ROWIDs between two values, in message and attachment order."""
    return (f"SELECT j.message_id, a.filename, {optional(have, 'a', 'mime_type')}, "
            f"{optional(have, 'a', 'transfer_name')}, {optional(have, 'a', 'total_bytes')} "
            "FROM message_attachment_join j JOIN attachment a ON a.ROWID = j.attachment_id "
            "WHERE j.message_id BETWEEN ? AND ? ORDER BY j.message_id, a.ROWID")


def _with(extra: str | None, fields: dict) -> str | None:
    if not fields:
        return extra
    merged = json.loads(extra) if extra else {}
    merged.update(fields)
    return json.dumps(merged, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def cocoa_iso(value: float | int | None) -> str | None:
    """One Cocoa time (seconds or nanoseconds) as ISO 8601 UTC."""
    if not value:
        return None
    us = int(value) // 1000 if abs(value) >= NANOSECONDS_FROM else round(value * 1_000_000)
    return datetime.fromtimestamp((us + COCOA_EPOCH_US) / 1e6, timezone.utc).isoformat().replace("+00:00", "Z")


def _versions(summary: bytes | None) -> dict:
    """Every version of an edited message and the parts taken back, from ``message_summary_info``
    (a binary plist: ``ec`` part -> versions ``{d: date, t: attributedBody}``, ``rp`` parts unsent)."""
    if not summary:
        return {}
    try:
        info = plistlib.loads(summary)
    except Exception:   # plistlib raises several types for damaged data; the bytes are kept
        return {"message_summary_info_hex": summary.hex()}
    out: dict = {}
    edits = []
    for part, versions in sorted((info.get("ec") or {}).items(), key=lambda kv: str(kv[0])):
        for version in versions or ():
            blob = version.get("t") if isinstance(version, dict) else None
            text = decode_text(blob) if isinstance(blob, bytes) else None
            entry = {"part": int(part) if str(part).isdigit() else str(part), "date": cocoa_iso(version.get("d")),
                     "text": text}
            if text is None and isinstance(blob, bytes):
                entry["raw_hex"] = blob.hex()
            edits.append(entry)
    if edits:
        out["edits"] = edits
    if info.get("rp"):
        out["unsent_parts"] = [int(p) if str(p).isdigit() else str(p) for p in info["rp"]]
    return out


FLAG_NAMES = ("attachment_missing", "edited", "undated", "unsent")


def _flags(n: int, **masks: np.ndarray) -> pa.Array:
    return flag_column(n, FLAG_NAMES, masks)


def _raw_row(row: tuple) -> str:
    """A rejected message as text: its identifying fields and the attributedBody bytes in hex."""
    return (f"guid={row[GUID]} date={row[DATE]} handle_id={row[HANDLE]} is_from_me={row[FROM_ME]} "
            f"service={row[SERVICE]} attributedBody(hex)={row[BODY].hex()}")
