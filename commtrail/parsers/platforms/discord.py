"""Discord's data package: ``messages/c<channel id>/messages.json`` (and the older
``messages.csv``), one file per channel the owner wrote in.

Each message has ``ID`` (a snowflake, which itself holds the time to the millisecond),
``Timestamp``, ``Contents`` and ``Attachments`` (links to Discord's servers, kept in ``extra``, never
fetched). The time is the one the ID holds when it agrees with ``Timestamp`` (to the millisecond),
else ``Timestamp`` (UTC, as Discord writes it). The ``channel.json`` beside the file names the
channel and its members (``discord:<user id>``); the owner's ids (``discord_ids`` in case.toml)
are left out of the recipients and are the sender.

The package holds only the messages the owner sent: every record is outgoing, and every source
gets a warning that the other side's messages are not in it, so no count reads as the whole
conversation.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, BinaryIO

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext, Reject, read_full
from commtrail.parsers.platforms.common import Rows, load_json, read_whole, whole_number
from commtrail.parsers.registry import Parser, register

NAME = "discord"
VERSION = "1"

PARTIAL = ("Discord's data package holds only the messages the owner sent, in the channels the owner wrote in; "
           "the other side's messages are not in it. This source shows one side of the conversation only.")
_CSV_HEADER = "ID,Timestamp,Contents,Attachments"
_JSON_HEAD = re.compile(rb'^\s*\[\s*\{\s*"ID"\s*:')
_DISCORD_EPOCH_MS = 1420070400000
CSV_FIELD_LIMIT = 64 << 20    # Python's csv refuses cells over 128 KiB by default


def sniff(head: bytes, filename: str) -> bool:
    """A JSON array of ``ID``/``Timestamp``/``Contents`` objects, or the CSV with that header."""
    body = head.removeprefix(b"\xef\xbb\xbf")
    if body.startswith(_CSV_HEADER.encode()) and body[len(_CSV_HEADER):len(_CSV_HEADER) + 1] in (b"\r", b"\n", b""):
        return True
    return bool(_JSON_HEAD.match(body)) and b'"Timestamp"' in body and b'"Contents"' in body


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    """Parse one channel's messages; see the module docstring."""
    text = read_whole(stream).decode("utf-8-sig", "replace")
    items = _csv_rows(text) if text.startswith(_CSV_HEADER) else _json_rows(text, ctx)
    ctx.report.warn(PARTIAL)
    channel = _channel(ctx)
    owner = sorted(i for i in ctx.owner.platform_ids if i.startswith("discord:"))
    members = [f"discord:{r}" for r in channel.get("recipients") or [] if isinstance(r, (str, int))]
    recipients = [m for m in members if m not in owner] if owner else []
    conversation = _conversation(channel, ctx)
    sender = owner[0] if len(owner) == 1 else None
    extra_channel = {k: channel[k] for k in ("id", "type", "name", "guild", "recipients") if k in channel}
    rows = Rows(ctx, "discord", local_unit="ms")
    for locator, item, raw in items:
        reason = _add(rows, item, locator, sender, recipients, conversation, extra_channel)
        if reason:
            yield Reject(locator, reason, raw)
        elif rows.full():
            yield from rows.batches()
    yield from rows.batches()


def _json_rows(text: str, ctx: ParseContext) -> list[tuple[str, Any, str]]:
    items = load_json(text, ctx, "Discord messages.json", "Extract the data package again.")
    if not isinstance(items, list):
        raise InputError("this messages.json is not a list of messages, a shape commtrail does not know; nothing "
                         "was read from it.", file=ctx.source_path, where="the top-level value",
                         hint="Extract the data package again, or leave this file out.")
    return [(f"messages[{i}]", item, json.dumps(item, ensure_ascii=False)) for i, item in enumerate(items)]


def _csv_rows(text: str) -> list[tuple[str, Any, str]]:
    """(locator, message or the reason it is none, raw text) of each CSV record; a CSV error ends
    the reading, and the rest of the text becomes one reject."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    out: list[tuple[str, Any, str]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    n, done = 0, reader.line_num
    try:
        for n, row in enumerate(reader, 1):
            raw = ",".join(row)
            item = dict(zip(header, row)) if len(row) == len(header) else None
            out.append((f"record {n}", item if item is not None else f"{len(row)} fields, not {len(header)}", raw))
            done = reader.line_num
    except csv.Error as exc:
        out.append((f"record {n + 1} (line {done + 1})", f"not readable as CSV ({exc}); the rest of the file "
                    "is kept here", _rest(text, done + 1)))
    return out


def _rest(text: str, line: int) -> str:
    """The text from line ``line`` (1-based) on."""
    pos = 0
    for _ in range(max(0, line - 1)):
        nxt = text.find("\n", pos)
        if nxt < 0:
            return ""
        pos = nxt + 1
    return text[pos:]


def _add(rows: Rows, item: Any, locator: str, sender: str | None, recipients: list[str], conversation: str,
         extra_channel: dict) -> str | None:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return "not a message object"
    stamp = item.get("Timestamp")
    when = _timestamp(stamp)
    if when is None:
        return f"Timestamp {stamp!r} is not a time"
    us, precision = when, "s"
    snowflake = _snowflake_ms(item.get("ID"))
    if snowflake is not None and abs(snowflake * 1000 - when) < 1_000_000:
        us, precision = snowflake * 1000, "ms"
    body = item.get("Contents")
    links = item.get("Attachments")
    extra = {"id": str(item.get("ID")), "timestamp": stamp, "channel": extra_channel}
    if isinstance(links, str) and links.strip():
        extra["attachment_urls"] = links.split()
    rows.add(us, None, precision, "message", "outgoing", sender, None, recipients, conversation,
             body if isinstance(body, str) else None, locator, flags=[], extra=extra)
    return None


def _timestamp(value: Any) -> int | None:
    """µs since the epoch of a Discord ``Timestamp`` (UTC when it names no offset)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return int(when.timestamp()) * 1_000_000 + when.microsecond
    except (ValueError, OverflowError, OSError):
        return None


def _snowflake_ms(value: Any) -> int | None:
    """The time in milliseconds a snowflake ``ID`` holds: a whole number (or its ASCII digits) from 1
    below 2**63; None for anything else (a fraction, an infinity, a text), which is no snowflake."""
    number = whole_number(value)
    return (number >> 22) + _DISCORD_EPOCH_MS if number is not None and 0 < number < 2**63 else None


def _channel(ctx: ParseContext) -> dict:
    """The ``channel.json`` beside the file, or {} when there is none or it cannot be read."""
    if ctx.open_relative is None:
        return {}
    try:
        with ctx.open_relative("channel.json") as stream:
            data = json.loads(read_full(stream, 1 << 20).decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _conversation(channel: dict, ctx: ParseContext) -> str:
    name, cid = channel.get("name"), channel.get("id")
    guild = channel.get("guild") if isinstance(channel.get("guild"), dict) else {}
    if isinstance(name, str) and name:
        return f"Discord {guild.get('name')} #{name}" if guild.get("name") else f"Discord #{name}"
    if cid is not None:
        return f"Discord channel {cid}"
    folder = ctx.source_path.replace("\\", "/").rsplit("/", 2)
    return f"Discord channel {folder[-2][1:]}" if len(folder) >= 2 and folder[-2].startswith("c") else "Discord"


register(Parser(NAME, VERSION, "Discord data package messages (messages.json / messages.csv)", sniff, parse))
