"""Signal Desktop messages as written by ``sigtop export-messages -f json``: one file per
conversation, a JSON array of Signal Desktop's own message objects.

The time is ``sent_at`` (ms since the epoch, UTC: when the sender's phone sent it);
``received_at_ms`` stays in ``extra``. ``type`` ``incoming`` / ``outgoing`` gives the direction;
the sender is ``source`` (a phone number, normalised) or, without one, ``signal:<service id>``.
In a one-to-one conversation (one other sender in the file) outgoing messages go to that sender.
``editHistory`` (every earlier version of an edited message), ``reactions``, ``quote`` and every
other field stay in ``extra``; an edited message is flagged ``edited``, one deleted for everyone
``deleted``. Calls with ``callHistoryDetails`` become records of kind outgoing / incoming / missed
/ rejected; other notices (group changes, safety-number changes, timers) are ``system``.
Attachments are hashed from beside the file when sigtop's ``path`` or the ``fileName`` is there.
The conversation is the file's name (sigtop names each file after its conversation). A file is
read whole: sigtop writes one per conversation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.platforms.common import Rows, load_whole_json, read_whole, store_file, store_sibling
from commtrail.parsers.registry import Parser, register
from commtrail.timeline.identity import normalise_many

NAME = "signal"
VERSION = "1"

_HEAD = re.compile(rb"^\s*\[\s*\{")
_READ = frozenset(("type", "sent_at", "body", "source", "sourceServiceId", "sourceUuid", "attachments"))
_MAX_MS = 253402300799999


def sniff(head: bytes, filename: str) -> bool:
    """A JSON array of objects with Signal Desktop's ``sent_at`` and ``conversationId``."""
    body = head.removeprefix(b"\xef\xbb\xbf")
    return bool(_HEAD.match(body)) and b'"conversationId"' in body and b'"sent_at"' in body


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    """Parse one sigtop JSON file; see the module docstring."""
    messages, replaced = load_whole_json(read_whole(stream), ctx, "Signal (sigtop) file",
                                         "Export the conversation again with sigtop export-messages -f json.")
    if not isinstance(messages, list) or (messages and isinstance(messages[0], dict) and "sent_at" not in messages[0]):
        raise InputError("this file is not a list of Signal Desktop messages with 'sent_at', so it is a variant "
                         "commtrail does not know; nothing was read from it.", file=ctx.source_path,
                         where="the top-level value", hint="Export the conversation with sigtop export-messages -f json.")
    yield from _Conversation(messages, ctx).records()
    if replaced > 0:
        ctx.report.repairs += replaced
        ctx.report.warn(f"{replaced} invalid UTF-8 sequence(s) replaced with U+FFFD.")


class _Conversation:
    def __init__(self, messages: list, ctx: ParseContext) -> None:
        self.messages, self.ctx = messages, ctx
        self.rows = Rows(ctx, "signal", local_unit="ms")
        path = ctx.source_path.rsplit("!", 1)[-1]
        name = (PureWindowsPath(path) if "\\" in path else PurePosixPath(path)).name
        self.conversation = name[:-5] if name.lower().endswith(".json") else name
        raws = list(dict.fromkeys(r for m in messages if isinstance(m, dict) and m.get("type") == "incoming"
                                  for r in [_raw_sender(m)] if r))
        phones = [r for r in raws if not r.startswith("signal:")]
        self.ids = {r: r for r in raws} | dict(zip(phones, normalise_many(phones, ctx.phone_region)))
        peers = sorted(set(self.ids.values()))
        self.peer = peers if len(peers) == 1 else []
        self.missing = 0

    def records(self) -> Iterator:
        for i, m in enumerate(self.messages):
            reason = self.message(m, f"messages[{i}]")
            if reason:
                yield Reject(f"messages[{i}]", reason, json.dumps(m, ensure_ascii=False))
            elif self.rows.full():
                yield from self.rows.batches()
        yield from self.rows.batches()
        if self.missing:
            self.ctx.report.warn(f"{self.missing} attachment(s) are not beside the file (export them with sigtop "
                                 "export-attachments into the same folder); their messages are flagged "
                                 "attachment_missing.")

    def message(self, m: Any, locator: str) -> str | None:
        if not isinstance(m, dict):
            return "not a message object"
        ms = m.get("sent_at")
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= _MAX_MS:
            return f"sent_at {ms!r} is not a time"
        mtype = m.get("type")
        raw = _raw_sender(m)
        extra = {k: v for k, v in m.items() if k not in _READ}
        extra["type"] = mtype
        flags: list[str] = []
        body = m.get("body") if isinstance(m.get("body"), str) else None
        duration = None
        if mtype == "incoming":
            kind, direction, sender, recipients = "message", "incoming", self.ids.get(raw) if raw else None, []
        elif mtype == "outgoing":
            kind, direction, sender, recipients = "message", "outgoing", None, list(self.peer)
        elif mtype == "call-history" and isinstance(m.get("callHistoryDetails"), dict):
            kind, direction, duration = _call(m["callHistoryDetails"])
            sender = self.peer[0] if direction == "incoming" and self.peer else None
            recipients = list(self.peer) if direction == "outgoing" else []
        else:
            kind, direction, sender, recipients = "system", "unknown", None, []
        if m.get("editHistory") or m.get("editMessageTimestamp"):
            flags.append("edited")
        if m.get("deletedForEveryone") is True:
            flags.append("deleted")
        attachments = self.files(m.get("attachments"), flags)
        self.rows.add(ms * 1000, None, "ms", kind, direction, sender, raw, recipients, self.conversation, body,
                      locator, duration=duration, attachments=attachments or None, flags=flags, extra=extra)
        return None

    def files(self, items: Any, flags: list[str]) -> list[dict]:
        out = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            name = item.get("fileName") if isinstance(item.get("fileName"), str) else None
            path = item.get("path") if isinstance(item.get("path"), str) else None
            got = (store_file(self.ctx, path, item.get("contentType")) if path else None) or \
                (store_sibling(self.ctx, name) if name else None)
            if got is None:
                self.missing += 1
                if "attachment_missing" not in flags:
                    flags.append("attachment_missing")
                size = item.get("size")
                got = {"name": name or path, "mime": item.get("contentType") if isinstance(item.get("contentType"), str)
                       else None, "size": size if isinstance(size, int) and not isinstance(size, bool) else None,
                       "sha256": None}
            out.append(got)
        return out


def _raw_sender(m: dict) -> str | None:
    for key in ("source", "sourceServiceId", "sourceUuid"):
        value = m.get(key)
        if isinstance(value, str) and value:
            return value if key == "source" else f"signal:{value}"
    return None


def _call(details: dict) -> tuple[str, str, int | None]:
    """(kind, direction, duration) of ``callHistoryDetails``."""
    incoming = details.get("wasIncoming") is True
    accepted, ended = details.get("acceptedTime"), details.get("endedTime")
    duration = None
    if isinstance(accepted, int) and isinstance(ended, int) and 0 <= ended - accepted < 2**31 * 1000:
        duration = (ended - accepted) // 1000
    if not incoming:
        return "outgoing", "outgoing", duration
    if details.get("wasDeclined") is True:
        return "rejected", "incoming", None
    return ("incoming", "incoming", duration) if accepted else ("missed", "incoming", None)


register(Parser(NAME, VERSION, "Signal Desktop messages exported by sigtop (JSON)", sniff, parse, uses_siblings=True))
