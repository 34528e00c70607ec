"""WhatsApp's unencrypted Android database ``msgstore.db`` (from a rooted phone or an extraction) -> records.

Recognised by its tables (``message``, ``chat`` and ``jid``), whatever the file is called. The
layout WhatsApp has used since 2022 is read: ``message`` (``timestamp`` in milliseconds,
``from_me``, ``text_data``, ``message_type``, ``sender_jid_row_id`` in groups), ``chat`` and ``jid``
(who a chat is with: ``user@s.whatsapp.net`` a person, ``...@g.us`` a group, ``status@broadcast``
status updates), and when present ``message_media`` (the file, its type and size),
``message_quoted`` (what a reply quotes), ``message_system`` (group events) and
``group_participant_user`` (a group's members). The older layout (one ``messages`` table with
``key_remote_jid``) is refused with a message saying so.

A record looks as the ``.txt`` export of the same chat makes it (:mod:`commtrail.parsers.whatsapp`),
so the same message from both is one event (dedup compares author, chat and minute):

- sender: a person's number in E.164 (``+447700900123`` from ``447700900123@s.whatsapp.net``); the
  owner's own messages are ``wa:`` + the owner's WhatsApp name from case.toml (the first, sorted,
  when there are several), as an export writes the owner, or the owner's phone when no name is set;
- ``extra.chat`` (the conversation's identity): ``one-to-one:`` + the other person's sender id, as
  for an export; a group is ``wa-group:`` + its jid (an export tells a group by its first system
  line, which the database does not hold as text, so a group from both is two sets of events);
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
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from commtrail.errors import InputError
from commtrail.parsers._smsbr_rows import local_times, repeat_dict, repeat_str
from commtrail.parsers._sqlite import (LenientText, as_input_error, base_name, columns, head_tables, input_copy,
                                       json_field, object_sql, optional, read_chunks, require)
from commtrail.parsers.android.rows import dated, row_text
from commtrail.parsers.base import OutsideInput, ParseContext, Reject
from commtrail.parsers.registry import Parser, register
from commtrail.timeline.identity import normalise_one
from commtrail.timeline.schema import ATTACHMENT, EXTRA_CHAT, make_batch

VERSION = "1"
CHUNK = 20_000
REQUIRED = {"message": ("_id", "chat_row_id", "from_me", "key_id", "timestamp", "message_type", "text_data",
                        "sender_jid_row_id"),
            "chat": ("_id", "jid_row_id"), "jid": ("_id", "user", "server")}
OPTIONAL_TABLES = {"message_media": ("message_row_id", "file_path", "mime_type"),
                   "message_quoted": ("message_row_id", "key_id", "text_data"),
                   "message_system": ("message_row_id", "action_type"),
                   "group_participant_user": ("group_jid_row_id", "user_jid_row_id")}
PERSON, GROUP = "s.whatsapp.net", "g.us"
SYSTEM_TYPE, DELETED_TYPE = 7, 15
ROW = ("_id", "timestamp", "from_me", "message_type", "text_data", "chat_row_id", "sender_jid_row_id", "file_path",
       "mime_type", "media_name", "file_size", "action_type", "extra")
LIST = pa.list_(pa.string())


def sniff(head: bytes, filename: str) -> bool:
    tables = head_tables(head)
    return {"message", "chat", "jid"} <= tables or ("messages" in tables and b"key_remote_jid" in head)


@dataclass(frozen=True)
class Chat:
    """What every message of one chat shares."""

    conversation: str | None
    identity: str | None          # extra.chat
    other: str | None             # the other person of a one-to-one chat
    jid: str | None               # the chat's jid as written
    fragment: str                 # JSON fragment for extra: the chat's jid, subject, members


NO_CHAT = Chat(None, None, None, None, "")


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[pa.RecordBatch | Reject]:
    label = base_name(ctx)
    with input_copy(stream, ctx) as con:
        con.text_factory = text = LenientText()
        with as_input_error(ctx.source_path):
            if not columns(con, "message") and columns(con, "messages"):
                raise InputError("this WhatsApp database has the layout WhatsApp used before 2022 (one table "
                                 "messages with key_remote_jid), which commtrail does not read yet.",
                                 file=ctx.source_path, where="table messages",
                                 hint="Open WhatsApp on the phone once so that it moves the database to its "
                                      "current layout, or export the chats (Export chat) and give those .txt files.")
            have = require(con, ctx.source_path, REQUIRED, "WhatsApp")
            present = {t for t in OPTIONAL_TABLES if columns(con, t)}
            for table in present:
                have.update(require(con, ctx.source_path, {table: OPTIONAL_TABLES[table]}, "WhatsApp"))
            reader = _Reader(con, ctx, label, have, present)
            cursor = con.execute(reader.query())
        yield from reader.read(cursor)
        text.report(ctx, label)


class _Reader:
    def __init__(self, con: sqlite3.Connection, ctx: ParseContext, label: str, have: dict[str, set[str]],
                 present: set[str]) -> None:
        self.con, self.ctx, self.label, self.have, self.present = con, ctx, label, have, present
        names = sorted(ctx.owner.whatsapp_names)
        phones = sorted(ctx.owner.phones)
        self.owner = f"wa:{names[0]}" if names else phones[0] if phones else None
        self.jids = {row[0]: (row[1], row[2], row[3]) for row in con.execute(
            f"SELECT _id, user, server, {optional(have['jid'], 'j', 'raw_string')} FROM jid j")}
        self.chats = self._chats()
        self.missing = 0

    def ident(self, jid_row: int | None) -> tuple[str | None, str | None]:
        """(sender id, jid as written) of a jid row: a person's number in E.164, anything else ``wa:<jid>``."""
        found = self.jids.get(jid_row)
        if found is None:
            return None, None
        user, server, raw = found
        raw = raw or f"{user}@{server}"
        if server == PERSON and user and user.isdigit():
            number = normalise_one("+" + user, self.ctx.phone_region)
            if number.startswith("+"):
                return number, raw
        return f"wa:{raw}", raw

    def _chats(self) -> dict[int, Chat]:
        members: dict[int, list[str]] = {}
        if "group_participant_user" in self.present:
            for group, user in self.con.execute("SELECT group_jid_row_id, user_jid_row_id FROM group_participant_user "
                                                "ORDER BY _id"):
                who = self.ident(user)[0]
                if who is not None:
                    members.setdefault(group, []).append(who)
        chat_cols = self.have["chat"]
        chats = {}
        for rowid, jid_row, subject in self.con.execute(
                f"SELECT c._id, c.jid_row_id, {optional(chat_cols, 'c', 'subject')} FROM chat c"):
            who, raw = self.ident(jid_row)
            server = self.jids.get(jid_row, (None, None, None))[1]
            info: dict = {"chat_jid": raw}
            if server == GROUP:
                info["group_members"] = sorted(set(members.get(jid_row, [])))
                if subject:
                    info["subject"] = subject
                conversation, identity, other = f"{subject} ({raw})" if subject else raw, f"wa-group:{raw}", None
            elif server == PERSON:
                conversation, identity, other = who, f"one-to-one:{who}", who
            else:
                conversation, identity, other = raw, f"wa-chat:{raw}" if raw else None, None
            fragment = json.dumps(info, ensure_ascii=False, sort_keys=True, separators=(",", ":"))[1:-1]
            chats[rowid] = Chat(conversation, identity, other, raw, "," + fragment)
        return chats

    def query(self) -> str:
        m, media = self.have["message"], self.have.get("message_media", set())
        joins, fields = [], [json_field("key_id", "m.key_id"), json_field("message_type", "m.message_type"),
                             json_field("status", optional(m, "m", "status")),
                             json_field("starred", f"NULLIF({optional(m, 'm', 'starred')}, 0)"),
                             json_field("received_timestamp", optional(m, "m", "received_timestamp"))]
        file_cols = "NULL, NULL, NULL, NULL"
        if "message_media" in self.present:
            joins.append("LEFT JOIN message_media mm ON mm.message_row_id = m._id")
            file_cols = (f"mm.file_path, mm.mime_type, {optional(media, 'mm', 'media_name')}, "
                         f"{optional(media, 'mm', 'file_size')}")
            fields += [json_field("media_caption", f"NULLIF({optional(media, 'mm', 'media_caption')}, '')"),
                       json_field("media_duration", f"NULLIF({optional(media, 'mm', 'media_duration')}, 0)"),
                       json_field("file_hash", optional(media, "mm", "file_hash"))]
        action = "NULL"
        if "message_system" in self.present:
            joins.append("LEFT JOIN message_system ms ON ms.message_row_id = m._id")
            action = "ms.action_type"
        if "message_quoted" in self.present:
            joins.append("LEFT JOIN message_quoted q ON q.message_row_id = m._id")
            fields += [json_field("quoted_key_id", "q.key_id"), json_field("quoted_text", "q.text_data")]
        return (f"SELECT m._id, m.timestamp, m.from_me, m.message_type, m.text_data, m.chat_row_id, "
                f"m.sender_jid_row_id, {file_cols}, {action}, {object_sql(fields)} FROM message m "
                f"{' '.join(joins)} ORDER BY m._id")

    def read(self, cursor: sqlite3.Cursor) -> Iterator[pa.RecordBatch | Reject]:
        for chunk in read_chunks(cursor, self.ctx, self.label, "message _id", CHUNK):
            ms, keep, rejects = dated([row[1] for row in chunk], chunk, self.label, "message", row_text(ROW))
            yield from rejects
            if len(keep):
                yield self._batch([chunk[i] for i in keep.tolist()], ms)
        if self.missing:
            self.ctx.report.warn(f"{self.missing} WhatsApp media file(s) named by {self.label} are not beside it: "
                                 "listed without their content and flagged attachment_missing")

    def _batch(self, rows: list[tuple], ms: np.ndarray) -> pa.RecordBatch:
        ctx, n = self.ctx, len(rows)
        cols: dict[str, list] = {k: [] for k in ("kind", "direction", "sender", "sender_raw", "conversation", "body",
                                                 "attachments", "flags", "extra", "locator")}
        for (rowid, _, from_me, mtype, text, chat_id, sender_row, path, mime, media_name, size, action,
             extra) in rows:
            chat = self.chats.get(chat_id, NO_CHAT)
            system = mtype == SYSTEM_TYPE or action is not None
            flags = []
            if system:
                sender, raw, direction = None, None, "unknown"
            elif from_me:
                sender, raw, direction = self.owner, None, "outgoing"
            else:
                sender, raw = self.ident(sender_row) if sender_row else (chat.other, chat.jid)
                direction = "incoming"
            if mtype == DELETED_TYPE:
                flags.append("deleted")
            attachments = None
            if path or media_name:
                attachments = [self._attachment(path, mime, media_name, size)]
                if attachments[0]["sha256"] is None:
                    flags.append("attachment_missing")
            more = {EXTRA_CHAT: chat.identity} if chat.identity else {}
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
            cols["extra"].append(extra[:-1] + fragment + "}" if extra != "{}" else "{" + fragment[1:] + "}")
            cols["locator"].append(f"{self.label} message _id {rowid}")
        return make_batch({
            "ts_utc": ms * 1000, "ts_local": local_times(ms, ctx.timezone),
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
            except (FileNotFoundError, OutsideInput, IsADirectoryError):
                pass
        if sha is None:
            self.missing += 1
        return {"name": name, "mime": mime, "size": stored if sha else size, "sha256": sha}


register(Parser(name="android-whatsapp", version=VERSION,
                description="WhatsApp's unencrypted Android database (msgstore.db: message, chat, jid)",
                sniff=sniff, parse=parse, priority=20, uses_siblings=True))
