"""A byte-stream repair in front of a strict XML parser, for SMS Backup & Restore files.

The Android app writes characters outside the Basic Multilingual Plane (emoji) as two numeric
character references to UTF-16 surrogate halves (``&#55357;&#56832;``), and sometimes control
characters (``&#0;``, ``&#27;``, raw 0x1B bytes). A conforming parser (libxml2, expat) refuses the
whole file. :class:`RepairReader` wraps the raw stream; its ``read()`` returns the same bytes with
exactly these problems fixed, and counts every change:

* a reference to a high surrogate directly followed by a reference to a low surrogate becomes one
  reference to the real character (``&#55357;&#56832;`` -> ``&#128512;``): a reference stays a
  reference, so the fix is independent of where it occurs and of the output encoding;
* a lone surrogate half, a reference to a character XML 1.0 forbids (``&#0;`` .. ``&#31;`` except
  tab, LF, CR; ``&#65534;``, ``&#65535;``; beyond ``&#x10FFFF;``) becomes ``&#65533;`` (U+FFFD);
* a raw byte XML forbids (0x00-0x08, 0x0B, 0x0C, 0x0E-0x1F) becomes U+FFFD (its UTF-8 bytes);
* bytes that are not UTF-8 become U+FFFD (one per maximal invalid subpart, as Python decodes);
  UTF-16 surrogates encoded as 3-byte sequences (CESU-8 / Java "modified UTF-8") are joined into the
  real character when they pair up, else U+FFFD; raw U+FFFE / U+FFFF become U+FFFD.

The output is always UTF-8: UTF-16 input (with or without a byte-order mark) and 8-bit encodings
named in the XML declaration are transcoded first, so the XML parser must be told
``encoding="utf-8"``. Newlines are never added or removed, so line numbers the XML parser reports
are line numbers of the original file.

The result does not depend on how the underlying stream splits its reads: anything that could be
the start of a reference, a surrogate pair, a multi-byte character or a record's start tag at the
end of a block is held back until the next block decides it.

The reader also keeps what the parser needs to say where things are: it counts record start tags
(``<sms``, ``<mms``, ``<call`` followed by a space, ``/`` or ``>``; not inside comments, CDATA
sections, processing instructions or a DOCTYPE) as they go by, notes the line each one starts on
(``record_lines``) and where in the repaired text (``record_offsets``), attributes each repair
to the record it falls in (``repairs_by_record[n]``: repairs inside the n-th record, 1-based; 0 is
before the first), and keeps the text of the last record begun (``tail()``: what is left of a
record the file ends inside). References inside CDATA sections (text, not references) would be
repaired too; the app never writes CDATA.

A read error of the raw stream (a damaged zip member, a disk error) ends the input where it
happened, as if the file ended there; ``read_error`` says why.
"""

from __future__ import annotations

import bisect
import codecs
import re
import threading
import zipfile
import zlib
from typing import BinaryIO

import numpy as np

BLOCK = 1 << 20
TAIL_CAP = 64 * 1024  # how much of a trailing (possibly incomplete) record is kept for a reject

FFFD_REF = b"&#65533;"
FFFD_UTF8 = "\ufffd".encode()

# --- numeric character references ------------------------------------------------------------
# A reference is `&#` + 1-12 decimal digits or `x` + 1-10 hex digits + `;`. Longer ones are left
# to the XML parser, both in one piece and split, so the rule does not depend on read boundaries.
_LEN_OK = rb"(?=(?:[0-9]{1,12}|x[0-9a-fA-F]{1,10});)"
_HI_D = rb"0*(?:5529[6-9]|55[3-9][0-9]{2}|56[0-2][0-9]{2}|563[01][0-9])"  # 55296-56319
_LO_D = rb"0*(?:563[2-9][0-9]|56[4-9][0-9]{2}|57[0-2][0-9]{2}|573[0-3][0-9]|5734[0-3])"  # 56320-57343
_HI_X = rb"x0*[dD][89abAB][0-9a-fA-F]{2}"
_LO_X = rb"x0*[dD][c-fC-F][0-9a-fA-F]{2}"
_BAD_D = (rb"0*(?:[0-8]|1[124-9]|2[0-9]|3[01]"  # controls other than tab, LF, CR
          rb"|6553[45]"  # U+FFFE, U+FFFF
          rb"|111411[2-9]|11141[2-9][0-9]|1114[2-9][0-9]{2}|111[5-9][0-9]{3}|11[2-9][0-9]{4}"
          rb"|1[2-9][0-9]{5}|[2-9][0-9]{6}|[1-9][0-9]{7,})")  # beyond U+10FFFF
