"""Apple Messages databases (an iPhone's ``sms.db``, a Mac's ``chat.db``) -> records and rejects.

One reader for both: the tables are the same (``message``, ``handle``, ``chat``,
``chat_message_join``, ``chat_handle_join``, ``attachment``, ``message_attachment_join``).
Rows are read in ROWID order, a chunk at a time; SQLite does the joins and writes the fields of
``extra`` that few messages have, Arrow the others (column-wise, :mod:`.fragments`); Python works
per chunk and per distinct sender/chat, so memory stays flat (``bench/ios.py`` measures it
against a bare ``SELECT``).

- channel: ``message.service`` (``SMS``, ``iMessage``, ``RCS``; an SMS with attachments, a subject
  or in a group is ``mms``); another service is its own lower-case name; none at all, the chat's.
- text: ``text``, or when it is NULL the string decoded from ``attributedBody``; a message whose
  ``attributedBody`` cannot be decoded is a reject with its bytes, never a record without its text.
- kind: ``reaction`` for tapbacks (``associated_message_type`` a whole number 2000-2007, and
  3000-3007 when one is taken back), linked by ``reacts_to`` in ``extra``; ``system`` for group events
  (``item_type`` a whole number other than 0; one that is no number, or not whole, tells nothing: the
  message is read as a message, the value kept in ``extra.item_type``, counted); else ``message``.
- flags: ``edited`` (every version kept in ``extra.edits``), ``unsent`` (retracted by its
  sender), ``attachment_missing``, ``undated``.

Values of the wrong type (any column may hold any type; the rules are in :mod:`.database`): a
message whose ``date`` is no number (a TEXT, even ``'12'``, or a BLOB) or no time between 1970 and
2200 is a reject with its row written out; NULL or 0 is an undated record, as before. An
``is_from_me`` that is no number leaves the direction ``unknown`` (no sender, no recipients); a
``handle_id`` or chat id that is no ROWID gives no sender or chat; a ``date_read``,
``date_delivered``, ``date_edited`` or ``date_retracted`` that is no time is left out; an
attachment's ``total_bytes`` that is no integer leaves its size empty; a ``message_summary_info``
that is no blob lists no edits: each keeps the value in ``extra`` (``<column>_raw``) and is counted
in a warning. Texts (``text``, ``subject``, ``guid``, ``service``, ``account``, a handle's ``id``,
a chat's names, an attachment's names) held as a BLOB are read as UTF-8, a number as its digits;
a BLOB in the fields SQLite writes into ``extra`` is written as its hex digits. Rows of the join
tables that name their message (or a chat's member) by a TEXT or a BLOB link nothing: counted in
a warning (a REAL that is no integer links nothing either, uncounted).
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

from commtrail.parsers._arrowtext import wrap
from commtrail.parsers._sqlite import (LenientText, as_input_error, as_text_sql, columns_of, damaged, each_paused,
                                       fetch, json_field, keyed_chunks, optional, out_of_order, require,
                                       texts_read_by)
from commtrail.parsers._values import arrow, as_text, json_value
from commtrail.parsers.base import ParseContext, Reject, counted
from commtrail.parsers.ios import fragments as fr
from commtrail.parsers.ios.contacts import ContactHints
from commtrail.parsers.ios.database import (COCOA_EPOCH_US, NANOSECONDS_FROM, Unreadable, cocoa_times, date_field,
                                            directions, distinct_rows, flag_column, fragments_sql, is_id,
                                            texts)
from commtrail.parsers.ios.typedstream import decode_text, decode_texts
from commtrail.timeline.identity import normalise_one
from commtrail.timeline.schema import ATTACHMENT, TS_UTC, make_batch
from commtrail.timeline.utclocal import local_iso

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
NO_DIRECTION = object()   # an is_from_me that is no number, in the who key
DIRECTIONS = ("incoming", "outgoing", "unknown")
# The warnings for values kept raw (see Unreadable): what completes "<n> messages in <database> have ...".
KEPT_RAW = {
    "handle_id": "a handle_id that is no ROWID: no sender or recipient is taken from it, the value is kept in "
                 "extra.handle_id_raw",
    "chat_id": "a chat_message_join chat_id that is no ROWID: they have no chat, the value is kept in "
               "extra.chat_id_raw",
    "is_from_me": "an is_from_me that is no number: their direction is unknown and their sender and recipients "
                  "are left empty, the value is kept in extra.is_from_me_raw",
    "total_bytes": "an attachment missing whose total_bytes is no integer: its size is left empty, the value is "
                   "kept in extra.attachment_total_bytes_raw",
    "item_type": "an item_type that is no whole number, which cannot tell a group event: each is read as a "
                 "message, its value kept in extra.item_type",
    "message_summary_info": "a message_summary_info that cannot be read: their edits are not listed, the value is "
                            "kept in extra (message_summary_info_hex, or message_summary_info_raw when it is no "
                            "blob)",
    **{key: f"a {key} that is no time (no number, or not between 1970 and 2200): it is left out, the value is "
            f"kept in extra.{key}_raw" for key in ("date_read", "date_delivered", "date_edited", "date_retracted")},
}

def _reaction_sql(t: str) -> str:
    """The name of the tapback an ``associated_message_type`` codes, or NULL: a whole number of
    2000-2007 or 3000-3007 (a REAL such as 2000.5 codes none; SQLite's ``%`` would cut it to 2000)."""
    names = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(REACTIONS))
    return (f"CASE WHEN ({t} BETWEEN 2000 AND 2007 OR {t} BETWEEN 3000 AND 3007) AND {t} = CAST({t} AS INTEGER) "
            f"THEN CASE {t} % 1000 {names} END END")


