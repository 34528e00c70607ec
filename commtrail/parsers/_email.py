"""The e-mail record builder shared by the ``mbox`` and ``eml`` parsers.

One message's raw bytes become one record (or one :class:`Reject`): addresses, RFC 2047
subject, the date with its fallbacks, the body (text/plain preferred, HTML reduced to text
when it is the only body), attachments streamed into the blob store, thread and Gmail /
Thunderbird / Maildir markers.

:func:`emit` drives it for a sequence of messages: serially for small inputs, and through a
pool of worker processes (bounded queue, file order kept) once an input proves large. The
workers import this module, so it imports only the standard library at module level; pyarrow
(for the batches) and lxml (for HTML bodies) are imported where they are used.
"""

from __future__ import annotations

import binascii
import codecs
import csv
import hashlib
import json
import os
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from commtrail.parsers.base import ParseContext, Reject

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


# The columns a built row carries, in order; the rest are the same for every row of a source.
ROW_COLUMNS = ("ts_utc", "ts_local", "tz_source", "direction", "sender", "sender_raw", "recipients",
               "conversation", "subject", "body", "attachments", "flags", "locator", "extra")


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
    "date_dst": "had a local time in a daylight-saving change; the earlier instant was taken",
    "charset_unknown": "declared a character set Python does not know; decoded as UTF-8",
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


# --- text helpers -------------------------------------------------------------------------

class _Repairs:
    """Counts replacement characters inserted while decoding (per process, per message)."""

    count = 0


def _count_replace(exc: UnicodeDecodeError) -> tuple[str, int]:
    _Repairs.count += 1
    return "\ufffd", exc.end


codecs.register_error("commtrail-email-replace", _count_replace)

# Labels mail software writes that Python does not know, or knows under a narrower name.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "x-windows-949": "cp949",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6", "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman", "x-sjis": "shift_jis", "windows-874": "cp874",
    "ansi_x3.4-1968": "ascii", "us-ascii": "ascii", "unknown-8bit": "utf-8", "x-unknown": "utf-8",
    "unknown": "utf-8", "utf8": "utf-8", "default": "utf-8",
}


def _codec(charset: str | None) -> tuple[str, bool]:
    """(Python codec name, known) for a MIME charset label; unknown labels read as UTF-8."""
    if not charset:
        return "utf-8", True
    label = charset.strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name, True
    except (LookupError, ValueError):
        return "utf-8", False


def decode_bytes(data: bytes, charset: str | None, notes: list[str] | None = None) -> str:
    """Decode ``data`` in its declared charset; bytes that do not decode become U+FFFD (counted).

    Bytes declared ASCII (or undeclared) that are not ASCII are tried as UTF-8 first.
    """
    codec, known = _codec(charset)
    if not known and notes is not None:
        notes.append("charset_unknown")
    if codec == "ascii":
        codec = "utf-8"  # a superset: 8-bit text labelled ASCII is most often UTF-8
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return data.decode(codec, "commtrail-email-replace")
    except LookupError:  # pragma: no cover - lookup succeeded above
        return data.decode("utf-8", "commtrail-email-replace")


def _header_str(value: Any, charset: str | None = None) -> str:
    """A header value as text, unfolded. Raw 8-bit bytes (kept by the parser as surrogates) are
    read as UTF-8, else in the message's declared charset, else as UTF-8 with U+FFFD (counted)."""
    value = str(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        data = value.encode("ascii", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            codec, known = _codec(charset)
            try:
                value = data.decode(codec) if known else data.decode("utf-8", "commtrail-email-replace")
            except UnicodeDecodeError:
                value = data.decode("utf-8", "commtrail-email-replace")
    return _FOLD.sub("", value)


_FOLD = re.compile(r"\r?\n(?=[ \t])|\r?\n$")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]*")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _word_bytes(enc: str, text: str) -> bytes:
    raw = text.encode("ascii", "surrogateescape")
    if enc in "bB":  # lenient about padding, as mail software writes it
        raw = raw.rstrip(b"=")
        if len(raw) % 4 == 1:
            raw = raw[:-1]
        return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
    return _Q_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"_", b" "))


