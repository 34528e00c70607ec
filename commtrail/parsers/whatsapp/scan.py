"""The vectorised pass over a WhatsApp export: bytes in, one row per message out.

The stream is read in chunks of a few MiB, cut at the last complete line. The lines of a chunk
become one Arrow string array *over the chunk's own buffer* (no copy). One RE2 pattern, built for
the header shape of this file, tells header lines from continuation lines (a DFA match, no
capture groups). Everything else is offsets arithmetic in numpy: where the header ends (the
literal that closes it, found with a vectorised substring search), where the name ends (the first
colon of the line after the header), where the message ends (before the next header line). The
date/time text, the names and the bodies are then cut out of the chunk with one ``take`` each,
and the digits of the date/time are read with numpy. The last message of a chunk may continue in
the next one, so it is carried over. Python loops over rows only where a line needs repair
(invalid UTF-8) or lies before the first header. The date/time and message texts of each chunk
wait in a temporary file (``TextStore``) while the whole-file decisions are made, so memory holds
the small columns of every message and the texts of one chunk, not the whole file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers.base import read_full
from commtrail.parsers.whatsapp import headers as wf

CHUNK = 8 << 20
SAMPLE_BYTES = 1 << 20
MAX_SAMPLE_BYTES = 16 << 20
SAMPLE_LINES = 2000
BOM = b"\xef\xbb\xbf"
MAX_FIELDS = 6  # day, month, year, hour, minute, second
TOO_LONG = 32767  # a run of more than 4 digits: never a valid field


class TextStore:
    """The date/time and message texts of the scanned chunks, kept out of memory: each chunk's two
    columns as an Arrow IPC stream in one anonymous temporary file (in memory while it is small), so
    a large export is not held whole while the whole-file decisions are made. The chunk read last
    is remembered, for the loops that read one chunk's texts more than once."""

    SPOOL = 16 << 20   # bytes kept in memory before the file goes to disk

    def __init__(self, folder: Path | None) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._file = tempfile.SpooledTemporaryFile(self.SPOOL, dir=folder)
        self._last: tuple[int, pa.RecordBatch] | None = None

    def put(self, dt: pa.Array, body: pa.Array) -> tuple[int, int]:
        """Store one chunk's texts; where they are (offset, size)."""
        batch = pa.RecordBatch.from_arrays([dt, body], names=["dt", "body"])
        start = self._file.seek(0, os.SEEK_END)
        with pa.ipc.new_stream(self._file, batch.schema) as writer:
            writer.write_batch(batch)
        return start, self._file.tell() - start

    def get(self, where: tuple[int, int]) -> pa.RecordBatch:
        """The texts stored at ``where``."""
        if self._last is None or self._last[0] != where[0]:
            self._file.seek(where[0])
            self._last = where[0], pa.ipc.open_stream(self._file.read(where[1])).read_next_batch()
        return self._last[1]

    def close(self) -> None:
        self._last = None
        self._file.close()


@dataclass
class Chunk:
    """The messages found in one chunk of the file."""

    prefix: tuple             # (rows, texts): rows whose header has invisible marks, the text before the date
    fmt_idx: np.ndarray       # int8: index of the row's header shape in ``Scan.formats``
    store: TextStore          # holds the texts: ``dt``, the date/time exactly as written (ts_local), and ``body``
    where: tuple[int, int]    # their place in the store
    author_idx: np.ndarray    # int32 index into ``author_names`` (the name as written; "" = none)
    author_names: list[str]
    seplen: np.ndarray        # int8: 2 for ": ", 1 for ":" at the end of the line, 0 without name
    line: np.ndarray          # int32, 1-based line of the header
    nlines: np.ndarray        # int32, lines in the message
    fields: np.ndarray        # int16 (MAX_FIELDS, n): numbers of the date/time, -1 when absent
    flen: np.ndarray          # int8 (MAX_FIELDS, n): their digit counts
    nfields: np.ndarray       # int8
    is_pm: np.ndarray | None  # bool, 12-hour files only
    period_ok: np.ndarray | None
    ends_gt: np.ndarray       # bool: the text ends with ">" (may carry an edited marker)
    attach_hint: np.ndarray   # bool: the first line of the text ends with ")" or ">" (may name an attachment)

    @property
    def dt(self) -> pa.Array:
        return self.store.get(self.where).column(0)

    @property
    def body(self) -> pa.Array:
        return self.store.get(self.where).column(1)

    def __len__(self) -> int:
        return len(self.fmt_idx)


