"""WhatsApp's iPhone database (``ChatStorage.sqlite``, Core Data) -> records, channel ``whatsapp``.

Tables: ``ZWAMESSAGE`` (one row per message or notice; ``ZMESSAGEDATE`` Cocoa seconds, a float),
``ZWACHATSESSION`` (one per chat: ``ZCONTACTJID``, ``ZPARTNERNAME``; a group's JID ends ``@g.us``),
``ZWAGROUPMEMBER`` (a group's members: ``ZMEMBERJID``, ``ZCONTACTNAME``), ``ZWAMEDIAITEM`` (a
message's media: ``ZMEDIALOCALPATH`` relative to the app group's ``Message/`` folder, ``ZTITLE``,
``ZFILESIZE``) and ``ZWAPROFILEPUSHNAME`` (names people gave themselves). Rows are read in
``Z_PK`` order, a chunk at a time.

The records match what the ``whatsapp`` parser makes of the same chat's "Export chat" text, so that
dedup (author + chat + minute + text) makes one event of the two: the author as the export writes
it (the saved contact name, else the phone number; the owner as ``owner.whatsapp_names`` says),
the text as written, and the chat identity of :mod:`commtrail.parsers.whatsapp.chat` in
``extra.chat`` (a one-to-one chat: the other person; a group: its JID, which an export does not
show; dedup links a group export to it by the group's name and members, ``timeline/dedup.py``).
A group's members other than the owner are in ``extra.group_members`` (sender ids) and
``extra.chat_members`` (as written).

Kinds: ``system`` for notices (``ZMESSAGETYPE`` 6, group events, and 10, calls and status
changes), else ``message``; a message deleted for everyone (type 14) is flagged ``deleted``, one
without a date ``undated`` (kept, with no time).
Media are stored in the blob store; one the backup or folder lacks is flagged ``attachment_missing``,
and so is a media message (``MEDIA_TYPES``) whose file the database does not name (an attachment
with no name), so that it is keyed as media, as its export's "image omitted" is.

Values of the wrong type (the rules are in :mod:`.database`): a message whose ``ZMESSAGEDATE`` is
no number, or no time between 1970 and 2200, is a reject with its row written out (NULL: undated,
as before). A ``ZISFROMME`` that is no number leaves the direction ``unknown`` (no sender, no
recipients); a ``ZCHATSESSION`` or ``ZGROUPMEMBER`` that is no ROWID gives no chat or member; a
``ZFILESIZE`` that is no integer leaves the media's size empty: each keeps the value in ``extra``
(``<key>_raw``), counted in a warning. A ``ZMESSAGETYPE`` that is no integer is read as an ordinary
message (its value is in ``extra.message_type``), counted. Texts held as a BLOB are read as UTF-8,
a number as its digits; a BLOB in ``extra`` is its hex digits. A ``ZWAGROUPMEMBER`` row whose
``ZCHATSESSION`` is no ROWID is listed as a member of no group, counted in a warning.
"""

from __future__ import annotations

import json
import mimetypes
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers._arrowtext import wrap
from commtrail.parsers._sqlite import (LenientText, as_input_error, as_text_sql, columns_of, damaged, json_field,
                                       keyed_chunks, object_sql, optional, out_of_order, require, splice_json)
from commtrail.parsers._values import arrow, as_text, json_value
from commtrail.parsers.base import ParseContext, Reject, counted
from commtrail.parsers.ios.database import (COCOA_EPOCH_US, MAX_COCOA_S, MIN_COCOA_S, Unreadable, directions,
                                            flag_column, integers, is_id, reals, texts)
from commtrail.parsers.whatsapp import chat as wc
from commtrail.timeline.schema import ATTACHMENT, EXTRA_CHAT, TS_UTC, make_batch
from commtrail.timeline.utclocal import local_iso

