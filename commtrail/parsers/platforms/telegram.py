"""Telegram Desktop "Export chat history" / "Export Telegram data" in JSON (``result.json``).

One chat (``name``, ``type``, ``id``, ``messages``) or the whole account (``personal_information``,
``chats.list``, ``left_chats.list``), read as a stream (:mod:`.jsonstream`): one message in memory
at a time. The time is ``date_unixtime`` (exact UTC, to the second); ``date`` (local, no zone) is
kept as ``ts_local``. An export without ``date_unixtime`` (Telegram Desktop before 2021) is refused
rather than read in a guessed zone. ``text`` is a string or a list of strings and entities, joined
verbatim. The sender is ``from_id`` (``tg:user123``), the display name its ``sender_raw``. Edits
(``edited_unixtime``), replies, forwards, reactions and every other field stay in ``extra``; phone
calls (service ``phone_call``) become records of kind outgoing / incoming / missed / rejected with
their duration (a ``duration_seconds`` that is no whole number of seconds from 0 is left out of
``duration_s``, kept in ``extra`` and counted). Photos and files the export holds are hashed into
the blob store from inside the export's folder or archive only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.platforms.common import (CALL_SECONDS_UNREAD, EXTRA, Rows, call_seconds, empty_lists, joined,
                                                repeat, repeat_dict, store_file, whole_number)
from commtrail.parsers.platforms.jsonstream import SURROGATE_WARNING, JsonStream, JsonSyntaxError
from commtrail.parsers.registry import Parser, register

NAME = "telegram"
VERSION = "1"

_SINGLE = re.compile(rb'"type"\s*:\s*"[a-z_]+"\s*,\s*"id"\s*:\s*-?\d+\s*,\s*"messages"\s*:\s*\[')
_FULL = re.compile(rb'^\s*\{\s*"about"\s*:\s*"[^"]*"\s*,\s*"personal_information"\s*:\s*\{')
_NOT_INCLUDED = "(File "       # "(File not included. ...)", "(File exceeds maximum size. ...)"
# Fields read into columns; everything else of a message goes to extra.
_READ = frozenset(("type", "date", "date_unixtime", "from", "from_id", "actor", "actor_id", "text",
                   "text_entities"))
_MEDIA = ("photo", "file")
_PLAIN = frozenset(("id", "type", "date", "date_unixtime", "from", "from_id", "text", "text_entities"))
_MAX_TS = 253402300799        # 9999-12-31


def sniff(head: bytes, filename: str) -> bool:
    """A chat export (``type``, ``id``, ``messages`` in a row) or a full export (``about`` then
    ``personal_information``)."""
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not body.startswith(b"{"):
        return False
    return bool(_FULL.match(body) or _SINGLE.search(body))


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    """Parse one ``result.json``; see the module docstring."""
    reader = _Reader(JsonStream(stream), ctx)
    try:
        yield from reader.document()
    except JsonSyntaxError as exc:
        yield from reader.flush()
        where = f"line {exc.line}"
        ctx.report.warn(f"the JSON breaks at {where} ({exc}); the {reader.rows.count} message(s) before it "
                        "were kept, the rest of the file is rejected.")
        js = reader.js
        yield Reject(where, f"not valid JSON: {exc}", js.buf[js.pos:js.pos + (64 << 10)])
    if reader.js.replaced:
        ctx.report.repairs += reader.js.replaced
        ctx.report.warn(f"{reader.js.replaced} invalid UTF-8 sequence(s) replaced with U+FFFD.")
    if reader.js.surrogates:
        ctx.report.repairs += reader.js.surrogates
        ctx.report.warn(SURROGATE_WARNING.format(n=reader.js.surrogates))


class _Reader:
    def __init__(self, js: JsonStream, ctx: ParseContext) -> None:
        self.js, self.ctx = js, ctx
        self.rows = Rows(ctx, "telegram")
        self.owner_ids = set(i for i in ctx.owner.platform_ids if i.startswith("tg:"))
        self.chats = 0
        self.files_missing = 0
        self.durations_unread = 0
        self.plain: _Plain | None = None
        self.base = 0           # the place in the file of the current chat's first message

    def document(self) -> Iterator:
        js, meta = self.js, {}
        found = False
        seen: dict[str, int] = {}
        for key in js.keys():
            if key == "messages":
                found = True
                yield from self.messages(meta, _repeated_messages(seen))
            elif key in ("chats", "left_chats") and js.peek() == "{":
                found = True
                name, listed = key + _nth(seen, key), {}
                for sub in js.keys():
                    if sub == "list" and js.peek() == "[":
                        lists = "list" + _nth(listed, sub)
                        for i in js.items():
                            yield from self.chat(f"{name}.{lists}[{i}] ")
                    else:
                        js.skip()
            elif key == "personal_information":
                info = js.value()
                if isinstance(info, dict) and info.get("user_id") is not None:
                    self.owner_ids.add(f"tg:user{info['user_id']}")
            elif key in ("name", "type", "id"):
                meta[key] = js.value()
            else:
                js.skip()
        if not found:
            raise InputError("this Telegram export holds neither 'messages' (one chat) nor 'chats' (the whole "
                             "account), so it is a variant commtrail does not know; nothing was read from it.",
                             file=self.ctx.source_path, where="the top-level object",
                             hint="Export again from Telegram Desktop (Settings > Advanced > Export Telegram data, "
                                  "format JSON), or leave this file out.")
        yield from self.flush()
        if self.durations_unread:
            self.ctx.report.warn(CALL_SECONDS_UNREAD.format(n=self.durations_unread, key="duration_seconds", more="",
                                                            kept="duration_seconds"))
        if self.files_missing:
            self.ctx.report.warn(f"{self.files_missing} photo(s)/file(s) named in the export are not beside it "
                                 "(exported without media, or moved); their messages are flagged attachment_missing.")

    def chat(self, prefix: str) -> Iterator:
        meta: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key in self.js.keys():
            if key == "messages":
                yield from self.messages(meta, prefix + _repeated_messages(seen))
            elif key in ("name", "type", "id"):
                meta[key] = self.js.value()
            else:
                self.js.skip()

    def messages(self, meta: dict, prefix: str) -> Iterator:
        """The records of one chat's messages. Plain text messages (most of them) are gathered and
        built column-wise with Arrow (:class:`_Plain`), giving what :meth:`message` gives; the others
        one by one. Each record's place is its message's place in the file, so every batch holds its
        records in the order of the file (:class:`Rows`)."""
        js, rows, base = self.js, self.rows, self.base
        self.chats += 1
        chat = _Chat(meta, self.owner_ids)
        self.plain = fast = _Plain(chat, prefix, base)
        take, batch = fast.take, max(1, self.ctx.batch_size)
        i = -1
        for i, m in js.values():
            if take(i, m):
                if len(fast) + rows.pending >= batch:
                    yield from self.flush()
                continue
            locator = f"{prefix}messages[{i}]"
            reason = self.message(m, chat, locator, base + i)
            if reason:
                yield Reject(locator, reason, js.last_text())
            elif len(fast) + rows.pending >= batch:
                yield from self.flush()
        self.hold_plain()
        self.base = base + i + 1

    def hold_plain(self) -> None:
        """Hand the gathered plain messages to the rows, to be written in order with the others."""
        if self.plain is not None and len(self.plain):
            self.plain.build(self.rows)

    def flush(self) -> Iterator:
        """Every record gathered so far, in the order of the file, as a batch."""
        self.hold_plain()
        yield from self.rows.batches()

    def message(self, m: Any, chat: _Chat, locator: str, place: int) -> str | None:
        """Add the record of one message (at ``place`` in the file); return the reason when it cannot be one."""
        if not isinstance(m, dict):
            return "not a message object"
        mtype = m.get("type")
        if mtype not in ("message", "service"):
            return f"unknown message type {mtype!r}"
        unix = m.get("date_unixtime")
        if unix is None:
            if self.rows.count == 0 and not (self.plain and len(self.plain)) and "date" in m:
                raise InputError(
                    "this Telegram export has no 'date_unixtime' (it was written by a Telegram Desktop older than "
                    "2021), and its 'date' is local time without a zone, so no message can be dated exactly; "
                    "nothing was read from it.", file=self.ctx.source_path, where=locator,
                    hint="Export the chat again with a current Telegram Desktop (format JSON).")
            return "no date_unixtime"
        seconds = whole_number(unix)
        if seconds is None:   # (a fraction or an infinity: int() cut or refused it)
            return f"date_unixtime {unix!r} is not a whole number of seconds"
        if not 0 <= seconds <= _MAX_TS:
            return f"date_unixtime {unix!r} is out of range"
        text = _text(m.get("text", ""))
        if text is None:
            return "text is neither a string nor a list of strings and entities"
        if mtype == "message":
            who, name = m.get("from_id"), m.get("from")
        else:
            who, name = m.get("actor_id"), m.get("actor")
        sender = f"tg:{who}" if who is not None else None
        flags: list[str] = []
        extra = {k: v for k, v in m.items() if k not in _READ}
        if chat.extra:
            extra.update(chat.extra)
        kind, duration = "message", None
        direction, recipients = chat.direction(sender)
        if mtype == "service":
            if m.get("action") == "phone_call":
                kind = _call_kind(direction, m.get("discard_reason"))
                duration = call_seconds(m.get("duration_seconds"))
                self.durations_unread += duration is None and m.get("duration_seconds") is not None
            else:
                kind, direction, recipients = "system", "unknown", []
        if "edited_unixtime" in m or "edited" in m:
            flags.append("edited")
        if "forwarded_from" in m:
            flags.append("forwarded")
        attachments = self.media(m, flags)
        self.rows.add(seconds * 1_000_000, str(m.get("date", "")), "s", kind, direction, sender,
                      name if isinstance(name, str) else None, recipients, chat.name, text, locator,
                      duration=duration, attachments=attachments or None, flags=flags, extra=extra, place=place)
        return None

    def media(self, m: dict, flags: list[str]) -> list[dict]:
        out = []
        for key in _MEDIA:
            path = m.get(key)
            if not isinstance(path, str) or not path:
                continue
            if path.startswith(_NOT_INCLUDED):
                flags.append("media_omitted")
                continue
            got = store_file(self.ctx, path, m.get("mime_type") if key == "file" else None)
            if got is None:
                self.files_missing += 1
                if "attachment_missing" not in flags:
                    flags.append("attachment_missing")
                got = {"name": path, "mime": None, "size": None, "sha256": None}
            out.append(got)
        return out


class _Plain:
    """Plain text messages of one chat (only the keys of _PLAIN, type message, fields of the plain
    types), gathered as columns of scalars (the message objects are let go at once: holding them
    would make every garbage collection walk them); ``build`` makes their records with Arrow."""

    def __init__(self, chat: _Chat, prefix: str, base: int) -> None:
        """``base``: the place in the file of the chat's first message."""
        self.chat, self.prefix, self.base = chat, prefix, base
        self.columns: tuple[list, ...] = ([], [], [], [], [], [], [])

    def __len__(self) -> int:
        return len(self.columns[0])

    def take(self, i: int, m: Any) -> bool:
        """Gather message ``i`` when it is plain; False leaves it to the general path."""
        if type(m) is not dict or not m.keys() <= _PLAIN or m.get("type") != "message":
            return False
        unix, who, mid, date, name = m.get("date_unixtime"), m.get("from_id"), m.get("id"), m.get("date", ""), m.get("from")
        if not (type(unix) is str and unix.isascii() and unix.isdigit() and len(unix) <= 11 and type(who) is str
                and type(mid) is int and -2**63 <= mid < 2**63 and type(date) is str
                and (name is None or type(name) is str)) or (len(unix) == 11 and int(unix) > _MAX_TS):
            return False
        text = m.get("text")
        if type(text) is not str:
            text = _text(text)
            if text is None:
                return False
        index, unixes, whos, mids, dates, names, texts = self.columns
        index.append(i)
        unixes.append(unix)
        whos.append(who)
        mids.append(mid)
        dates.append(date)
        names.append(name)
        texts.append(text)
        return True

    def build(self, rows: Rows) -> None:
        """Add the gathered messages to ``rows`` as one batch; the gathering starts again."""
        chat, n = self.chat, len(self)
        index, unixes, whos, mids, dates, names, texts = self.columns
        self.columns = ([], [], [], [], [], [], [])
        who = pa.array(whos, pa.string()).dictionary_encode()
        found = [chat.senders.get(w) or chat.sender(w) for w in who.dictionary.to_pylist()]
        pick = who.indices
        cols = {
            "ts_utc": pc.multiply(pc.cast(pa.array(unixes, pa.string()), pa.int64()), 1_000_000),
            "ts_local": pa.array(dates, pa.string()),
            "ts_precision": repeat_dict("s", n),
            "kind": repeat_dict("message", n),
            "direction": pa.array([f[1] for f in found], pa.string()).take(pick),
            "sender": pa.array([f[0] for f in found], pa.string()).take(pick),
            "sender_raw": pa.array(names, pa.string()),
            "recipients": pa.array([f[2] for f in found], pa.list_(pa.string())).take(pick),
            "conversation": repeat(chat.name, n),
            "body": pa.array(texts, pa.string()),
            "flags": empty_lists(n),
            "locator": joined(f"{self.prefix}messages[", pa.array(index, pa.int64()), "]"),
            "extra": joined(chat.extra_head, pa.array(mids, pa.int64()), "}"),
        }
        rows.add_batch(cols, n, np.asarray(index, dtype=np.int64) + self.base)


