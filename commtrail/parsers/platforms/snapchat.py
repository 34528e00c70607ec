"""Snapchat "My Data" ``chat_history.json``, in its two shapes.

Older downloads group chats under "Received Saved Chat History", "Sent Saved Chat History" (and
the "Unsaved" pairs): each chat has ``From`` or ``To``, ``Media Type``, ``Created``
(``YYYY-MM-DD HH:MM:SS UTC``) and ``Text``. Newer ones key each conversation by its id (a
username or a group id): each chat has ``From``, ``IsSender``, ``Content``, ``Created``,
``Created(microseconds)`` (checked against ``Created`` to tell its unit), ``Conversation Title``,
``IsSaved`` and ``Media IDs``. Users are ``snap:<username>``. Media are not linked (the download
keeps them in another folder, named by date and id); their ids stay in ``extra``.

Every source gets a warning that the download holds only part of the conversation (saved chats
and recent ones; no snaps, no chats that expired unsaved), so no count from it reads as complete.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, BinaryIO

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.platforms.common import Rows, read_whole
from commtrail.parsers.registry import Parser, register

NAME = "snapchat"
VERSION = "1"

PARTIAL = ("Snapchat's chat_history.json holds only part of the conversation: chats that were saved and recent "
           "ones, no snaps and no chats that expired unsaved. Counts from this file are a lower bound, not the "
           "whole contact.")
_OLD_KEY = re.compile(r"^(Received|Sent) (Saved|Unsaved) Chat History$")
_CREATED = "%Y-%m-%d %H:%M:%S %Z"
_GROUP_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def sniff(head: bytes, filename: str) -> bool:
    """A JSON object of chats with Snapchat's ``Media Type`` and ``Created`` fields."""
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return body.startswith(b"{") and b'"Media Type"' in body and b'"Created"' in body and (
        b"Chat History" in body or b'"IsSender"' in body)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    """Parse one ``chat_history.json``; see the module docstring."""
    data = read_whole(stream)
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"this Snapchat chat history is not valid UTF-8 JSON ({exc}); nothing was read from it.",
                         file=ctx.source_path, where="the whole file",
                         hint="Download your data from Snapchat again (JSON format).") from None
    if not isinstance(doc, dict) or not all(isinstance(v, list) for v in doc.values()):
        raise InputError("this chat_history.json is not an object of chat lists, a shape commtrail does not know; "
                         "nothing was read from it.", file=ctx.source_path, where="the top-level object",
                         hint="Download your data from Snapchat again (JSON format), or leave this file out.")
    ctx.report.warn(PARTIAL)
    older = any(_OLD_KEY.match(k) for k in doc)
    rows = Rows(ctx, "snapchat", local_unit="s" if older else "ms")
    for key, chats in doc.items():
        old = _OLD_KEY.match(key)
        for i, chat in enumerate(chats):
            locator = f"{json.dumps(key, ensure_ascii=False)}[{i}]"
            reason = _add(rows, chat, key, old, locator)
            if reason:
                yield Reject(locator, reason, json.dumps(chat, ensure_ascii=False))
            elif rows.full():
                yield from rows.batches()
    yield from rows.batches()


def _add(rows: Rows, chat: Any, key: str, old: re.Match | None, locator: str) -> str | None:
    if not isinstance(chat, dict):
        return "not a chat object"
    created = chat.get("Created")
    try:
        when = datetime.strptime(created, _CREATED).replace(tzinfo=timezone.utc) if isinstance(created, str) else None
    except ValueError:
        when = None
    if when is None or not created.endswith(" UTC"):
        return f"Created {created!r} is not a time such as '2024-03-01 18:30:05 UTC'"
    us, precision = int(when.timestamp()) * 1_000_000, "s"
    fine = chat.get("Created(microseconds)")
    if isinstance(fine, int) and not isinstance(fine, bool):
        for scale in (1000, 1):        # despite its name, often milliseconds: the one that agrees with Created
            if 0 <= fine * scale - us < 1_000_000:
                us, precision = fine * scale, "ms"
                break
    extra = {k: v for k, v in chat.items() if k not in ("From", "To", "Text", "Content", "Created", "IsSender")}
    if old:
        outgoing = old.group(1) == "Sent"
        other = chat.get("To") if outgoing else chat.get("From")
        body = chat.get("Text")
        extra["history"] = key
        conversation = f"Snapchat {other}" if isinstance(other, str) else "Snapchat"
    else:
        sender_flag = chat.get("IsSender")
        if not isinstance(sender_flag, bool):
            return "IsSender is not true or false"
        outgoing = sender_flag
        other = chat.get("From")        # the sender: the owner's own username when IsSender
        body = chat.get("Content")
        title = chat.get("Conversation Title")
        conversation = f"Snapchat {title}" if isinstance(title, str) and title else f"Snapchat {key}"
        extra["conversation_id"] = key
    ident = f"snap:{other}" if isinstance(other, str) and other else None
    raw = other if isinstance(other, str) else None
    if outgoing:
        # the counterpart of a sent chat: its To (older shape), or the conversation when it is one user
        peer = ident if old else (None if _GROUP_ID.match(key) else f"snap:{key}")
        direction, recipients = "outgoing", [peer] if peer else []
        sender, raw = (None, None) if old else (ident, raw)
    else:
        direction, sender, recipients = "incoming", ident, []
    rows.add(us, None, precision, "message", direction, sender, raw,
             recipients, conversation, body if isinstance(body, str) else None, locator, flags=[], extra=extra)
    return None


register(Parser(NAME, VERSION, "Snapchat chat_history.json (My Data)", sniff, parse))