_BAD_X = (rb"x0*(?:[0-8]|[bBcCeEfF]|1[0-9a-fA-F]"
          rb"|[fF]{3}[eEfF]"
          rb"|1[1-9a-fA-F][0-9a-fA-F]{4}|[2-9a-fA-F][0-9a-fA-F]{5}|[1-9a-fA-F][0-9a-fA-F]{6,})")

_SUSPECT = re.compile(
    rb"&#" + _LEN_OK + rb"(?:"
    rb"(?P<hi>" + _HI_D + rb"|" + _HI_X + rb");"
    rb"(?:&#" + _LEN_OK + rb"(?P<lo>" + _LO_D + rb"|" + _LO_X + rb");)?"
    rb"|(?P<lone>" + _LO_D + rb"|" + _LO_X + rb");"
    rb"|(?P<bad>" + _BAD_D + rb"|" + _BAD_X + rb");)")
# A high-surrogate reference ending exactly at the end of a block: its low half may follow.
_HI_AT_END = re.compile(rb"&#" + _LEN_OK + rb"(?:" + _HI_D + rb"|" + _HI_X + rb");\Z")
# What the end of a block may be the beginning of: `&`, `&#`, `&#123`, `&#x`, `&#xAB`.
_REF_PREFIX = re.compile(rb"&(?:#(?:[0-9]{0,12}|x[0-9a-fA-F]{0,10}))?")
_MAX_REF = 15

# --- raw bytes -----------------------------------------------------------------------------------
_CTRL = bytes(b for b in range(32) if b not in (9, 10, 13))
_CTRL_RUN = re.compile(b"[" + re.escape(_CTRL) + b"]+")
_NONCHAR_RAW = re.compile(rb"\xef\xbf[\xbe\xbf]")

# --- record start tags ---------------------------------------------------------------------------
RECORD_START = re.compile(rb"<(?:sms|mms|call)[ \t\r\n/>]")
# A record start tag, or the start of a comment, CDATA section, processing instruction or DOCTYPE.
_SPECIAL_START = re.compile(rb"<[!?]")
_TAG_END = np.frombuffer(b" \t\r\n/>", dtype=np.uint8)


def tag_starts(codes: np.ndarray) -> tuple[np.ndarray, bool]:
    """Where a record start tag (`<sms`, `<mms`, `<call` and a space, `/` or `>`) or a `<!` / `<?`
    begins in a piece (vectorised: a backup has a tag per line), and whether any is `<!` / `<?`."""
    lt = np.flatnonzero(codes == 60)  # `<`
    if not len(lt):
        return lt, False
    padded = np.concatenate((codes, np.zeros(5, dtype=np.uint8)))
    c1, c2, c3, c4, c5 = (padded[lt + i] for i in range(1, 6))
    special = (c1 == 33) | (c1 == 63)  # `!`, `?`
    three = ((c1 == 115) | (c1 == 109)) & (c2 == 109) & (c3 == 115) & np.isin(c4, _TAG_END)  # sms, mms
    call = (c1 == 99) & (c2 == 97) & (c3 == 108) & (c4 == 108) & np.isin(c5, _TAG_END)
    return lt[special | three | call], bool(special.any())
_ALLOWED_CONTROLS = np.frombuffer(b"\t\n\r", dtype=np.uint8)

_XML_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


_REF_CACHE: dict[bytes, bytes] = {}


