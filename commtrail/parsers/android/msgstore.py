"""WhatsApp's unencrypted Android database ``msgstore.db`` (from a rooted phone or an extraction) -> records.

Recognised by its tables, whatever the file is called. Two layouts:

- since 2022: ``message`` (``timestamp`` in milliseconds, ``from_me``, ``text_data``,
  ``message_type``, ``sender_jid_row_id`` in groups), ``chat`` and ``jid`` (who a chat is with:
  ``user@s.whatsapp.net`` a person, ``...@g.us`` a group, ``status@broadcast`` status updates), and
  when present ``message_media`` (the file, its type and size), ``message_quoted`` (what a reply
  quotes), ``message_system`` (group events) and ``group_participant_user`` (a group's members);
- before: one ``messages`` table (``key_remote_jid`` the chat, ``key_from_me``, ``data``,
  ``timestamp``, ``remote_resource`` the writer in a group, ``media_wa_type``, ``status`` 6 a system
  line), ``chat_list`` (group subjects) and ``group_participants``. Its media files' paths are not
  in a column of their own: media are listed by name and flagged ``attachment_missing``.

A record looks as the ``.txt`` export of the same chat makes it (:mod:`commtrail.parsers.whatsapp.export`),
so the same message from both is one event (dedup compares author, chat and minute):

- sender: a person's number in E.164 (``+447700900123`` from ``447700900123@s.whatsapp.net``); the
  owner's own messages are ``wa:`` + the owner's WhatsApp name from case.toml (the first, sorted,
  when there are several), as an export writes the owner, or the owner's phone when no name is set;
- ``extra.chat`` (the conversation's identity): ``one-to-one:`` + the other person's sender id, as
  for an export; a group is ``group-jid:`` + its jid, as on the iPhone (an export does not show the
  jid: dedup links a group export to it by the group's ``subject`` and members, ``timeline/dedup.py``);
- body: ``text_data`` exactly (a media message's caption); a message deleted for everyone
  (``message_type`` 15) has no text and is flagged ``deleted``; group events (``message_type`` 7 or a
  ``message_system`` row) are kind ``system`` with their ``action_type`` in ``extra``;
- attachments: ``message_media.file_path`` (``Media/WhatsApp Images/...``) looked for beside the
  database and stored in the blob store; one that is not there is listed with no hash and flagged
  ``attachment_missing``.

A message whose timestamp is no believable time is a reject with the row written out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from commtrail.parsers._sqlite import (SQLITE_MAGIC, LenientText, as_input_error, as_text_sql, base_name, columns,
                                       head_tables, input_copy, json_field, object_sql, optional,
                                       out_of_order, query_chunks, read_chunks, require, splice_json)
from commtrail.parsers._values import as_text, json_value, whole
from commtrail.parsers.android.rows import Unusable, dated, row_text
from commtrail.parsers.base import OutsideInput, ParseContext, Reject, counted
from commtrail.parsers.registry import Parser, register
from commtrail.parsers.smsbr.rows import repeat_dict, repeat_str
from commtrail.parsers.whatsapp import chat as wc
from commtrail.timeline.identity import normalise_one
from commtrail.timeline.schema import ATTACHMENT, EXTRA_CHAT, make_batch
from commtrail.timeline.utclocal import local_iso

VERSION = "2"
NAME = "msgstore.db"   # taken by name too when its first 64 KiB do not show its tables
CHUNK = 20_000
REQUIRED = {"message": ("_id", "chat_row_id", "from_me", "key_id", "timestamp", "message_type", "text_data",
                        "sender_jid_row_id"),
            "chat": ("_id", "jid_row_id"), "jid": ("_id", "user", "server")}
OPTIONAL_TABLES = {"message_media": ("message_row_id", "file_path", "mime_type"),
                   "message_quoted": ("message_row_id", "key_id", "text_data"),
                   "message_system": ("message_row_id", "action_type"),
                   "group_participant_user": ("group_jid_row_id", "user_jid_row_id")}
LEGACY_REQUIRED = {"messages": ("_id", "key_remote_jid", "key_from_me", "key_id", "timestamp", "data")}
PERSON, GROUP = "s.whatsapp.net", "g.us"
SYSTEM_TYPE, DELETED_TYPE = 7, 15
ROW = ("_id", "timestamp", "from_me", "message_type", "text", "chat", "sender_jid", "file_path",
       "mime_type", "media_name", "file_size", "action_type", "extra")
LIST = pa.list_(pa.string())
INTS = {int, type(None)}


def sniff(head: bytes, filename: str) -> bool:
    tables = head_tables(head)
    return ({"message", "chat", "jid"} <= tables or ("messages" in tables and b"key_remote_jid" in head)
            or head.startswith(SQLITE_MAGIC) and filename == NAME)


@dataclass(frozen=True)
class Chat:
    """What every message of one chat shares."""

    conversation: str | None
    identity: str | None          # extra.chat
    jid: str | None               # the chat's jid as written
    fragment: str                 # JSON fragment for extra: the chat's jid, subject, members


NO_CHAT = Chat(None, None, None, "")


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[pa.RecordBatch | Reject]:
    label = base_name(ctx)
    with input_copy(stream, ctx) as con:
        con.text_factory = text = LenientText()
        with as_input_error(ctx.source_path):
            layout = _modern(con, ctx) if columns(con, "message") or not columns(con, "messages") else _legacy(con, ctx)
            reader = _Reader(ctx, label, layout, text)
            chunks = query_chunks(con, layout.query, ctx, CHUNK, aside := [])
        yield from reader.read(chunks)
        yield from out_of_order(aside, ctx, label, layout.table, ROW)
        text.report(ctx, label)
        reader.unusable.report(ctx, {"from_me": "whole number", "key_from_me": "whole number",
                                     "file_size": "whole number of bytes", "media_size": "whole number of bytes"})


@dataclass(frozen=True)
class Layout:
    """What one layout of msgstore.db gives the reader: its message table, the query of every message
    (rows as :data:`ROW`, the chat by its key, the sender by its jid text), its chats
    (key, jid text, subject, a jid_row_id that names no jid row) and group members (group jid text,
    member jid text)."""

    table: str
    query: str
    chats: list[tuple[object, str | None, str | None, object]]
    members: list[tuple[str, str]]


def _field(key: str, value_sql: str) -> str:
    """:func:`json_field` of a column that may hold a BLOB (which SQLite's JSON refuses): as its hex digits."""
    return json_field(key, as_text_sql(value_sql))


def _jid_sql(have: set[str], alias: str) -> str:
    """A jid row's text (``user@server``) in SQL."""
    written = f"{alias}.user || '@' || {alias}.server"
    return f"coalesce({alias}.raw_string, {written})" if "raw_string" in have else written


def _modern(con: sqlite3.Connection, ctx: ParseContext) -> Layout:
    """The layout since 2022: ``message``, ``chat``, ``jid`` and the tables beside them."""
    have = require(con, ctx.source_path, REQUIRED, "WhatsApp")
    present = {t for t in OPTIONAL_TABLES if columns(con, t)}
    for table in present:
        have.update(require(con, ctx.source_path, {table: OPTIONAL_TABLES[table]}, "WhatsApp"))
    m, media, jid = have["message"], have.get("message_media", set()), have["jid"]
    chats = list(con.execute(f"SELECT c._id, {_jid_sql(jid, 'j')}, {optional(have['chat'], 'c', 'subject')}, "
                             "CASE WHEN j._id IS NULL THEN c.jid_row_id END "
                             "FROM chat c LEFT JOIN jid j ON j._id = c.jid_row_id"))
    members = list(con.execute(
        f"SELECT {_jid_sql(jid, 'g')}, {_jid_sql(jid, 'u')} FROM group_participant_user p "
        "JOIN jid g ON g._id = p.group_jid_row_id JOIN jid u ON u._id = p.user_jid_row_id ORDER BY p._id")) \
        if "group_participant_user" in present else []
    if "group_participant_user" in present:
        rows = con.execute("SELECT count(*) FROM group_participant_user").fetchone()[0]
        if rows > len(members):
            label = base_name(ctx)
            dangling = counted(rows - len(members), f"group_participant_user row of {label} names",
                               f"group_participant_user rows of {label} name")
            ctx.report.warn(f"{dangling} no jid row (a dangling or mistyped group_jid_row_id / user_jid_row_id): those "
                            "members are not listed")
    joins, fields = [], [_field("key_id", "m.key_id"), _field("message_type", "m.message_type"),
                         _field("status", optional(m, "m", "status")),
                         _field("starred", f"NULLIF({optional(m, 'm', 'starred')}, 0)"),
                         _field("received_timestamp", optional(m, "m", "received_timestamp"))]
    file_cols = "NULL, NULL, NULL, NULL"
    if "message_media" in present:
        joins.append("LEFT JOIN message_media mm ON mm.message_row_id = m._id")
        file_cols = (f"mm.file_path, mm.mime_type, {optional(media, 'mm', 'media_name')}, "
                     f"{optional(media, 'mm', 'file_size')}")
        fields += [_field("media_caption", f"NULLIF({optional(media, 'mm', 'media_caption')}, '')"),
                   _field("media_duration", f"NULLIF({optional(media, 'mm', 'media_duration')}, 0)"),
                   _field("file_hash", optional(media, "mm", "file_hash"))]
    action = "NULL"
    if "message_system" in present:
        joins.append("LEFT JOIN message_system ms ON ms.message_row_id = m._id")
        action = "ms.action_type"
    if "message_quoted" in present:
        joins.append("LEFT JOIN message_quoted q ON q.message_row_id = m._id")
        fields += [_field("quoted_key_id", "q.key_id"), _field("quoted_text", "q.text_data")]
    joins.append("LEFT JOIN jid s ON s._id = m.sender_jid_row_id")
    fields.append(_field("sender_jid_row_id", "CASE WHEN s._id IS NULL THEN m.sender_jid_row_id END"))
    query = (f"SELECT m.ROWID, m.timestamp, m.from_me, m.message_type, m.text_data, m.chat_row_id, "
             f"CASE WHEN s._id IS NOT NULL THEN {_jid_sql(jid, 's')} END, {file_cols}, {action}, {object_sql(fields)} "
             f"FROM message m {' '.join(joins)} ORDER BY m.ROWID")
    return Layout("message", query, chats, members)


def _legacy(con: sqlite3.Connection, ctx: ParseContext) -> Layout:
    """The layout before 2022: one ``messages`` table keyed by the chat's jid text
    (``key_remote_jid``), ``remote_resource`` the writer in a group, ``media_wa_type`` the message
    type, ``status`` 6 a system line; chats in ``chat_list``, members in ``group_participants``."""
    have = require(con, ctx.source_path, LEGACY_REQUIRED, "WhatsApp")["messages"]
    chats = [(jid, jid, subject, None) for jid, subject in con.execute(
        f"SELECT key_remote_jid, {optional(columns(con, 'chat_list'), 'c', 'subject')} FROM chat_list c")] \
        if columns(con, "chat_list") else []
    members = [(g, u) for g, u in con.execute("SELECT gjid, jid FROM group_participants ORDER BY _id") if u] \
        if columns(con, "group_participants") else []
    col = lambda name: optional(have, "m", name)  # noqa: E731
    fields = [_field("key_id", "m.key_id"), _field("media_wa_type", col("media_wa_type")),
              _field("status", col("status")), _field("starred", f"NULLIF({col('starred')}, 0)"),
              _field("received_timestamp", col("received_timestamp")),
              _field("media_caption", f"NULLIF({col('media_caption')}, '')"),
              _field("media_duration", f"NULLIF({col('media_duration')}, 0)"),
              _field("quoted_row_id", f"NULLIF({col('quoted_row_id')}, 0)"),
              _field("latitude", f"NULLIF({col('latitude')}, 0)"),
              _field("longitude", f"NULLIF({col('longitude')}, 0)")]
    # media_wa_type is a TEXT column: its digits are the type; any other text ('15abc', which CAST would
    # read as 15, a deleted message) goes to Python as it is, where it is no type (_typed_row).
    wa_type = col("media_wa_type")
    mtype = (f"CASE WHEN {col('status')} = 6 THEN {SYSTEM_TYPE} WHEN CAST(CAST({wa_type} AS INTEGER) AS TEXT) = "
             f"{wa_type} THEN CAST({wa_type} AS INTEGER) ELSE {wa_type} END")
    media = (f"{col('media_wa_type')} NOT IN ('0', '15') "
             f"AND ({col('media_name')} IS NOT NULL OR {col('media_mime_type')} IS NOT NULL)")
    query = (f"SELECT m.ROWID, m.timestamp, m.key_from_me, {mtype}, coalesce(m.data, {col('media_caption')}), "
             f"m.key_remote_jid, NULLIF({col('remote_resource')}, ''), NULL, "
             f"CASE WHEN {media} THEN {col('media_mime_type')} END, "
             f"CASE WHEN {media} THEN {col('media_name')} END, CASE WHEN {media} THEN {col('media_size')} END, "
             f"NULL, {object_sql(fields)} FROM messages m ORDER BY m.ROWID")
    return Layout("messages", query, chats, members)


class _Reader:
    def __init__(self, ctx: ParseContext, label: str, layout: Layout, lenient: LenientText) -> None:
        self.ctx, self.label, self.table, self.lenient = ctx, label, layout.table, lenient
        self.unusable = Unusable(label, layout.table)
        legacy = layout.table == "messages"
        self.names = ("key_from_me", "media_size") if legacy else ("from_me", "file_size")
        self.numbers = itemgetter(2, 3, 10) if legacy else itemgetter(2, 3, 5, 10)   # in ROW: read as ints
        names = sorted(ctx.owner.whatsapp_names)
        phones = sorted(ctx.owner.phones)
        self.owner = f"wa:{names[0]}" if names else phones[0] if phones else None
        self.chats = self._chats(layout)
        self.missing = 0

    def ident(self, jid: str | None) -> str | None:
        """The sender id of a jid text: a person's number in E.164, anything else ``wa:<jid>``."""
        if not jid:
            return None
        user, _, server = jid.partition("@")
        if server == PERSON and user.isdigit():
            number = normalise_one("+" + user, self.ctx.phone_region)
            if number.startswith("+"):
                return number
        return f"wa:{jid}"

    def _chats(self, layout: Layout) -> dict[object, Chat]:
        text = partial(as_text, lenient=self.lenient)
        members: dict[str, list[str]] = {}
        for group, user in layout.members:
            members.setdefault(text(group), []).append(self.ident(text(user)))
        chats = {}
        for key, raw, subject, unknown_jid in layout.chats:
            key, raw, subject = text(key) if self.table == "messages" else key, text(raw), text(subject)
            who, server = self.ident(raw), (raw or "").partition("@")[2]
            info: dict = {"chat_jid": raw}
            if unknown_jid is not None:   # a jid_row_id that names no jid row: kept
                info["jid_row_id"] = json_value(unknown_jid)
            if server == GROUP:
                info["group_members"] = sorted(set(members.get(raw, [])))
                if subject:
                    info["subject"] = subject
                conversation, identity = f"{subject} ({raw})" if subject else raw, wc.group_jid_identity(raw)
            elif server == PERSON:
                conversation, identity = who, f"one-to-one:{who}"
            else:
                conversation, identity = raw, f"wa-chat:{raw}" if raw else None
            fragment = json.dumps(info, ensure_ascii=False, sort_keys=True, separators=(",", ":"))[1:-1]
            chats[key] = Chat(conversation, identity, raw, "," + fragment)
        return chats

    def read(self, chunks: Iterator[list[tuple]]) -> Iterator[pa.RecordBatch | Reject]:
        for chunk in read_chunks(chunks, self.ctx, self.label, f"{self.table} _id"):
            ms, keep, rejects = dated([row[1] for row in chunk], chunk, self.label, self.table, row_text(ROW))
            yield from rejects
            if len(keep):
                yield self._batch([chunk[i] for i in keep.tolist()], ms)
        if self.missing:
            self.ctx.report.warn(f"{self.missing} WhatsApp media file(s) named by {self.label} are not beside it: "
                                 "listed without their content and flagged attachment_missing")

    def _batch(self, rows: list[tuple], ms: np.ndarray) -> pa.RecordBatch:
        """The records of a chunk of rows. SQLite columns hold any type: a chunk whose ``from_me``,
        ``message_type``, chat key or file size is not all ints (a wrong value, not an error, if read
        as it is), or whose other values make a conversion fail, is read value by value
        (:meth:`_typed_row`)."""
        if not set(map(type, chain.from_iterable(map(self.numbers, rows)))) <= INTS:
            return self._records([self._typed_row(row) for row in rows], ms)
        missing = self.missing
        try:
            return self._records(rows, ms)
        except (TypeError, AttributeError, ValueError, pa.ArrowException):   # a text or blob of another type
            self.missing = missing
            return self._records([self._typed_row(row) for row in rows], ms)

    def _typed_row(self, row: tuple) -> tuple:
        """A row with each value of the type the phone writes (:mod:`commtrail.parsers._values`): texts
        from any value, numbers from numeric texts; a ``from_me`` or file size that is no whole number
        left empty and kept in ``extra`` (``message_type`` and the rest are kept there already)."""
        rowid, ms, from_me, mtype, body, chat_id, sender_jid, path, mime, media_name, size, action, extra = row
        text = partial(as_text, lenient=self.lenient)
        more = ""
        if from_me is not None and whole(from_me) is None:
            more, from_me = self.unusable.fragment(self.names[0], from_me), None
        if size is not None and whole(size) is None:
            more, size = more + self.unusable.fragment(self.names[1], size), None
        key = text(chat_id) if self.table == "messages" else whole(chat_id)
        key = chat_id if key is None else key   # kept as it is when it names no chat
        return (rowid, ms, whole(from_me), whole(mtype), text(body), key, text(sender_jid), text(path), text(mime),
                text(media_name), whole(size), json_value(action), splice_json(extra, more) if more else extra)

    def _records(self, rows: list[tuple], ms: np.ndarray) -> pa.RecordBatch:
        ctx, n = self.ctx, len(rows)
        cols: dict[str, list] = {k: [] for k in ("kind", "direction", "sender", "sender_raw", "conversation", "body",
                                                 "attachments", "flags", "extra", "locator")}
        for (rowid, _, from_me, mtype, text, chat_id, sender_jid, path, mime, media_name, size, action,
             extra) in rows:
            chat = self.chats.get(chat_id, NO_CHAT)
            system = mtype == SYSTEM_TYPE or action is not None
            flags = []
            if system:
                sender, raw, direction = None, None, "unknown"
            elif from_me:
                sender, raw, direction = self.owner, None, "outgoing"
            else:
                raw = sender_jid or chat.jid
                sender = self.ident(raw)
                direction = "incoming"
            if mtype == DELETED_TYPE:
                flags.append("deleted")
            attachments = None
            if path or media_name or mime:
                attachments = [self._attachment(path, mime, media_name, size)]
                if attachments[0]["sha256"] is None:
                    flags.append("attachment_missing")
            more = {EXTRA_CHAT: chat.identity} if chat.identity else {}
            if chat is NO_CHAT and chat_id is not None:   # a chat key that names no chat: kept
                more["chat_row_id" if self.table == "message" else "key_remote_jid"] = json_value(chat_id)
            if action is not None:
                more["action_type"] = action
            fragment = chat.fragment + ("," + json.dumps(more, ensure_ascii=False, sort_keys=True,
                                                         separators=(",", ":"))[1:-1] if more else "")
            cols["kind"].append("system" if system else "message")
            cols["direction"].append(direction)
            cols["sender"].append(sender)
            cols["sender_raw"].append(raw)
            cols["conversation"].append(chat.conversation)
            cols["body"].append(text)
            cols["attachments"].append(attachments)
            cols["flags"].append(flags or None)
            cols["extra"].append(splice_json(extra, fragment))
            cols["locator"].append(f"{self.label} {self.table} _id {rowid}")
        return make_batch({
            "ts_utc": ms * 1000, "ts_local": local_iso(ms * 1000, ctx.timezone, "ms"),
            "ts_precision": repeat_dict("ms", n), "tz_source": repeat_dict("source", n),
            "channel": repeat_dict("whatsapp", n),
            **{k: v for k, v in cols.items() if k not in ("attachments", "flags")},
            "attachments": pa.array(cols["attachments"], pa.list_(ATTACHMENT)),
            "flags": pa.array(cols["flags"], LIST),
            "source_sha256": repeat_str(ctx.source_sha256, n), "source_path": repeat_str(ctx.source_path, n),
            "parser": repeat_str(ctx.parser_label, n),
        })

    def _attachment(self, path: str | None, mime: str | None, media_name: str | None, size: int | None) -> dict:
        name = (path or "").replace("\\", "/").rsplit("/", 1)[-1] or media_name
        sha, stored = None, None
        rel = (path or "").replace("\\", "/")
        if rel and not rel.startswith("/") and ".." not in rel.split("/") and self.ctx.open_relative is not None \
                and self.ctx.blobs is not None:
            try:
                with self.ctx.open_relative(rel) as stream:
                    sha, stored = self.ctx.blobs.put_stream(stream)
            except (FileNotFoundError, OutsideInput, IsADirectoryError, ValueError):   # ValueError: a NUL in the path
                pass
        if sha is None:
            self.missing += 1
        return {"name": name, "mime": mime, "size": stored if sha else size, "sha256": sha}


register(Parser(name="android-whatsapp", version=VERSION,
                description="WhatsApp's unencrypted Android database (msgstore.db: message, chat, jid)",
                sniff=sniff, parse=parse, priority=20, uses_siblings=True))