CHUNK = 20_000
LIST = pa.list_(pa.string())
REQUIRED = {
    "ZWAMESSAGE": ("Z_PK", "ZCHATSESSION", "ZMESSAGEDATE", "ZISFROMME", "ZMESSAGETYPE", "ZTEXT", "ZFROMJID"),
    "ZWACHATSESSION": ("Z_PK", "ZCONTACTJID", "ZPARTNERNAME"),
}
SYSTEM_TYPES = (6, 10)
DELETED_TYPE = 14
CAPTIONED_TYPES = (1, 2, 11)     # image, video, GIF: ZTITLE is the caption
MEDIA_TYPES = (1, 2, 3, 4, 8, 11, 15)   # image, video, audio, contact card, document, GIF, sticker
FLAG_NAMES = ("attachment_missing", "deleted", "undated")
PERSON_SUFFIX = "@s.whatsapp.net"
GROUP_SUFFIX = "@g.us"
MEDIA_FOLDER = "Message/"
DIRECTIONS = ("incoming", "outgoing", "unknown")
# The warnings for values that cannot be read: what completes "<n> messages in <database> have ...".
KEPT_RAW = {
    "from_me": "a ZISFROMME that is no number: their direction is unknown and their sender and recipients are "
               "left empty, the value is kept in extra.from_me_raw",
    "chat_session": "a ZCHATSESSION that is no ROWID: they have no chat, the value is kept in extra.chat_session_raw",
    "group_member": "a ZGROUPMEMBER that is no ROWID: no member is taken from it, the value is kept in "
                    "extra.group_member_raw",
    "file_size": "a media ZFILESIZE that is no integer: its size is left empty, the value is kept in "
                 "extra.media_file_size_raw",
    "message_type": "a ZMESSAGETYPE that is no integer: they are read as ordinary messages, the value is in "
                    "extra.message_type",
}

MediaOpener = Callable[[str], BinaryIO]   # a media file by its path under the app group; FileNotFoundError


@dataclass(frozen=True)
class ChatInfo:
    conversation: str
    group: bool
    members: tuple[str, ...]          # sender ids of the people other than the owner
    partner: tuple[str | None, str | None]   # a one-to-one chat's other person: (sender id, as written)
    fragment: str                     # `,"key":value...` for extra (the chat identity among them)


def message_query(msg: set[str], media: set[str], blobs: bool = False) -> str:
    """Every message with its media item and its `extra` JSON, from a Z_PK on. With ``blobs``, a BLOB
    in `extra` is written as its hex digits (``json_quote`` refuses it): the query run only once
    SQLite has refused the other (:func:`~commtrail.parsers._sqlite.keyed_chunks`)."""
    col = lambda name: optional(msg, "m", name)  # noqa: E731
    med = lambda name: optional(media, "i", name) if media else "NULL"  # noqa: E731
    field = (lambda key, value: json_field(key, as_text_sql(value))) if blobs else json_field  # noqa: E731
    fields = [field("stanza_id", col("ZSTANZAID")), field("message_type", "m.ZMESSAGETYPE"),
              field("group_event_type", f"NULLIF({col('ZGROUPEVENTTYPE')}, 0)"),
              field("from_jid", "m.ZFROMJID"), field("to_jid", col("ZTOJID")),
              field("starred", f"NULLIF({col('ZSTARRED')}, 0)"),
              field("parent_message", col("ZPARENTMESSAGE")),
              field("media_path", med("ZMEDIALOCALPATH")), field("media_title", med("ZTITLE")),
              field("latitude", f"NULLIF({med('ZLATITUDE')}, 0)"),
              field("longitude", f"NULLIF({med('ZLONGITUDE')}, 0)"),
              field("media_url", med("ZMEDIAURL"))]
    join = "LEFT JOIN ZWAMEDIAITEM i ON i.Z_PK = m.ZMEDIAITEM" if media and "zmediaitem" in msg else ""
    return f"""SELECT m.Z_PK, m.ZMESSAGEDATE, m.ZISFROMME, m.ZMESSAGETYPE, m.ZTEXT, m.ZCHATSESSION,
        {col('ZGROUPMEMBER')}, m.ZFROMJID, {med('ZMEDIALOCALPATH')}, {med('ZTITLE')}, {med('ZFILESIZE')},
        {object_sql(fields)}
        FROM ZWAMESSAGE m {join} WHERE m.Z_PK > ? ORDER BY m.Z_PK"""