def _guid_target_sql(g: str) -> str:
    """``p:0/GUID`` and ``bp:GUID`` (what a reaction names) -> GUID."""
    return (f"CASE WHEN instr({g}, '/') > 0 THEN substr({g}, instr({g}, '/') + 1) "
            f"WHEN instr({g}, ':') > 0 THEN substr({g}, instr({g}, ':') + 1) ELSE {g} END")


def _blob_field(key: str, value_sql: str) -> str:
    """:func:`json_field` of a value of any type (a BLOB, which JSON cannot hold, as its hex digits)."""
    return json_field(key, as_text_sql(value_sql))


def message_query(have: set[str], blobs: bool = False) -> str:
    """The SELECT of every message (columns a layout lacks are NULL); its chat is looked up per
    chunk (:data:`CHAT_QUERY`).

    The fields of `extra` that most messages lack are put together by SQLite, as fragments
    (``json_quote`` escapes the texts; a field that is NULL, 0 or absent from the layout is left
    out); those every message has (guid, service, account, read and delivered times) are fetched
    as they are and written column-wise (:mod:`commtrail.parsers.ios.fragments`). With ``blobs``,
    a BLOB in those fields is written as its hex digits (``json_quote`` refuses it): the query run
    only once SQLite has refused the other (:func:`~commtrail.parsers._sqlite.keyed_chunks`)."""
    _field = _blob_field if blobs else json_field
    col = lambda name: optional(have, "m", name)  # noqa: E731
    assoc_type, assoc_guid = col("associated_message_type"), col("associated_message_guid")
    reaction = _reaction_sql(assoc_type)
    rare = [
        _field("associated_message_guid", assoc_guid),
        _field("associated_message_type", f"NULLIF({assoc_type}, 0)"),
        json_field("reaction", reaction),
        f"CASE WHEN {reaction} IS NOT NULL THEN ',\"reacts_to\":' || "
        f"json_quote({as_text_sql(_guid_target_sql(assoc_guid)) if blobs else _guid_target_sql(assoc_guid)}) END",
        f"""CASE WHEN {reaction} IS NOT NULL AND {assoc_type} >= 3000 THEN ',"reaction_removed":true' END""",
        _field("emoji", col("associated_message_emoji")),
        date_field("date_edited", col("date_edited")), date_field("date_retracted", col("date_retracted")),
        _field("item_type", f"NULLIF({col('item_type')}, 0)"),
        _field("group_action_type", f"NULLIF({col('group_action_type')}, 0)"),
        _field("other_handle", f"NULLIF({col('other_handle')}, 0)"),
        _field("group_title", col("group_title")),
        _field("error", f"NULLIF({col('error')}, 0)"),
        _field("balloon_bundle_id", col("balloon_bundle_id")),
        _field("expressive_send_style_id", col("expressive_send_style_id")),
        _field("reply_to_guid", col("reply_to_guid")),
        _field("thread_originator_guid", col("thread_originator_guid")),
    ]
    edited, retracted = f"NULLIF({col('date_edited')}, 0)", f"NULLIF({col('date_retracted')}, 0)"
    # Most messages have none of them: one pass over their columns (coalesce stops at the first) skips the rest.
    any_rare = ", ".join([f"NULLIF({assoc_type}, 0)", assoc_guid, col("associated_message_emoji"), edited, retracted,
                          *(f"NULLIF({col(name)}, 0)" for name in ("item_type", "group_action_type", "other_handle",
                                                                    "error")),
                          *(col(name) for name in ("group_title", "balloon_bundle_id", "expressive_send_style_id",
                                                   "reply_to_guid", "thread_originator_guid"))])
    item_type = col("item_type")
    tests = {EDITED: f"{edited} IS NOT NULL", RETRACTED: f"{retracted} IS NOT NULL",
             REACTION: f"{reaction} IS NOT NULL", HAS_ATT: f"NULLIF({col('cache_has_attachments')}, 0) IS NOT NULL",
             HAS_SUBJECT: f"{col('subject')} IS NOT NULL"}
    bits = " + ".join([f"{bit} * ({test})" for bit, test in tests.items()] + [
        # a group event: a whole number but 0 (numbers sort before texts); any other value: ODD_ITEM_TYPE
        f"CASE WHEN {item_type} = 0 OR {item_type} IS NULL THEN 0 WHEN {item_type} < '' AND "
        f"{item_type} = CAST({item_type} AS INTEGER) THEN {SYSTEM} ELSE {ODD_ITEM_TYPE} END"])
    return f"""SELECT m.ROWID, m.text, CASE WHEN m.text IS NULL THEN m.attributedBody END, m.handle_id, m.service,
        m.date, m.is_from_me, {bits},
        CASE WHEN coalesce({edited}, {retracted}) IS NOT NULL THEN {col('message_summary_info')} END,
        {col('subject')}, {col('destination_caller_id')},
        CASE WHEN coalesce({any_rare}) IS NOT NULL THEN {fragments_sql(rare)} END, m.guid,
        {col('account')}, {col('date_read')}, {col('date_delivered')}
        FROM message m WHERE m.ROWID > ? ORDER BY m.ROWID"""


