"""The e-mail record builder shared by the ``mbox`` and ``eml`` parsers.

One message's raw bytes become one record (or one :class:`Reject`): addresses, RFC 2047
subject, the date with its fallbacks, the body (text/plain preferred, HTML reduced to text
when it is the only body), attachments into the blob store, thread and Gmail / Thunderbird /
Maildir markers. The MIME work (charsets, encoded words, parts) is in ``mime``.

:func:`emit` drives it for a sequence of messages: serially for small inputs, and through a
pool of worker processes (bounded queue, file order kept) once an input proves large. The
workers import this module, so it imports only the standard library at module level; pyarrow
(for the batches) and lxml (for HTML bodies) are imported where they are used.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.email.mime import (HEADER_PARSE_MAX, Repairs, body_and_attachments, decode_words,
                                          header_decoded, header_text, split_head)

# --- tuning -------------------------------------------------------------------------------

# Inputs smaller than this are built in the calling process; past it a worker pool takes over.
POOL_MIN_BYTES = 8 << 20
WORKERS = 2
# A task sent to a worker holds this many bytes of messages (or this many messages) at most ...
CHUNK_BYTES = 2 << 20
CHUNK_MESSAGES = 400
# ... and at most this many tasks are in flight, so memory stays flat however large the input.
MAX_IN_FLIGHT = 2 * WORKERS
# A batch is yielded at ctx.batch_size rows or when its bodies and extras reach this many
# characters (e-mail rows are large: 50,000 of them would hold hundreds of MB).
BATCH_TEXT_CHARS = 4 << 20


@dataclass(frozen=True)
class RawMessage:
    """One message as the splitter found it: raw bytes (From_ line excluded) and where."""

    offset: int  # byte offset of the first header byte in the source
    data: bytes
    from_line: bytes | None = None  # the mbox separator line, line ending included
    unquote: bool = False  # mbox ``>From `` quoting applies (not when Content-Length was honoured)
    content_length: bool = False  # the message was delimited by its Content-Length header


@dataclass(frozen=True)
class Env:
    """What building a record needs from the context; small and picklable for the workers."""

    timezone: str
    owner_emails: frozenset[str]
    maildir_flags: str | None = None
    maildir_time: str | None = None  # the delivery time (epoch seconds) a Maildir file name starts with


# The columns a built row carries, in order; the rest are the same for every row of a source.
ROW_COLUMNS = ("ts_utc", "ts_local", "tz_source", "direction", "sender", "sender_raw", "recipients",
               "conversation", "subject", "body", "attachments", "flags", "locator", "extra", "ts_precision")


@dataclass
class Built:
    """The outcome of one message: a row (values of ROW_COLUMNS) or a reject, notes, repairs."""

    row: tuple | None
    reject: Reject | None
    notes: list[str]
    repairs: int
    text_chars: int = 0


# Notes a message can carry; each becomes one aggregated warning per source.
NOTES = {
    "date_no_zone": "had a date without a time zone (none, -0000 or an unknown name); read in the case time zone",
    "date_fallback_received": "had no usable Date: header; dated by the newest Received: header",
    "date_fallback_separator": "had no usable Date: or Received: date; dated by the mbox separator line",
    "date_fallback_maildir": "had no usable Date:, Received: or separator date; dated by the delivery time in "
                             "the Maildir file name",
    "date_nonstandard": "had a Date: in ISO form (2012-12-08 00:48) rather than RFC 5322; read as written "
                        "and flagged date_nonstandard",
    "undated": "had no date at all (no usable Date:, Received:, separator line or Maildir file name); kept "
               "as undated records (flag undated)",
    "date_dst": "had a local time in a daylight-saving change; the earlier instant was taken",
    "charset_unknown": "declared a character set Python does not know; decoded as UTF-8 (or windows-1252)",
    "charset_fallback": "had text that is not in its declared character set (or, undeclared, not UTF-8); "
                        "read as windows-1252 and flagged charset_fallback",
    "bad_header_line": "had a header line that is not a header field; kept raw in extra (bad_header_lines) "
                       "and flagged",
    "header_capped": f"had a header field longer than {HEADER_PARSE_MAX >> 10} KiB; its start was parsed, "
                     "the whole kept raw in extra (headers_capped)",
    "html_unparsed": "had an HTML body that could not be reduced to text; the HTML is kept as the body",
    "no_from": "had no From: address",
    "no_blob_store": "had attachments but no blob store was given; they were hashed, not stored",
    "content_length_ignored": "carried a Content-Length that does not end on a message boundary; split by separator lines",
}
# Notes about the file rather than its messages.
FILE_NOTES = {
    "mbox_leading_blank_lines": "The file begins with blank lines before its first separator line",
}


def dumps_extra(fields: dict[str, Any]) -> str | None:
    """``commtrail.timeline.schema.dumps_extra``, here so that workers need not import pyarrow
    (a test checks the two agree)."""
    if not fields:
        return None
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def aggregate_notes(counts: Counter, first: dict[str, str], ctx: ParseContext) -> None:
    """Turn per-message notes into one warning each (with a count and the first locator)."""
    for code in sorted(counts, key=lambda code: (code not in FILE_NOTES, code)):
        if code in FILE_NOTES:
            ctx.report.warn(f"{FILE_NOTES[code]} ({first[code]})")
        else:
            ctx.report.warn(f"{counts[code]} message(s) {NOTES.get(code, code)} (first at {first[code]})")


_MSGID = re.compile(r"<[^<>\s]+>")


def _msg_ids(value: str | None) -> list[str]:
    if not value:
        return []
    ids = _MSGID.findall(value)
    if not ids and value.strip():
        ids = [value.strip()]
    return ids


# --- dates --------------------------------------------------------------------------------

_ZONE_TOKEN = re.compile(r"([+-]\d{4}|[A-Za-z]{1,5})\s*(?:\([^)]*\))?\s*$")
_KNOWN_ZONES = {"UT", "UTC", "GMT", "Z", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT"}


def parse_date(text: str) -> datetime | None:
    """``email.utils.parsedate_to_datetime`` without its exceptions: None when unparseable.

    The result is aware when the text carries a zone, naive when it has none, ``-0000`` or a
    zone name the library does not know (it cannot tell those apart; :func:`zone_note` can).
    """
    if not text or not text.strip():
        return None
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
        return None
    if value is None or not (1 <= value.year <= 9999):
        return None
    return value


def zone_note(text: str) -> str:
    """Why a parsed date came back without a zone: ``none``, ``-0000`` or ``unknown NAME``."""
    m = _ZONE_TOKEN.search(text.strip())
    if not m:
        return "none"
    token = m.group(1)
    if token == "-0000":
        return "-0000"
    if token[0] in "+-" or token.upper() in _KNOWN_ZONES:
        return "none"
    if token.upper() in {"AM", "PM"}:
        return "none"
    return f"unknown {token}"


def _localise(naive: datetime, zone_name: str) -> tuple[datetime, str]:
    """A naive wall-clock time read in ``zone_name``: (aware time, tz_source)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    source = "case"
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
        source = "flag_nonexistent" if back != naive else "flag_ambiguous"
    return first, source


