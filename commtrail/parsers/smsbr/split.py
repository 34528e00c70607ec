"""A big SMS Backup & Restore file parsed in two processes.

The parse is CPU-bound Python: libxml2 calls back into Python for every element and the columns
are built with the GIL held, so a second thread gains nothing and a second core is only of use
in a second process. For a big UTF-8 file on disk (Linux, two cores or more), :func:`start`
forks one process that parses the second part of the file -- from a record start tag near the
middle to the end -- into an Arrow stream file in the case's private temporary folder, while the
calling process parses the first part. The part process first counts the lines and record start
tags before its part, so that its records, locators, repair flags and rejects are numbered as a
single process numbers them, and its media go to the same blob store.

Its output is taken only when it is exactly what one process would have produced: the part
process read to the end of the file without a warning or a miscount (XML errors there -- damaged
records it reads on after, a backup cut off in its last record -- it reports as the whole-file
parse does: its stream begins with the file's line feeds up to the border and the border's
indentation, so that libxml2 tells the file's lines and columns), and the calling process, when
it reaches the border, stands between two records at the top level (not inside a record, a
comment or a CDATA section, nothing but white space after the last record) with the same count
of lines and records before the border as the part process found. Otherwise (an XML error
before the border, markup other than records before it, a part process that failed or took too
long) the calling process reads the second part itself: the result is always the one-process
result, only slower when something is odd.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
import pickle
import re
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa

from commtrail.lifeline import die_with
from commtrail.parsers.base import ParseContext, ParseReport, Reject
from commtrail.parsers.smsbr.xmlrepair import RECORD_START, detect_encoding, tag_starts
from commtrail.timeline.schema import RECORD_SCHEMA, conform

MIN_BYTES = 64 << 20  # smaller files are parsed in one process: forking would not pay
PARENT_SHARE = 0.5  # where the border is sought
WINDOW = 4 << 20  # bytes searched at a time for a record start tag after the middle
WINDOWS = 8
COUNT_BLOCK = 4 << 20
# The part's output is written LZ4-compressed: a fifth of the bytes (the columns every row of a
# source shares are repeated in each row) for about 0.3 µs a row each way. Compressed and
# decompressed on the calling thread: Arrow's pool threads would keep about 45 MB more memory.
SPOOL_COMPRESSION = "lz4"
PATIENCE = 60.0  # seconds the part process may take beyond the time this process took to the border

_ROOT_TAG = re.compile(rb"<(?:smses|calls)[\s/>]")
# A record start tag first on its line (after its indentation, kept in group 1).
_BORDER = re.compile(rb"\n([ \t]{0,200})(" + RECORD_START.pattern + rb")")


@dataclass
class PartResult:
    """What the part process did: its counts are totals from the start of the file."""

    ok: bool
    why: str = ""  # why the part cannot be used, when it cannot
    first_record: int = 0  # records before the border, as the part process counted them
    newlines_before: int = 0  # lines before the border
    started: int = 0  # records begun, up to the end of the file
    done: int = 0  # records finished (rows or rejects)
    record_starts: int = 0  # record start tags the reader counted
    newlines: int = 0
    repairs: int = 0
    records: int = 0  # rows
    rejected: int = 0
    undecodable: list[str] = field(default_factory=list)
    media_without_store: int = 0
    damaged: list[str] = field(default_factory=list)  # damaged records, as the warning lists them
    stray: list[str] = field(default_factory=list)  # damaged text between records
    unclosed: bool = False  # the file ends in a damaged record without the root's end tag
    error: Any = None  # the XML error that ended the part's parse (a smsbr.XmlError), if one did


class Bounded:
    """A stream that ends at ``limit`` until :meth:`lift` lets it go on to its real end."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw = raw
        self._limit: int | None = limit
        self._pos = 0

    @property
    def lifted(self) -> bool:
        return self._limit is None

    def lift(self) -> None:
        self._limit = None

    def read(self, n: int = -1) -> bytes:
        if self._limit is not None:
            left = self._limit - self._pos
            if left <= 0:
                return b""
            n = left if n is None or n < 0 else min(n, left)
        data = self._raw.read(n)
        self._pos += len(data)
        return data