(PK, DATE, FROM_ME, TYPE, TEXT, CHAT, MEMBER, FROM_JID, MEDIA_PATH, TITLE, SIZE, EXTRA) = range(12)
COLUMN_NAMES = ("Z_PK", "ZMESSAGEDATE", "ZISFROMME", "ZMESSAGETYPE", "ZTEXT", "ZCHATSESSION", "ZGROUPMEMBER",
                "ZFROMJID", "ZMEDIALOCALPATH", "ZTITLE", "ZFILESIZE", "extra")


class WhatsAppReader:
    """Reads one ChatStorage.sqlite. ``label`` names it in locators, ``file_label`` in errors;
    ``open_media`` opens a media file by the path the database writes, or raises FileNotFoundError."""

    def __init__(self, con: sqlite3.Connection, ctx: ParseContext, label: str,
                 open_media: MediaOpener | None, file_label: str) -> None:
        self.con, self.ctx, self.label, self.file_label, self.open_media = con, ctx, label, file_label, open_media
        con.text_factory = self.text = LenientText()
        self.unreadable = Unreadable()
        with as_input_error(file_label):
            have = require(con, file_label, REQUIRED)
            self.msg_columns = have["ZWAMESSAGE"]
            self.media_columns = self._table("ZWAMEDIAITEM", ("Z_PK", "ZMEDIALOCALPATH"))
            self.push = self._push_names()
            self.members = self._members()
            self.owner = self._owner()
            self.chats = self._chats(have["ZWACHATSESSION"])

    def _table(self, table: str, needed: tuple[str, ...]) -> set[str]:
        """The columns of an optional table (empty when the database lacks it)."""
        if not self.con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
            return set()
        return require(self.con, self.file_label, {table: needed})[table]

    def _push_names(self) -> dict[str, str]:
        """JID -> the name its person gave themselves (only for naming; a damaged table is a warning)."""
        if not self._table("ZWAPROFILEPUSHNAME", ("ZJID", "ZPUSHNAME")):
            return {}
        try:
            return {as_text(jid, self.text): as_text(name, self.text)
                    for jid, name in self.con.execute("SELECT ZJID, ZPUSHNAME FROM ZWAPROFILEPUSHNAME") if jid and name}
        except sqlite3.DatabaseError as exc:
            self.ctx.report.warn(f"ZWAPROFILEPUSHNAME in {self.label} is damaged ({exc}): the names people gave "
                                 "themselves could not be read, so a sender known only by one is named by their JID")
            return {}

    def _members(self) -> dict[int, tuple[int | None, str | None, str | None]]:
        """Group member Z_PK -> (chat, JID, contact name)."""
        have = self._table("ZWAGROUPMEMBER", ("Z_PK", "ZMEMBERJID"))
        if not have:
            return {}
        text = self.text
        members = {pk: (chat, as_text(jid, text), as_text(name, text)) for pk, chat, jid, name in self.con.execute(
            f"SELECT Z_PK, {optional(have, 'g', 'ZCHATSESSION')}, ZMEMBERJID, {optional(have, 'g', 'ZCONTACTNAME')} "
            "FROM ZWAGROUPMEMBER g")}
        unlinked = sum(not is_id(chat) for chat, _, _ in members.values())
        if unlinked:
            rows = counted(unlinked, f"row of ZWAGROUPMEMBER in {self.label} names",
                           f"rows of ZWAGROUPMEMBER in {self.label} name")
            self.ctx.report.warn(f"{rows} their chat (ZCHATSESSION) by a value that is no ROWID: they are listed as a "
                                 "member of no group")
        return members

    def _owner(self) -> tuple[str | None, str | None]:
        """(sender id, name) of the owner's own messages: the WhatsApp name case.toml gives (the
        export writes it as the author), else the owner's phone; warned when it cannot be told."""
        names, phones = sorted(self.ctx.owner.whatsapp_names), sorted(self.ctx.owner.phones)
        if len(names) > 1:
            self.ctx.report.warn(f"owner.whatsapp_names gives {len(names)} names; the owner's WhatsApp messages in "
                                 f"{self.label} are written as {names[0]!r} and merge only with an export that "
                                 "writes that name")
        if names:
            return wc.sender_ids([names[0]], self.ctx.phone_region)[0], names[0]
        if phones:
            return phones[0], None
        self.ctx.report.warn(f"case.toml gives no owner.whatsapp_names nor owner.phones: the owner's WhatsApp "
                             f"messages in {self.label} have no sender")
        return None, None

    def person(self, jid: str | None, name: str | None = None) -> tuple[str | None, str | None]:
        """(sender id, name as written) of a person: the saved name, else the phone number of the
        JID (``+447700900123``), else the name they gave themselves, else the JID."""
        if not jid and not name:
            return None, None
        written = (name or "").strip()
        if not written and jid and jid.endswith(PERSON_SUFFIX) and jid[:-len(PERSON_SUFFIX)].isdigit():
            written = "+" + jid[:-len(PERSON_SUFFIX)]
        written = written or (self.push.get(jid or "") or "").strip() or (jid or "")
        return wc.sender_ids([written], self.ctx.phone_region)[0], written

    def _chats(self, have: set[str]) -> dict[int, ChatInfo]:
        by_chat: dict[int, list[tuple[str | None, str | None]]] = {}
        for chat, jid, name in self.members.values():
            if chat is not None and jid:
                by_chat.setdefault(chat, []).append(self.person(jid, name))
        chats = {}
        for pk, jid, name, session_type in self.con.execute(
                f"SELECT Z_PK, ZCONTACTJID, ZPARTNERNAME, {optional(have, 'c', 'ZSESSIONTYPE')} FROM ZWACHATSESSION c"):
            jid, name = as_text(jid, self.text), as_text(name, self.text)
            group = bool(jid and jid.endswith(GROUP_SUFFIX)) or session_type == 1
            fragment: dict = {"chat_jid": jid, wc.CHAT_NAME: name}
            partner: tuple[str | None, str | None] = (None, None)
            if group:
                members = tuple(sorted({m for m, _ in by_chat.get(pk, ()) if m and m != self.owner[0]}))
                identity = wc.group_jid_identity(jid or f"session-{pk}")
                fragment["chat_members"] = sorted({w for _, w in by_chat.get(pk, ()) if w})
                fragment["group_members"] = list(members)
            else:
                partner = self.person(jid, name)
                members = (partner[0],) if partner[0] else ()
                identity = wc.chat_identity(others=list(members), group_event=False, opening=None, named=None,
                                            source_sha256=self.ctx.source_sha256)
            fragment[EXTRA_CHAT] = identity
            conversation = f"{name or jid} ({jid})" if name and jid else (name or jid or f"chat {pk}")
            extra = "," + json.dumps({k: v for k, v in fragment.items() if v is not None}, ensure_ascii=False,
                                     sort_keys=True, separators=(",", ":"))[1:-1]
            chats[pk] = ChatInfo(conversation, group, members, partner, extra)
        return chats

    # -- the messages ----------------------------------------------------------------------------------
    def read(self) -> Iterator[pa.RecordBatch | Reject]:
        """Every message; a database found damaged part way is a warning, what came before is kept."""
        last, aside = None, []
        try:
            for rows in keyed_chunks(self.con, message_query(self.msg_columns, self.media_columns), self.ctx, CHUNK,
                                     self.text, aside,
                                     careful=message_query(self.msg_columns, self.media_columns, blobs=True)):
                yield from self._batch(rows)
                last = rows[-1][PK]
        except sqlite3.DatabaseError as exc:
            self.ctx.report.warn(damaged(self.label, "ZWAMESSAGE Z_PK", last, exc))
        yield from out_of_order(aside, self.ctx, self.label, "ZWAMESSAGE", COLUMN_NAMES)
        self.text.report(self.ctx, self.label)
        self.unreadable.report(self.ctx, "message", self.label)

    def _who(self, row: tuple, chat: ChatInfo | None,
             direction: int) -> tuple[str | None, str | None, list[str] | None]:
        """(sender, sender as written, recipients) of one message (``direction``: a :data:`DIRECTIONS` index)."""
        if direction == 2:   # who sent it cannot be told
            return None, None, None
        if direction:
            return self.owner[0], self.owner[1], list(chat.members) or None if chat else None
        member = self.members.get(row[MEMBER]) if row[MEMBER] is not None else None
        if member is not None:
            sender, written = self.person(member[1], member[2])
        elif chat is not None and not chat.group:
            sender, written = chat.partner
        else:
            sender, written = self.person(as_text(row[FROM_JID], self.text))
        return sender, written, [self.owner[0]] if self.owner[0] else None

    def _batch(self, rows: list[tuple]) -> Iterator[pa.RecordBatch | Reject]:
        """The rejects of the rows whose ZMESSAGEDATE is no time, then the records of the others."""
        cols = columns_of(rows)
        seconds, unreadable = reals(cols[DATE])
        refused = unreadable | (~np.isnan(seconds) & ~((seconds >= MIN_COCOA_S) & (seconds <= MAX_COCOA_S)))
        if refused.any():
            yield from (self._reject(rows[i], bool(unreadable[i])) for i in np.flatnonzero(refused).tolist())
            rows = [rows[i] for i in np.flatnonzero(~refused).tolist()]
            if not rows:
                return
            cols, seconds = columns_of(rows), seconds[~refused]
        yield self._records(rows, cols, seconds)

    def _reject(self, row: tuple, unreadable: bool) -> Reject:
        why = "is not a number of seconds" if unreadable else "is not a time between 1970 and 2200"
        return Reject(locator=f"{self.label} ZWAMESSAGE Z_PK {row[PK]}", reason=f"ZMESSAGEDATE {row[DATE]!r} {why}",
                      raw=" ".join(f"{name}={value!r}" for name, value in zip(COLUMN_NAMES, row)))

    def _records(self, rows: list[tuple], cols: list[list], seconds: np.ndarray) -> pa.RecordBatch:
        ctx, n = self.ctx, len(rows)
        chats = [self.chats.get(c) for c in cols[CHAT]]
        types, odd_types = integers(cols[TYPE], -1)
        self.unreadable.add(KEPT_RAW["message_type"], np.count_nonzero(odd_types))
        system = np.isin(types, SYSTEM_TYPES)
        deleted = types == DELETED_TYPE
        direction, from_me_raw = directions(cols[FROM_ME])
        undated = np.isnan(seconds)
        us = np.where(undated, 0, np.round(np.nan_to_num(seconds) * 1e6)).astype(np.int64) + COCOA_EPOCH_US
        whos = [(None, None, None) if system[i] else self._who(row, chats[i], direction[i])
                for i, row in enumerate(rows)]
        captioned = np.isin(types, CAPTIONED_TYPES).tolist()
        bodies = [row[TEXT] if row[TEXT] is not None or not captioned[i] else row[TITLE] for i, row in enumerate(rows)]
        attachments, missing, sizes_raw = self._attachments(cols[MEDIA_PATH], cols[SIZE], types)
        ts_local = pc.if_else(pa.array(undated), pa.scalar(None, pa.string()),
                              local_iso(np.where(undated, 0, us), ctx.timezone, "ms"))
        extras = [splice_json(e, c.fragment if c else "") for e, c in zip(cols[EXTRA], chats)]
        raws = self._raw_fragments(cols, direction, from_me_raw, sizes_raw)
        if raws is not None:
            extras = [splice_json(e or "{}", r) if r else e for e, r in zip(extras, raws)]
        ids = arrow(cols[PK], pa.int64())
        return make_batch({
            "ts_utc": pa.array(us, pa.int64(), mask=undated).cast(TS_UTC),
            "ts_local": ts_local,
            "ts_precision": pa.array(np.where(undated, None, "s").tolist(), pa.string()),
            "tz_source": pa.array(np.where(undated, None, "source").tolist(), pa.string()),
            "channel": pa.array(["whatsapp"] * n, pa.string()),
            "kind": pa.array(np.where(system, "system", "message").tolist(), pa.string()),
            "direction": pa.array(np.where(system, "unknown", np.array(DIRECTIONS)[direction]).tolist()),
            "sender": pa.array([w[0] for w in whos], pa.string()),
            "sender_raw": pa.array([w[1] for w in whos], pa.string()),
            "recipients": pa.array([w[2] for w in whos], LIST),
            "conversation": pa.array([c.conversation if c else None for c in chats], pa.string()),
            "body": texts(bodies, self.text),
            "attachments": attachments,
            "flags": flag_column(n, FLAG_NAMES, {"attachment_missing": missing, "deleted": deleted,
                                                 "undated": undated}),
            "source_sha256": pa.array([ctx.source_sha256] * n, pa.string()),
            "source_path": pa.array([ctx.source_path] * n, pa.string()),
            "locator": wrap(f"{self.label} ZWAMESSAGE Z_PK ", pc.cast(ids, pa.string())),
            "parser": pa.array([ctx.parser_label] * n, pa.string()),
            "extra": pa.array(extras, pa.string()),
        })

    def _raw_fragments(self, cols: list[list], direction: np.ndarray, from_me_raw: list | None,
                       sizes_raw: dict[int, object]) -> list[str | None] | None:
        """The fragments (``,"key_raw":value``) of each row's values that cannot be read, counted;
        None when no row has any."""
        found: dict[int, dict] = {}
        if from_me_raw is not None:
            for i in np.flatnonzero(direction == 2).tolist():
                found.setdefault(i, {})["from_me_raw"] = json_value(from_me_raw[i])
        for key, values in (("chat_session", cols[CHAT]), ("group_member", cols[MEMBER])):
            for i in [i for i, v in enumerate(values) if not is_id(v)]:
                found.setdefault(i, {})[f"{key}_raw"] = json_value(values[i])
        for i, size in sizes_raw.items():
            found.setdefault(i, {})["media_file_size_raw"] = json_value(size)
        if not found:
            return None
        for fields in found.values():
            for key in fields:
                self.unreadable.add(KEPT_RAW[key.removesuffix("_raw").removeprefix("media_")], 1)
        out: list[str | None] = [None] * len(direction)
        for i, fields in found.items():
            out[i] = "," + json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))[1:-1]
        return out

    def _attachments(self, paths: list, sizes: list,
                     types: np.ndarray) -> tuple[pa.Array, np.ndarray, dict[int, object]]:
        """The attachments column (one item per message with media; a media message whose file the
        database does not name, never downloaded, has one with no name), a mask of missing ones,
        and the ZFILESIZE values that are no integer, by row (their size is left empty)."""
        missing = np.zeros(len(paths), dtype=bool)
        lists: list[list[dict] | None] = []
        odd: dict[int, object] = {}
        for i, (path, size, mtype) in enumerate(zip(paths, sizes, types.tolist())):
            path = as_text(path, self.text)
            if size is not None and type(size) is not int:
                odd[i], size = size, None
            if not path:
                missing[i] = mtype in MEDIA_TYPES
                lists.append([{"name": None, "mime": None, "size": size, "sha256": None}] if missing[i] else None)
                continue
            sha, stored = self._store(path)
            missing[i] = sha is None
            name = path.replace("\\", "/").rsplit("/", 1)[-1]
            lists.append([{"name": name, "mime": mimetypes.guess_type(name)[0],
                           "size": stored if sha is not None else size, "sha256": sha}])
        return pa.array(lists, pa.list_(ATTACHMENT)), missing, odd

    def _store(self, path: str) -> tuple[str | None, int | None]:
        """(sha256, size) of the media file stored, (None, None) when it is not there (a path with
        a NUL names no file)."""
        if "\x00" in path or self.open_media is None or self.ctx.blobs is None:
            return None, None
        for candidate in (MEDIA_FOLDER + path.lstrip("/"), path.lstrip("/")):
            try:
                with self.open_media(candidate) as stream:
                    return self.ctx.blobs.put_stream(stream)
            except FileNotFoundError:
                continue
        return None, None
