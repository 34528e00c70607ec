"""The vectorised pass over a WhatsApp export: bytes in, one row per message out.

The stream is read in chunks of a few MiB. Each chunk is cut at its last complete line; its lines
become one Arrow string array *over the chunk's own buffer* (no copy), one RE2 pattern (built for
the header shape of this file) finds the header lines and their parts, and numpy arithmetic on
line offsets cuts out the message bodies (header line remainder plus continuation lines, line
terminators excluded) with one ``take``. The last message of a chunk may continue in the next
chunk, so it is carried over. Nothing here loops over rows in Python, except over lines that need
repair (invalid UTF-8) and lines before the first header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers import _whatsapp_format as wf

CHUNK = 8 << 20
SAMPLE_BYTES = 1 << 20
MAX_SAMPLE_BYTES = 16 << 20
SAMPLE_LINES = 5000
BOM = b"\xef\xbb\xbf"
MAX_FIELDS = 6  # day, month, year, hour, minute, second


@dataclass
class Columns:
    """Per-message columns gathered over all chunks (lists of per-chunk pieces)."""

    pre: list[pa.Array] = field(default_factory=list)       # header text up to the name
    dt: list[pa.Array] = field(default_factory=list)        # date/time exactly as written
    period: list[pa.Array] = field(default_factory=list)    # day-period word ("" if none)
    author: list[pa.Array] = field(default_factory=list)    # name as written ("" if none)
    seplen: list[np.ndarray] = field(default_factory=list)  # 2 for ": ", 1 for ":" at line end, 0
    body: list[pa.Array] = field(default_factory=list)
    line: list[np.ndarray] = field(default_factory=list)    # 1-based line of the header
    nlines: list[np.ndarray] = field(default_factory=list)  # lines in the message
    fields: list[np.ndarray] = field(default_factory=list)  # (MAX_FIELDS, n) int32, -1 = absent
    flen: list[np.ndarray] = field(default_factory=list)    # digit counts of the fields
    nfields: list[np.ndarray] = field(default_factory=list)
    # Lines that are not messages or that need a note.
    pre_header: list[tuple[int, str]] = field(default_factory=list)
    repaired_lines: list[int] = field(default_factory=list)
    headerlike_lines: list[int] = field(default_factory=list)
    repairs: int = 0
    total_lines: int = 0


def read_sample(stream: BinaryIO) -> tuple[bytes, wf.Detection]:
    """The start of the stream and the header shape found in it.

    Reads SAMPLE_BYTES, and more (doubling) while no header line has been seen yet, up to
    MAX_SAMPLE_BYTES; the bytes read are the start of the scan.
    """
    size = max(SAMPLE_BYTES, 1)
    data = _read(stream, size)
    eof = len(data) < size
    while True:
        detection = wf.detect(sample_lines(data, eof))
        if detection.fmt is not None or eof or len(data) >= MAX_SAMPLE_BYTES:
            return data, detection
        more = _read(stream, len(data))
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


def _read(stream: BinaryIO, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        piece = stream.read(size - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


def scan(stream: BinaryIO, first: bytes, fmt: wf.HeaderFormat) -> Columns:
    """Read the whole stream (``first`` already read) into message columns."""
    cols = Columns()
    pattern = fmt.re2_pattern()
    generic = wf.generic_re2()
    if first.startswith(BOM):
        first = first[len(BOM):]
    buf = first
    base_line = 1
    seen_header = False
    eof = len(first) == 0
    pending = b"" if eof else _read(stream, CHUNK)
    while True:
        if not eof:
            eof = len(pending) == 0
        if eof:
            region_end = len(buf)
        else:
            region_end = buf.rfind(b"\n") + 1
        if region_end == 0 and not eof:
            buf += pending
            pending = _read(stream, CHUNK)
            continue
        region = buf[:region_end] if region_end < len(buf) else buf
        region, carry_from, lines_done, seen_header = _process(
            region, eof, base_line, seen_header, pattern, generic, cols)
        if eof:
            cols.total_lines = base_line - 1 + lines_done
            break
        buf = region[carry_from:] + buf[region_end:] + pending
        base_line += lines_done
        pending = _read(stream, CHUNK)
    return cols


def _line_starts(region: bytes) -> np.ndarray:
    arr = np.frombuffer(region, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.empty(len(nl) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl + 1
    if starts[-1] == len(region):
        starts = starts[:-1]
    return starts


def _string_array(region: bytes, offsets: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)),
                                       pa.py_buffer(region))


def _process(region: bytes, eof: bool, base_line: int, seen_header: bool, pattern: str,
             generic: str, cols: Columns):
    """Parse the complete lines of one chunk.

    Returns (region, carry_from, lines_done, seen_header): ``region`` may come back repaired;
    bytes from ``carry_from`` on (the last, possibly unfinished message) are read again with the
    next chunk; ``lines_done`` lines were consumed.
    """
    starts = _line_starts(region)
    nlines = len(starts)
    if nlines == 0:
        return region, len(region), 0, seen_header
    offsets = np.append(starts, len(region))
    lines = _string_array(region, offsets)
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        region = _repair(region, starts, base_line, cols)
        starts = _line_starts(region)
        offsets = np.append(starts, len(region))
        lines = _string_array(region, offsets)
    parts = pc.extract_regex(lines, pattern)
    is_header = np.asarray(parts.is_valid())
    hidx = np.flatnonzero(is_header)

    if not seen_header:
        stop = hidx[0] if len(hidx) else (nlines if eof else 0)
        if not eof and len(hidx) == 0:
            return region, 0, 0, False           # keep reading until a header shows up
        for i in range(stop):
            text = region[offsets[i]:offsets[i + 1]].decode("utf-8")
            cols.pre_header.append((base_line + i, _strip_terminator(text)))
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

    k = len(hidx)
    take = pa.array(hidx)
    pre = pc.take(parts.field("pre"), take)
    dt = pc.take(parts.field("dt"), take)
    author = pc.take(parts.field("author"), take)
    sep = pc.take(parts.field("sep"), take)
    period = pc.take(parts.field("period"), take) if "period" in parts.type.names else None

    has_author = np.asarray(pc.and_(pc.not_equal(sep, ""), pc.not_equal(author, "")))
    seplen = np.where(np.asarray(pc.equal(sep, ": ")), 2, 1).astype(np.int8)
    seplen[~has_author] = 0
    if not has_author.all():
        author = pc.if_else(pa.array(has_author), author, "")

    hs = offsets[hidx]
    bs = (hs + np.asarray(pc.binary_length(pre), dtype=np.int64)
          + np.where(has_author, np.asarray(pc.binary_length(author), dtype=np.int64), 0) + seplen)
    next_start = np.empty(k, dtype=np.int64)
    next_start[:-1] = hs[1:]
    next_start[-1] = end
    be = next_start.copy()
    arr = np.frombuffer(region, dtype=np.uint8)
    has_prev = be > hs
    nl_end = np.zeros(k, dtype=bool)
    nl_end[has_prev] = arr[be[has_prev] - 1] == 10
    be -= nl_end
    cr_end = nl_end & (be > hs)          # "\r\n" ends a line as "\n" does
    cr_end[cr_end] = arr[be[cr_end] - 1] == 13
    be -= cr_end
    be = np.maximum(be, bs)
    seg = np.empty(3 * k + 1, dtype=np.int64)
    seg[0:3 * k:3] = hs
    seg[1:3 * k:3] = bs
    seg[2:3 * k:3] = be
    seg[3 * k] = end
    segments = pa.StringArray.from_buffers(3 * k, pa.py_buffer(seg.astype(np.int32)), pa.py_buffer(region))
    body = segments.take(pa.array(np.arange(1, 3 * k, 3)))

    line_idx = hidx
    next_line = np.empty(k, dtype=np.int64)
    next_line[:-1] = hidx[1:]
    next_line[-1] = carry_line
    fields, flen, nfields = digit_fields(dt)

    cols.pre.append(pre)
    cols.dt.append(dt)
    cols.period.append(period if period is not None else pa.array([""] * k))
    cols.author.append(author)
    cols.seplen.append(seplen)
    cols.body.append(body)
    cols.line.append(base_line + line_idx)
    cols.nlines.append((next_line - line_idx).astype(np.int32))
    cols.fields.append(fields)
    cols.flen.append(flen)
    cols.nfields.append(nfields)

    # Continuation lines that look like a header of another shape.
    cont = ~is_header
    cont[:hidx[0]] = False
    cont[carry_line:] = False
    if cont.any():
        cont_idx = np.flatnonzero(cont)
        hit = np.asarray(pc.match_substring_regex(lines.take(pa.array(cont_idx)), generic))
        if hit.any():
            cols.headerlike_lines.extend((base_line + cont_idx[hit]).tolist())
    carry_from = int(offsets[carry_line]) if carry_line < nlines else len(region)
    return region, carry_from, carry_line, seen_header


def _strip_terminator(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _repair(region: bytes, starts: np.ndarray, base_line: int, cols: Columns) -> bytes:
    """Decode invalid UTF-8 with U+FFFD, line by line; count and remember what changed.

    A newline byte can never be part of a multi-byte sequence, so lines stay lines.
    """
    out = []
    ends = np.append(starts[1:], len(region))
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
        raw = region[s:e]
        try:
            raw.decode("utf-8")
            out.append(raw)
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            cols.repairs += text.count("\ufffd") - raw.count(b"\xef\xbf\xbd")
            cols.repaired_lines.append(base_line + i)
            out.append(text.encode("utf-8"))
    return b"".join(out)


def digit_fields(dt: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of ASCII digits in each date/time string, as numbers.

    Returns (values, digit counts, number of runs): ``values[j, i]`` is the j-th number of string
    i (-1 when absent). Works on the string array's flat buffer with numpy only.
    """
    n = len(dt)
    values = np.full((MAX_FIELDS, n), -1, dtype=np.int32)
    counts = np.zeros((MAX_FIELDS, n), dtype=np.int8)
    if n == 0:
        return values, counts, np.zeros(0, dtype=np.int8)
    dt = dt.cast(pa.string()) if dt.type != pa.string() else dt
    if dt.offset:
        dt = pa.concat_arrays([dt])  # normalise a sliced array
    offs = np.frombuffer(dt.buffers()[1], dtype=np.int32, count=n + 1)
    data = np.frombuffer(dt.buffers()[2], dtype=np.uint8)[offs[0]:offs[-1]] if offs[-1] > offs[0] \
        else np.zeros(0, dtype=np.uint8)
    rel = (offs - offs[0]).astype(np.int64)
    size = len(data)
    isd = (data >= 48) & (data <= 57)
    boundary = np.zeros(size + 1, dtype=bool)      # True where a string starts
    boundary[rel[:-1]] = True
    prev = np.zeros(size, dtype=bool)
    prev[1:] = isd[:-1]
    run_start = isd & (~prev | boundary[:size])
    nxt = np.zeros(size, dtype=bool)
    nxt[:-1] = isd[1:]
    run_end = isd & (~nxt | boundary[1:])
    rs = np.flatnonzero(run_start)
    re_ = np.flatnonzero(run_end) + 1
    length = re_ - rs
    value = np.zeros(len(rs), dtype=np.int64)
    for k in range(4):
        ok = length > k
        value[ok] = value[ok] * 10 + (data[rs[ok] + k] - 48)
    value[length > 4] = 1 << 30                    # too many digits: never valid
    per_string = np.add.reduceat(run_start.astype(np.int32), rel[:-1]) if size else np.zeros(n, np.int32)
    per_string[rel[:-1] == size] = 0              # reduceat quirk for empty trailing strings
    sid = np.repeat(np.arange(n), per_string)
    first = np.cumsum(per_string) - per_string
    fidx = np.arange(len(rs)) - np.repeat(first, per_string)
    keep = fidx < MAX_FIELDS
    values[fidx[keep], sid[keep]] = np.minimum(value[keep], 1 << 30).astype(np.int32)
    counts[fidx[keep], sid[keep]] = np.minimum(length[keep], 127).astype(np.int8)
    return values, counts, np.minimum(per_string, 127).astype(np.int8)
