"""SMS Backup & Restore (Android app) backups: ``sms-*.xml`` (``<smses>``: ``<sms>`` and ``<mms>``)
and ``calls-*.xml`` (``<calls>``: ``<call>``). Two parsers, ``smsbr-sms`` and ``smsbr-calls``,
share one streaming reader; each reads any of the three record kinds it meets.

The bytes pass through :class:`~commtrail.parsers.smsbr.xmlrepair.RepairReader` (surrogate-half and
control-character references, raw control bytes, broken UTF-8, UTF-16 input), then lxml's
push parser (``XMLParser(target=...)``, fed 1 MiB at a time) with entity expansion, DTD loading
and network access off. Never lxml's recover mode: it silently blanks text and invents records.
No tree is built, MMS media are decoded into the blob store piece by piece, so memory stays flat.
Line numbers in locators are those of the record's start tag, counted by the reader.

Damage mid-file does not end the parse: the record the XML error is in is rejected with its text
and line, and a new parser goes on at the next record start tag (:class:`_Session`,
:mod:`commtrail.parsers.smsbr.resync`). A file that ends inside a record (a truncated backup)
keeps every complete record, rejects the incomplete one, and a warning names the place, what the
root's ``count`` declared and what was found.

A big file on disk is parsed in two processes when it can be (:mod:`commtrail.parsers.smsbr.split`):
the second part's output is taken only when it is exactly what this process would have produced.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa
from lxml import etree

from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.registry import Parser, register
from commtrail.parsers.smsbr import split as _split
from commtrail.parsers.smsbr.mms import MmsElement
from commtrail.parsers.smsbr.resync import (
                                            CONTEXT,
                                            HEAD,
                                            Damage,
                                            NestedRecord,
                                            Window,
                                            after_record,
                                            after_root_end,
                                            damage_warning,
                                            ends_with_record,
                                            has_root_end,
                                            record_tag,
                                            span_text,
                                            )
from commtrail.parsers.smsbr.rows import CHUNK, Rows, locator, unescape
from commtrail.parsers.smsbr.xmlrepair import RepairReader

VERSION = "2"   # 2: reading resumes after damage (issue 13.5)
RECORD_TAGS = frozenset(("sms", "mms", "call"))
FEED = 1 << 20  # bytes handed to the XML parser at a time
REPLAY = 16 * 1024  # bytes handed to a parser started after damage at a time, while they are kept ones

_PROLOG_ITEM = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)
_ROOT = re.compile(rb"\s*<(smses|calls)[\s/>]")


def root_tag(head: bytes) -> str | None:
    """The root element name of an SMS Backup & Restore file (``smses`` / ``calls``), or None.

    Allows a byte-order mark, an XML declaration, comments and processing instructions (the
    app's stylesheet PI) before the root, in UTF-8 or UTF-16. A DOCTYPE is not allowed: the app
    never writes one.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[1:2] == b"\x00" or head[:1] == b"\x00":
        encoding = "utf-16-be" if head.startswith(codecs.BOM_UTF16_BE) or head[:1] == b"\x00" else "utf-16-le"
        usable = len(head) - len(head) % 2
        head = head[:usable].decode(encoding, "replace").lstrip("\ufeff").encode("utf-8")
    elif head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    pos = 0
    while True:
        m = _PROLOG_ITEM.match(head, pos)
        if not m:
            break
        pos = m.end()
    m = _ROOT.match(head, pos)
    return m.group(1).decode() if m else None


def sniff_sms(head: bytes, filename: str) -> bool:
    return root_tag(head) == "smses"


def sniff_calls(head: bytes, filename: str) -> bool:
    return root_tag(head) == "calls"


def parse_sms(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    return _parse(stream, ctx, "smses")


def parse_calls(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    return _parse(stream, ctx, "calls")


class _Batches:
    """Turns the collected rows into record batches of at most ``min(ctx.batch_size, CHUNK)`` rows.

    Batches of 50,000 rows (the default batch size) would cost about 70 MB more at the peak (the
    rows held in Arrow, again while combined into one batch, again in the Parquet writer) and
    save nothing in time, so bigger batch sizes are capped at CHUNK rows."""

    def __init__(self, rows: Rows, batch_size: int) -> None:
        self.rows = rows
        self.chunk = max(1, min(batch_size, CHUNK))

    def due(self) -> bool:
        return self.rows.size >= self.chunk

    def take(self) -> Iterator:
        table, rejects = self.rows.take_chunk()
        yield from rejects
        if table is not None and table.num_rows:
            yield from table.combine_chunks().to_batches()
        del table
        # Arrow's allocator (mimalloc) keeps freed memory of each thread for reuse: about 20 MB
        # more at the peak than handing it back after each chunk, which costs microseconds.
        pa.default_memory_pool().release_unused()


class _Target:
    """The lxml parser target: SAX-like start/end events, no tree.

    ``iterparse`` would build a tree and hand out element proxies, and reading a proxy's
    attributes costs as much again as parsing them; a parser target receives each element's
    attributes as a dict straight from libxml2, and nothing needs clearing afterwards.
    An ``<sms>`` / ``<call>`` (attributes only) is kept as its dict when it starts; an ``<mms>``
    collects its parts and addresses and becomes a row when it ends. Anything else is kept as XML:
    at the top level as a reject, inside a record in its `extra`. A record start tag inside
    another element raises :class:`~commtrail.parsers.smsbr.resync.NestedRecord`.
    """

    def __init__(self, rows: Rows, ctx: ParseContext, expected_root: str) -> None:
        self.rows = rows
        self.ctx = ctx
        self.expected_root = expected_root
        self.root = expected_root  # the root element's name, once read
        self.resumed = False  # parsing again after damage, under a root element of the parser's own
        self.depth = 0
        self.started = 0  # records begun
        self.done = 0  # records finished (rows or rejects)
        self._add_sms, self._number_sms = rows.sms.dicts.append, rows.sms.ordinals.append
        self._add_call, self._number_call = rows.calls.dicts.append, rows.calls.ordinals.append
        self._mms: tuple | None = None  # (MmsElement, ordinal) of the <mms> being read
        self._in: str | None = None  # the record element being read
        self._container: str | None = None  # `parts` / `addrs` inside an <mms>
        self._capture: etree.TreeBuilder | None = None
        self._capture_depth = 0
        self._renamed: set[int] = set()  # depths of captured elements written under a stand-in name

    def start(self, tag, attrib) -> None:
        depth = self.depth = self.depth + 1
        if depth == 2 and self._capture is None:
            if tag == "sms":
                self.started = self.done = number = self.started + 1
                self._add_sms(attrib)
                self._number_sms(number)
                self._in = tag
            elif tag == "call":
                self.started = self.done = number = self.started + 1
                self._add_call(attrib)
                self._number_call(number)
                self._in = tag
            elif tag == "mms":
                self.started += 1
                self._mms = (MmsElement(unescape(attrib)), self.started)
                self._in = tag
            else:
                self._begin_capture(tag, attrib)
        elif tag in RECORD_TAGS and depth > 2:
            raise NestedRecord(tag, self.rows.line(self.started + 1))
        elif self._capture is not None:
            self._capture_start(tag, attrib)
        elif depth == 1:
            if not self.resumed:
                self.root = tag
                _root_attributes(tag, unescape(attrib), self.expected_root, self.ctx)
        elif self._mms is not None:
            mms = self._mms[0]
            if depth == 3 and tag in ("parts", "addrs") and not attrib:
                self._container = tag
            elif depth == 4 and (self._container, tag) == ("parts", "part"):
                self.rows.mms_part(mms, unescape(attrib), self._mms[1])
            elif depth == 4 and (self._container, tag) == ("addrs", "addr"):
                mms.addrs.append(unescape(attrib))
            else:
                self._begin_capture(tag, attrib)
        else:
            self._begin_capture(tag, attrib)

    def end(self, tag) -> None:
        depth = self.depth
        self.depth = depth - 1
        if self._capture is not None:
            self._capture.end(_STAND_IN if depth in self._renamed else tag)
            self._renamed.discard(depth)
            if depth == self._capture_depth:
                element = self._capture.close()
                self._capture = None
                self._captured(element)
        elif depth == 2:
            self._in = None
            if self._mms is not None:
                mms, ordinal = self._mms
                self._mms = None
                self.done += 1
                self.rows.mms(mms, ordinal)
        elif depth == 3:
            self._container = None

    def close(self) -> None:
        return None

    def restart(self, records_before: int) -> None:
        """Forget the element being read (it is damaged): a new XML parser goes on after
        ``records_before`` records, under a root element of its own."""
        self.depth = 0
        self.started = self.done = records_before
        self.resumed = True
        self._mms = self._in = self._container = self._capture = None
        self._capture_depth = 0
        self._renamed.clear()

    def _begin_capture(self, tag, attrib) -> None:
        self._capture = etree.TreeBuilder()
        self._capture_depth = self.depth
        self._capture_start(tag, attrib)

    def _capture_start(self, tag, attrib) -> None:
        attrib = unescape(attrib)
        try:
            self._capture.start(tag, attrib)
        except ValueError:  # a name the XML reader let through but lxml's tree refuses (e.g. ":")
            self._capture.start(_STAND_IN, {"name": tag, **{f"attribute-{i}": f"{k}={v}"
                                                             for i, (k, v) in enumerate(attrib.items(), 1)}})
            self._renamed.add(self.depth)

    def _captured(self, element) -> None:
        """An element that is not part of the format, complete (its text is not kept)."""
        xml = etree.tostring(element, encoding="unicode")
        if self._mms is not None:
            self._mms[0].other.append(element)
        elif self._in is not None and self.rows.attach_other(self._in, xml):
            pass
        else:
            where = f"inside {self._in} #{self.started}" if self._in else f"after record #{self.started}"
            self.rows.reject(self.started, Reject(locator=where, reason=f"unexpected element <{element.tag}> in "
                                                  "the backup", raw=xml), record=False)


# Written in place of an unexpected element whose name or attribute names lxml cannot hold.
_STAND_IN = "element-with-an-unusual-name"


class _Session:
    """One parse: the repair reader, the XML parser and its target, the rows.

    A session normally starts at the top of the file. A part process (see
    :mod:`commtrail.parsers.smsbr.split`) starts one at a record start tag, numbering records from
    the count before it; its stream begins with as many line feeds as come before that tag, so that
    lines are counted as a whole-file session counts them.

    When the XML parser stops at an error, the session reads on (:meth:`_recover`): the record the
    error is in is rejected with its text, from its start tag to the next record start tag, and a
    new parser starts at that tag; an error between two records is first told apart from damage in
    the next record's start tag by parsing that record on its own. Only a file that ends inside an
    element ends the parse with an error (``truncation``).
    """

    def __init__(self, raw, ctx: ParseContext, expected_root: str, records_before: int = 0,
                 bounded: _split.Bounded | None = None) -> None:
        self.ctx = ctx
        self.reader = reader = RepairReader(raw)
        self.rows = rows = Rows(ctx, reader.record_lines, reader.record_offsets)
        rows.repairs_by_record = reader.repairs_by_record  # the reader adds, the rows take theirs out
        self.batches = _Batches(rows, ctx.batch_size)
        self.target = _Target(rows, ctx, expected_root)
        self.parser = _xml_parser(self.target)
        reader.record_starts = self.target.started = self.target.done = records_before
        rows.start_at(records_before)
        self.bounded = bounded  # the stream ending at the border, in the calling process of a split
        self.window = Window()
        self._warned_read = False
        self.part_error: XmlError | None = None  # the XML error that ended the part process's parse
        self.truncation: Damage | None = None  # the error at the end of a file that ends inside an element
        self.ended = False  # nothing is left to parse
        self.unclosed = False  # the file ends in damage without the root's end tag
        self.damaged: list[str] = []  # the damaged records, as the warning lists them
        self.stray: list[str] = []  # the damaged text between records
        self._restarted_at: int | None = None  # the record the current parser began at, after damage
        self._line_offset = 0  # the file's line of the current parser's line 1, less one
        self._column_unknown = False  # the current parser's columns on its first line of text are not known
        self._fed = 0  # the offset up to which the window's bytes were given to the current parser
        self._head: tuple[int, bytes] = (0, b"")  # the first bytes of a record, kept for its reject
        self._last_start = (-1, 0)  # (record, offset) of the last record begun
        self._probe: tuple[int, Damage] | None = None  # a record parsed on its own after an error before it

    def feed(self) -> Iterator:
        """Parse what the reader gives until it ends (the parser is not closed)."""
        target, batches = self.target, self.batches
        window = self.window
        while not self.ended:
            if self._fed < window.end:  # kept bytes, after a restart: a little at a time, in case of more damage
                if self._fed < window.at:
                    raise RuntimeError("smsbr: bytes to parse again were not kept")  # a bug, never a file's doing
                block = window.get(self._fed, min(self._fed + REPLAY, window.end))
            else:
                block = self._read()
                if not block:
                    return
            self._fed += len(block)
            try:
                self.parser.feed(block)
            except (etree.XMLSyntaxError, NestedRecord) as exc:
                self._recover(exc, closing=False)
                continue
            self._settle()
            if batches.due() and target._in is None:
                yield from batches.take()

    def close(self) -> Iterator:
        """Close the parser at the end of the input (reading on after damage found then)."""
        while not self.ended:
            try:
                self.parser.close()
            except (etree.XMLSyntaxError, NestedRecord) as exc:
                self._recover(exc, closing=True)
                yield from self.feed()
                continue
            self._settle()
            self.ended = True

    def flush(self) -> Iterator:
        """The rejects and rows collected and not yet given out."""
        yield from self.batches.take()

    def between_records(self) -> bool:
        """Whether all that was fed has been parsed up to a point between two records at the top
        level: no record, comment or other markup open, every record start tag read parsed, and
        nothing but white space after the last record (text the parser may not have read yet)."""
        target, reader = self.target, self.reader
        if not (target.depth == 1 and target._capture is None and target._mms is None and not reader.in_markup
                and reader.read_error is None and reader.record_starts == target.started == target.done
                and self._probe is None and target.started > 0):
            return False
        start, window = self._start_of(target.started), self.window
        if start is None or start < window.at:  # a long record: its end is in the last bytes
            return ends_with_record(window.get(window.end - CONTEXT, window.end))
        return ends_with_record(window.get(start, window.end))

    def warning(self) -> str | None:
        return damage_warning(self.damaged, self.stray)

    # -- reading on after damage ----------------------------------------------------------------
    def _read(self) -> bytes:
        """The next block of the reader, kept in the window."""
        reader = self.reader
        block = reader.read(FEED)
        if reader.read_error is not None and not self._warned_read:
            # The input itself cannot be read on (a damaged zip member, a disk error): what
            # came before is kept, as for a truncated file.
            self.ctx.report.warn(f"the file could not be read past byte {reader.bytes_in}: {reader.read_error}")
            self._warned_read = True
        self.window.add(block)
        return block

    def _start_of(self, ordinal: int) -> int | None:
        """Where record ``ordinal``'s start tag is in the repaired text, if still known."""
        offset = self.rows.offset(ordinal)
        if offset is None and self._last_start[0] == ordinal:
            return self._last_start[1]
        return offset

    def _settle(self) -> None:
        """After a block parsed: reject the text before a record parsed on its own once it began;
        trim the window to the next record's start tag and the text before it."""
        target = self.target
        if self._probe is not None and target.started >= self._probe[0]:
            self._reject_stray(self._probe[0] - 1, self._probe[1])
            self._probe = None
        start = self.rows.offset(target.started)
        if start is not None:
            self._last_start = (target.started, start)
        upcoming = self.rows.offset(target.started + 1)
        self._trim(target.started if target._in is not None else None,
                   self._fed if upcoming is None else min(upcoming, self._fed))

    def _trim(self, record: int | None, keep: int) -> None:
        """Keep CONTEXT bytes before ``keep``, and the start of ``record`` (a record open or being
        rejected) until its first HEAD bytes are kept aside."""
        window = self.window
        keep = min(keep, window.end)
        if record is not None and self._head[0] != record:
            start = self._start_of(record)
            if start is not None and start >= window.at:
                if window.end - start < HEAD:
                    keep = min(keep, start + CONTEXT)
                else:
                    self._head = (record, window.get(start, start + HEAD))
        window.keep_from(keep - CONTEXT)

    def _seek(self, ordinal: int, record: int | None) -> int | None:
        """Where record ``ordinal``'s start tag is, reading on until the reader has given it (None:
        the file ends before); ``record``: a damaged record whose head is kept meanwhile."""
        window = self.window
        while True:
            offset = self.rows.offset(ordinal)
            if offset is not None and offset <= window.end:
                return offset
            self._trim(record, window.end)  # before reading on, so that the block read stays whole
            if not self._read():
                return None

    def _where(self, exc: Exception) -> Damage:
        """The error, with the file's line and column."""
        message = re.sub(r", line \d+, column \d+$", "", getattr(exc, "msg", None) or str(exc))
        if isinstance(exc, NestedRecord):
            return Damage(message, exc.line, None)
        line, column = exc.position if exc.position else (exc.lineno, None)
        if self._restarted_at is not None and line:
            if line == 2 and self._column_unknown:
                column = None
            line += self._line_offset
        return Damage(message, line, column)

    def _recover(self, exc: Exception, closing: bool) -> None:
        """After an XML error: reject what is damaged and start a new parser at the next record
        start tag; or, with none after the error, end the parse."""
        target, rows, reader = self.target, self.rows, self.reader
        damage = self._where(exc)
        # The parser wanted more than the file holds, on its last line: cut off, not damaged.
        truncated = closing and damage.line is not None and damage.line >= reader.newlines
        if self.bounded is not None and not self.bounded.lifted:  # before the border: this process reads on
            self.bounded.lift()
            reader.resume()
        probe, self._probe = self._probe, None
        if probe is not None and target.started >= probe[0]:
            self._reject_stray(probe[0] - 1, probe[1])
        media: list[str] = []  # blobs of an <mms> stored before its damage
        if target._in is not None:  # inside a record
            damaged: int | None = target.started
            if target._in != "mms":
                rows.retract(target._in)
            elif target._mms is not None:
                media = [stored[0] for stored in target._mms[0].media if stored is not None]
        elif self._restarted_at == target.started + 1:  # a record parsed on its own fails in its start tag
            damaged = target.started + 1
            if probe is not None and probe[0] == damaged:
                if self._before(probe[1], damaged):  # damaged text before a damaged record
                    self._reject_stray(probe[0] - 1, probe[1])
                else:
                    damage = probe[1]  # the first parser's error, in the file's context, is the one to tell
        else:  # before the next record: parse it on its own to tell whether it is damaged
            damaged = None
        before = target.started if damaged is None else damaged - 1
        target.restart(before)
        if damaged is None:
            following = self._seek(before + 1, None)
            if following is not None:
                self._probe = (before + 1, damage)
                self._restart(before + 1)
            elif truncated:
                self.truncation, self.ended = damage, True
            else:
                self._reject_stray(before, damage, last=True)
                self._end_damaged()
            return
        following = self._seek(damaged + 1, damaged)
        if following is None and truncated:  # the file ends inside the record
            self.truncation, self.ended = damage, True
            return
        self._reject_damaged(damaged, damage, following, media)
        if following is None:
            self._end_damaged()
        else:
            self._restart(damaged + 1)

    def _end_damaged(self) -> None:
        """The file ends in damage: nothing is left to parse."""
        self.ended = True
        self.unclosed = not has_root_end(self.window.get(self.window.end - CONTEXT, self.window.end))

    def _before(self, damage: Damage, ordinal: int) -> bool:
        """Whether ``damage`` lies before record ``ordinal``'s start tag (as far as is known)."""
        line = self.rows.line(ordinal)
        if damage.line is None or line is None or damage.line != line:
            return damage.line is not None and line is not None and damage.line < line
        column = self.window.column(self._start_of(ordinal))
        return column is not None and damage.column is not None and damage.column <= column

    def _restart(self, ordinal: int) -> None:
        """A new XML parser, from record ``ordinal``'s start tag on (its bytes are kept), under a
        root element of its own on a line of its own: its line 2 is the record's line."""
        offset = self._start_of(ordinal)
        column = self.window.column(offset)
        try:  # the parser stopped at an error: closing it readies it for a new document (no events)
            self.parser.close()
        except (etree.XMLSyntaxError, NestedRecord):
            pass
        self.target.restart(ordinal - 1)
        self.parser.feed(f"<{self.target.root}>\n".encode() + b" " * (column or 0))
        self._line_offset = (self.rows.line(ordinal) or 2) - 2
        self._column_unknown = column is None
        self._restarted_at = ordinal
        self._fed = offset

    def _reject_damaged(self, ordinal: int, damage: Damage, following: int | None, media: list[str]) -> None:
        """Reject record ``ordinal``, from its start tag to ``following`` (the next record's, or
        the end of the file), with its text; ``media``: the blobs of its parts stored already."""
        rows, window = self.rows, self.window
        start = self._start_of(ordinal)
        stop = window.end if following is None else following
        if self._head[0] == ordinal:
            head = self._head[1][:stop - start]
        else:
            head = window.get(start, min(stop, start + HEAD))
        raw = span_text(head, stop - start, following is None)
        where = locator(record_tag(raw), ordinal, rows.line(ordinal))
        reason = damage.record_reason()
        repaired = rows.repaired(ordinal)
        if repaired:
            reason += f" (the raw text shows {repaired} repaired character references)"
        if media:
            reason += f"; the media of its parts before the damage were kept as blobs {', '.join(media)}"
        rows.reject(ordinal, Reject(locator=where, reason=reason, raw=raw))
        self.damaged.append(f"{where} ({damage.where()})")
        self.target.started = self.target.done = ordinal
        self._last_start = (ordinal, start)

    def _reject_stray(self, before: int, damage: Damage, last: bool = False) -> None:
        """Reject the damaged text after record ``before`` (which was read), up to the next record's
        start tag (or, ``last``, the end of the file): from the end of record ``before`` when its
        text is in the window, else the CONTEXT bytes before."""
        window = self.window
        stop = window.end if last else self._start_of(before + 1)
        start = 0 if before == 0 else self._start_of(before)
        low = max(window.at, stop - CONTEXT)
        text = None
        if start is not None and start >= low:
            text = window.get(start, stop)
            text = after_record(text) if before else text
        note = ""
        if text is None:
            text = window.get(low, stop)
            note = f" [the last {len(text)} bytes before {'the end' if last else 'the record'}]"
        text = (after_root_end(text) if last else text).lstrip()  # after the root end tag: what follows it
        raw = span_text(text, len(text), last) + note
        where = f"after record #{before}" if before else "before record #1"
        if damage.line is not None:
            where += f", line {damage.line}"
        self.rows.reject(before, Reject(locator=where, reason=damage.stray_reason(before), raw=raw), record=False)
        self.stray.append(f"{where} ({damage.where()})")


def _xml_parser(target: _Target) -> etree.XMLParser:
    return etree.XMLParser(target=target, encoding="utf-8", resolve_entities=False, no_network=True,
                           load_dtd=False, huge_tree=True)


def _parse(stream: BinaryIO, ctx: ParseContext, expected_root: str) -> Iterator:
    with _c_allocator():
        part = _split.start(stream, ctx, expected_root, _parse_part)
        try:
            yield from _parse_whole(stream, ctx, expected_root, part)
        finally:
            if part is not None:
                part.close()


@contextmanager
def _c_allocator() -> Iterator[None]:
    """Arrow memory from the C library's allocator while the parse runs (and in its part process).

    Arrow's default allocator (mimalloc) keeps what each thread frees for reuse, more of it the
    longer a parse runs; the C library's hands it back: about 50 MB less at the peak of each
    process on a 200 MB backup, at the same speed. Arrays made meanwhile keep their allocator."""
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def _parse_whole(stream: BinaryIO, ctx: ParseContext, expected_root: str, part: _split.Part | None) -> Iterator:
    report = ctx.report
    session = _Session(stream if part is None else part.bounded, ctx, expected_root,
                       bounded=None if part is None else part.bounded)
    reader, rows, target = session.reader, session.rows, session.target
    yield from session.feed()
    taken = part is not None and (yield from _take_part(session, part))
    if part is not None and not taken:  # this process reads the second part itself
        if not part.bounded.lifted:
            part.bounded.lift()
            reader.resume()
        yield from session.feed()
    if not taken:
        yield from session.close()
    yield from session.flush()
    if reader.has_doctype:
        report.warn("the file has a DOCTYPE (SMS Backup & Restore never writes one): entities in it "
                    "were not loaded from outside, and undefined ones may make the file unreadable")
    for note in reader.notes:
        report.warn(note)
    damage = session.warning()
    if damage:
        report.warn(damage)
    if session.unclosed:
        report.warn(f"the file ends in damage, without the end tag of its root element (</{target.root}>): the "
                    "backup may have been cut off there")
    found = session.part_error
    if session.truncation is not None:
        found = _xml_error(session.truncation, reader, rows, target.done)
    if found is not None:
        if found.partial is not None:
            yield found.partial
        report.warn(_xml_error_warning(found, target.done, report.declared_count))
    report.repairs += reader.repairs  # the whole file's: after an XML error, the reader read on to count
    if found is None and reader.record_starts != target.started:
        report.warn(f"the reader counted {reader.record_starts} record start tags where the XML parser found "
                    f"{target.started} records: line numbers in locators and the repaired_chars flags may "
                    "be off by the difference")
    if found is None and report.declared_count is not None and report.declared_count != target.done:
        report.warn(f"the root element declares count={report.declared_count} but the file holds "
                    f"{target.done} records ({rows.records} read, {rows.rejected} rejected)")
    if rows.undecodable:
        shown = "; ".join(rows.undecodable[:10])
        more = f" (and {len(rows.undecodable) - 10} more)" if len(rows.undecodable) > 10 else ""
        report.warn(f"{len(rows.undecodable)} MMS media parts are not valid base64: their text was kept as a "
                    f"blob and the message flagged attachment_undecodable: {shown}{more}")
    if rows.media_without_store:
        report.warn(f"no blob store was given: {rows.media_without_store} media parts were hashed but not kept")


def _take_part(session: _Session, part: _split.Part):
    """At the border: the part process's output, when it is what this process would produce
    from there on (then its counts are taken over); False when this process must read on."""
    reader, rows, target = session.reader, session.rows, session.target
    if part.bounded.lifted:
        part.why_not = "an XML error before the border"
        return False
    result = part.result()
    if not result.ok:
        part.why_not = result.why
    elif not session.between_records():
        part.why_not = "the border is not between two records"
    elif (result.first_record, result.newlines_before) != (target.started, reader.newlines):
        part.why_not = (f"{result.first_record} records and {result.newlines_before} line feeds counted before the "
                        f"border, {target.started} and {reader.newlines} parsed")
    if part.why_not:
        return False
    yield from session.flush()
    yield from part.output()
    target.started, target.done = result.started, result.done
    reader.record_starts, reader.newlines = result.record_starts, result.newlines
    reader.repairs += result.repairs
    rows.records += result.records
    rows.rejected += result.rejected
    rows.undecodable += result.undecodable
    rows.media_without_store += result.media_without_store
    session.damaged += result.damaged
    session.stray += result.stray
    session.unclosed = result.unclosed
    session.part_error = result.error
    part.used = True
    return True


def _parse_part(stream: BinaryIO, ctx: ParseContext, expected_root: str, records_before: int, bytes_before: int):
    """The part process's parse, from a record start tag to the end of the file (its generator
    returns a :class:`~commtrail.parsers.smsbr.split.PartResult`)."""
    session = _Session(stream, ctx, expected_root, records_before)
    reader, rows, target = session.reader, session.rows, session.target
    yield from session.feed()
    yield from session.close()
    yield from session.flush()
    found = None
    if session.truncation is not None:  # told as the whole-file parse tells it
        found = _xml_error(session.truncation, reader, rows, target.done, bytes_before)
    elif reader.record_starts != target.started:
        return _split.PartResult(ok=False, why="the reader and the XML parser counted different records")
    if reader.read_error is not None or reader.notes:
        return _split.PartResult(ok=False, why="a read error or a note of the reader")
    return _split.PartResult(ok=True, started=target.started, done=target.done, record_starts=reader.record_starts,
                             newlines=reader.newlines, repairs=reader.repairs, records=rows.records,
                             rejected=rows.rejected, undecodable=rows.undecodable,
                             media_without_store=rows.media_without_store, damaged=session.damaged,
                             stray=session.stray, unclosed=session.unclosed, error=found)


def _root_attributes(tag: str, attrib, expected_root: str, ctx: ParseContext) -> None:
    if tag != expected_root:
        ctx.report.warn(f"the root element is <{tag}>, expected <{expected_root}>; its records were read anyway")
    count = attrib.get("count")
    if count is not None and count.strip().isdigit():
        ctx.report.declared_count = int(count.strip())
    elif count is not None:
        ctx.report.warn(f"the root element's count={count!r} is not a number")


@dataclass
class XmlError:
    """The end of a file that ends inside an element, as its warning tells it (counts from the
    file's start)."""

    damage: Damage
    byte: int  # bytes read when the parse ended
    partial: Reject | None  # the record the end cut off, when it ends inside one


def _xml_error(damage: Damage, reader: RepairReader, rows: Rows, ordinal: int, bytes_before: int = 0) -> XmlError:
    """What to say of a file that ends inside an element after ``ordinal`` records;
    ``bytes_before``: the bytes of the file before what the reader read."""
    partial = None
    if reader.record_starts > ordinal:
        raw, size, _ = reader.tail()
        note = "" if size <= len(raw.encode()) else f" [first {len(raw)} characters of {size} bytes]"
        partial = Reject(locator=locator(record_tag(raw), ordinal + 1, rows.line(ordinal + 1)),
                         reason="incomplete record: the file ends inside it (truncated backup)", raw=raw + note)
    return XmlError(damage, reader.bytes_in + bytes_before, partial)


def _xml_error_warning(found: XmlError, ordinal: int, declared: int | None) -> str:
    """The warning about a file that ends inside an element after ``ordinal`` records."""
    if declared is None:
        declared_text = f"{ordinal} records found before the error (the root declares no count)"
    else:
        declared_text = f"the root element declares count={declared}, {ordinal} records found before the error"
        if declared > ordinal:
            declared_text += f" ({declared - ordinal} fewer)"
    return (f"the file is truncated: it ends in the middle of an element at byte {found.byte}, line "
            f"{found.damage.line} ({found.damage.message}); every complete record before it was kept; {declared_text}"
            + ("; the incomplete last record was rejected with its text" if found.partial else ""))


register(Parser(name="smsbr-sms", version=VERSION,
                description="SMS Backup & Restore messages (sms-*.xml: <smses> of <sms> and <mms>)",
                sniff=sniff_sms, parse=parse_sms))
register(Parser(name="smsbr-calls", version=VERSION,
                description="SMS Backup & Restore call log (calls-*.xml: <calls> of <call>)",
                sniff=sniff_calls, parse=parse_calls))