class _PartStream:
    """``prefix`` and then the bytes of ``fd`` from ``start`` to ``end`` (``pread``: the file
    offset the calling process reads at is not moved)."""

    def __init__(self, fd: int, start: int, end: int, prefix: bytes) -> None:
        self._fd = fd
        self._pos = start
        self._end = end
        self._prefix = prefix

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._end - self._pos + len(self._prefix)
        head, self._prefix = self._prefix[:n], self._prefix[n:]
        n -= len(head)
        if n <= 0 or self._pos >= self._end:
            return head
        data = os.pread(self._fd, min(n, self._end - self._pos), self._pos)
        self._pos += len(data)
        return head + data


@dataclass
class Plan:
    fd: int
    size: int
    root: str  # the root element's name
    root_at: int  # where its start tag begins
    root_line: int  # on which line
    border: int  # where the second part begins: a record start tag, first on its line
    indent: bytes  # the spaces and tabs before it on its line


def plan(stream: BinaryIO, ctx: ParseContext) -> Plan | None:
    """Where to split ``stream``, or None when it is parsed in one process."""
    if ctx.work_dir is None or not sys.platform.startswith("linux"):
        return None
    if "fork" not in multiprocessing.get_all_start_methods() or len(os.sched_getaffinity(0)) < 2:
        return None
    try:
        fd = stream.fileno()
        info = os.fstat(fd)
        at_start = stream.tell() == 0
    except (AttributeError, OSError, ValueError):  # not a file on disk (an archive member, a pipe)
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size < MIN_BYTES or not at_start:
        return None
    head = os.pread(fd, 4096, 0)
    if detect_encoding(head) != "utf-8" or head[:1] == b"\x00" or head[1:2] == b"\x00":
        return None  # UTF-16 and 8-bit files are transcoded: one process
    root = _ROOT_TAG.search(head)
    if root is None:
        return None
    middle = int(info.st_size * PARENT_SHARE)
    for i in range(WINDOWS):
        at = middle + i * WINDOW
        window = os.pread(fd, WINDOW + 256, at)  # windows overlap: a line across their border is found
        found = _BORDER.search(window)
        if found is not None:
            border = at + found.start(2)
            if border <= root.end() or border >= info.st_size:
                return None
            name = root.group()[1:-1].decode("ascii")
            return Plan(fd, info.st_size, name, root.start(), head.count(b"\n", 0, root.start()) + 1, border,
                        found.group(1))
    return None


def lines_and_records(fd: int, root_at: int, end: int) -> tuple[int, int] | None:
    """(line feeds, record start tags) in the file before ``end``, counting tags from the root's
    start tag on; None when a comment, CDATA section, PI or DOCTYPE lies in between (the tags
    there would need the reader's careful count)."""
    newlines = records = 0
    pos = 0
    while pos < end:
        n = min(COUNT_BLOCK, end - pos)
        codes = np.frombuffer(os.pread(fd, n + 5, pos), dtype=np.uint8)  # 5 more: a tag at the end is decided
        newlines += int(np.count_nonzero(codes[:n] == 10))
        if pos + n > root_at:
            tags, _ = tag_starts(codes)
            tags = tags[(tags >= root_at - pos) & (tags < n)]
            if len(tags) and np.isin(codes[tags + 1], (33, 63)).any():  # `<!`, `<?`
                return None
            records += len(tags)
        pos += n
    return newlines, records


# The parse of a part: (stream, context, expected root, records before the border, and how many
# bytes of the file come before the stream, which begins with line feeds up to the border's line)
# -> its output, whose generator returns a PartResult (without the counts before the border).
PartParser = Callable[[BinaryIO, ParseContext, str, int, int], Iterator]