def _epoch_us(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000


# --- addresses, markers -------------------------------------------------------------------

def _addresses(values: list[str], notes: list[str]) -> list[tuple[str, str]]:
    """(lower-case address, decoded display name) pairs of address headers, empties skipped."""
    pairs = []
    for name, addr in getaddresses(values):
        addr = addr.strip()
        if not addr:
            continue
        pairs.append((addr.lower(), decode_words(name, notes).strip()))
    return pairs


def gmail_labels(value: str, notes: list[str]) -> list[str]:
    """Split ``X-Gmail-Labels`` (a comma list whose items may be quoted or encoded words)."""
    try:
        items = next(csv.reader([value], skipinitialspace=True))
    except (csv.Error, StopIteration):
        items = value.split(",")
    return [decode_words(item.strip(), notes) for item in items if item.strip()]


_MAILDIR_INFO = re.compile(r"[:;!]2,([A-Za-z]*)$")


def maildir_flags(source_path: str) -> str | None:
    """The flag letters of a Maildir file name (``...:2,FRS``), or None for another name."""
    base = re.split(r"[/\\]", source_path)[-1]
    m = _MAILDIR_INFO.search(base)
    return m.group(1) if m else None


# Maildir file names: ``TIME.UNIQUE.HOST[,S=size][:2,flags]``, TIME the delivery time in seconds
# since the epoch; UNIQUE as Dovecot, Courier, qmail and others write it (M#P#, P#Q#, R#, I#V#, #_#, #).
_MAILDIR_NAME = re.compile(r"(\d{9,10})\.(?:(?:[MPQRVI][0-9a-fA-F]+)+|\d+(?:_\d+)?)\.[^/\\]+$")


def maildir_time(source_path: str) -> str | None:
    """The delivery time (epoch seconds, as written) a Maildir file name starts with, or None."""
    base = re.split(r"[/\\!]", source_path)[-1]
    m = _MAILDIR_NAME.match(base)
    return m.group(1) if m else None


# A Date: written as ISO date and time (``2012-12-08 00:48``) rather than as RFC 5322 says.
_ISO_DATE = re.compile(r"\s*(\d{4})[-/](\d\d)[-/](\d\d)[ T](\d\d?):(\d\d)(?::(\d\d))?\s*"
                       r"(Z|UTC|GMT|[+-]\d\d:?\d\d)?\s*")


def _iso_date(text: str) -> tuple[datetime, str] | None:
    """(time, precision) of a Date: in ISO form; naive when it names no zone."""
    m = _ISO_DATE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, zone = m.groups()
    try:
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None
    if zone:
        offset = 0 if zone in ("Z", "UTC", "GMT") else \
            (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[-2:]))
        value = value.replace(tzinfo=timezone(timedelta(minutes=offset)))
    return value, "s" if second else "min"