(ROWID, TEXT, BODY, HANDLE, SERVICE, DATE, FROM_ME, BITS, SUMMARY, SUBJECT, CALLER, EXTRA, GUID, ACCOUNT,
 DATE_READ, DATE_DELIVERED) = range(16)
COLUMN_NAMES = ("ROWID", "text", "attributedBody", "handle_id", "service", "date", "is_from_me", "bits",
                "message_summary_info", "subject", "destination_caller_id", "extra", "guid", "account", "date_read",
                "date_delivered")
# The chats of the messages with a ROWID between two values: one range scan per chunk, cheaper than a
# lookup per message in the message query. A message in several chats takes the lowest (LOWEST_CHAT_QUERY).
CHAT_QUERY = "SELECT message_id, chat_id FROM chat_message_join WHERE message_id BETWEEN ? AND ?"
LOWEST_CHAT_QUERY = ("SELECT message_id, min(chat_id) FROM chat_message_join WHERE message_id BETWEEN ? AND ? "
                     "GROUP BY message_id")
# BITS: what a message is, one bit each (so that mostly empty columns are not fetched one by one).
EDITED, RETRACTED, SYSTEM, REACTION, HAS_ATT, HAS_SUBJECT, ODD_ITEM_TYPE = (1 << i for i in range(7))


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
    kept_raw: tuple[str, ...] = ()   # the ids that are no ROWID, kept raw in extra (KEPT_RAW)


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
        self.text = LenientText()
        self.unreadable = Unreadable()
        self.unlisted, self.unlisted_why = 0, None   # messages marked with attachments the damage hid; SQLite's word
        self.chatless, self.chatless_why = 0, None   # messages whose chat the damage hid (rejects); SQLite's word
        # the small tables leniently; the messages are read by SQLite's own decoder first
        with texts_read_by(con, self.text), as_input_error(file_label):
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
        self._warn_unlinked(["chat_message_join"] + (["message_attachment_join"] if has_attachments else []))
        self._who: dict[tuple, int] = {}
        self.aside: list[tuple] = []   # rows a damaged table gave out of ROWID order (rejected)
        self._whos: list[Who] = []
        self._raw_whos: list[int] = []   # the indexes of those that keep an id raw
        self._who_arrays: dict[str, pa.Array] = {}

    # -- small tables, read whole ------------------------------------------------------------------
    def _handles(self) -> dict[int, tuple[str, str]]:
        region, text = self.ctx.phone_region, self.text
        rows = self.con.execute("SELECT ROWID, id FROM handle")
        return {rowid: (ident, normalise_one(ident, region)) for rowid, raw in rows
                if (ident := as_text(raw, text)) is not None}

    def _warn_unlinked(self, tables: list[str]) -> None:
        """Say how many rows of the join tables name their message by a value that is no ROWID (NULL,
        a number with a fraction or past int64, a TEXT or a BLOB): they link no message. One pass
        over the table's ``message_id`` (its index, where it has one): about 40 ms per 1,000,000 rows."""
        for table in tables:
            try:
                [(n,)] = self.con.execute(f"SELECT count(*) FROM {table} WHERE message_id IS NULL OR "
                                          "message_id IS NOT CAST(message_id AS INTEGER)").fetchall()
            except sqlite3.DatabaseError as exc:   # (the messages are still read: its damage is told of)
                self.ctx.report.warn(f"the rows of {table} in {self.label} that name their message by a value that "
                                     f"is no ROWID could not be counted: the table is damaged ({exc})")
                continue
            if n:
                rows = counted(n, f"row of {table} in {self.label} names", f"rows of {table} in {self.label} name")
                self.ctx.report.warn(f"{rows} their message by a value that is no ROWID (NULL, a number with a "
                                     "fraction, a text or a blob): they link no message")

    def _chats(self) -> dict[int, Chat]:
        members: dict[int, list[tuple[str, str]]] = {}
        unlinked = 0
        for chat_id, handle_id in self.con.execute("SELECT chat_id, handle_id FROM chat_handle_join"):
            if handle_id in self.handles:
                members.setdefault(chat_id, []).append(self.handles[handle_id])
            unlinked += not (is_id(chat_id) and is_id(handle_id))
        if unlinked:
            rows = counted(unlinked, f"row of chat_handle_join in {self.label} names",
                           f"rows of chat_handle_join in {self.label} name")
            self.ctx.report.warn(f"{rows} their chat or handle by a value that is no ROWID: they add no member to a chat")
        have = require(self.con, self.file_label, {"chat": ()})["chat"]
        style = optional(have, "c", "style")
        chats = {}
        for rowid, guid, ident, name, service, chat_style in self.con.execute(
                f"SELECT c.ROWID, c.guid, c.chat_identifier, {optional(have, 'c', 'display_name')}, "
                f"{optional(have, 'c', 'service_name')}, {style} FROM chat c"):
            found = sorted(set(members.get(rowid, ())), key=lambda m: m[1])
            guid, ident, name, service = (as_text(v, self.text) for v in (guid, ident, name, service))
            chats[rowid] = Chat(guid, ident, name or None, service, chat_style == GROUP_STYLE or len(found) > 1,
                                tuple(m[1] for m in found), tuple(m[0] for m in found))
        return chats

    # -- who and which channel, per distinct combination -----------------------------------------------
    def _chat_ids(self, rowids: list) -> list:
        """The chat ROWID of each message (None for a message in no chat)."""
        span = (rowids[0], rowids[-1])
        pairs = fetch(self.con.execute(CHAT_QUERY, span))
        found = dict(pairs)
        if len(found) < len(pairs):   # a message in several chats: SQLite picks the lowest (grouping costs more)
            found = dict(self.con.execute(LOWEST_CHAT_QUERY, span))
        return list(map(found.get, rowids))

    def _who_indexes(self, cols: list[list], from_me: list, chats: list) -> pa.Array:
        """The index in ``self._whos`` of each row's (direction, handle, chat (``chats``: :meth:`_chat_ids`),
        own address, channel inputs); a combination not seen before is worked out once. The ids a row's
        combination keeps raw are counted."""
        keys = (from_me, cols[HANDLE], chats, cols[CALLER], cols[SERVICE],
                (np.array(cols[BITS], dtype=np.int64) & (HAS_ATT | HAS_SUBJECT)).tolist())
        found = distinct_rows(keys)
        if found is None:   # values of mixed types: the rows' combinations one by one
            out = np.array([self._who_index(key) for key in zip(*keys)], dtype=np.int64)
        else:
            first, number = found
            out = np.array([self._who_index(tuple(column[i] for column in keys)) for i in first.tolist()],
                           dtype=np.int64)[number]
        if self._raw_whos:
            counts = np.bincount(out, minlength=len(self._whos))
            for i in self._raw_whos:
                for name in self._whos[i].kept_raw:
                    self.unreadable.add(KEPT_RAW[name], counts[i])
        return pa.array(out.astype(np.int32))

    def _who_index(self, key: tuple) -> int:
        """The index in ``self._whos`` of one combination, worked out when it is new."""
        found = self._who.get(key)
        if found is None:
            found = self._who[key] = len(self._whos)
            self._whos.append(self._make_who(*key[:5], bool(key[5] & HAS_ATT), bool(key[5] & HAS_SUBJECT)))
            if self._whos[-1].kept_raw:
                self._raw_whos.append(found)
        return found

    def _who_columns(self) -> dict[str, pa.Array]:
        """The columns of ``self._whos`` as Arrow arrays, those a chunk added appended to them."""
        done = len(self._who_arrays.get("channel", ()))
        if done < len(self._whos):
            new = self._whos[done:]
            added = {name: pa.array([getattr(w, name) for w in new], pa.string())
                     for name in ("channel", "sender", "sender_raw", "conversation")}
            added["recipients"] = pa.array([list(w.recipients) if w.recipients else None for w in new], LIST)
            added["extra"] = pa.array([w.extra or None for w in new], pa.string())
            self._who_arrays = {name: pa.concat_arrays([self._who_arrays[name], array]) if done else array
                                for name, array in added.items()}
        return self._who_arrays

    def _make_who(self, from_me, handle_id, chat_id, caller, service, has_att, has_subject) -> Who:
        region = self.ctx.phone_region
        chat = self.chats.get(chat_id)
        handle = self.handles.get(handle_id)
        caller, service = as_text(caller, self.text), as_text(service, self.text)
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
        if from_me is NO_DIRECTION:   # who sent it cannot be told
            sender, sender_raw, recipients = None, None, None
        elif from_me:
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
        ids = {"handle_id": handle_id, "chat_id": chat_id}
        kept_raw = tuple(name for name, value in ids.items() if not is_id(value))
        fragment.update({f"{name}_raw": json_value(ids[name]) for name in kept_raw})
        extra = "," + json.dumps(fragment, ensure_ascii=False, sort_keys=True, separators=(",", ":"))[1:-1] \
            if fragment else ""
        return Who(channel, sender, sender_raw, recipients, conversation, extra, kept_raw)

    # -- the messages ----------------------------------------------------------------------------------
    def read(self) -> Iterator[pa.RecordBatch | Reject]:
        """Every message; a database found damaged part way is a warning, what came before is kept."""
        try:
            for items, last in each_paused(self._rows(), self._done_chunk):
                yield from items
                self.last_done = last
        except sqlite3.DatabaseError as exc:
            self.ctx.report.warn(damaged(self.label, "message ROWID", self.last_done, exc))
        yield from out_of_order(self.aside, self.ctx, self.label, "message", COLUMN_NAMES)

    def _done_chunk(self, rows: list[tuple]) -> list[tuple[list, int]]:
        """What a chunk of rows makes, with the ROWID of its last row (the last done once it is handed on)."""
        return [(list(self._chunk(rows)), rows[-1][ROWID])]

    def _rows(self) -> Iterator[list[tuple]]:
        """The message rows a chunk at a time (text that is not UTF-8 read as U+FFFD, counted as repairs);
        at the end, the repairs and the values that could not be read are reported."""
        yield from keyed_chunks(self.con, message_query(self.message_columns), self.ctx, CHUNK, self.text, self.aside,
                                careful=message_query(self.message_columns, blobs=True))
        self.text.report(self.ctx, self.label)
        self.unreadable.report(self.ctx, "message", self.label)
        if self.chatless:
            self.ctx.report.warn(f"chat_message_join in {self.label} is damaged ({self.chatless_why}): "
                                 f"{counted(self.chatless, 'message', 'messages')} whose chat could not be read "
                                 f"{'is a reject' if self.chatless == 1 else 'are rejects'}, each written out; the "
                                 "other messages were read")
        if self.unlisted_why is not None:
            hidden = (f"the {counted(self.unlisted, 'message', 'messages')} that {self.label} marks as having one "
                      "could not be listed; "
                      f"{'that message is' if self.unlisted == 1 else 'those messages are'} kept, flagged "
                      "attachment_missing") if self.unlisted else \
                "its messages could not be listed (none of those read is marked as having one)"
            self.ctx.report.warn(f"the attachment tables of {self.label} are damaged ({self.unlisted_why}): the "
                                 f"attachments of {hidden}")

    def _chunk(self, rows: list[tuple]) -> Iterator[pa.RecordBatch | Reject]:
        cols = columns_of(rows)
        try:
            chats = self._chat_ids(cols[ROWID])
        except sqlite3.DatabaseError as exc:   # chat_message_join damaged here: who was in the chat is unknown
            yield from self._chatless(rows, exc)
            return
        times = cocoa_times(cols[DATE])
        bodies, rejects = self._texts(rows, cols)
        for i in np.flatnonzero(times.bad).tolist():
            rejects.setdefault(i, self._date_reject(rows[i]))
        if rejects:
            yield from (rejects[i] for i in sorted(rejects))
            keep = np.ones(len(rows), dtype=bool)
            keep[list(rejects)] = False
            rows = [row for i, row in enumerate(rows) if i not in rejects]
            bodies = [body for i, body in enumerate(bodies) if i not in rejects]
            chats = [chat for i, chat in enumerate(chats) if i not in rejects]
            if not rows:
                return
            cols, times = columns_of(rows), times.take(keep)
        n = len(rows)
        direction, from_me, from_me_raw = self._directions(cols[FROM_ME])
        who_idx = self._who_indexes(cols, from_me, chats)
        who = {name: column.take(who_idx) for name, column in self._who_columns().items()}
        undated = times.none
        bits = np.array(cols[BITS], dtype=np.int64)
        retracted = (bits & RETRACTED) != 0
        edited = ((bits & EDITED) != 0) & ~retracted
        reaction = (bits & REACTION) != 0
        system = ((bits & SYSTEM) != 0) & ~reaction
        self.unreadable.add(KEPT_RAW["item_type"], np.count_nonzero(bits & ODD_ITEM_TYPE))
        attachments, missing, notes = self._attachments(cols[ROWID], (bits & HAS_ATT) != 0)
        changes: list[str | None] = [None] * n
        for i in np.flatnonzero(edited | retracted).tolist():
            changes[i] = _fragment(self._versions(cols[SUMMARY][i]))
        found: list[str | None] = [None] * n
        for i, fields in notes.items():
            found[i] = _fragment(fields)
        read, delivered = cocoa_times(cols[DATE_READ]), cocoa_times(cols[DATE_DELIVERED])
        self.unreadable.add(KEPT_RAW["date_read"], np.count_nonzero(read.bad))
        self.unreadable.add(KEPT_RAW["date_delivered"], np.count_nonzero(delivered.bad))
        rare = pa.array(cols[EXTRA], pa.string())
        if rare.null_count < n and b'_raw":' in rare.buffers()[2].to_pybytes():   # SQLite wrote a date as it is
            for key in ("date_edited", "date_retracted"):
                self.unreadable.add(KEPT_RAW[key], pc.sum(pc.count_substring(rare, f',"{key}_raw":')).as_py() or 0)
        extra = fr.objects([
            fr.text("guid", texts(cols[GUID], self.text)), fr.text("service", texts(cols[SERVICE], self.text)),
            fr.text("account", texts(cols[ACCOUNT], self.text)),
            *fr.times("date_read", cols[DATE_READ], read), *fr.times("date_delivered", cols[DATE_DELIVERED], delivered),
            rare, who.pop("extra"), pa.array(changes, pa.string()), pa.array(found, pa.string()),
            *([fr.value("is_from_me_raw", from_me_raw)] if from_me_raw is not None else [])])
        flags = _flags(n, edited=edited, unsent=retracted, attachment_missing=missing, undated=undated)
        kind = np.where(reaction, 1, np.where(system, 2, 0))
        us = times.us
        ms = np.where(undated, 0, us // 1000)
        dated = pa.array(undated)
        ts_local = pc.if_else(dated, pa.scalar(None, pa.string()), local_iso(ms * 1000, self.ctx.timezone, "ms"))
        ids = arrow(cols[ROWID], pa.int64())
        yield make_batch({
            "ts_utc": pa.array(us, pa.int64(), mask=undated).cast(TS_UTC),
            "ts_local": ts_local,
            "ts_precision": fr.categories(times.precise, ("s", "ms"), undated),
            "tz_source": fr.categories(np.zeros(n, dtype=bool), ("source",), undated),
            **who,
            "kind": fr.categories(kind, ("message", "reaction", "system")),
            "direction": fr.categories(direction, DIRECTIONS),
            "subject": texts(cols[SUBJECT], self.text),
            "body": texts(bodies, self.text),
            "attachments": attachments,
            "flags": flags,
            "source_sha256": fr.constant(self.ctx.source_sha256, n),
            "source_path": fr.constant(self.ctx.source_path, n),
            "locator": wrap(f"{self.label} message ROWID ", pc.cast(ids, pa.string())),
            "parser": fr.constant(self.ctx.parser_label, n),
            "extra": extra,
        })

    def _directions(self, values: list) -> tuple[np.ndarray, list, list | None]:
        """:func:`directions` of ``is_from_me``, the values for the who key (one that is no number
        as :data:`NO_DIRECTION`, counted) and the values that are no number (None for none)."""
        codes, raw = directions(values)
        if raw is None:
            return codes, values, None
        self.unreadable.add(KEPT_RAW["is_from_me"], np.count_nonzero(codes == 2))
        return codes, [NO_DIRECTION if c == 2 else v for v, c in zip(values, codes.tolist())], raw

    def _chatless(self, rows: list[tuple], exc: sqlite3.DatabaseError) -> Iterator[Reject]:
        """The rejects of a chunk of messages whose chats SQLite refuses to look up (chat_message_join is
        damaged there): who a message went to, or came from in a group, cannot be told. Each is written
        out, counted in a warning; the chunks after are read."""
        self.chatless += len(rows)
        self.chatless_why = self.chatless_why or str(exc)
        for row in rows:
            yield Reject(locator=self._locator(row[ROWID]),
                         reason=f"its chat cannot be read, chat_message_join is damaged ({exc}): who it went to, or "
                                "came from in a group, is unknown",
                         raw=_row_text(row))

    def _date_reject(self, row: tuple) -> Reject:
        """A message whose date is no time between 1970 and 2200, its row written out."""
        date = row[DATE]
        why = "is not a time between 1970 and 2200" if type(date) in (int, float) else \
            "is not a number of seconds or nanoseconds"
        return Reject(locator=self._locator(row[ROWID]), reason=f"date {date!r} {why}", raw=_row_text(row))

    def _texts(self, rows: list[tuple], cols: list[list]) -> tuple[list, dict[int, Reject]]:
        """The texts of the rows (``text``, or decoded from ``attributedBody`` when it is NULL) and
        the rejects by row index: rows whose ``attributedBody`` cannot be decoded (or is no blob)."""
        bodies = list(cols[TEXT])
        rejects = {}
        coded = [i for i, body in enumerate(cols[BODY]) if body is not None]   # fetched only where text is NULL
        for i, text in zip(coded, decode_texts([cols[BODY][i] for i in coded])):
            bodies[i] = text
            if text is None:
                rejects[i] = Reject(locator=self._locator(rows[i][ROWID]), reason="the text of this message is "
                                    "only in attributedBody, and it cannot be decoded", raw=_raw_row(rows[i]))
        return bodies, rejects

    def _locator(self, rowid: int) -> str:
        return f"{self.label} message ROWID {rowid}"

    def _versions(self, summary: object) -> dict:
        """:func:`versions` of a message_summary_info, one that cannot be read counted."""
        found = versions(summary)
        self.unreadable.add(KEPT_RAW["message_summary_info"],
                            "message_summary_info_hex" in found or "message_summary_info_raw" in found)
        return found

    # -- attachments -----------------------------------------------------------------------------------
    def _attachments(self, rowids: list, marked: np.ndarray) -> tuple[pa.Array, np.ndarray, dict[int, dict[str, list]]]:
        """The attachments column, a mask of rows with a missing one, and the fields of `extra` of
        each row with any: the paths it names (and the sizes that are no integer, kept raw).
        Attachment tables found damaged keep the messages: those ``marked`` (cache_has_attachments)
        are flagged missing, counted in a warning."""
        n = len(rowids)
        missing = np.zeros(n, dtype=bool)
        if self.attachment_query is None:
            return pa.nulls(n, pa.list_(ATTACHMENT)), missing, {}
        position = {r: i for i, r in enumerate(rowids)}
        lists: list[list[dict] | None] = [None] * n
        notes: dict[int, dict[str, list]] = {}
        # leniently: SQLite's own decoder, which the messages may be read with, would fail the query on a
        # name that is not UTF-8, and the database would be taken for damaged
        with texts_read_by(self.con, self.text):
            try:
                found = fetch(self.con.execute(self.attachment_query, (rowids[0], rowids[-1])))
            except sqlite3.DatabaseError as exc:
                self.unlisted += int(np.count_nonzero(marked))
                self.unlisted_why = self.unlisted_why or str(exc)
                return pa.nulls(n, pa.list_(ATTACHMENT)), marked.copy(), {}
        for message_id, *names, total in found:
            i = position.get(message_id)
            if i is None:   # a rejected message: its attachments are named in no record
                continue
            filename, mime, transfer_name = (as_text(v, self.text) for v in names)
            name = transfer_name or (filename.rsplit("/", 1)[-1] if filename else None)
            sha, size = self._store(filename)
            if sha is None:
                missing[i] = True
                size = total if total is None or type(total) is int else None
                if size is None and total is not None:
                    notes.setdefault(i, {}).setdefault("attachment_total_bytes_raw", []).append(json_value(total))
                    self.unreadable.add(KEPT_RAW["total_bytes"], 1)
            if lists[i] is None:
                lists[i] = []
            lists[i].append({"name": name, "mime": mime, "size": size, "sha256": sha})
            notes.setdefault(i, {}).setdefault("attachment_paths", []).append(filename)
        return pa.array(lists, pa.list_(ATTACHMENT)), missing, notes

    def _store(self, filename: str | None) -> tuple[str | None, int | None]:
        """(sha256, size) of the attachment stored, (None, None) when it is not there (a name with
        a NUL names no file)."""
        if not filename or "\x00" in filename or self.open_attachment is None or self.ctx.blobs is None:
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


def _fragment(fields: dict) -> str | None:
    """``,"key":value...`` of these fields, or None when there are none."""
    return "," + json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))[1:-1] if fields else None