class _Chat:
    """One chat's name, its id and how direction and recipients are told in it."""

    def __init__(self, meta: dict, owner_ids: set[str]) -> None:
        self.id = meta.get("id")
        self.type = meta.get("type")
        name = meta.get("name")
        self.name = name if isinstance(name, str) and name else (
            f"Telegram chat {self.id}" if self.id is not None else "Telegram chat")
        self.owner_ids = owner_ids
        self.peer = f"tg:user{self.id}" if self.type in ("personal_chat", "bot_chat") and self.id is not None else None
        self.extra = {"chat_id": self.id, "chat_type": self.type}
        # The extra of a plain message, up to its id (keys in sorted order, as EXTRA writes them).
        self.extra_head = EXTRA.encode({**self.extra, "id": 0})[:-2]
        self.senders: dict[str, tuple[str, str, list[str]]] = {}
        owner = sorted(owner_ids)
        self.to_owner = owner[:1]
        # Where the counterpart of an outgoing message is not one person, the chat stands for them.
        self.to_chat = [self.peer] if self.peer else ([f"tg:chat{self.id}"] if self.id is not None else [])

    def sender(self, from_id: str) -> tuple[str, str, list[str]]:
        """(identifier, direction, recipients) of a message from ``from_id`` (remembered)."""
        ident = f"tg:{from_id}"
        got = self.senders[from_id] = (ident, *self.direction(ident))
        return got

    def direction(self, sender: str | None) -> tuple[str, list[str]]:
        if sender is not None and sender in self.owner_ids:
            return "outgoing", self.to_chat
        if self.owner_ids and sender is not None:
            return "incoming", self.to_owner
        if self.type == "saved_messages":
            return "outgoing", []
        if self.peer is not None and sender is not None:
            # In a one-to-one chat the export's chat id is the other person's user id.
            return ("incoming", self.to_owner) if sender == self.peer else ("outgoing", self.to_chat)
        return "unknown", []


def _call_kind(direction: str, reason: Any) -> str:
    """Outgoing, or for a call to the owner: missed, rejected (busy) or incoming."""
    if direction == "outgoing":
        return "outgoing"
    return {"missed": "missed", "busy": "rejected"}.get(reason, "incoming")


def _text(value: Any) -> str | None:
    """A message's text: a string, or a list of strings and entities (``{"type", "text"}``) joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                return None
        return "".join(parts)
    return None



def _nth(seen: dict[str, int], key: str) -> str:
    """Nothing the first time ``key`` is met in an object, ``#2`` the second time, and so on: the
    values of a key that a damaged export repeats get locators of their own
    (``chats#2.list[0] messages[3]``)."""
    seen[key] = seen.get(key, 0) + 1
    return f"#{seen[key]}" if seen[key] > 1 else ""


def _repeated_messages(seen: dict[str, int]) -> str:
    """The locator prefix of a ``messages`` array: none the first time in its object, ``messages#2 ``
    (before ``messages[0]``...) for a second one."""
    mark = _nth(seen, "messages")
    return f"messages{mark} " if mark else ""


register(Parser(NAME, VERSION, "Telegram Desktop export (result.json)", sniff, parse, uses_siblings=True))