def decode_words(value: str, notes: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words in a header value (any charset).

    White space between two encoded words is dropped, adjacent words of one charset are joined
    before decoding (a character may be split across them), everything else stays as written.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_cs: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_cs
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_cs, notes))
        pending, pending_cs = [], None

    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos:m.start()]
        if gap and not (pending and _BETWEEN_WORDS.fullmatch(gap)):
            flush()
            out.append(gap)
        charset = m.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        if pending and charset.lower() != (pending_cs or "").lower():
            flush()
        pending_cs = charset
        try:
            pending.append(_word_bytes(m.group(2), m.group(3)))
        except (ValueError, UnicodeError):
            flush()
            out.append(m.group(0))
        pos = m.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


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


# --- MIME: bodies and attachments ---------------------------------------------------------

_BLOCK_TAGS = ("p", "div", "br", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5",
               "h6", "blockquote", "pre", "hr", "section", "article", "header", "footer", "dd",
               "dt", "dl", "address", "center", "form", "fieldset")
_DROPPED_TAGS = ("script", "style", "head")


def html_to_text(html: str) -> str | None:
    """Readable text of an HTML body: block elements end lines, table cells end with a tab,
    scripts, styles and the head dropped. None when the HTML cannot be parsed at all."""
    import lxml.etree
    import lxml.html

    try:
        parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
        doc = lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=parser)
    except (lxml.etree.LxmlError, ValueError):
        return None
    out: list[str] = []
    skip = 0
    for event, el in lxml.etree.iterwalk(doc, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _DROPPED_TAGS:
                skip += 1
            elif not skip and el.text and tag:
                out.append(el.text)
            continue
        if tag in _DROPPED_TAGS:
            skip -= 1
        elif not skip:
            if tag in _BLOCK_TAGS:
                out.append("\n")
            elif tag in ("td", "th"):
                out.append("\t")
        if not skip and el.tail:
            out.append(el.tail)
    return "".join(out)


def _store(data: bytes, sink: Any, notes: list[str]) -> tuple[str, int]:
    if sink is None:
        notes.append("no_blob_store")
        return hashlib.sha256(data).hexdigest(), len(data)
    return sink.put_bytes(data)


# The MIME tree is walked over the raw bytes: header blocks are parsed by the email package
# (compat32, headers only), multipart bodies are cut at their delimiter lines with bytes.find,
# and transfer encodings are undone by binascii. The email package's full parser feeds every
# line of every part through Python code, which is several times slower on attachments, and it
# regenerates attached messages instead of keeping their bytes.

_HEADERS = BytesHeaderParser(policy=compat32)
_MAX_DEPTH = 40


@dataclass
class _Part:
    headers: Message  # header fields only
    content: bytes  # the body as transmitted (still transfer-encoded)
    ctype: str


_HEADER_LINES = re.compile(rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*:|[ \t])[^\n]*(?:\n|\Z))*")


def split_head(data: bytes) -> tuple[Message, bytes]:
    """A part's header fields and its body: the header block ends at the first empty line, or
    at a line that is not a header field (that line starts the body, as in the email package)."""
    if data[:1] == b"\n" or data[:2] == b"\r\n":
        return _HEADERS.parsebytes(b""), data[1:] if data[:1] == b"\n" else data[2:]
    a = data.find(b"\n\n")
    b = data.find(b"\n\r\n", 0, a if a >= 0 else len(data))
    if b >= 0:
        a, sep = b, 3
    else:
        sep = 2
    block_end, body_from = (len(data), len(data)) if a < 0 else (a + 1, a + sep)
    stray = _HEADER_LINES.match(data, 0, block_end).end()
    if stray < block_end:
        block_end = body_from = stray
    return _HEADERS.parsebytes(data[:block_end]), data[body_from:]