@dataclass
class Scan:
    formats: list[wf.HeaderFormat] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    pre_header: list[tuple[int, str]] = field(default_factory=list)
    repaired_lines: list[int] = field(default_factory=list)
    headerlike_lines: list[int] = field(default_factory=list)
    repairs: int = 0


def read_sample(stream: BinaryIO) -> tuple[bytes, wf.Detection]:
    """The start of the stream and the header shape found in it.

    Reads SAMPLE_BYTES, and more (doubling) while no header line has been seen yet, up to
    MAX_SAMPLE_BYTES; the bytes read are the start of the scan.
    """
    size = max(SAMPLE_BYTES, 1)
    data = read_full(stream, size)
    eof = len(data) < size
    while True:
        detection = wf.detect(sample_lines(data, eof))
        if detection.fmt is not None or eof or len(data) >= MAX_SAMPLE_BYTES:
            return data, detection
        more = read_full(stream, len(data))
        eof = len(more) < len(data)
        data += more


def sample_lines(data: bytes, eof: bool) -> list[str]:
    """The complete lines at the start of ``data`` (at most SAMPLE_LINES), decoded leniently."""
    text = data[:MAX_SAMPLE_BYTES].decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")[:SAMPLE_LINES + 1]
    if len(lines) > SAMPLE_LINES or not (eof or data.endswith(b"\n")):
        lines = lines[:-1]           # the last piece may be cut
    return [line.rstrip("\r") for line in lines]


MARKS_AT_ONCE = 8   # marks skipped a step at a time for all lines at once; a longer run, one match per line