def _date(date_raw: str | None, received: Iterable[str], from_line: bytes | None, env: Env,
          extra: dict[str, Any], notes: list[str], flags: list[str]) -> tuple[int | None, str | None, str | None,
                                                                             str | None]:
    """(ts_utc in µs, ts_local, tz_source, ts_precision) of a message, from its Date:, else a
    Date: in ISO form (flag ``date_nonstandard``), else the newest Received:, else the mbox
    separator line, else the delivery time in its Maildir file name. A message with none of
    them is kept undated: all four None and the flag ``undated``."""
    when, ts_local, source, precision = None, None, None, "s"
    if date_raw is not None:
        extra["date_header"] = date_raw
        when = parse_date(date_raw)
        if when is not None:
            ts_local, source = date_raw.strip(), "date"
        elif (iso := _iso_date(date_raw)) is not None:
            (when, precision), ts_local, source = iso, date_raw.strip(), "date_nonstandard"
            flags.append("date_nonstandard")
            notes.append("date_nonstandard")
    if when is None:
        newest = None
        for text in received:
            text = text.rpartition(";")[2].strip()
            parsed = parse_date(text) if text else None
            if parsed is None:
                continue
            key = parsed if parsed.tzinfo else _localise(parsed, env.timezone)[0]
            if newest is None or key > newest[0]:
                newest = (key, parsed, text)
        if newest is not None:
            when, ts_local, source = newest[1], newest[2], "received"
            notes.append("date_fallback_received")
    if when is None and from_line is not None:
        sep_text = _separator_date(from_line)
        parsed = parse_date(sep_text) if sep_text else None
        if parsed is not None:
            when, ts_local, source = parsed, sep_text, "separator"
            notes.append("date_fallback_separator")
    if when is None and env.maildir_time is not None:
        from zoneinfo import ZoneInfo

        when = datetime.fromtimestamp(int(env.maildir_time), timezone.utc)
        ts_local, source = when.astimezone(ZoneInfo(env.timezone)).replace(tzinfo=None).isoformat(), "maildir_name"
        extra["maildir_time"] = env.maildir_time
        notes.append("date_fallback_maildir")
    if when is None:
        extra["undated_reason"] = ("Date: header unparseable" if date_raw is not None else "no Date: header") + \
            ", and no Received:, separator or Maildir file name time to fall back on"
        flags.append("undated")
        notes.append("undated")
        return None, None, None, None
    extra["date_source"] = source
    if when.tzinfo is not None:
        return _epoch_us(when), ts_local, "source", precision
    extra["date_zone"] = zone_note(ts_local) if source != "date_nonstandard" else "none"
    when, tz_source = _localise(when, env.timezone)
    notes.append("date_no_zone")
    if tz_source != "case":
        notes.append("date_dst")
    return _epoch_us(when), ts_local, tz_source, precision


# --- one message --------------------------------------------------------------------------

_UNQUOTE = re.compile(rb"(?m)^>(>*From )")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _header_block(data: bytes) -> str:
    m = _HEADER_END.search(data)
    block = data[:m.start()] if m else data
    return block.decode("utf-8", "replace")


