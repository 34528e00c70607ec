"""MIME for the e-mail parsers: charsets, RFC 2047 encoded words, the MIME tree, bodies and
attachments, and HTML reduced to text.

The tree is walked over the raw bytes: header blocks are parsed by the email package (compat32,
headers only), multipart bodies are cut at their delimiter lines with bytes.find, and transfer
encodings are undone by binascii. (The email package's full parser feeds every line of every
part through Python code, several times slower on attachments, and it regenerates attached
messages instead of keeping their bytes.) Worker processes import this module: standard library
only at module level; lxml is imported by the one function that needs it.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

# --- text helpers -------------------------------------------------------------------------

class Repairs:
    """What decoding one message had to repair (per process; :meth:`reset` before each message).

    ``fallbacks``: pieces of text read by the windows-1252 fallback (where, declared charset,
    SHA-256 of their raw bytes), each one repair;
    ``capped``: header fields longer than HEADER_PARSE_MAX, by name, raw and whole (only their
    start was parsed); ``bad_lines``: header lines that are not header fields, raw.
    """

    fallbacks: list[dict] = []
    capped: dict[str, list[str]] = {}
    bad_lines: list[str] = []

    @classmethod
    def reset(cls) -> None:
        cls.fallbacks, cls.capped, cls.bad_lines = [], {}, []


def _c1_controls(exc: UnicodeDecodeError) -> tuple[str, int]:
    # windows-1252 as the WHATWG Encoding Standard reads it: the five bytes Python's cp1252 leaves
    # undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are the C1 controls of the same number, as in Latin-1.
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error("commtrail-c1", _c1_controls)

# Labels mail software writes that Python does not know, or knows under a narrower name.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "x-windows-949": "cp949",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6", "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman", "x-sjis": "shift_jis", "windows-874": "cp874",
    "ansi_x3.4-1968": "ascii", "us-ascii": "ascii", "unknown-8bit": "utf-8", "x-unknown": "utf-8",
    "unknown": "utf-8", "utf8": "utf-8", "default": "utf-8", "x-unicode-2-0-utf-7": "utf-7",
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


def _fallback_decode(data: bytes, charset: str | None, where: str | None) -> str:
    """``data`` read as windows-1252 (every byte string is), the piece recorded in
    :class:`Repairs` as one repair unless ``where`` is None (text kept only as raw)."""
    if where is not None:
        Repairs.fallbacks.append({"part": where, "charset": charset or None,
                                  "raw_sha256": hashlib.sha256(data).hexdigest()})
    return data.decode("cp1252", "commtrail-c1")


def decode_bytes(data: bytes, charset: str | None, notes: list[str] | None = None,
                 where: str | None = "body") -> str:
    """Decode ``data`` strictly in its declared charset (none, ASCII or an unknown label: UTF-8);
    where that fails, as windows-1252 (:func:`_fallback_decode`). Never a U+FFFD."""
    codec, known = _codec(charset)
    if not known and notes is not None:
        notes.append("charset_unknown")
    if codec == "ascii":
        codec = "utf-8"  # a superset: 8-bit text labelled ASCII is most often UTF-8
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return _fallback_decode(data, charset, where)


def header_text(value: Any, charset: str | None = None, where: str | None = None) -> str:
    """A header value as text, unfolded. Raw 8-bit bytes (kept by the parser as surrogates) are
    read as UTF-8, else in the message's declared charset, else as windows-1252 (a repair
    recorded under ``where``; None for text that is only kept raw)."""
    value = str(value)
    if not value.isascii() and not _is_text(value):
        data = value.encode("utf-8", "surrogateescape")
        codec, known = _codec(charset)
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                value = data.decode(codec) if known and codec not in ("ascii", "utf-8") else None
            except UnicodeDecodeError:
                value = None
            if value is None:
                value = _fallback_decode(data, charset, where)
    return _FOLD.sub("", value)


def _is_text(value: str) -> bool:
    """False when ``value`` carries raw 8-bit bytes (kept by the email package as surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def header_decoded(value: Any, charset: str | None, where: str, notes: list[str]) -> str:
    """A header value as a reader sees it: unfolded and its encoded words decoded.

    Raw 8-bit bytes inside a Q encoded word (as Eudora wrote them) are bytes of that word's
    charset; a header that is UTF-7 as a whole (the message declares ``utf-7``) is read so.
    """
    value = str(value)
    if not value.isascii() and "=?" in value:
        value = _ENCODED_WORD.sub(_escape_8bit_word, value)
    text = header_text(value, charset, where)
    if "+" in text and text.isascii() and _codec(charset)[0] == "utf-7":
        try:
            text = text.encode("ascii").decode("utf-7")
        except UnicodeDecodeError:
            pass
    return decode_words(text, notes)


def _escape_8bit_word(m: re.Match) -> str:
    if m.group(2) not in "qQ":
        return m.group(0)
    text = "".join("=%02X" % (ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF else c for c in m.group(3))
    return f"=?{m.group(1)}?{m.group(2)}?{text}?="


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
            out.append(decode_bytes(b"".join(pending), pending_cs, notes, "encoded word"))
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


_HEADERS = BytesHeaderParser(policy=compat32)
_MAX_DEPTH = 40


@dataclass
class _Part:
    headers: Message  # header fields only
    content: bytes  # the body as transmitted (still transfer-encoded)
    ctype: str


_HEADER_LINES = re.compile(rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*:|[ \t])[^\n]*(?:\n|\Z))*")
_FIELD_START = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_OBSOLETE_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]+:")  # ``From  :`` (RFC 5322 obs-syntax)
_LATER_OBSOLETE_FIELD = re.compile(rb"\n[\x21-\x39\x3b-\x7e]+[ \t]+:")
_LINE = re.compile(rb"[^\n]*\n|[^\n]+")
_LATER_SEGMENT = re.compile(rb"\n[^ \t]")  # (patterns that start with a literal are searched fast)
# Bytes of one header field that are parsed; a longer field is cut (at a line or list boundary)
# for parsing and kept whole, raw, in Repairs.capped. Parsing stays linear in the input.
HEADER_PARSE_MAX = 32 << 10


