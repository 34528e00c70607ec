"""Reading on after damage in an SMS Backup & Restore file: what the parser keeps and says.

The reader finds every record start tag (``<sms``, ``<mms``, ``<call``) in the byte stream and
notes where it is, so a backup is a sequence of spans, each from one record start tag to the next.
When the XML parser stops at an error, :class:`~commtrail.parsers.smsbr.backup._Session` rejects the span
the error lies in with its text and starts a new parser at the next record start tag. This module
holds what that needs besides the session: the bytes kept for a restart (:class:`Window`), the
error a record start tag inside another element raises (:class:`NestedRecord`), the reject's text
(:func:`span_text`) and the words of the rejects and of the warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CONTEXT = 64 * 1024  # bytes kept before the next record start tag (the text a stray error is in)
HEAD = 64 * 1024  # the first bytes of a damaged record kept for its reject
SHOWN = 10  # damaged places listed in the warning

# A complete self-closing record start tag: what an <sms> / <call> the parser read looks like.
_SELF_CLOSED = re.compile(rb"""<(?:sms|mms|call)(?:\s+[^\s=<>/"']+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*/>""")
_ROOT_END = re.compile(rb"\s*</(?:smses|calls)\s*>\s*\Z")
_ROOT_END_ANYWHERE = re.compile(rb"</(?:smses|calls)\s*>")
_ROOT_END_FIRST = re.compile(rb"\s*</(?:smses|calls)\s*>\s*")
_RECORD_TAG = re.compile(r"<(sms|mms|call)[\s/>]")
_WITH_END = re.compile(rb"<(sms|mms|call)[\s>].*?</\1\s*>", re.S)
_END_TAG_LAST = re.compile(rb"</(?:sms|mms|call)\s*>\s*\Z")


class NestedRecord(Exception):
    """A record start tag inside another element (the app never nests records): the element it
    is in is damaged, and the record is read again from its own start tag."""

    def __init__(self, tag: str, line: int | None) -> None:
        super().__init__(f"<{tag}> start tag inside another element")
        self.msg = str(self)
        self.line = line


class Window:
    """The repaired bytes given to the XML parser that a restart may need again: from ``at`` to
    ``end`` (offsets in the repaired text). The session trims it after each block it parsed, so
    that it holds little more than the start tag of the record to come and the text before it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.at = 0
        self.end = 0

    def add(self, block: bytes) -> None:
        self.data += block
        self.end += len(block)

    def keep_from(self, offset: int) -> None:
        offset = max(self.at, min(offset, self.end))
        del self.data[:offset - self.at]
        self.at = offset

    def get(self, start: int, stop: int) -> bytes:
        """The bytes from ``start`` to ``stop`` that are still kept."""
        start, stop = max(start, self.at), min(stop, self.end)
        return bytes(self.data[start - self.at:stop - self.at]) if stop > start else b""

    def column(self, offset: int) -> int | None:
        """How many characters come before ``offset`` on its line, when the line start is kept."""
        i = offset - self.at
        if not 0 <= i <= len(self.data):
            return None
        newline = self.data.rfind(b"\n", 0, i)
        if newline == -1 and self.at > 0:
            return None
        return len(self.data[newline + 1:i].decode("utf-8", "replace"))


def span_text(head: bytes, size: int, last: bool) -> str:
    """A damaged span's text for its reject: ``head`` (its first bytes, at most HEAD) of ``size``
    bytes; the root's end tag after the last record and trailing white space are left out."""
    whole = len(head) >= size
    if whole:
        head = (_ROOT_END.sub(b"", head) if last else head).rstrip()
    text = head[:HEAD].decode("utf-8", "replace")
    if whole and len(head) <= HEAD:
        return text
    return f"{text} [first {len(text)} characters of {size} bytes]"


def after_record(text: bytes) -> bytes | None:
    """What follows the record at the start of ``text`` (a record the parser read, so its end is
    the end of its self-closing start tag or its first end tag: records are never nested), or
    None when ``text`` does not hold a whole record."""
    m = _SELF_CLOSED.match(text) or _WITH_END.match(text)
    return text[m.end():] if m else None


def ends_with_record(text: bytes) -> bool:
    """Whether ``text`` (a record's text from its start tag, or the last bytes of a long one) ends
    with the record's end and then white space only."""
    rest = after_record(text)
    return not rest.strip() if rest is not None else _END_TAG_LAST.search(text) is not None


def has_root_end(text: bytes) -> bool:
    """Whether ``text`` (the last bytes of a file) holds the root element's end tag."""
    return _ROOT_END_ANYWHERE.search(text) is not None


def after_root_end(text: bytes) -> bytes:
    """``text`` without the root element's end tag it starts with, if it does."""
    m = _ROOT_END_FIRST.match(text)
    return text[m.end():] if m else text


def record_tag(text: str) -> str:
    m = _RECORD_TAG.match(text)
    return m.group(1) if m else "record"


@dataclass(frozen=True)
class Damage:
    """One place the XML parser stopped at: the message, and where (file lines and columns)."""

    message: str
    line: int | None
    column: int | None

    def where(self) -> str:
        if self.line is None:
            return self.message
        column = f", column {self.column}" if self.column is not None else ""
        return f"{self.message}, line {self.line}{column}"

    def record_reason(self) -> str:
        return f"damaged record: not well-formed XML ({self.where()})"

    def stray_reason(self, before: int) -> str:
        place = f"after record #{before} (which was read)" if before else "before the first record"
        return f"damaged text {place}: not well-formed XML ({self.where()})"


def damage_warning(damaged: list[str], stray: list[str]) -> str | None:
    """The warning about the damaged records and text the parse read on after."""
    parts = []
    for places, one, many in ((damaged, "damaged record was", "damaged records were"),
                              (stray, "stretch of damaged text between records was",
                               "stretches of damaged text between records were")):
        if places:
            more = f" (and {len(places) - SHOWN} more)" if len(places) > SHOWN else ""
            single = len(places) == 1
            parts.append(f"{len(places)} {one if single else many} rejected with {'its' if single else 'their'} text: "
                         + "; ".join(places[:SHOWN]) + more)
    if not parts:
        return None
    return ("the file is not well-formed XML in places: " + "; ".join(parts)
            + "; reading went on at the next record start tag each time")
