"""Facebook Messenger and Instagram "Download your information" messages in JSON
(``messages/inbox/<thread>/message_N.json``; Instagram's under ``your_instagram_activity/messages/``).

Meta splits a long thread over ``message_1.json`` (newest), ``message_2.json``, ... : each file is a
source of its own, and the records of all of them carry one conversation, ``<title> [<thread>]``
(the thread folder, from ``thread_path`` or the file's folder), so they read as one thread. Within a
file messages are newest first; each record keeps its place in the file as the locator
(``messages[17]``). The records are written in the reverse of the file's order, oldest first (from
the highest locator down to ``messages[0]``), whatever their kind, so the messages of one
millisecond come in the order they were sent. One file is read whole: Meta writes at most some ten thousand messages to each.
It is parsed by orjson, or by the standard library where orjson refuses it (see ``load_whole_json``).

Meta writes every UTF-8 byte of a text as its own ``\\u00XX`` escape (mojibake); each text whose
characters, taken as bytes, spell valid UTF-8 is decoded and counted.
The time is ``timestamp_ms`` (UTC, to the millisecond). Senders are ``fb:<name>`` or ``ig:<name>``
as the download writes the name: the owner's names (``messenger_names`` / ``instagram_names`` in
case.toml) tell outgoing from incoming; without them direction is unknown and a warning says so.
Unsent messages are flagged ``deleted``; reactions, shares and every other field stay in ``extra``;
calls carry ``call_duration`` (one that is no whole number of seconds from 0 leaves the duration
empty and the kind ``call``, the value kept in ``extra.call_duration_raw`` and counted). Photos,
videos, audio, files, GIFs and stickers are hashed from inside the thread's folder into blobs. A
file that fits one batch and has no media and nothing to reject (the usual case) is built
column-wise with Arrow in one go, the plain text messages at C level and the calls, unsent messages,
reactions and the like one by one into the columns; any other file builds its plain messages
column-wise and the others one by one, to the same records.

The channel is ``instagram`` when the path or a media path names Instagram
(``your_instagram_activity``, an ``instagram-…`` archive), else ``messenger``. The download of
end-to-end-encrypted Messenger chats (camelCase fields) is a different format and is refused.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Iterator
from itertools import compress
from itertools import repeat as repeat_value
from operator import itemgetter
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.platforms.common import (CALL_SECONDS_UNREAD, EXTRA, Mojibake, Rows, call_seconds, joined,
                                                lists_at, load_whole_json, read_whole, repeat, repeat_dict, store_file)
from commtrail.parsers.registry import Parser, register
from commtrail.timeline.schema import ATTACHMENT
from commtrail.timeline.utclocal import local_iso

NAME = "meta"
VERSION = "1"

_HEAD = re.compile(rb'^\s*\{\s*"(?:participants|threadName)"\s*:')
_MEDIA = ("photos", "videos", "audio_files", "files", "gifs")
_READ = frozenset(("sender_name", "timestamp_ms", "content", "type", "call_duration", "is_unsent",
                   *_MEDIA, "sticker"))
_ATTACHED = frozenset((*_MEDIA, "sticker"))
_SYSTEM_TYPES = frozenset(("Subscribe", "Unsubscribe"))
_PLAIN = frozenset(("sender_name", "timestamp_ms", "content", "is_geoblocked_for_viewer"))
# The extra of a plain message, by its is_geoblocked_for_viewer (None: the field is absent).
_GEO = {None: None, False: '{"is_geoblocked_for_viewer":false}', True: '{"is_geoblocked_for_viewer":true}'}
_GEO_TYPES = {bool, type(None)}
_MAX_MS = 253402300799999


def sniff(head: bytes, filename: str) -> bool:
    """A top-level object that starts with ``participants`` and holds ``timestamp_ms`` (or the
    encrypted chats' ``senderName``, which parse refuses by name)."""
    body = head.removeprefix(b"\xef\xbb\xbf")
    return bool(_HEAD.match(body)) and (b'"timestamp_ms"' in body or b'"senderName"' in body)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    """Parse one ``message_N.json``; see the module docstring."""
    doc, replaced = load_whole_json(read_whole(stream), ctx, "Messenger/Instagram file",
                                    "Download the file again from Meta's Accounts Centre.")
    thread = _Thread(doc, ctx)
    yield from thread.records()
    repaired = thread.fix.repaired
    if thread.durations_unread:
        ctx.report.warn(CALL_SECONDS_UNREAD.format(n=thread.durations_unread, key="call_duration",
                                                   more=" and their kind is call (answered or missed is unknown)",
                                                   kept="call_duration_raw"))
    if replaced > 0:
        ctx.report.repairs += replaced
        ctx.report.warn(f"{replaced} invalid UTF-8 sequence(s) replaced with U+FFFD.")
    if repaired:
        ctx.report.repairs += repaired
        ctx.report.warn(f"{repaired} text(s) were written byte by byte as \\u00XX characters (Meta's mojibake) "
                        "and were decoded as UTF-8.")


class _Thread:
    """One file of a thread: checks its variant, then builds every record."""

    def __init__(self, doc: Any, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.fix = fix = Mojibake()
        self.messages = messages = _check_variant(doc, ctx)
        uris = [m[k][0].get("uri", "") for m in messages[:200] if isinstance(m, dict)
                for k in _MEDIA if isinstance(m.get(k), list) and m[k] and isinstance(m[k][0], dict)]
        self.channel = _channel(ctx.source_path, uris)
        self.prefix = "ig:" if self.channel == "instagram" else "fb:"
        self.rows = Rows(ctx, self.channel, local_unit="ms")
        title = fix(doc.get("title")) if isinstance(doc.get("title"), str) else None
        self.folder = _thread_folder(doc.get("thread_path"), ctx.source_path)
        names = [fix(p["name"]) for p in doc.get("participants") or [] if isinstance(p, dict)
                 and isinstance(p.get("name"), str)]
        self.people = [self.prefix + n for n in names]
        label = title or ", ".join(names)
        self.conversation = f"{label or 'thread'} [{self.folder}]" if self.folder else (label or None)
        self.owner = {i for i in ctx.owner.platform_ids if i.startswith(self.prefix)}
        if not self.owner & set(self.people):
            ctx.report.warn(f"none of the {self.channel} names of the owner in case.toml "
                            f"({'messenger' if self.prefix == 'fb:' else 'instagram'}_names) is among this thread's "
                            "participants, so whether a message was sent or received is unknown.")
            self.owner = set()
        self.senders: dict[str, tuple[str, str, list[str]]] = {}
        self.durations_unread = 0

    def records(self) -> Iterator:
        """Rejects and record batches: the whole file column-wise when it can be (see the module
        docstring); else the plain messages column-wise, the others one by one, every
        batch in the order of time, the reverse of the file's (``messages[N-1]`` first, ``messages[0]``
        last; a record's place is ``-i``, see :class:`Rows`)."""
        plain: list[int] = []
        messages, rows, size = self.messages, self.rows, max(1, self.ctx.batch_size)
        if 0 < len(messages) <= size and self.column_batch(np.arange(len(messages) - 1, -1, -1), whole=True):
            yield from rows.batches()      # the whole file as one batch, built column-wise
            return
        is_plain = _plain_mask(messages)
        held = rows.pending
        for i in range(len(messages) - 1, -1, -1):
            if is_plain[i]:
                plain.append(i)
            else:
                yield from self.one(i)
                held = rows.pending
            if len(plain) + held >= size:
                yield from self.flush(plain)
                plain, held = [], rows.pending
        yield from self.flush(plain)

    def flush(self, plain: list[int]) -> Iterator:
        """The records gathered so far and those of the plain messages at ``plain``, as a batch."""
        if plain and not self.column_batch(plain):
            for i in plain:
                yield from self.one(i)
        yield from self.rows.batches()

    def one(self, i: int) -> Iterator[Reject]:
        reason = self.message(self.messages[i], i)
        if reason:
            yield Reject(f"messages[{i}]", reason, json.dumps(self.messages[i], ensure_ascii=False))

    def sender(self, name: str) -> tuple[str, str, str, list[str]]:
        """(name repaired, identifier, direction, recipients) of a message from ``name`` as written
        (remembered: a repaired name counts once per file)."""
        got = self.senders.get(name)
        if got is None:
            fixed = self.fix(name)
            ident = self.prefix + fixed
            direction = ("outgoing" if ident in self.owner else "incoming") if self.owner else "unknown"
            got = self.senders[name] = (fixed, ident, direction, [p for p in self.people if p != ident])
        return got

    def column_batch(self, index: list[int] | np.ndarray, whole: bool = False) -> bool:
        """Add the records of the messages at ``index`` column-wise: the plain ones (only keys of
        _PLAIN) at C level, the others without media one by one into the columns. False when one
        of them has media or is not a message after all (a field missing or of another type, a time
        out of range): then each goes the general way. ``whole``: ``index`` is the whole file,
        newest first."""
        items = self.messages[::-1] if whole else list(map(self.messages.__getitem__, index))
        n = len(items)
        if list(map(type, items)).count(dict) != n:
            return False
        plain = list(map(_PLAIN.issuperset, items))
        others = list(compress(range(n), map(operator.not_, plain)))
        if any(not _ATTACHED.isdisjoint(items[j]) for j in others):
            return False
        try:  # (C-level loops: map over the dicts' own methods)
            ms_list = list(map(itemgetter("timestamp_ms"), items))
            names = list(map(itemgetter("sender_name"), items))
            bodies = list(map(dict.get, items, repeat_value("content")))
            geo = list(map(dict.get, items, repeat_value("is_geoblocked_for_viewer")))
            for j in others:
                geo[j] = None
            if not set(map(type, geo)) <= _GEO_TYPES:   # 0 and 1 would find False and True in _GEO
                return False
            extra = list(map(_GEO.__getitem__, geo))
        except (KeyError, TypeError):
            return False
        try:  # (Arrow infers int64 only when every time is an int, never a bool; a name must be a text)
            ms, who = pa.array(ms_list), pa.array(names, pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return False
        if ms.type != pa.int64() or ms.null_count or who.null_count:
            return False
        span = pc.min_max(ms)
        if span["min"].as_py() < 0 or span["max"].as_py() > _MAX_MS:
            return False
        try:
            body = self.fix.column(bodies)      # (the last check: a content that is not a text)
        except TypeError:
            return False
        who = who.dictionary_encode()
        found = [self.sender(w) for w in who.dictionary.to_pylist()]
        pick = who.indices
        code = pick.to_numpy()
        mine = [f[2] for f in found]
        kinds, directions, flags = [], [], []
        durations: list[int | None] = [None] * n
        for j in others:
            kind, direction, durations[j], flag, more = self.details(items[j], mine[code[j]])
            kinds.append(kind)
            directions.append(direction)
            flags.append(flag)
            extra[j] = EXTRA.encode(more) if more else None
        ts = pc.multiply(ms, 1000)
        cols = {
            "ts_utc": ts,
            "ts_local": local_iso(ts, self.ctx.timezone, "ms"),
            "ts_precision": repeat_dict("ms", n),
            "kind": _dictionary(["message"], np.zeros(n, dtype=np.int32), others, kinds),
            "direction": _dictionary(mine, code, others, directions),
            "sender": pa.array([f[1] for f in found], pa.string()).take(pick),
            "sender_raw": pa.array([f[0] for f in found], pa.string()).take(pick),
            "recipients": pa.array([f[3] for f in found], pa.list_(pa.string())).take(pick),
            "conversation": repeat(self.conversation, n),
            "body": body,
            "duration_s": durations if others else None,
            # (the nulls as the merge of the plain records with the others made them, to the byte)
            "attachments": pa.array([None] * n, pa.list_(ATTACHMENT)) if others else None,
            "flags": lists_at(n, others, flags),
            "locator": _newest_first(n) if whole else joined("messages[", pa.array(index, pa.int64()), "]"),
            "extra": pa.array(extra, pa.string()),
        }
        self.rows.add_batch(cols, n, -np.asarray(index, dtype=np.int64))
        return True

    def message(self, m: Any, i: int) -> str | None:
        """Add the record of message ``i``; return the reason when it cannot be one."""
        locator = f"messages[{i}]"
        if not isinstance(m, dict):
            return "not a message object"
        ms = m.get("timestamp_ms")
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= _MAX_MS:
            return f"timestamp_ms {ms!r} is not a time"
        raw_name = m.get("sender_name") if isinstance(m.get("sender_name"), str) else None
        name, sender, direction, recipients = (self.sender(raw_name) if raw_name is not None
                                               else (None, None, "unknown", self.people))
        body = self.fix(m.get("content")) if isinstance(m.get("content"), str) else None
        kind, direction, duration, flags, extra = self.details(m, direction)
        attachments = self.media(m, flags)
        self.rows.add(ms * 1000, None, "ms", kind, direction, sender, name, recipients,
                      self.conversation, body, locator, duration=duration, attachments=attachments or None,
                      flags=flags, extra=extra, place=-i)
        return None

    def details(self, m: dict, direction: str) -> tuple[str, str, int | None, list[str], dict]:
        """(kind, direction, call duration, flags, extra) of a message that is not plain, its
        sender's direction given."""
        fix = self.fix
        flags: list[str] = []
        extra = {k: fix.deep(v) for k, v in m.items() if k not in _READ}
        if m.get("type") is not None:
            extra["type"] = m["type"]
        kind, duration = "message", None
        if m.get("type") == "Call" or "call_duration" in m:
            given = m.get("call_duration")
            duration = call_seconds(given)
            if duration is None and given is not None:   # no duration a call has: whether it was missed is unknown
                extra["call_duration_raw"] = self.fix.deep(given)
                self.durations_unread += 1
                kind = "call"
            else:
                kind = ("outgoing" if direction == "outgoing" else "missed" if not duration
                        else "incoming") if direction != "unknown" else "call"
        elif m.get("type") in _SYSTEM_TYPES:
            kind, direction = "system", "unknown"
        if m.get("is_unsent") is True:
            flags.append("deleted")
            extra["is_unsent"] = True
        return kind, direction, duration, flags, extra

    def media(self, m: dict, flags: list[str]) -> list[dict]:
        items = [x for k in _MEDIA if isinstance(m.get(k), list) for x in m[k]]
        if isinstance(m.get("sticker"), dict):
            items.append(m["sticker"])
        out = []
        for item in items:
            uri = item.get("uri") if isinstance(item, dict) else None
            if not isinstance(uri, str) or not uri:
                continue
            rel = _inside_thread(uri, self.folder)
            got = store_file(self.ctx, rel) if rel else None
            if got is None:
                if "attachment_missing" not in flags:
                    flags.append("attachment_missing")
                got = {"name": uri, "mime": None, "size": None, "sha256": None}
            else:
                got["name"] = uri
            out.append(got)
        return out



@functools.lru_cache(maxsize=4)
def _newest_first(n: int) -> pa.Array:
    """The locators of a whole file of ``n`` messages in the order its records are written
    (``messages[n-1]`` … ``messages[0]``): the same for every full file of a long thread."""
    return joined("messages[", pa.array(np.arange(n - 1, -1, -1)), "]")


def _dictionary(words: list[str], code: np.ndarray, others: list[int], theirs: list[str]) -> pa.DictionaryArray:
    """The column of ``words[code[j]]``, but ``theirs`` at the places ``others`` (the messages
    that are not plain), as a dictionary column whose dictionary lists the values of the plain
    messages first, then the others', each in the order they first come (as the batches of the
    plain messages and of the others make it when they are merged)."""
    known: dict[str, int] = {}
    full = np.array([known.setdefault(w, len(known)) for w in words], dtype=np.int32)[code]
    full[others] = [known.setdefault(w, len(known)) for w in theirs]
    plain = np.ones(len(full), dtype=bool)
    plain[others] = False
    order: list[int] = []
    for part in (full[plain], full[others]):
        seen, first = np.unique(part, return_index=True)
        order += [c for c in seen[np.argsort(first)].tolist() if c not in order]
    remap = np.zeros(len(known), dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    names = list(known)
    return pa.DictionaryArray.from_arrays(pa.array(remap[full]), pa.array([names[c] for c in order], pa.string()))


def _plain_mask(messages: list) -> list[bool]:
    """Per message: a dict with only keys of _PLAIN (checked at C level when all are dicts)."""
    if list(map(type, messages)).count(dict) == len(messages):
        return list(map(_PLAIN.issuperset, messages))
    return [type(m) is dict and m.keys() <= _PLAIN for m in messages]


def _check_variant(doc: Any, ctx: ParseContext) -> list:
    """The messages list, or a refusal naming what makes this file a variant commtrail cannot read."""
    hint = "Download your information again as JSON from Meta's Accounts Centre, or leave this file out."
    if isinstance(doc, dict) and ("threadName" in doc or _first_key(doc.get("messages"), "senderName")):
        raise InputError("this is the download of end-to-end-encrypted Messenger chats (fields such as senderName "
                         "and threadName), a different format that commtrail does not read yet; nothing was read "
                         "from it.", file=ctx.source_path, where="the top-level object",
                         hint="Keep the file with the case; its messages are not in the timeline.")
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        raise InputError("this file has no 'messages' list, so it is not a Messenger/Instagram thread commtrail "
                         "knows; nothing was read from it.", file=ctx.source_path, where="the top-level object",
                         hint=hint)
    messages = doc["messages"]
    if messages and isinstance(messages[0], dict) and "timestamp_ms" not in messages[0]:
        raise InputError("the first message has no 'timestamp_ms', so this is a variant of the Messenger/Instagram "
                         "download commtrail does not know; nothing was read from it.", file=ctx.source_path,
                         where="messages[0]", hint=hint)
    return messages


def _first_key(messages: Any, key: str) -> bool:
    return isinstance(messages, list) and bool(messages) and isinstance(messages[0], dict) and key in messages[0]


def _channel(source_path: str, uris: list[str]) -> str:
    path = source_path.lower().replace("\\", "/")
    if "your_instagram_activity" in path or re.search(r"(^|/)instagram[-_][^/!]*\.zip!", path) \
            or any(u.startswith("your_instagram_activity/") for u in uris):
        return "instagram"
    return "messenger"


def _thread_folder(thread_path: Any, source_path: str) -> str | None:
    """The thread's folder name: from ``thread_path`` (``inbox/jordan_123``) or the file's folder."""
    if isinstance(thread_path, str) and thread_path.strip("/"):
        return thread_path.strip("/").rsplit("/", 1)[-1]
    member = source_path.rsplit("!", 1)[-1].replace("\\", "/")
    parent = PurePosixPath(member).parent.name
    return parent or None


def _inside_thread(uri: str, folder: str | None) -> str | None:
    """A media path (written from the download's root) relative to the thread's folder."""
    if not folder:
        return None
    norm = "/" + uri.replace("\\", "/")
    mark = f"/{folder}/"
    at = norm.rfind(mark)
    return norm[at + len(mark):] if at >= 0 else None



register(Parser(NAME, VERSION, "Facebook Messenger / Instagram messages (message_N.json)", sniff, parse,
                uses_siblings=True))