def split_head(data: bytes) -> tuple[Message, bytes]:
    """A part's header fields and its body: the header block ends at the first empty line, or
    at a line that is not a header field with no header field after it (that line starts the
    body, as in the email package). A stray line among header fields (no colon, white space
    before the first field) is left out and kept raw in Repairs.bad_lines, as is a field in the
    obsolete form ``Name  :`` (read as ``Name:``); an overlong field is capped (HEADER_PARSE_MAX)."""
    if data[:1] == b"\n" or data[:2] == b"\r\n":
        return _HEADERS.parsebytes(b""), data[1:] if data[:1] == b"\n" else data[2:]
    a = data.find(b"\n\n")
    b = data.find(b"\n\r\n", 0, a if a >= 0 else len(data))
    if b >= 0:
        a, sep = b, 3
    else:
        sep = 2
    block_end, body_from = (len(data), len(data)) if a < 0 else (a + 1, a + sep)
    block = data[:block_end]
    if block_end > HEADER_PARSE_MAX or block[:1] in (b" ", b"\t") or _OBSOLETE_FIELD.match(block) \
            or _LATER_OBSOLETE_FIELD.search(block) or _HEADER_LINES.match(block).end() < block_end:
        block, fields_end = _clean_block(block)
        if fields_end < block_end:
            body_from = fields_end
    return _HEADERS.parsebytes(block), data[body_from:]


def _clean_block(block: bytes) -> tuple[bytes, int]:
    """(the header fields of a block as the email package can read them, where they end).

    Works on segments (a line not starting with white space and its continuation lines), so
    its cost is linear in the block however many lines one field is folded over.
    """
    starts = [0] if block[:1] not in (b" ", b"\t") else []
    starts += [m.start() + 1 for m in _LATER_SEGMENT.finditer(block)]
    segments = [block[a:b] for a, b in zip(starts, starts[1:] + [len(block)])]
    names = [_field_name(seg) for seg in segments]
    if not any(names):
        return b"", 0
    # A stray line is a bad header line when a mail header field follows it; otherwise (a body
    # that does not start after a blank line, "Meeting: 5pm" in it or not) the body starts there.
    last_field = max((i for i, name in enumerate(names) if name and _is_mail_field(name)), default=-1)
    lead = block[:starts[0]]  # white space before the first field: blank or continuation lines
    Repairs.bad_lines.extend(_raw_text(line.rstrip(b"\r\n")) for line in _LINE.findall(lead))
    fields: list[bytes] = []
    pos = len(lead)
    for i, seg in enumerate(segments):
        if _FIELD_START.match(seg):
            fields.append(seg)
        elif i < last_field or _OBSOLETE_FIELD.match(seg):
            Repairs.bad_lines.append(_raw_text(seg.rstrip(b"\r\n")))
            if m := _OBSOLETE_FIELD.match(seg):
                fields.append(m.group(1) + b":" + seg[m.end():])
        else:  # no header field after it: the body starts here
            break
        pos += len(seg)
    return b"".join(map(_capped, fields)), pos


def _field_name(segment: bytes) -> bytes | None:
    """The field name a header segment starts with (either form), or None for a stray line."""
    m = _FIELD_START.match(segment)
    if m is not None:
        return m.group(0)[:-1]
    m = _OBSOLETE_FIELD.match(segment)
    return m.group(1) if m is not None else None


# Header fields of mail and MIME (RFC 5322, 2045, 2369, 6376, 8617 and common extensions).
_MAIL_FIELDS = frozenset(b"""from to cc bcc subject date message-id in-reply-to references reply-to sender
    received return-path delivered-to mime-version user-agent organization importance priority comments
    keywords thread-topic thread-index envelope-to authentication-results status precedence""".split())