def _ref_value(text: bytes) -> int:
    return int(text[1:], 16) if text[:1] == b"x" else int(text)


def _ref_repair(m: re.Match) -> bytes:
    hi = m.group("hi")
    if hi is not None:
        lo = m.group("lo")
        if lo is not None:
            code = 0x10000 + ((_ref_value(hi) - 0xD800) << 10) + (_ref_value(lo) - 0xDC00)
            return b"&#%d;" % code
    return FFFD_REF


# --- invalid UTF-8 -------------------------------------------------------------------------------
_tls = threading.local()
_HANDLER = "commtrail-xmlrepair"


def _cesu_at(data: bytes, i: int) -> int | None:
    """The surrogate code point encoded as 3 bytes at ``data[i:i+3]``, if that is what is there."""
    if i + 3 <= len(data) and data[i] == 0xED and 0xA0 <= data[i + 1] <= 0xBF and 0x80 <= data[i + 2] <= 0xBF:
        return 0xD000 | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
    return None


def _utf8_error(exc: UnicodeDecodeError) -> tuple[str, int]:
    data, start = exc.object, exc.start
    edits = _tls.edits
    code = _cesu_at(data, start)
    if code is not None:
        if code <= 0xDBFF:
            low = _cesu_at(data, start + 3)
            if low is not None and low >= 0xDC00:
                char = chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                edits.append((start, start + 6, char.encode(), 1))
                return "", start + 6
        edits.append((start, start + 3, FFFD_UTF8, 1))
        return "", start + 3
    if data[start:start + 2] == b"\xc0\x80":  # Java's "modified UTF-8" NUL
        edits.append((start, start + 2, FFFD_UTF8, 1))
        return "", start + 2
    edits.append((start, exc.end, FFFD_UTF8, 1))
    return "", exc.end


codecs.register_error(_HANDLER, _utf8_error)


def _utf8_edits(piece: bytes) -> list[tuple[int, int, bytes, int]]:
    edits: list[tuple[int, int, bytes, int]] = []
    _tls.edits = edits
    try:
        piece.decode("utf-8", _HANDLER)
    finally:
        _tls.edits = None
    for m in _NONCHAR_RAW.finditer(piece):
        edits.append((m.start(), m.end(), FFFD_UTF8, 1))
    return edits


def _valid_utf8(codes: np.ndarray) -> bool:
    """Whether bytes are valid UTF-8 without U+FFFE / U+FFFF, looking only at the runs of bytes
    >= 0x80 (an ASCII byte always ends a character, so each run can be checked on its own; they
    are checked all at once, an ASCII space between two runs)."""
    high = np.flatnonzero(codes >= 0x80)
    breaks = np.flatnonzero(np.diff(high) > 1) + 1
    runs = np.insert(codes[high], breaks, 0x20).tobytes()
    if b"\xef\xbf\xbe" in runs or b"\xef\xbf\xbf" in runs:
        return False
    try:
        runs.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_tail_cut(buf: bytes, cut: int) -> int:
    """Move ``cut`` back before a multi-byte character or surrogate pair that may be incomplete."""
    if cut == 0 or buf[cut - 1] < 0x80:
        return cut
    for back in range(1, min(4, cut) + 1):
        byte = buf[cut - back]
        if byte >= 0xC0:  # a lead byte
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            if (byte == 0xC0 and back == 1) or (0xC2 <= byte <= 0xF4 and need > back):
                cut -= back
            break
        if byte < 0x80:
            break
    if cut >= 3:
        code = _cesu_at(buf, cut - 3)
        if code is not None and code <= 0xDBFF:
            cut -= 3  # a raw high surrogate: its low half may follow
    return cut


def safe_cut(buf: bytes) -> int:
    """How much of ``buf`` can be repaired now, whatever bytes follow it."""
    size = len(buf)
    cut = size
    lt = buf.rfind(b"<", max(0, size - 8))  # a record start tag, `<!--`, `<![CDATA[`, `<!DOCTYPE`
    if lt != -1:
        cut = lt
    amp = buf.rfind(b"&", max(0, size - _MAX_REF))
    if amp != -1 and amp < cut and _REF_PREFIX.fullmatch(buf, amp):
        cut = amp
    cut = _utf8_tail_cut(buf, cut)
    m = _HI_AT_END.search(buf, max(0, cut - 2 * _MAX_REF), cut)
    if m:
        cut = m.start()
    return cut