def cocoa_iso(value: float | int | None) -> str | None:
    """One Cocoa time (seconds or nanoseconds) as ISO 8601 UTC."""
    if not value:
        return None
    us = int(value) // 1000 if abs(value) >= NANOSECONDS_FROM else round(value * 1_000_000)
    return datetime.fromtimestamp((us + COCOA_EPOCH_US) / 1e6, timezone.utc).isoformat().replace("+00:00", "Z")


def versions(summary: object) -> dict:
    """Every version of an edited message and the parts taken back, from ``message_summary_info``
    (a binary plist: ``ec`` part -> versions ``{d: date, t: attributedBody}``, ``rp`` parts unsent).
    A blob that is no such plist is kept as ``message_summary_info_hex``, a value that is no blob as
    ``message_summary_info_raw``."""
    if not summary:
        return {}
    if type(summary) is not bytes:
        return {"message_summary_info_raw": summary}
    try:
        return _versions(plistlib.loads(summary))
    except Exception:   # plistlib raises several types for damaged data, a plist of another shape others
        return {"message_summary_info_hex": summary.hex()}


def _versions(info: dict) -> dict:
    out: dict = {}
    edits = []
    for part, history in sorted((info.get("ec") or {}).items(), key=lambda kv: str(kv[0])):
        for version in history or ():
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


def _row_text(row: tuple) -> str:
    """A rejected message's row written out, column by column (the flags computed in SQL left out)."""
    return " ".join(f"{name}={value!r}" for name, value in zip(COLUMN_NAMES, row) if name != "bits")


def _raw_row(row: tuple) -> str:
    """A rejected message as text: its identifying fields and the attributedBody bytes in hex (or as it is, no blob)."""
    body = row[BODY].hex() if type(row[BODY]) is bytes else repr(row[BODY])
    return (f"guid={row[GUID]} date={row[DATE]} handle_id={row[HANDLE]} is_from_me={row[FROM_ME]} "
            f"service={row[SERVICE]} attributedBody(hex)={body}")