def _split_multipart(content: bytes, boundary: bytes) -> list[bytes] | None:
    """The parts of a multipart body (None when no delimiter line is found)."""
    delimiter = b"--" + boundary
    lines: list[tuple[int, int, bool]] = []  # (line start, after its line end, closing)
    pos, size = 0, len(content)
    while True:
        i = content.find(delimiter, pos)
        if i < 0:
            break
        pos = i + len(delimiter)
        if i and content[i - 1] != 10:
            continue
        closing = content.startswith(b"--", pos)
        rest_from = pos + 2 if closing else pos
        eol = content.find(b"\n", rest_from)
        after = size if eol < 0 else eol + 1
        if content[rest_from:after].strip(b" \t\r\n"):
            continue  # a longer boundary, or text after it: not this delimiter
        lines.append((i, after, closing))
        if closing:
            break
    if not lines:
        return None
    parts = []
    for (_, after, closing), (start, _, _) in zip(lines, lines[1:]):
        end = start
        if end > after and content[end - 1] == 10:
            end -= 1
            if end > after and content[end - 1] == 13:
                end -= 1
        parts.append(content[after:end])
    if not lines[-1][2]:  # no closing delimiter: the last part runs to the end
        parts.append(content[lines[-1][1]:])
    return parts


def _walk(headers: Message, content: bytes, depth: int = 0) -> Iterator[_Part]:
    """Leaf parts in order; an attached message (message/*) is one leaf."""
    ctype = headers.get_content_type()
    if headers.get_content_maintype() == "multipart":
        boundary = headers.get_boundary()
        parts = None
        if boundary and depth < _MAX_DEPTH:
            parts = _split_multipart(content, str(boundary).encode("utf-8", "surrogateescape"))
        if parts is None:  # no usable boundary: the content is read as text, as the email package does
            yield _Part(headers, content, "text/plain")
            return
        for part in parts:
            sub_headers, sub_content = split_head(part)
            if ctype == "multipart/digest":
                sub_headers.set_default_type("message/rfc822")
            yield from _walk(sub_headers, sub_content, depth + 1)
        return
    yield _Part(headers, content, ctype)


_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def _decode_b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:  # bad padding or length: keep what decodes
        clean = _B64_JUNK.sub(b"", data)
        clean = clean[:len(clean) - 1] if len(clean) % 4 == 1 else clean + b"=" * (-len(clean) % 4)
        return binascii.a2b_base64(clean)