_MAIL_FIELD_PREFIXES = (b"x-", b"content-", b"list-", b"arc-", b"dkim-", b"resent-", b"disposition-")


def _is_mail_field(name: bytes) -> bool:
    name = name.lower()
    return name in _MAIL_FIELDS or name.startswith(_MAIL_FIELD_PREFIXES)


def _capped(field: bytes) -> bytes:
    """A header field, or its first HEADER_PARSE_MAX bytes (the whole kept in Repairs.capped)."""
    if len(field) <= HEADER_PARSE_MAX:
        return field
    name = field[:field.index(b":")].decode("ascii").lower()
    Repairs.capped.setdefault(name, []).append(_raw_text(field.rstrip(b"\r\n")))
    head = field[:HEADER_PARSE_MAX]
    cut = max(head.rfind(b"\n"), head.rfind(b","), head.rfind(b";"))
    return (head[:cut] if cut > HEADER_PARSE_MAX // 2 else head).rstrip(b"\r\n") + b"\n"


def _raw_text(data: bytes) -> str:
    """Raw bytes as text for ``extra`` or a reject (UTF-8, else windows-1252; not a repair)."""
    return decode_bytes(data, None, None, None)


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


_FOLD_IN_VALUE = re.compile(r"\r?\n([ \t]*)")


def _boundary_forms(boundary: str) -> list[str]:
    """A boundary parameter as the delimiter lines may write it. One folded over two header lines
    is unfolded as RFC 5322 says (the line break goes, the white space stays), and, as some
    programs wrote it, with the white space gone too."""
    if "\n" not in boundary:
        return [boundary]
    return [_FOLD_IN_VALUE.sub(r"\1", boundary), _FOLD_IN_VALUE.sub("", boundary)]


def _walk(headers: Message, content: bytes, depth: int = 0) -> Iterator[_Part]:
    """Leaf parts in order; an attached message (message/*) is one leaf."""
    ctype = headers.get_content_type()
    if headers.get_content_maintype() == "multipart":
        boundary = headers.get_boundary()
        parts = None
        if boundary and depth < _MAX_DEPTH:
            for form in _boundary_forms(str(boundary)):
                parts = _split_multipart(content, form.encode("utf-8", "surrogateescape"))
                if parts is not None:
                    break
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


_UU_BEGIN = re.compile(rb"(?m)^begin[ \t]+[0-7]{3,4}[ \t]+([^\r\n]*[^\s])[ \t]*\r?\n")
_UU_END = re.compile(rb"(?m)^end[ \t]*\r?$\n?")


def _split_uuencoded(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Text with its uuencoded files (``begin 644 name`` ... ``end``) taken out, and those files
    as (name, content). A block whose lines are not uuencoding stays in the text."""
    if b"begin " not in data:
        return data, []
    text: list[bytes] = []
    files: list[tuple[bytes, bytes]] = []
    pos = search = 0
    while (m := _UU_BEGIN.search(data, search)) is not None:
        end = _UU_END.search(data, m.end())
        if end is None:
            break
        content = _uu_decode(data[m.end():end.start()])
        search = m.end()
        if content is None:
            continue
        text.append(data[pos:m.start()])
        files.append((m.group(1), content))
        pos = search = end.end()
    text.append(data[pos:])
    return b"".join(text), files


_UU_LINE = re.compile(rb"[\x20-\x60]*")


def _uu_decode(block: bytes) -> bytes | None:
    """The bytes of uuencoded lines (None when a line is not uuencoding). Lines shortened by a
    mail program (trailing spaces lost) or padded are read as the email package reads them."""
    out = []
    for line in block.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        if not _UU_LINE.fullmatch(line):
            return None
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            try:
                out.append(binascii.a2b_uu(line[:(((line[0] - 32) & 63) * 4 + 5) // 3]))
            except binascii.Error:
                return None
    return b"".join(out)


def body_and_attachments(headers: Message, content: bytes, sink: Any,
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
    attachments = []
    if body_index is not None:
        part = leaves[body_index]
        charset = part.headers.get_content_charset()
        data = decode_content(part)
        if plain:
            data, files = _split_uuencoded(data)
            for name, content_bytes in files:
                sha, size = _store(content_bytes, sink, notes)
                attachments.append({"name": _raw_text(name), "mime": "application/octet-stream",
                                    "size": size, "sha256": sha})
            if files:
                facts["uuencoded_attachments"] = len(files)
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
    for i, part in enumerate(leaves):
        if i == body_index or i in skip:
            continue
        data = decode_content(part)
        if not data and len(leaves) == 1 and i not in candidates:
            continue  # a message with no body at all has no attachment either
        sha, size = _store(data, sink, notes)
        name = part.headers.get_filename()
        attachments.append({
            "name": header_decoded(name, None, "attachment name", notes) if name else None,
            "mime": part.ctype,
            "size": size,
            "sha256": sha,
        })
    return body, facts, attachments