def build(raw: RawMessage, env: Env, sink: Any) -> Built:
    """Build the record of one message, or its reject; attachments go to ``sink``. Never raises."""
    notes: list[str] = []
    Repairs.reset()
    locator = f"byte {raw.offset}+{len(raw.data)}"
    try:
        return _build(raw, env, sink, notes, locator)
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the file
        return Built(None, Reject(locator, f"message could not be parsed ({type(exc).__name__}: {exc})",
                                  _header_block(raw.data)), notes, 0)


def _build(raw: RawMessage, env: Env, sink: Any, notes: list[str], locator: str) -> Built:
    data = raw.data
    extra: dict[str, Any] = {"raw_sha256": hashlib.sha256(data).hexdigest()}
    if not data or data.isspace():  # (isspace stops at the first other byte; strip would copy)
        return Built(None, Reject(locator, "empty message (a separator line with nothing after it)",
                                  (raw.from_line or b"").decode("utf-8", "replace")), notes, 0)
    if raw.unquote and b">From " in data:
        data, n = _UNQUOTE.subn(rb"\1", data)
        if n:
            extra["mbox_unquoted_lines"] = n
    msg, content = split_head(data)
    headers: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        headers.setdefault(name.lower(), []).append(value)
    if not headers:
        return Built(None, Reject(locator, "no header fields: not an e-mail message",
                                  _header_block(data)), notes, 0)
    charset = msg.get_content_charset()

    def first(name: str) -> str | None:
        values = headers.get(name)
        return header_text(values[0], charset, f"header {name}") if values else None

    if raw.from_line is not None:
        extra["mbox_from_line"] = raw.from_line.decode("utf-8", "replace").rstrip("\r\n")
    if raw.content_length:
        extra["content_length_delimited"] = True

    flags: list[str] = []
    received = (header_text(v, charset, "header received") for v in headers.get("received", []))  # read if needed
    ts_utc, ts_local, tz_source, precision = _date(first("date"), received, raw.from_line, env, extra, notes, flags)

    # People.
    from_raw = first("from")
    senders = _addresses([from_raw], notes) if from_raw else []
    sender = senders[0][0] if senders else None
    if sender is None:
        notes.append("no_from")
    names = {addr: name for addr, name in senders if name}
    if len(senders) > 1:
        extra["from_more"] = [addr for addr, _ in senders[1:]]
    recipients: dict[str, None] = {}  # ordered, and a linear lookup however many addresses
    for field in ("to", "cc", "bcc"):
        values = [header_text(v, charset, f"header {field}") for v in headers.get(field, [])]
        if not values:
            continue
        pairs = _addresses(values, notes)
        if field != "to":
            extra[field] = [addr for addr, _ in pairs]
        for addr, name in pairs:
            recipients.setdefault(addr)
            if name:
                names.setdefault(addr, name)
    if names:
        extra["names"] = names
    for field in ("reply-to", "sender"):
        value = first(field)
        if value:
            extra[field.replace("-", "_")] = value
    if sender in env.owner_emails:
        direction = "outgoing"
    elif any(addr in env.owner_emails for addr in recipients):
        direction = "incoming"
    else:
        direction = "unknown"

    # Subject and thread.
    subject, subject_raw = None, headers.get("subject", [None])[0]
    if subject_raw is not None:
        subject = header_decoded(subject_raw, charset, "header subject", notes)
        extra["subject_raw"] = header_text(subject_raw, charset)
    message_id = (_msg_ids(first("message-id")) or [None])[0]
    in_reply_to = _msg_ids(first("in-reply-to"))
    references = _msg_ids(first("references"))
    if message_id:
        extra["message_id"] = message_id
    if in_reply_to:
        extra["in_reply_to"] = in_reply_to[0]
    if references:
        extra["references"] = references
    thread = (first("x-gm-thrid") or "").strip()
    if thread:
        extra["gm_thrid"] = thread
    conversation = thread or (references[0] if references else None) or \
        (in_reply_to[0] if in_reply_to else None) or message_id

    labels_raw = first("x-gmail-labels")
    if labels_raw is not None:
        extra["gmail_labels"] = gmail_labels(labels_raw, notes)
        if any(label.casefold() == "drafts" for label in extra["gmail_labels"]):
            flags.append("draft")   # a Gmail draft was never sent: not a contact
    status = first("x-mozilla-status")
    if status is not None:
        extra["mozilla_status"] = status.strip()
        try:
            if int(status.strip(), 16) & 0x0008:
                flags.append("deleted")
        except ValueError:
            pass
    if env.maildir_flags is not None:
        extra["maildir_flags"] = env.maildir_flags
        if "T" in env.maildir_flags:
            flags.append("deleted")
        if "D" in env.maildir_flags and "draft" not in flags:
            flags.append("draft")

    body, facts, attachments = body_and_attachments(msg, content, sink, notes)
    extra.update(facts)
    repairs = _decoding_facts(extra, flags, notes)

    row = (ts_utc, ts_local, tz_source, direction, sender, from_raw, list(recipients), conversation,
           subject, body, attachments, flags, locator, dumps_extra(extra), precision)
    return Built(row, None, notes, repairs, len(body or "") + len(row[13] or ""))