class Part:
    """The process parsing the second part, and what it left."""

    def __init__(self, the_plan: Plan, stream: BinaryIO, ctx: ParseContext, expected_root: str,
                 parse_part: PartParser) -> None:
        self.plan = the_plan
        self.bounded = Bounded(stream, the_plan.border)
        work = Path(ctx.work_dir)  # type: ignore[arg-type]
        work.mkdir(parents=True, exist_ok=True)
        stem = f"smsbr-part-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._batches = work / f"{stem}.arrow"
        self._rejects = work / f"{stem}.rejects"
        self.used = False
        self.why_not = ""  # why the part's output was not used (for tests and debugging)
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_run_part, name="commtrail-smsbr-part", daemon=True,
            args=(child_conn, the_plan, ctx, expected_root, parse_part, self._batches, self._rejects, os.getpid()))
        self._started = time.monotonic()
        # Objects the collector has frozen are never visited in the child, so the pages holding
        # them stay shared instead of being copied (the parent takes them back at once).
        gc.freeze()
        try:
            self._process.start()
        finally:
            gc.unfreeze()
        child_conn.close()

    def result(self) -> PartResult:
        """Wait for the part process; what it did (``ok`` False when it failed in any way).

        It is given as long again as this process took to come to the border, and PATIENCE: a
        part process that has not finished by then is stopped, and this process reads on."""
        patience = PATIENCE + (time.monotonic() - self._started)
        try:
            if not self._conn.poll(patience):
                self._process.terminate()
                return PartResult(ok=False, why=f"the part process took longer than {patience:.0f} s")
            found: PartResult = self._conn.recv()
        except (EOFError, OSError) as exc:
            return PartResult(ok=False, why=f"the part process ended without a result ({exc!r})")
        self._process.join()
        return found

    def output(self) -> Iterator[pa.RecordBatch | Reject]:
        """The part's rejects and record batches, in file order."""
        with open(self._rejects, "rb") as f:
            yield from pickle.load(f)
        with pa.OSFile(str(self._batches)) as source:
            yield from pa.ipc.open_stream(source, options=pa.ipc.IpcReadOptions(use_threads=False))

    def close(self) -> None:
        """Stop the process if it still runs; remove its files."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._conn.close()
        for path in (self._batches, self._rejects):
            path.unlink(missing_ok=True)


def start(stream: BinaryIO, ctx: ParseContext, expected_root: str, parse_part: PartParser) -> Part | None:
    """A process parsing the second part of ``stream``, when the file is worth splitting and a
    process can be started (else None: one process reads it all)."""
    the_plan = plan(stream, ctx)
    if the_plan is None:
        return None
    try:
        return Part(the_plan, stream, ctx, expected_root, parse_part)
    except OSError:  # no temporary folder, no process to be had
        return None


def _run_part(conn: Any, the_plan: Plan, ctx: ParseContext, expected_root: str, parse_part: PartParser,
              batches_path: Path, rejects_path: Path, parent: int) -> None:
    """The part process: count what comes before the border, parse from it to the end."""
    die_with(parent)
    status = 0
    try:
        conn.send(_parse_part(the_plan, ctx, expected_root, parse_part, batches_path, rejects_path))
    except BaseException as exc:  # noqa: BLE001 - anything: the calling process reads the part itself
        status = 1
        try:
            conn.send(PartResult(ok=False, why=f"the part process failed: {exc!r}"))
        except BaseException:  # noqa: BLE001 - the calling process sees the pipe close
            pass
    conn.close()
    # Straight out: no flushing of standard streams or other clean-up inherited from the calling
    # process, whose other threads may have held their locks when it forked.
    os._exit(status)


def _parse_part(the_plan: Plan, ctx: ParseContext, expected_root: str, parse_part: PartParser,
                batches_path: Path, rejects_path: Path) -> PartResult:
    counted = lines_and_records(the_plan.fd, the_plan.root_at, the_plan.border)
    if counted is None:
        return PartResult(ok=False, why="markup other than records before the border")
    newlines, records = counted
    part_ctx = dataclasses.replace(ctx, report=ParseReport())
    # The root element on its line, the border on its line and column: the lines and columns the
    # XML parser tells (in its messages too) are those of the file.
    before_root = the_plan.root_line - 1
    prefix = (b"\n" * before_root + f"<{the_plan.root}>".encode() + b"\n" * (newlines - before_root)
              + the_plan.indent)
    stream = _PartStream(the_plan.fd, the_plan.border, the_plan.size, prefix)
    rejects: list[Reject] = []
    output = parse_part(stream, part_ctx, expected_root, records, the_plan.border - len(prefix))
    options = pa.ipc.IpcWriteOptions(compression=SPOOL_COMPRESSION, use_threads=False)
    with pa.OSFile(str(batches_path), "wb") as sink, pa.ipc.new_stream(sink, RECORD_SCHEMA, options=options) as writer:
        while True:
            try:
                item = next(output)
            except StopIteration as stop:
                result: PartResult = stop.value
                break
            if isinstance(item, Reject):
                rejects.append(item)
            else:
                writer.write_batch(conform(item))
    with open(rejects_path, "wb") as f:
        pickle.dump(rejects, f, protocol=pickle.HIGHEST_PROTOCOL)
    if result.ok and part_ctx.report.warnings:
        result = PartResult(ok=False, why="; ".join(part_ctx.report.warnings))
    result.first_record, result.newlines_before = records, newlines
    return result
