"""A pull reader over one JSON document that never holds it whole.

The caller walks the structure (``keys`` of an object, ``items`` of an array) and takes whole values
where it wants them (``value``), each decoded by the standard library's C scanner straight from a
text buffer that holds a few MiB of the input. So a 1 GB export of one array of messages reads at
about the speed of ``json.load``, with memory for one message at a time. ``value`` also gives the
exact source text of the value, for the raw text of a reject.
"""

from __future__ import annotations

import codecs
import json
import json.scanner
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

BLOCK = 4 << 20
MAX_VALUE = 256 << 20   # a single value (one message) larger than this is not looked for further
_WS = re.compile(r"[ \t\n\r]*")
_SEP = re.compile(r"[ \t\n\r]*([,\]])")
# "\ud83d" alone is half of a character: json decodes it to a lone surrogate, which no UTF-8 text
# (and so no Arrow column) can hold. Such texts get U+FFFD in its place, counted as a repair.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_WARNING = ("{n} lone UTF-16 surrogate escape(s) (half of a character, such as \\ud83d) replaced with "
                     "U+FFFD; the file holds them as written.")


def without_surrogates(value: Any) -> tuple[Any, int]:
    """``value`` with every lone surrogate in its texts (keys too) replaced by U+FFFD, and how many."""
    if isinstance(value, str):
        return _SURROGATE.subn("\ufffd", value)
    found = 0
    if isinstance(value, list):
        out = []
        for v in value:
            v, n = without_surrogates(v)
            out.append(v)
            found += n
        return out, found
    if isinstance(value, dict):
        pairs = {}
        for k, v in value.items():
            k, a = without_surrogates(k)
            pairs[k], b = without_surrogates(v)
            found += a + b
        return pairs, found
    return value, 0


class JsonSyntaxError(ValueError):
    """The document is not valid JSON at ``line`` (its place for a message)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"{message} (line {line})")
        self.line = line


class JsonStream:
    """Walks one JSON document read from a byte stream (UTF-8, an optional byte-order mark)."""

    def __init__(self, stream: BinaryIO, block: int = BLOCK) -> None:
        self._stream = stream
        self._block = block
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("replace")
        self._scan = json.JSONDecoder().raw_decode
        self.buf = ""
        self.pos = 0
        self._lines_before = 1     # line number of buf[0]
        self.eof = False
        self.replaced = 0          # U+FFFD put in for invalid UTF-8
        self.surrogates = 0        # U+FFFD put in for lone surrogate escapes
        self._suspect = False      # whether a surrogate escape was seen: values are then checked
        self.last = (0, 0)         # where the last value read lies in buf
        self._last_text: str | None = None
        self._scan_once = json.scanner.make_scanner(json.JSONDecoder())

    # -- buffer ---------------------------------------------------------------------------------

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self._stream.read(self._block)
        text = self._decoder.decode(data, final=not data)
        if not data:
            self.eof = True
        if not self._suspect and SURROGATE_ESCAPE.search(self.buf[-5:] + text):
            self._suspect = True
        if "\ufffd" in text:
            self.replaced += max(0, text.count("\ufffd") - data.count(b"\xef\xbf\xbd"))
        if self.pos > len(self.buf) // 2:
            self._lines_before += self.buf.count("\n", 0, self.pos)
            self.buf = self.buf[self.pos:] + text
            self.pos = 0
        else:
            self.buf += text
        return bool(data) or bool(text)

    def line(self, pos: int | None = None) -> int:
        """The line (1-based) of a place in the buffer (the current one by default)."""
        return self._lines_before + self.buf.count("\n", 0, self.pos if pos is None else pos)

    def _peek(self) -> str:
        """The next non-blank character ('' at the end of the input), not consumed."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def _expect(self, chars: str) -> str:
        ch = self._peek()
        if not ch or ch not in chars:
            shown = repr(ch) if ch else "the end of the file"
            raise JsonSyntaxError(f"expected {' or '.join(repr(c) for c in chars)}, found {shown}", self.line())
        self.pos += 1
        return ch

    # -- walking --------------------------------------------------------------------------------

    def peek(self) -> str:
        """The first character of the next value: '{', '[', '"', a digit, 't', 'f', 'n' ..."""
        return self._peek()

    def value(self) -> Any:
        """The next whole value, decoded."""
        return self.raw_value(False)[0]

    def raw_value(self, keep_text: bool = True) -> tuple[Any, str | None]:
        """The next whole value and (with ``keep_text``) its exact text in the source."""
        self._peek()
        while True:
            start = self.pos
            try:
                obj, end = self._scan(self.buf, start)
            except json.JSONDecodeError as exc:
                if len(self.buf) - start < MAX_VALUE and self._fill():
                    continue
                raise JsonSyntaxError(exc.msg, self.line(exc.pos)) from None
            except RecursionError:   # (no export nests values thousands deep)
                raise JsonSyntaxError("values nested more deeply than the JSON reader can follow",
                                      self.line(start)) from None
            # A number or literal that ends the buffer may go on in the next block.
            if end >= len(self.buf) and not self.eof and self._fill():
                continue
            self.pos = end
            self.last = (start, end)
            return self._checked(obj), (self.buf[start:end] if keep_text else None)

    def _checked(self, obj: Any) -> Any:
        """``obj``, without lone surrogates once the document has shown a surrogate escape."""
        if self._suspect:
            obj, n = without_surrogates(obj)
            self.surrogates += n
        return obj

    def skip(self) -> None:
        """Pass over the next value."""
        self.raw_value(False)

    def keys(self) -> Iterator[str]:
        """The keys of the object that starts here; after each, the caller reads or walks its value."""
        self._expect("{")
        if self._peek() == "}":
            self.pos += 1
            return
        while True:
            if self._peek() != '"':
                raise JsonSyntaxError("expected a key in quotes", self.line())
            key = self.value()
            self._expect(":")
            yield key
            if self._expect(",}") == "}":
                return

    def items(self) -> Iterator[int]:
        """Positions 0, 1, ... of the array that starts here; the caller reads or walks each item."""
        self._expect("[")
        if self._peek() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            if self._expect(",]") == "]":
                return

    def values(self) -> Iterator[tuple[int, Any]]:
        """(position, value) of each item of the array that starts here, each decoded whole.

        The same as ``items`` with ``value`` for each, in one tight loop over the C scanner (the
        hot path of a long array); ``last_text`` gives the source text of the value just yielded."""
        self._expect("[")
        if self._peek() == "]":
            self.pos += 1
            return
        index, scan, ws, sep = 0, self._scan_once, _WS.match, _SEP.match
        while True:
            buf = self.buf
            start = ws(buf, self.pos).end()
            try:
                obj, end = scan(buf, start)
            except (StopIteration, json.JSONDecodeError, RecursionError):   # (raw_value says which)
                found = None
            else:
                found = sep(buf, end)
            if found is None:                      # the value or its separator runs past the buffer
                obj, self._last_text = self.raw_value()
                closer = self._expect(",]")        # may move the buffer: the text is kept above
            else:
                self.pos, closer = found.end(), found.group(1)
                self.last, self._last_text = (start, end), None
                obj = self._checked(obj)
            yield index, obj
            index += 1
            if closer == "]":
                return

    def last_text(self) -> str:
        """The source text of the value read last."""
        if self._last_text is not None:
            return self._last_text
        start, end = self.last
        return self.buf[start:end]

    def end(self) -> bool:
        """Whether nothing but blanks is left."""
        return self._peek() == ""