def _decoding_facts(extra: dict[str, Any], flags: list[str], notes: list[str]) -> int:
    """Flags, notes and ``extra`` entries for what decoding repaired or left out (see
    ``mime.Repairs``); returns the number of repairs (pieces read by the fallback)."""
    fallbacks = list({(f["part"], f["raw_sha256"]): f for f in Repairs.fallbacks}.values())
    for code, key, value in (("charset_fallback", "charset_fallback", fallbacks),
                             ("bad_header_line", "bad_header_lines", Repairs.bad_lines),
                             ("header_capped", "headers_capped", Repairs.capped)):
        if value:
            flags.append(code)
            notes.append(code)
            extra[key] = value
    return len(fallbacks)


_SEP_DATE = re.compile(
    rb"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s+)?"
    rb"(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{1,2}:\d\d(?::\d\d)?"
    rb"(?:\s+(?:[+-]\d{4}|[A-Z]{1,5}))?\s+\d{4}(?:\s+[+-]\d{4})?"
    rb"|\d{1,2}\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}\s+\d{1,2}:\d\d(?::\d\d)?"
    rb"(?:\s+(?:[+-]\d{4}|[A-Z]{1,5}))?)")


_FROM_FIELD = re.compile(rb"From[ \t]*:")


def is_from_field(line: bytes | bytearray, pos: int = 0) -> bool:
    """True when the ``From `` at ``pos`` is the obsolete header form ``From  :`` (white space
    before the colon), not an mbox separator line."""
    return _FROM_FIELD.match(line, pos) is not None


def separator_has_date(line: bytes) -> bool:
    """True when an mbox ``From `` line carries a date (asctime, Gmail or RFC 2822 style)."""
    return _SEP_DATE.search(line) is not None


def _separator_date(line: bytes) -> str | None:
    m = _SEP_DATE.search(line)
    return m.group(0).decode("ascii") if m else None


# --- driving: serial or pooled ------------------------------------------------------------

_WORKER: dict[str, Any] = {}

# Run in each new worker before anything else. Importing commtrail.parsers (or this family's
# package) would import every parser module (and pyarrow with them, ~40 MB per process) although a
# worker needs only this module: so the worker gets bare package objects for commtrail.parsers and
# commtrail.parsers.email pointing at the same folders, and imports this module through them. (If
# this fails the worker dies, the pool is found broken and the messages are built in the main
# process instead.)
_WORKER_BOOT = """
import sys, types
import commtrail
for name, folder in packages:
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [folder]
        package.__package__ = name
        sys.modules[name] = package
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, package)
from commtrail.parsers.email.builder import _init_worker
_init_worker(*args)
"""


def _init_worker(env_fields: tuple, blob_root: str) -> None:
    from commtrail.blobs import DirBlobStore

    _WORKER["env"] = Env(*env_fields)
    _WORKER["sink"] = DirBlobStore(blob_root)


def _work(chunk: list[RawMessage]) -> list[Built]:
    env, sink = _WORKER["env"], _WORKER["sink"]
    return [build(raw, env, sink) for raw in chunk]


def _start_pool(env: Env, blob_root: str):
    import dataclasses
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(WORKERS, os.cpu_count() or 1)
    if workers < 2:
        return None
    fields = tuple(getattr(env, f.name) for f in dataclasses.fields(env))
    family = os.path.dirname(os.path.abspath(__file__))
    packages = (("commtrail.parsers", os.path.dirname(family)), ("commtrail.parsers.email", family))
    scope = {"packages": packages, "args": (fields, blob_root)}
    try:
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=exec, initargs=(_WORKER_BOOT, scope))
    except (OSError, ValueError):  # pragma: no cover - no processes on this system
        return None