class Scanner:
    """Reads one export whose header shapes are known (more stand-alone shapes found in the
    text are added as they show up, see ``_find_shapes``)."""

    def __init__(self, formats: list[wf.HeaderFormat], store: TextStore) -> None:
        w = wf.wording()
        self.generic = wf.generic_re2()
        codes3, codes2 = [], []
        for mark in w.marks:
            raw = mark.encode("utf-8")
            if len(raw) == 3:
                codes3.append((raw[0] << 16) | (raw[1] << 8) | raw[2])
            elif len(raw) == 2:
                codes2.append((raw[0] << 8) | raw[1])
        self.mark3 = np.array(sorted(codes3), dtype=np.int64)
        self.mark2 = np.array(sorted(codes2), dtype=np.int64)
        # a run of marks of any length, its bytes (for the rare line that starts with more than a few)
        self.mark_run = re.compile(b"(?:" + b"|".join(re.escape(m.encode("utf-8")) for m in w.marks) + b")*+")
        self.events = re.compile(wf.events_python_regex())
        self.marks = "".join(w.marks)
        self.scan = Scan()
        self.store = store
        self._scratch = np.empty(0, dtype=bool)
        self._set_formats(list(formats))

    def _set_formats(self, formats: list[wf.HeaderFormat]) -> None:
        w = wf.wording()
        self.formats = self.scan.formats = formats
        self.match_patterns = [f.re2_match_pattern() for f in formats]
        self.pre_patterns = [f.re2_pre_pattern() if f.end_kind == "space" else None for f in formats]
        self.end_bytes = [len(f.end.encode("utf-8")) for f in formats]
        self.period_patterns = [f.re2_period_patterns() if f.period else None for f in formats]
        self.bracket = np.array([f.bracket for f in formats], dtype=bool)
        self.digit_map = sorted({(ch, str(i)) for f in formats if f.digits
                                 for i, ch in enumerate(w.digit_sets[f.digits])})

    # -- the chunk loop -------------------------------------------------------------------

    def run(self, stream: BinaryIO, first: bytes) -> Scan:
        """Read the rest of ``stream`` (``first`` already read) chunk by chunk into ``self.scan``.

        One reusable buffer: a chunk's text stays in it only while the chunk is parsed (what is kept
        is copied out), then the unfinished last message moves to the front and the next read fills
        the rest. No per-chunk allocation of the chunk's size.
        """
        if first.startswith(BOM):
            first = first[len(BOM):]
        buf = bytearray(max(CHUNK, 2 * len(first), 64))
        buf[:len(first)] = first
        fill = len(first)
        base_line, seen_header, eof = 1, False, False
        while True:
            while not eof and fill < len(buf):
                got = _readinto(stream, buf, fill)
                eof = got == 0
                fill += got
            region_end = fill if eof else buf.rfind(b"\n", 0, fill) + 1
            if region_end == 0 and not eof:            # no complete line yet: make room
                buf = _grow(buf, fill)
                continue
            region = memoryview(buf)[:region_end]
            done, carry_from, lines_done, seen_header = self._process(region, eof, base_line, seen_header)
            if eof:
                break
            if done is region:
                tail = fill - carry_from
                buf[:tail] = buf[carry_from:fill]
            else:                                       # the chunk was repaired: carry the repaired text
                carry = bytes(done[carry_from:]) + bytes(buf[region_end:fill])
                tail = len(carry)
                if tail > len(buf):
                    buf = bytearray(2 * tail)
                buf[:tail] = carry
            with contextlib.suppress(BufferError):     # still exported: the garbage collector will do it
                region.release()
            fill = tail
            if fill == len(buf):                        # one message longer than the buffer
                buf = _grow(buf, fill)
            base_line += lines_done
        return self.scan

    def _process(self, region: memoryview, eof: bool, base_line: int, seen_header: bool):
        """Parse the complete lines of one chunk.

        Returns (region, carry_from, lines_done, seen_header): ``region`` may come back repaired;
        bytes from ``carry_from`` on (the last, possibly unfinished message) are read again with the
        next chunk; ``lines_done`` lines were consumed.
        """
        scan = self.scan
        starts = self._line_starts(region)
        nlines = len(starts)
        if nlines == 0:
            return region, len(region), 0, seen_header
        offsets = np.append(starts, len(region))
        lines = _string_array(region, offsets)
        try:
            lines.validate(full=True)
        except pa.ArrowInvalid:
            region = _repair(region, starts, base_line, scan)
            starts = self._line_starts(region)
            offsets = np.append(starts, len(region))
            lines = _string_array(region, offsets)
        fmt_of = self._header_formats(lines)
        if self._find_shapes(lines, fmt_of):
            fmt_of = self._header_formats(lines)
        is_header = fmt_of >= 0
        hidx = np.flatnonzero(is_header)

        if not seen_header:
            if len(hidx) == 0 and not eof:
                return region, 0, 0, False           # keep reading until a header shows up
            stop = hidx[0] if len(hidx) else nlines
            for i in range(stop):
                text = bytes(region[offsets[i]:offsets[i + 1]]).decode("utf-8")
                scan.pre_header.append((base_line + i, _strip_terminator(text)))
            if len(hidx) == 0:
                return region, len(region), nlines, False
            seen_header = True

        if not eof:
            if len(hidx) <= 1:                       # one unfinished message: read more first
                return region, int(offsets[hidx[0]]), int(hidx[0]), seen_header
            carry_line = int(hidx[-1])
            hidx = hidx[:-1]
            end = int(offsets[carry_line])
        else:
            carry_line = nlines
            end = len(region)
        self._messages(region, offsets, hidx, fmt_of[hidx], end, carry_line, base_line)

        # Continuation lines that look like a header of another shape.
        cont = ~is_header
        cont[:hidx[0]] = False
        cont[carry_line:] = False
        if cont.any():
            cont_idx = np.flatnonzero(cont)
            hit = _bools(pc.match_substring_regex(lines.take(_idx(cont_idx)), self.generic))
            if hit.any():
                scan.headerlike_lines.extend((base_line + cont_idx[hit]).tolist())
        carry_from = int(offsets[carry_line]) if carry_line < nlines else len(region)
        return region, carry_from, carry_line, seen_header

    def _header_formats(self, lines: pa.Array) -> np.ndarray:
        """Per line, the index of the first header shape it matches (-1: not a header)."""
        fmt_of = np.full(len(lines), -1, dtype=np.int8)
        for i, pattern in enumerate(self.match_patterns):
            hit = _bools(pc.match_substring_regex(lines, pattern))
            if i:
                hit &= fmt_of < 0
            fmt_of[hit] = i
        return fmt_of

    def _find_shapes(self, lines: pa.Array, fmt_of: np.ndarray) -> bool:
        """Add the header shapes of lines after the first header that no known shape matches but
        that stand alone (a phone's locale changed mid-chat); True when any was added."""
        first = np.flatnonzero(fmt_of >= 0)
        if not len(first):
            return False
        other = np.flatnonzero(fmt_of[first[0]:] < 0) + first[0]
        if not len(other):
            return False
        sub = lines.take(_idx(other))
        hit = _bools(pc.match_substring_regex(sub, self.generic))
        if not hit.any():
            return False
        texts = [t.rstrip("\r\n") for t in sub.filter(pa.array(hit)).to_pylist()]
        added = wf.new_shapes(texts, set(self.formats))
        if added:
            self._set_formats(self.formats + added)
        return bool(added)

    def _messages(self, region: memoryview, offsets: np.ndarray, hidx: np.ndarray, row_fmt: np.ndarray,
                  end: int, carry_line: int, base_line: int) -> None:
        arr = np.frombuffer(region, dtype=np.uint8)
        size = len(arr)
        k = len(hidx)
        hs = offsets[hidx]
        next_start = np.empty(k, dtype=np.int64)
        next_start[:-1] = hs[1:]
        next_start[-1] = end

        # Where the date/time starts: after invisible marks, "[" and more marks.
        ds = self._skip_marks(arr, hs.copy())
        opened = self.bracket[row_fmt]
        if opened.any():
            ds[opened] = self._skip_marks(arr, ds[opened] + 1)
        # Where the header ends, shape by shape.
        messages = _segments(region, hs, end)      # header line + continuation lines, no copy
        de = np.empty(k, dtype=np.int64)
        rest = np.empty(k, dtype=np.int64)
        for fi, fmt in enumerate(self.formats):
            rows = np.arange(k) if len(self.formats) == 1 else np.flatnonzero(row_fmt == fi)
            if not len(rows):
                continue
            sub = messages if len(rows) == k else messages.take(_idx(rows))
            if self.pre_patterns[fi] is None:
                endpos = np.asarray(pc.find_substring(sub, fmt.end), dtype=np.int64)
                de[rows] = hs[rows] + endpos
                rest[rows] = de[rows] + self.end_bytes[fi]
            else:
                pre = pc.extract_regex(sub, self.pre_patterns[fi]).field("pre")
                rest[rows] = hs[rows] + np.asarray(pc.binary_length(pre), dtype=np.int64)
                de[rows] = rest[rows] - self.end_bytes[fi]
        # The name: up to the first colon of the line, when it is followed by a space or ends the line.
        line_end = offsets[hidx + 1]
        tails = _segments(region, _interleave(rest, line_end), end)
        colon = np.asarray(pc.find_substring(tails, ":"), dtype=np.int64)[0::2]
        has_colon = colon > 0
        after = rest + colon + 1
        at_end = after >= next_start
        nxt = arr[np.minimum(after, size - 1)]
        sep2 = has_colon & ~at_end & (nxt == 0x20)
        sep1 = has_colon & ~sep2 & (at_end | (nxt == 0x0A) | (nxt == 0x0D))
        has_author = sep2 | sep1
        seplen = (2 * sep2 + sep1).astype(np.int8)
        name_end = np.where(has_author, rest + colon, rest)
        authors = _segments(region, _interleave(rest, name_end), end).take(_idx(np.arange(0, 2 * k, 2)))
        enc = authors.dictionary_encode()
        # A system line whose quoted subject holds ": " reads as a name with an unbalanced quote
        # (``X changed the subject to "Re: plans"``): when the whole line is a known group event,
        # it has no name.
        suspect = [i for i, nm in enumerate(enc.dictionary.to_pylist()) if nm and _unbalanced_quotes(nm)]
        if suspect:
            rows = np.flatnonzero(np.isin(np.asarray(enc.indices), suspect) & has_author)
            for r in rows.tolist():
                line = bytes(region[rest[r]:line_end[r]]).decode("utf-8").rstrip("\r\n")
                if self.events.match(line.lstrip(self.marks)):
                    has_author[r], seplen[r], name_end[r] = False, 0, rest[r]
            if len(rows):
                authors = _segments(region, _interleave(rest, name_end), end).take(_idx(np.arange(0, 2 * k, 2)))
                enc = authors.dictionary_encode()

        # The message text: after the name (or the header) up to the line terminator before the
        # next header ("\n" or "\r\n"; a file's last line may have none).
        bs = np.where(has_author, name_end + seplen, rest)
        be = next_start.copy()
        has_nl = be > hs
        has_nl[has_nl] = arr[be[has_nl] - 1] == 0x0A
        be -= has_nl
        has_cr = has_nl & (be > hs)
        has_cr[has_cr] = arr[be[has_cr] - 1] == 0x0D
        be -= has_cr
        be = np.maximum(be, bs)
        body = _segments(region, _interleave(hs, bs, be), end).take(_idx(np.arange(1, 3 * k, 3)))
        dt = _segments(region, _interleave(ds, de), end).take(_idx(np.arange(0, 2 * k, 2)))
        marked = np.flatnonzero(ds - hs > opened)
        prefix = (marked.astype(np.int32),
                  _segments(region, _interleave(hs, ds), end).take(_idx(2 * marked)) if len(marked) else None)
        ends_gt = be > bs
        ends_gt[ends_gt] = arr[be[ends_gt] - 1] == 0x3E
        # Attachment markers end the first line of the text with ")" or ">".
        first_end = np.minimum(line_end, be)
        first_end -= (first_end > bs) & (arr[np.maximum(first_end - 1, 0)] == 0x0A) & (first_end == line_end)
        first_end -= (first_end > bs) & (arr[np.maximum(first_end - 1, 0)] == 0x0D)
        attach_hint = first_end > bs
        last = arr[np.maximum(first_end - 1, 0)]
        attach_hint &= (last == 0x29) | (last == 0x3E)

        next_line = np.empty(k, dtype=np.int64)
        next_line[:-1] = hidx[1:]
        next_line[-1] = carry_line
        fields, flen, nfields = digit_fields(self._ascii_digits(dt))
        is_pm = period_ok = None
        if any(self.period_patterns):
            is_pm, period_ok = np.zeros(k, dtype=bool), np.ones(k, dtype=bool)
            for fi, pats in enumerate(self.period_patterns):
                rows = np.flatnonzero(row_fmt == fi)
                if pats is None or not len(rows):
                    continue
                sub = dt if len(rows) == k else dt.take(_idx(rows))
                period_ok[rows] = _bools(pc.match_substring_regex(sub, pats[0]))
                is_pm[rows] = _bools(pc.match_substring_regex(sub, pats[1]))
        self.scan.chunks.append(Chunk(
            prefix=prefix, fmt_idx=row_fmt.astype(np.int8), store=self.store, where=self.store.put(dt, body),
            author_idx=np.asarray(enc.indices, dtype=np.int32), author_names=enc.dictionary.to_pylist(), seplen=seplen,
            line=(base_line + hidx).astype(np.int32), nlines=(next_line - hidx).astype(np.int32), fields=fields,
            flen=flen, nfields=nfields, is_pm=is_pm, period_ok=period_ok, ends_gt=ends_gt,
            attach_hint=attach_hint))

    def _ascii_digits(self, dt: pa.Array) -> pa.Array:
        """The date/time texts with digits of other scripts written as ASCII (for reading only)."""
        for ch, ascii_digit in self.digit_map:
            dt = pc.replace_substring(dt, ch, ascii_digit)
        return dt

    def _line_starts(self, region) -> np.ndarray:
        """Byte offsets of the lines of ``region`` (a reused scratch array finds the newlines)."""
        arr = np.frombuffer(region, dtype=np.uint8)
        if len(self._scratch) < len(arr):
            self._scratch = np.empty(len(arr), dtype=bool)
        newline = np.equal(arr, 10, out=self._scratch[:len(arr)])
        nl = np.flatnonzero(newline)
        starts = np.empty(len(nl) + 1, dtype=np.int64)
        starts[0] = 0
        starts[1:] = nl + 1
        if starts[-1] == len(arr):
            starts = starts[:-1]
        return starts

    def _skip_marks(self, arr: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Advance each position past invisible marks (UTF-8 sequences listed in the data file), as
        many as there are (a header may start with any number of them): a mark at a time for all
        positions at once, then, for a position still at one after :data:`MARKS_AT_ONCE` (a line of
        thousands of marks), its whole run in one match."""
        size = len(arr)
        for _ in range(MARKS_AT_ONCE):
            p = np.minimum(pos, size - 1)
            b0 = arr[p].astype(np.int64)
            lead3 = b0 >= 0xE0
            lead2 = (b0 >= 0xC0) & (b0 < 0xE0)
            if not (lead3.any() or lead2.any()):
                return pos
            b1 = arr[np.minimum(p + 1, size - 1)].astype(np.int64)
            b2 = arr[np.minimum(p + 2, size - 1)].astype(np.int64)
            is3 = lead3 & np.isin((b0 << 16) | (b1 << 8) | b2, self.mark3) & (pos + 3 <= size)
            is2 = lead2 & np.isin((b0 << 8) | b1, self.mark2) & (pos + 2 <= size)
            if not (is3.any() or is2.any()):
                return pos
            pos = pos + 3 * is3 + 2 * is2
            moved = is3 | is2
        view = memoryview(arr)
        pos = pos.copy()
        for i in np.flatnonzero(moved).tolist():   # (those the last step moved: any other is past its marks)
            pos[i] = self.mark_run.match(view, int(pos[i])).end()
        return pos


# --- helpers ------------------------------------------------------------------------------------

def _unbalanced_quotes(name: str) -> bool:
    return (name.count('"') % 2 == 1 or name.count("\u201c") != name.count("\u201d")
            or name.count("\u00ab") != name.count("\u00bb") or "\u201e" in name)


def _idx(rows: np.ndarray) -> pa.Array:
    """Row numbers for ``take``: int32 (Arrow's take is several times faster than with int64)."""
    return pa.array(np.asarray(rows, dtype=np.int32))


def _bools(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _string_array(region, offsets: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)),
                                       pa.py_buffer(region))


def _interleave(*columns: np.ndarray) -> np.ndarray:
    out = np.empty(len(columns[0]) * len(columns), dtype=np.int64)
    for i, col in enumerate(columns):
        out[i::len(columns)] = col
    return out


def _segments(region, cuts: np.ndarray, end: int) -> pa.Array:
    """The consecutive pieces of ``region`` between ``cuts`` (and ``end``), as strings (no copy)."""
    offsets = np.empty(len(cuts) + 1, dtype=np.int32)
    offsets[:-1] = cuts
    offsets[-1] = end
    return pa.StringArray.from_buffers(len(cuts), pa.py_buffer(offsets), pa.py_buffer(region))


def _readinto(stream: BinaryIO, buf: bytearray, at: int) -> int:
    """Read into ``buf[at:]``; the number of bytes read (0 at the end of the stream)."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        with memoryview(buf) as whole, whole[at:] as view:
            return readinto(view) or 0
    piece = stream.read(len(buf) - at)
    buf[at:at + len(piece)] = piece
    return len(piece)


def _grow(buf: bytearray, fill: int) -> bytearray:
    bigger = bytearray(2 * len(buf))
    bigger[:fill] = buf[:fill]
    return bigger


def _strip_terminator(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _repair(region, starts: np.ndarray, base_line: int, scan: Scan) -> bytes:
    """Decode invalid UTF-8 with U+FFFD, line by line; count and remember what changed.

    A newline byte can never be part of a multi-byte sequence, so lines stay lines.
    """
    out = []
    ends = np.append(starts[1:], len(region))
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
        raw = bytes(region[s:e])
        try:
            raw.decode("utf-8")
            out.append(raw)
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            scan.repairs += text.count("\ufffd") - raw.count(b"\xef\xbf\xbd")
            scan.repaired_lines.append(base_line + i)
            out.append(text.encode("utf-8"))
    return b"".join(out)


def digit_fields(dt: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of ASCII digits in each date/time string, as numbers.

    Returns (values, digit counts, number of runs): ``values[j, i]`` is the j-th number of string
    i (-1 when absent; runs longer than 4 digits read as TOO_LONG, never a valid field). Works on the
    string array's flat buffer with numpy only.
    """
    n = len(dt)
    values = np.full((MAX_FIELDS, n), -1, dtype=np.int16)
    counts = np.zeros((MAX_FIELDS, n), dtype=np.int8)
    if n == 0:
        return values, counts, np.zeros(0, dtype=np.int8)
    if dt.offset:
        dt = pa.concat_arrays([dt])
    offs = np.frombuffer(dt.buffers()[1], dtype=np.int32, count=n + 1).astype(np.int64)
    base = offs[0]
    size = int(offs[-1] - base)
    pad = np.zeros(size + 6, dtype=np.uint8)
    pad[:size] = np.frombuffer(dt.buffers()[2], dtype=np.uint8, count=size, offset=int(base))
    rel = offs - base
    fixed = _fixed_width_fields(pad[:size], rel, n)
    if fixed is not None:
        return fixed
    isd = (pad - 48) < 10                                  # uint8 arithmetic: non-digits wrap high
    starts = np.zeros(size + 6, dtype=bool)
    starts[rel[:-1]] = True                                # first byte of each string
    run = isd.copy()
    run[1:] &= ~isd[:-1] | starts[1:]
    run[size:] = False
    rs = np.flatnonzero(run)
    value = pad[rs].astype(np.int32) - 48
    length = np.ones(len(rs), dtype=np.int8)
    going = np.ones(len(rs), dtype=bool)
    for k in range(1, 5):
        p = rs + k
        going &= isd[p] & ~starts[p]
        value = np.where(going, value * 10 + pad[p].astype(np.int32) - 48, value)
        length += going
    value[going & isd[rs + 5] & ~starts[rs + 5]] = TOO_LONG
    first = np.searchsorted(rs, rel[:-1])                 # index of each string's first run
    per_string = np.diff(np.append(first, len(rs)))
    sid = np.repeat(np.arange(n), per_string)
    fidx = np.arange(len(rs)) - first[sid]
    keep = fidx < MAX_FIELDS
    values[fidx[keep], sid[keep]] = value[keep]
    counts[fidx[keep], sid[keep]] = length[keep]
    return values, counts, np.minimum(per_string, 127).astype(np.int8)


def _fixed_width_fields(data: np.ndarray, rel: np.ndarray, n: int):
    """Fast path of digit_fields: every string has the same length and its digits in the same places
    (zero-padded formats such as ``25/12/2023, 21:04``). None when that is not so."""
    width = int(rel[1] - rel[0])
    if width == 0 or len(data) != width * n:
        return None
    grid = data.reshape(n, width)
    isd = (grid - 48) < 10
    layout = isd[0]
    if not (isd == layout).all():
        return None
    runs, j = [], 0
    while j < width:
        if layout[j]:
            k = j
            while k < width and layout[k]:
                k += 1
            runs.append((j, k))
            j = k
        else:
            j += 1
    if not runs or len(runs) > MAX_FIELDS or any(b - a > 4 for a, b in runs):
        return None
    values = np.full((MAX_FIELDS, n), -1, dtype=np.int16)
    counts = np.zeros((MAX_FIELDS, n), dtype=np.int8)
    for f, (a, b) in enumerate(runs):
        v = np.zeros(n, dtype=np.int32)
        for col in range(a, b):
            v = v * 10 + (grid[:, col].astype(np.int32) - 48)
        values[f] = v
        counts[f] = b - a
    return values, counts, np.full(n, len(runs), dtype=np.int8)