def decode_content(part: _Part) -> bytes:
    """A leaf's content with its Content-Transfer-Encoding undone."""
    cte = str(part.headers.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        return _decode_b64(part.content)
    if cte == "quoted-printable":
        return binascii.a2b_qp(part.content)
    if cte in ("", "7bit", "8bit", "binary"):
        return part.content
    carrier = Message()  # uuencode and the rest: as the email package decodes them
    carrier["Content-Transfer-Encoding"] = cte
    carrier.set_payload(part.content.decode("ascii", "surrogateescape"))
    data = carrier.get_payload(decode=True)
    return data if isinstance(data, bytes) else part.content


def _is_body_candidate(part: _Part) -> bool:
    return (part.ctype in ("text/plain", "text/html")
            and part.headers.get_content_disposition() != "attachment"
            and not part.headers.get_filename())


def _body_and_attachments(headers: Message, content: bytes, sink: Any,
                          notes: list[str]) -> tuple[str | None, dict, list[dict]]:
    """(body text, body facts for extra, attachments) of a message."""
    leaves = list(_walk(headers, content))
    candidates = [i for i, part in enumerate(leaves) if _is_body_candidate(part)]
    plain = [i for i in candidates if leaves[i].ctype == "text/plain"]
    html = [i for i in candidates if leaves[i].ctype == "text/html"]
    body_index = plain[0] if plain else (html[0] if html else None)
    skip = set(html) if plain else set()  # HTML alternatives of a text/plain body
    facts: dict[str, Any] = {}
    body = None
    if body_index is not None:
        part = leaves[body_index]
        charset = part.headers.get_content_charset()
        data = decode_content(part)
        text = decode_bytes(data, charset, notes)
        facts["body_mime"] = part.ctype
        if charset:
            facts["body_charset"] = charset
        if plain:
            body = text
            if skip:
                facts["html_alternative"] = True
        else:
            facts["body_html_sha256"], _ = _store(data, sink, notes)
            reduced = html_to_text(text)
            if reduced is None:
                notes.append("html_unparsed")
                body = text
            else:
                body = reduced
                facts["body_reduced_from_html"] = True
    attachments = []
    for i, part in enumerate(leaves):
        if i == body_index or i in skip:
            continue
        data = decode_content(part)
        if not data and len(leaves) == 1 and i not in candidates:
            continue  # a message with no body at all has no attachment either
        sha, size = _store(data, sink, notes)
        name = part.headers.get_filename()
        attachments.append({
            "name": decode_words(_header_str(name), notes) if name else None,
            "mime": part.ctype,
            "size": size,
            "sha256": sha,
        })
    return body, facts, attachments


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
    _Repairs.count = 0
    locator = f"byte {raw.offset}+{len(raw.data)}"
    try:
        return _build(raw, env, sink, notes, locator)
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the file
        return Built(None, Reject(locator, f"message could not be parsed ({type(exc).__name__}: {exc})",
                                  _header_block(raw.data)), notes, 0)


def _build(raw: RawMessage, env: Env, sink: Any, notes: list[str], locator: str) -> Built:
    data = raw.data
    extra: dict[str, Any] = {"raw_sha256": hashlib.sha256(data).hexdigest()}
    if not data.strip():
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
        return _header_str(values[0], charset) if values else None

    if raw.from_line is not None:
        extra["mbox_from_line"] = raw.from_line.decode("utf-8", "replace").rstrip("\r\n")
    if raw.content_length:
        extra["content_length_delimited"] = True

    # Date: Date:, else the newest Received:, else the separator line.
    date_raw = first("date")
    when, ts_local, date_source = None, None, None
    if date_raw is not None:
        extra["date_header"] = date_raw
        when = parse_date(date_raw)
        if when is not None:
            ts_local, date_source = date_raw.strip(), "date"
    if when is None:
        newest = None
        for value in headers.get("received", []):
            text = _header_str(value, charset).rpartition(";")[2].strip()
            parsed = parse_date(text) if text else None
            if parsed is None:
                continue
            key = parsed if parsed.tzinfo else _localise(parsed, env.timezone)[0]
            if newest is None or key > newest[0]:
                newest = (key, parsed, text)
        if newest is not None:
            when, ts_local, date_source = newest[1], newest[2], "received"
            notes.append("date_fallback_received")
    if when is None and raw.from_line is not None:
        sep_text = _separator_date(raw.from_line)
        parsed = parse_date(sep_text) if sep_text else None
        if parsed is not None:
            when, ts_local, date_source = parsed, sep_text, "separator"
            notes.append("date_fallback_separator")
    if when is None:
        reason = ("Date: header unparseable" if date_raw is not None else "no Date: header") + \
            ", and no Received: or separator date to fall back on"
        if date_raw is not None:
            reason += f" (Date: {date_raw.strip()!r})"
        return Built(None, Reject(locator, reason, _header_block(data)), notes, 0)
    extra["date_source"] = date_source
    if when.tzinfo is None:
        extra["date_zone"] = zone_note(ts_local)
        when, tz_source = _localise(when, env.timezone)
        notes.append("date_no_zone")
        if tz_source != "case":
            notes.append("date_dst")
    else:
        tz_source = "source"

    # People.
    from_raw = first("from")
    senders = _addresses([from_raw], notes) if from_raw else []
    sender = senders[0][0] if senders else None
    if sender is None:
        notes.append("no_from")
    names = {addr: name for addr, name in senders if name}
    if len(senders) > 1:
        extra["from_more"] = [addr for addr, _ in senders[1:]]
    recipients: list[str] = []
    for field in ("to", "cc", "bcc"):
        values = [_header_str(v, charset) for v in headers.get(field, [])]
        if not values:
            continue
        pairs = _addresses(values, notes)
        if field != "to":
            extra[field] = [addr for addr, _ in pairs]
        for addr, name in pairs:
            if addr not in recipients:
                recipients.append(addr)
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
    subject_raw = first("subject")
    subject = decode_words(subject_raw, notes) if subject_raw is not None else None
    if subject_raw is not None:
        extra["subject_raw"] = subject_raw
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

    flags: list[str] = []
    labels_raw = first("x-gmail-labels")
    if labels_raw is not None:
        extra["gmail_labels"] = gmail_labels(labels_raw, notes)
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
        if "D" in env.maildir_flags:
            flags.append("draft")

    body, facts, attachments = _body_and_attachments(msg, content, sink, notes)
    extra.update(facts)
    repairs = _Repairs.count
    if repairs:
        flags.append("repaired_chars")
        extra["repaired_chars"] = repairs

    row = (_epoch_us(when), ts_local, tz_source, direction, sender, from_raw, recipients, conversation,
           subject, body, attachments, flags, locator, dumps_extra(extra))
    return Built(row, None, notes, repairs, len(body or "") + len(row[-1]))


_SEP_DATE = re.compile(
    rb"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s+)?"
    rb"(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{1,2}:\d\d(?::\d\d)?"
    rb"(?:\s+(?:[+-]\d{4}|[A-Z]{1,5}))?\s+\d{4}(?:\s+[+-]\d{4})?"
    rb"|\d{1,2}\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}\s+\d{1,2}:\d\d(?::\d\d)?"
    rb"(?:\s+(?:[+-]\d{4}|[A-Z]{1,5}))?)")


def separator_has_date(line: bytes) -> bool:
    """True when an mbox ``From `` line carries a date (asctime, Gmail or RFC 2822 style)."""
    return _SEP_DATE.search(line) is not None


def _separator_date(line: bytes) -> str | None:
    m = _SEP_DATE.search(line)
    return m.group(0).decode("ascii") if m else None


# --- driving: serial or pooled ------------------------------------------------------------

_WORKER: dict[str, Any] = {}

# Run in each new worker before anything else. Importing commtrail.parsers would import every
# parser module (and pyarrow with them, ~40 MB per process) although a worker needs only this
# module: so the worker gets a bare package object for commtrail.parsers pointing at the same
# folder, and imports this module through it. (If this fails the worker dies, the pool is
# found broken and the messages are built in the main process instead.)
_WORKER_BOOT = """
import sys, types
if "commtrail.parsers" not in sys.modules:
    import commtrail
    package = types.ModuleType("commtrail.parsers")
    package.__path__ = [folder]
    package.__package__ = "commtrail.parsers"
    sys.modules["commtrail.parsers"] = package
    commtrail.parsers = package
from commtrail.parsers._email import _init_worker
_init_worker(*args)
"""


def _init_worker(env_fields: tuple, blob_root: str) -> None:
    from commtrail.ingest.blobs import DirBlobStore

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
    scope = {"folder": os.path.dirname(os.path.abspath(__file__)), "args": (fields, blob_root)}
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
        columns.update(ts_precision=["s"] * n, channel=["email"] * n, kind=["message"] * n,
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
    return Env(ctx.timezone, frozenset(e.lower() for e in ctx.owner.emails), maildir_flags(ctx.source_path))


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
    from commtrail.ingest.blobs import DirBlobStore

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