class RepairReader:
    """A read-only binary file-like object returning repaired UTF-8 bytes of ``raw``.

    Attributes after (or during) reading: ``repairs`` (total changes), ``repairs_by_record``
    (record number -> changes in it), ``record_starts`` (record start tags seen),
    ``record_lines`` (the line of each, in order), ``newlines``, ``bytes_in`` (bytes read from
    ``raw``), ``bytes_out``, ``eof`` (``raw`` is exhausted), ``read_error``, ``encoding`` (as
    detected), ``notes`` (things worth a warning: a transcoded 8-bit encoding, a wrong
    declaration), ``has_doctype``.
    """

    def __init__(self, raw: BinaryIO, block_size: int = BLOCK) -> None:
        self._raw = raw
        self._block = block_size
        self._pending = b""  # input held back until the next block decides it
        self._out = b""  # repaired bytes not yet returned
        self._out_pos = 0
        self._decoder = None  # incremental decoder when transcoding to UTF-8
        self._started = False
        self.eof = False
        self.read_error: Exception | None = None  # why the raw stream stopped early, if it did
        self.repairs = 0
        self.repairs_by_record: dict[int, int] = {}
        self.record_starts = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.newlines = 0
        self.encoding = "utf-8"
        self.notes: list[str] = []
        self.has_doctype = False
        self._tail = b""  # repaired text since the last record start tag (its first TAIL_CAP bytes)
        self._tail_size = 0  # its full size
        self._tail_offset = 0  # where it starts in the repaired text
        self.bytes_out_total = 0  # repaired bytes produced so far
        self._skip: bytes | None = None  # inside a comment, CDATA, PI or DOCTYPE: its terminator
        self._skip_carry = b""  # the end of the previous piece, while skipping
        # The line of each record start tag, in order, and its byte offset in the repaired text (the
        # parser drops the ones it has used from both).
        self.record_lines: list[int] = []
        self.record_offsets: list[int] = []

    # -- the file-like interface ------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._out[self._out_pos:]]
            self._out, self._out_pos = b"", 0
            while not self.eof:
                parts.append(self._next_block())
            data = b"".join(parts)
            self.bytes_out += len(data)
            return data
        while len(self._out) - self._out_pos < size and not self.eof:
            block = self._next_block()
            if block:
                rest = self._out[self._out_pos:]
                self._out = rest + block if rest else block
                self._out_pos = 0
        data = self._out[self._out_pos:self._out_pos + size]
        self._out_pos += len(data)
        if self._out_pos >= len(self._out):
            self._out, self._out_pos = b"", 0
        self.bytes_out += len(data)
        return data

    def resume(self) -> None:
        """Read on after ``raw`` ended once: for a ``raw`` that ends at a border and then goes on
        (everything before the border was repaired and returned, nothing is held back)."""
        self.eof = False

    @property
    def in_markup(self) -> bool:
        """Whether what was read so far ends inside a comment, CDATA section, processing
        instruction or DOCTYPE."""
        return self._skip is not None

    def tail(self) -> tuple[str, int, int]:
        """The repaired text from the last record start tag to the end of what was read (its
        first 64 KiB), its full size in bytes, and the byte offset (in the repaired text) where it
        starts: what is left of a record the file ends inside."""
        return self._tail.decode("utf-8", "replace"), self._tail_size, self._tail_offset

    # -- blocks -----------------------------------------------------------------------------------
    def _read_raw(self) -> bytes:
        if self.read_error is not None:
            return b""
        try:
            data = self._raw.read(self._block)
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            self.read_error = exc  # what was read so far is processed; the caller reports it
            return b""
        if data:
            self.bytes_in += len(data)
        return data or b""

    def _next_block(self) -> bytes:
        """Read one block from ``raw`` and return its repaired part (maybe empty)."""
        if not self._started:
            data = self._start()
        else:
            data = self._read_raw()
        final = not data
        if self._decoder is not None:
            text = self._decoder.decode(data, False)
            data = text.encode("utf-8", "surrogatepass")
            if final and self._decoder.getstate()[0]:
                # a dangling half code unit at the end: one invalid byte, repaired (and counted) below
                data += b"\xff"
        if final:
            self.eof = True
            buf, self._pending = self._pending + data, b""
            piece = buf
        else:
            buf = self._pending + data if self._pending else data
            cut = safe_cut(buf)
            piece, self._pending = buf[:cut], buf[cut:]
        if not piece:
            return b""
        return self._repair(piece)

    def _start(self) -> bytes:
        """Read the head of the file, detect its encoding and set up transcoding if needed."""
        self._started = True
        head = b""
        while len(head) < 1024:  # enough for a byte-order mark and an XML declaration
            data = self._read_raw()
            if not data:
                break
            head += data
            if len(head) >= 4 and not head.lstrip(codecs.BOM_UTF8).startswith(b"<?xml") or b"?>" in head:
                break
        encoding = detect_encoding(head)
        if encoding in ("utf-16-le", "utf-16-be"):
            self.encoding = encoding  # lossless: no note
            self._decoder = codecs.getincrementaldecoder(encoding)("surrogatepass")
        elif encoding != "utf-8":
            try:
                codec = codecs.lookup(encoding)
            except LookupError:
                self.notes.append(f"the XML declaration names an unknown encoding {encoding!r}; read as UTF-8")
            else:
                if codec.name in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"):
                    self.notes.append(f"the XML declaration says {encoding!r} but the bytes are 8-bit; read as UTF-8")
                elif codec.name not in ("utf-8", "ascii"):
                    self.encoding = codec.name
                    self.notes.append(f"the file is encoded as {codec.name}; transcoded to UTF-8")
                    self._decoder = codec.incrementaldecoder("replace")
        return head

    def _repair(self, piece: bytes) -> bytes:
        codes = np.frombuffer(piece, dtype=np.uint8)
        low = np.flatnonzero(codes < 32)  # every control byte, line feeds included
        low_codes = codes[low]
        newlines = low[low_codes == 10]
        starts = None
        if self._skip is None:
            tags, special = tag_starts(codes)
            if not special:  # no comment, CDATA, PI or DOCTYPE among them: all record starts
                starts = tags.tolist()
        if starts is None:
            starts = self._record_starts(piece)
        if starts:
            lines = np.searchsorted(newlines, starts) + (self.newlines + 1)
            self.record_lines.extend(lines.tolist())
        self.newlines += len(newlines)
        edits: list[tuple[int, int, bytes, int]] = []
        if b"&#" in piece:
            cache = _REF_CACHE
            for m in _SUSPECT.finditer(piece):
                text = m.group()
                replacement = cache.get(text)
                if replacement is None:
                    replacement = _ref_repair(m)
                    if len(cache) < 4096:
                        cache[text] = replacement
                edits.append((m.start(), m.end(), replacement, 1))
        if len(low) != len(newlines) and not np.isin(low_codes, _ALLOWED_CONTROLS).all():
            for m in _CTRL_RUN.finditer(piece):
                n = m.end() - m.start()
                edits.append((m.start(), m.end(), FFFD_UTF8 * n, n))
        if not piece.isascii() and not _valid_utf8(codes):
            edits.extend(_utf8_edits(piece))
        base = self.record_starts
        self.record_starts += len(starts)
        if not edits:
            if starts:
                self.record_offsets.extend((np.asarray(starts) + self.bytes_out_total).tolist())
            self._keep_tail(piece, starts[-1] if starts else None)
            return piece
        edits.sort()
        out = []
        pos = 0
        by_record = self.repairs_by_record
        for start, end, replacement, count in edits:
            out.append(piece[pos:start])
            out.append(replacement)
            pos = end
            record = base + bisect.bisect_right(starts, start)
            by_record[record] = by_record.get(record, 0) + count
            self.repairs += count
        out.append(piece[pos:])
        repaired = b"".join(out)
        last = None
        if starts:  # where the record start tags are, once the repairs before them are made
            at = np.asarray(starts)
            growth = np.cumsum([0] + [len(r) - (e - s) for s, e, r, _ in edits])
            moved = at + growth[np.searchsorted(np.asarray([s for s, _, _, _ in edits]), at)]
            self.record_offsets.extend((moved + self.bytes_out_total).tolist())
            last = int(moved[-1])
        self._keep_tail(repaired, last)
        return repaired

    def _keep_tail(self, out: bytes, last: int | None) -> None:
        if last is not None:
            self._tail = out[last:last + TAIL_CAP]
            self._tail_size = len(out) - last
            self._tail_offset = self.bytes_out_total + last
        else:
            if len(self._tail) < TAIL_CAP:
                self._tail += out[:TAIL_CAP - len(self._tail)]
            self._tail_size += len(out)
        self.bytes_out_total += len(out)

    def _record_starts(self, piece: bytes) -> list[int]:
        """Where record start tags begin in ``piece``, outside comments, CDATA sections,
        processing instructions and a DOCTYPE (which may span pieces)."""
        starts: list[int] = []
        pos, size = 0, len(piece)
        while pos < size:
            if self._skip is not None:
                term = self._skip
                end = -1
                if self._skip_carry:  # the terminator may straddle the previous piece
                    head = self._skip_carry + piece[:len(term) - 1]
                    j = head.find(term)
                    if j != -1:
                        end = j + len(term) - len(self._skip_carry)
                if end == -1:
                    j = piece.find(term, pos)
                    if j == -1:
                        self._skip_carry = (self._skip_carry + piece)[-(len(term) - 1):]
                        return starts
                    end = j + len(term)
                self._skip, self._skip_carry = None, b""
                pos = end
                continue
            special = _SPECIAL_START.search(piece, pos)   # the nearer of `<!` and `<?`: one scan, not two to the end
            k = special.start() if special else -1
            stop = size if k == -1 else k
            starts.extend(m.start() for m in RECORD_START.finditer(piece, pos, stop))
            if k == -1:
                break
            if piece.startswith(b"<!--", k):
                self._skip, pos = b"-->", k + 4
            elif piece.startswith(b"<![CDATA[", k):
                self._skip, pos = b"]]>", k + 9
            elif piece.startswith(b"<?", k):
                self._skip, pos = b"?>", k + 2
            elif piece.startswith(b"<!DOCTYPE", k):
                self.has_doctype = True
                gt, bracket = piece.find(b">", k), piece.find(b"[", k)
                self._skip = b"]>" if bracket != -1 and (gt == -1 or bracket < gt) else b">"
                pos = k + 9
            else:
                pos = k + 2
        return starts


def detect_encoding(head: bytes) -> str:
    """The encoding of a file from its first bytes: a byte-order mark, the shape of `<?`, or the
    XML declaration. ``utf-8`` when nothing says otherwise (the XML default)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith(b"\xff\xfe") and not head.startswith(b"\xff\xfe\x00\x00"):
        return "utf-16-le"
    if head.startswith(b"\xfe\xff"):
        return "utf-16-be"
    if head.startswith(b"<\x00") and len(head) > 3 and head[3] == 0:
        return "utf-16-le"
    if head.startswith(b"\x00<") and len(head) > 2 and head[2] == 0:
        return "utf-16-be"
    m = _XML_DECL_ENCODING.match(head)
    if m:
        return m.group(1).decode("ascii").lower()
    return "utf-8"


def repair_bytes(data: bytes) -> tuple[bytes, int]:
    """Repair a whole byte string at once: (repaired bytes, number of repairs)."""
    import io

    reader = RepairReader(io.BytesIO(data))
    out = reader.read()
    return out, reader.repairs