class _Batcher:
    """Collects built rows into record batches; rejects pass; notes and repairs go to the report."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.rows: list[tuple] = []
        self.chars = 0
        self.notes: Counter = Counter()
        self.first: dict[str, str] = {}

    def note(self, code: str, where: str) -> None:
        self.notes[code] += 1
        self.first.setdefault(code, where)

    def add(self, built: Built) -> Iterator[Any]:
        where = built.row[12] if built.row is not None else built.reject.locator
        for code in dict.fromkeys(built.notes):
            self.note(code, where)
        self.ctx.report.repairs += built.repairs
        if built.reject is not None:
            yield built.reject
            return
        self.rows.append(built.row)
        self.chars += built.text_chars
        if len(self.rows) >= self.ctx.batch_size or self.chars >= BATCH_TEXT_CHARS:
            yield self.flush()

    def flush(self):
        from commtrail.timeline.schema import make_batch

        n = len(self.rows)
        columns: dict[str, Any] = dict(zip(ROW_COLUMNS, map(list, zip(*self.rows))))
        columns.update(channel=["email"] * n, kind=["message"] * n,
                       source_sha256=[self.ctx.source_sha256] * n, source_path=[self.ctx.source_path] * n,
                       parser=[self.ctx.parser_label] * n)
        self.rows, self.chars = [], 0
        return make_batch(columns)

    def finish(self) -> Iterator[Any]:
        if self.rows:
            yield self.flush()
        aggregate_notes(self.notes, self.first, self.ctx)


def env_for(ctx: ParseContext) -> Env:
    """The picklable part of a context that building records needs."""
    return Env(ctx.timezone, frozenset(e.lower() for e in ctx.owner.emails), maildir_flags(ctx.source_path),
               maildir_time(ctx.source_path))


@dataclass(frozen=True)
class Note:
    """A splitter's remark about the file (a note code and where), counted into the warnings."""

    code: str
    where: str


def emit(items: Iterable[RawMessage | Reject | Note], ctx: ParseContext, *,
         pool_min_bytes: int | None = None) -> Iterator[Any]:
    """Record batches and rejects of a sequence of raw messages, in the sequence's order.

    ``items`` may also hold Rejects (passed on as they come) and Notes (counted into the
    aggregated warnings). Messages are built in this process until ``pool_min_bytes`` bytes of
    them have been seen; after that, when the blob store is a directory the workers can write
    to, they go to a pool of worker processes in chunks, at most MAX_IN_FLIGHT chunks at a time,
    and the results are taken back in the order they were sent.
    """
    from commtrail.blobs import DirBlobStore

    env = env_for(ctx)
    sink = ctx.blobs
    batcher = _Batcher(ctx)
    threshold = POOL_MIN_BYTES if pool_min_bytes is None else pool_min_bytes
    poolable = isinstance(sink, DirBlobStore)
    pool = None
    pending: deque = deque()
    chunk: list[RawMessage] = []
    chunk_bytes = 0
    seen = 0

    def send(sent: list[RawMessage]) -> None:
        nonlocal pool
        future = None
        if pool is not None:
            try:
                future = pool.submit(_work, sent)
            except Exception:  # noqa: BLE001 - a broken pool: go on in this process
                pool.shutdown(wait=False, cancel_futures=True)
                pool = None
        pending.append((future, sent))

    def settle() -> Iterator[Any]:
        future, sent = pending.popleft()
        results = None
        if future is not None:
            try:
                results = future.result()
            except Exception:  # noqa: BLE001 - a worker died: build this chunk here instead
                results = None
        if results is None:
            results = [build(raw, env, sink) for raw in sent]
        for built in results:
            yield from batcher.add(built)

    try:
        for item in items:
            if isinstance(item, Reject):
                yield item
                continue
            if isinstance(item, Note):
                batcher.note(item.code, item.where)
                continue
            seen += len(item.data)
            if pool is None and poolable and seen > threshold:
                pool = _start_pool(env, str(sink.root))
                poolable = False
            if pool is None and not pending:
                yield from batcher.add(build(item, env, sink))
                continue
            chunk.append(item)
            chunk_bytes += len(item.data)
            if chunk_bytes >= CHUNK_BYTES or len(chunk) >= CHUNK_MESSAGES:
                send(chunk)
                chunk, chunk_bytes = [], 0
                while len(pending) >= MAX_IN_FLIGHT:
                    yield from settle()
        if chunk:
            send(chunk)
        while pending:
            yield from settle()
        yield from batcher.finish()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
