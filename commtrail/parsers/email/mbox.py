"""mbox mailboxes (Gmail Takeout, Thunderbird, mutt, ...): a streaming splitter over large reads.

A message starts at a ``From `` line at the start of the file or after a blank line that either
carries a date or is followed by a header line, so a body line "From my phone" never splits a
message. ``Content-Length`` (mboxcl2) is honoured where it lands exactly on such a separator.
LF and CRLF files alike; the stream may be a non-seekable zip member.

Each message's raw bytes are those after its ``From `` line up to the blank line before the next
separator; ``locator`` is ``byte OFFSET+LENGTH`` of exactly those bytes and ``raw_sha256`` (in
``extra``) their hash, so anyone can cut the message out of the file and check it. The
separator line itself is kept in ``extra`` as ``mbox_from_line``.

``>From `` quoting (mboxo, mboxrd) stays in the raw bytes. For the decoded text (body, text
attachments) one ``>`` is removed from lines matching ``>+From `` before MIME parsing, as mboxrd
readers do: the quote is the mailbox's escaping, not the sender's text, and it keeps the body
equal to the same message's body from an .eml or another mailbox. The number of lines so
unquoted is kept in ``extra`` (``mbox_unquoted_lines``). A message delimited by its
Content-Length (mboxcl2) is not unquoted: that variant does not quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.email.builder import Note, RawMessage, emit, is_from_field, separator_has_date
from commtrail.parsers.registry import Parser, register

BLOCK = 4 << 20  # bytes per read
MAX_MESSAGE = 256 << 20  # a "message" larger than this is rejected (not held) and skipped
_REJECT_HEAD = 64 << 10  # raw text kept for a reject of an oversized or stray stretch

_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*(\d{1,15})[ \t]*\r?$")
_SEPARATOR_FORMS = (b"From ", b"\nFrom ", b"\r\nFrom ")


class _Oversize(Exception):
    pass


class MboxSplitter:
    """Split an mbox byte stream into :class:`RawMessage` items (plus Rejects and Notes).

    The buffer always starts at the current message's ``From `` line; reads are appended,
    consumed messages are dropped from the front, so memory holds about one block plus the
    largest message.
    """

    def __init__(self, stream: BinaryIO, block: int = BLOCK, max_message: int = MAX_MESSAGE) -> None:
        self.stream = stream
        self.block = block
        self.max_message = max_message
        self.buf = bytearray()
        self.base = 0  # source offset of buf[0]
        self.eof = False

    # -- buffer --------------------------------------------------------------------------

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(self.block)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _line_end(self, start: int) -> int:
        """Index just past the line starting at ``start`` (its ``\\n``), or the end at EOF."""
        while True:
            end = self.buf.find(b"\n", start)
            if end >= 0:
                return end + 1
            if not self._fill():
                return len(self.buf)

    def _cut(self, start: int, end: int) -> bytes:
        with memoryview(self.buf) as view:
            return view[start:end].tobytes()

    def _drop(self, count: int) -> None:
        del self.buf[:count]
        self.base += count

    # -- separators ----------------------------------------------------------------------

    def _is_separator(self, start: int) -> bool:
        """Whether the ``From `` line at ``start`` carries a date or is followed by a header
        (and is not a header field in the obsolete form ``From  :``)."""
        if is_from_field(self.buf, start):
            return False
        end = self._line_end(start)
        if separator_has_date(self.buf[start:end]):
            return True
        while len(self.buf) < end + 256 and self._fill():
            pass
        return _HEADER_LINE.match(self.buf, end, min(len(self.buf), end + 256)) is not None

    def _next_separator(self, pos: int, drop: bool = False) -> int | None:
        """Start of the next separator line at or after ``pos`` (None at EOF).

        With ``drop`` the bytes searched are discarded as it goes (an oversized message being
        skipped); otherwise :class:`_Oversize` is raised when the buffer passes the limit.
        """
        buf = self.buf
        while True:
            j = buf.find(b"\nFrom ", pos)
            if j < 0:
                if drop and len(buf) > 16:
                    keep = len(buf) - 16
                    self._drop(keep)
                    pos = 0
                elif len(buf) > self.max_message:
                    raise _Oversize
                else:
                    pos = max(pos, len(buf) - 5)
                if not self._fill():
                    return None
                continue
            line = j + 1
            if (j >= 1 and buf[j - 1] == 10) or (j >= 2 and buf[j - 1] == 13 and buf[j - 2] == 10):
                if self._is_separator(line):
                    return line
            pos = line

    def _blank_before(self, line: int) -> int:
        """Where the message before the separator at ``line`` ends (its blank line excluded)."""
        return line - 1 if self.buf[line - 2] == 10 else line - 2

    def _end_at_eof(self, start: int) -> int:
        end = len(self.buf)
        if end - start >= 1 and self.buf.endswith(b"\n\n"):
            return end - 1
        if end - start >= 2 and self.buf.endswith(b"\r\n\r\n"):
            return end - 2
        return end

    # -- Content-Length (mboxcl2) --------------------------------------------------------

    def _content_length(self, start: int, limit: int, crlf: bool) -> tuple[int, int] | None:
        """(body start, declared length) when the header block carries Content-Length."""
        buf = self.buf
        first, second = (b"\n\r\n", b"\n\n") if crlf else (b"\n\n", b"\n\r\n")
        a = buf.find(first, start - 1, limit)
        b = buf.find(second, start - 1, a if a >= 0 else limit)
        if b >= 0:
            a, first = b, second
        if a < 0:
            header_end, body = limit, limit
        else:
            header_end, body = a, a + len(first)
        if buf.find(b"ength", start, header_end) < 0:
            return None
        m = _CONTENT_LENGTH.search(buf, start, header_end + 1)
        if m is None:
            return None
        return body, int(m.group(1))

    def _lands(self, target: int) -> tuple[int, int | None] | None:
        """(message end, next separator or None at EOF) when ``target`` is on a separator."""
        if target > self.max_message:
            return None
        while len(self.buf) < target + 8 and self._fill():
            pass
        buf = self.buf
        if target > len(buf):
            return None
        if self.eof and len(buf) - target <= 2 and bytes(buf[target:]) in (b"", b"\n", b"\r\n"):
            return target, None
        for form in _SEPARATOR_FORMS:
            if buf.startswith(form, target):
                line = target + len(form) - 5
                if form == b"From " and (target == 0 or buf[target - 1] != 10):
                    continue
                if self._is_separator(line):
                    return target, line
        return None

    # -- messages ------------------------------------------------------------------------

    def _first_separator(self) -> Iterator[Reject | Note | int | None]:
        buf = self.buf
        while len(buf.lstrip(b"\r\n")) < 5 and self._fill():
            pass
        lead = len(buf) - len(buf.lstrip(b"\r\n"))
        if buf.startswith(b"From ", lead) and self._is_separator(lead):
            if lead:
                yield Note("mbox_leading_blank_lines", f"byte 0+{lead}")
            yield lead
            return
        try:
            line = self._next_separator(0)
        except _Oversize:
            line = self._next_separator(0, drop=True)
        end = len(self.buf) if line is None else line
        if self.base + end and (self.base or self.buf[:end].strip()):
            raw = self.buf[:min(end, _REJECT_HEAD)].decode("utf-8", "replace")
            yield Reject(f"byte 0+{self.base + end}", "text before the first message separator line "
                         "(not part of any message)", raw)
        yield line

    def __iter__(self) -> Iterator[RawMessage | Reject | Note]:
        start = None
        for item in self._first_separator():
            if isinstance(item, (Reject, Note)):
                yield item
            else:
                start = item
        while start is not None:
            if start:
                self._drop(start)
            header = self._line_end(0)
            from_line = self._cut(0, header)
            try:
                line = self._next_separator(header)
            except _Oversize:
                start = yield from self._skip_oversized(header)
                continue
            end = self._end_at_eof(header) if line is None else self._blank_before(line)
            by_length = False
            declared = self._content_length(header, end, from_line.endswith(b"\r\n"))
            if declared is not None:
                landed = self._lands(declared[0] + declared[1])
                if landed is not None:
                    end, line = landed
                    by_length = True
                else:
                    yield Note("content_length_ignored", f"byte {self.base + header}+{end - header}")
            yield RawMessage(self.base + header, self._cut(header, end), from_line,
                             unquote=not by_length, content_length=by_length)
            start = line

    def _skip_oversized(self, header: int):
        offset = self.base + header
        head = self.buf[header:header + _REJECT_HEAD].decode("utf-8", "replace")
        line = self._next_separator(header, drop=True)
        end = self.base + (len(self.buf) if line is None else self._blank_before(line))
        yield Reject(f"byte {offset}+{end - offset}",
                     f"message larger than {self.max_message >> 20} MiB: not parsed (its bytes stay in "
                     "the original file; the first 64 KiB are kept here)", head)
        return line


def sniff(head: bytes, filename: str) -> bool:
    """An mbox starts (after blank lines at most) with a ``From `` line carrying a date or
    followed by a header line."""
    text = head.lstrip(b"\r\n")
    if not text.startswith(b"From ") or is_from_field(text):
        return False
    end = text.find(b"\n")
    line = text if end < 0 else text[:end]
    if separator_has_date(line):
        return True
    return end >= 0 and _HEADER_LINE.match(text, end + 1) is not None


def parse(stream: BinaryIO, ctx: ParseContext):
    """Records of every message of an mbox stream, in file order."""
    yield from emit(MboxSplitter(stream), ctx)


register(Parser(
    name="mbox",
    version="2",   # 2: charset fallback, bad header lines, undated records, uuencode, Gmail drafts
    description="mbox mailbox (Gmail Takeout, Thunderbird, mboxo/mboxrd/mboxcl2)",
    sniff=sniff,
    parse=parse,
))
