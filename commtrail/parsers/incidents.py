"""The victim's own incident log: a CSV (``,`` or ``;``, UTF-8 with or without BOM) or an XLSX
sheet with the columns of common stalking-incident diaries (date, time, who it was, location,
description, witnesses, police called, report number, officer, how it affected you, evidence files).

The "who" cell names the other person: a phone number or e-mail address becomes the record's
``sender`` (normalised), anything else (a party name of case.toml, a WhatsApp name) stays in
``sender_raw`` only; the timeline links either to the party, so the incident counts in its figures.

Each row becomes one record of channel and kind ``incident``. The date is read with the case's
day/month order or from values that settle it; a row whose date cannot be read is a reject that
keeps the row. Evidence files named in a row are hashed into the blob store and listed as
attachments; one that cannot be found leaves the row in, flagged ``attachment_missing``. Only files
in the log's own folder (or below it, or inside the same archive) are read: an absolute path
elsewhere, a ``..`` path leading out, or a link is never opened and flags the row
``attachment_refused``.

Sniffing: a CSV is recognised by its header row. An XLSX arrives as a zip; the sniff inflates
the members that lie wholly inside the 64 KiB head (content types, shared strings, first sheet)
and checks the header words there. A workbook too large for that is claimed when its content
types say "spreadsheet" and the parse then checks the header, refusing the file with a clear
message if it is not an incident log.
"""

from __future__ import annotations

import csv
import io
import mimetypes
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO
from zoneinfo import ZoneInfo

from commtrail.errors import DateOrderAmbiguous, InputError
from commtrail.parsers.base import OutsideInput, ParseContext, Reject, read_full
from commtrail.parsers.registry import Parser, register
from commtrail.timeline.identity import kind_of, normalise_one
from commtrail.timeline.schema import dumps_extra, rows_to_batch

NAME = "incident-log"
VERSION = "2"   # 2: the "who" column

# Canonical column -> header texts that mean it (compared after _norm_header).
COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("date", "date of incident", "incident date", "day", "when"),
    "time": ("time", "time of incident", "incident time", "approx time", "approximate time",
             "time approx", "approx. time"),
    "who": ("who", "who it was", "who was it", "who did it", "person", "person involved", "other person",
            "perpetrator", "offender", "suspect", "harasser"),
    "location": ("location", "place", "where", "location of incident", "where did it happen",
                 "address"),
    "description": ("description", "what happened", "description of incident", "incident description",
                    "details", "incident details", "incident", "describe what happened", "summary"),
    "witnesses": ("witnesses", "witness", "witness names", "witness details", "witness names and contacts",
                  "witnesses names and contacts", "witness name and contact"),
    "police_called": ("police called", "police contacted", "police informed", "reported to police",
                      "police", "called police", "were police called", "police called yes no"),
    "report_number": ("report number", "police report number", "crime reference number", "crime reference",
                      "crime ref", "crime number", "incident number", "reference number", "reference",
                      "case number", "log number", "report no", "report #", "police reference"),
    "officer": ("officer", "officer name", "officer and badge", "officer name and badge", "officer badge",
                "badge number", "officer and badge number", "officer name and badge number",
                "officer s name and badge", "officer details", "police officer"),
    "effect": ("how it affected you", "how did it affect you", "how it made you feel", "how did you feel",
               "impact", "effect on you", "how this affected you", "effect", "how you felt",
               "impact on you", "how it affected me"),
    "evidence": ("evidence", "evidence files", "files", "attachments", "evidence photos recordings documents",
                 "photos", "evidence file paths", "supporting evidence"),
}
_HEADER_INDEX = {}
for _key, _names in COLUMNS.items():
    for _name in _names:
        _HEADER_INDEX.setdefault(re.sub(r"[^a-z0-9#]+", " ", _name).strip(), _key)

# Rows above the header (a title line) that are tolerated.
HEADER_SEARCH_ROWS = 5
MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], 1)}
MONTHS.update({name[:3]: n for name, n in list(MONTHS.items())})
MONTHS["sept"] = 9

_NUMERIC_DATE = re.compile(r"^\s*(\d{1,4})\s*[./\-]\s*(\d{1,2})\s*[./\-]\s*(\d{1,4})\s*\.?\s*$")
_TEXT_DATE_DMY = re.compile(r"^\s*(?:[A-Za-z]+,?\s+)?(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]+)\.?,?\s+(\d{4})\s*$")
_TEXT_DATE_MDY = re.compile(r"^\s*(?:[A-Za-z]+,?\s+)?([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\s*$")
_DATE_WITH_TIME = re.compile(r"^(.*?\d)[T\s]+(\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\s*[ap]\.?\s*m\.?)?)\s*$", re.I)
_TIME = re.compile(r"^\s*(\d{1,2})(?:[:.h](\d{2}))?(?:[:.](\d{2})(?:\.\d+)?)?\s*(?:([ap])\.?\s*m\.?)?\s*$", re.I)


def _norm_header(text: object) -> str:
    """A header cell reduced for matching: lower case, bracketed notes and punctuation removed."""
    value = str(text or "").replace("\ufeff", "").lower().replace("&", " and ")
    value = re.sub(r"\([^)]*\)", " ", value)
    value = re.sub(r"[^a-z0-9#]+", " ", value)
    return value.strip()


def match_header(cells: list[object]) -> dict[int, str] | None:
    """Column index -> canonical key when ``cells`` is an incident-log header row, else None."""
    found: dict[int, str] = {}
    for i, cell in enumerate(cells):
        key = _HEADER_INDEX.get(_norm_header(cell))
        if key and key not in found.values():
            found[i] = key
    keys = set(found.values())
    if "date" in keys and "description" in keys and len(keys) >= 4:
        return found
    return None


# ---------------------------------------------------------------------------------------------
# sniff

def _delimiter(line: str) -> str:
    counts = {d: 0 for d in ",;\t"}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    return max(counts, key=lambda d: (counts[d], d == ","))


def _decode_head(head: bytes) -> str | None:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    for cut in range(4):  # the head may end inside a multi-byte character
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    try:
        return head.decode("cp1252")
    except UnicodeDecodeError:
        return None


def _csv_header_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()[:HEADER_SEARCH_ROWS]
    rows = []
    for line in lines:
        rows.append(next(csv.reader([line], delimiter=_delimiter(line)), []))
    return rows


def _zip_members(head: bytes) -> dict[str, bytes | None]:
    """Members whose local header lies in ``head``: name -> inflated bytes (None if cut off)."""
    out: dict[str, bytes | None] = {}
    pos = 0
    while pos + 30 <= len(head) and head[pos:pos + 4] == b"PK\x03\x04":
        (_, _, flags, method, _, _, _, csize, _, nlen, xlen) = struct.unpack("<IHHHHHIIIHH", head[pos:pos + 30])
        name = head[pos + 30:pos + 30 + nlen].decode("utf-8", "replace")
        start = pos + 30 + nlen + xlen
        if flags & 0x08 or start + csize > len(head):   # sizes after the data, or cut off
            out[name] = None
            break
        data = head[start:start + csize]
        try:
            out[name] = zlib.decompress(data, -15) if method == 8 else data if method == 0 else None
        except zlib.error:
            out[name] = None
        pos = start + csize
    return out


def _whole_zip(head: bytes) -> dict[str, bytes | None] | None:
    """Every member when the whole archive lies inside the head (its end record is there)."""
    if b"PK\x05\x06" not in head[-65557:]:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(head)) as archive:
            return {name: archive.read(name) for name in archive.namelist()
                    if name in ("[Content_Types].xml", "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml")}
    except Exception:  # noqa: BLE001 - zipfile raises many types on damaged or encrypted archives; sniff must answer
        return None


def _xlsx_head_verdict(head: bytes) -> bool:
    whole = _whole_zip(head)
    members = whole if whole is not None else _zip_members(head)
    if whole is not None:
        members.setdefault("xl/sharedStrings.xml", b"")
        members.setdefault("xl/worksheets/sheet1.xml", b"")
    types = members.get("[Content_Types].xml")
    if types is not None and b"spreadsheetml" not in types:
        return False
    if types is None and not any(n.startswith("xl/") for n in members):
        return False
    strings = members.get("xl/sharedStrings.xml")
    sheet = members.get("xl/worksheets/sheet1.xml")
    texts: list[str] = []
    for blob in (strings, sheet):
        if blob:
            texts += re.findall(r"<t(?:\s[^>]*)?>([^<]*)</t>", blob.decode("utf-8", "replace"))
    if texts:
        if match_header(texts) is not None:
            return True
        if strings is not None and sheet is not None:
            return False   # everything was readable and it is not an incident log
    # Too big to tell from the head: claim spreadsheets; parse checks the header row.
    return strings is None or sheet is None


def sniff(head: bytes, filename: str) -> bool:
    """An incident log: a CSV whose header row names incident columns, or such an XLSX sheet."""
    if head.startswith(b"PK\x03\x04"):
        return _xlsx_head_verdict(head)
    if b"\x00" in head[:4096]:
        return False
    text = _decode_head(head)
    if text is None:
        return False
    return any(match_header(row) is not None for row in _csv_header_rows(text))


# ---------------------------------------------------------------------------------------------
# dates and times

class _Order:
    """Decides day/month order from the numeric dates of the whole log: what the dates prove (a day
    above 12) wins over the order the user gave, which applies only where they cannot tell."""

    def __init__(self, ctx_order: str | None) -> None:
        self.ctx_order = ctx_order
        self.dmy = self.mdy = False
        self.proof: tuple[str, str] | None = None   # (where, text) of the first date that settles it

    def observe(self, text: str, where: str) -> None:
        m = _NUMERIC_DATE.match(text)
        if not m or len(m.group(1)) == 4:
            return
        a, b = int(m.group(1)), int(m.group(2))
        if a > 12 >= b:
            self.dmy = True
        elif b > 12 >= a:
            self.mdy = True
        else:
            return
        self.proof = self.proof or (where, text.strip())

    def overridden(self, decided: str | None) -> str | None:
        """A warning when the order given was set aside for what the log proves, else None."""
        if self.ctx_order not in ("DMY", "MDY") or decided in (None, self.ctx_order) or self.proof is None:
            return None
        where, text = self.proof
        return (f"date_order {self.ctx_order} was given, but {where} has the date '{text}', which can only be "
                f"{'day/month' if decided == 'DMY' else 'month/day'}; the log was read as {decided} (by its "
                "content, not by the order given).")

    def decide(self, file: str, sample: str | None) -> str | None:
        if self.dmy and not self.mdy:
            return "DMY"
        if self.mdy and not self.dmy:
            return "MDY"
        if self.ctx_order in ("DMY", "MDY"):
            return self.ctx_order
        if self.dmy and self.mdy:
            return None  # rows disagree: the ones against the first seen... rejected per row below
        if sample is None:
            return "DMY"  # no ambiguous numeric date at all
        raise DateOrderAmbiguous(
            f"the dates in this incident log (e.g. '{sample}') could be day/month or month/day.", file=file,
            hint="Run the ingest again with --date-order DMY (day first) or --date-order MDY (month first), "
                 "or write the dates as 2024-03-01.")


def _parse_date(text: str, order: str | None) -> date | None:
    text = text.strip()
    m = _NUMERIC_DATE.match(text)
    if m:
        a, b, c = m.group(1), m.group(2), m.group(3)
        try:
            if len(a) == 4:
                return date(int(a), int(b), int(c))
            year = int(c) + (2000 if len(c) == 2 else 0) if len(c) in (2, 4) else None
            if year is None:
                return None
            x, y = int(a), int(b)
            if x > 12 >= y:
                return date(year, y, x)
            if y > 12 >= x:
                return date(year, x, y)
            if order == "MDY":
                return date(year, x, y)
            if order == "DMY":
                return date(year, y, x)
            return None
        except ValueError:
            return None
    for pattern, day_first in ((_TEXT_DATE_DMY, True), (_TEXT_DATE_MDY, False)):
        m = pattern.match(text)
        if m:
            day, month = (m.group(1), m.group(2)) if day_first else (m.group(2), m.group(1))
            number = MONTHS.get(month.lower())
            if number is None:
                return None
            try:
                return date(int(m.group(3)), number, int(day))
            except ValueError:
                return None
    return None


def _parse_time(text: str) -> tuple[time, str] | None:
    """(time, precision) from texts such as 18:30, 6.30pm, 6 pm, 18:30:05."""
    m = _TIME.match(text)
    if not m:
        return None
    hour, minute, second, half = m.group(1), m.group(2), m.group(3), m.group(4)
    h = int(hour)
    if minute is None and half is None:
        return None   # a bare number is not a time
    if half:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if half.lower() == "p" else 0)
    try:
        value = time(h, int(minute or 0), int(second or 0))
    except ValueError:
        return None
    return value, ("s" if second is not None else "min")


def _to_utc(naive: datetime, zone: ZoneInfo) -> tuple[int, str]:
    """Microseconds since the epoch and tz_source for a local wall-clock time."""
    aware = naive.replace(tzinfo=zone)
    source = "case"
    back = aware.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        source = "flag_nonexistent"   # fold=0 reads it with the offset before the change
    elif aware.replace(fold=1).utcoffset() != aware.utcoffset():
        source = "flag_ambiguous"     # fold=0 is the earlier instant
    utc = aware.astimezone(timezone.utc)
    delta = utc - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta // timedelta(microseconds=1), source


# ---------------------------------------------------------------------------------------------
# rows

def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# Python's csv refuses cells over 128 KiB by default; a long description is still an incident.
CSV_FIELD_LIMIT = 64 << 20


Row = tuple[str | None, int, list[object], str]   # (sheet name or None for a CSV, row number, cells, raw text)


def _csv_rows(stream: BinaryIO, ctx: ParseContext) -> Iterator[Row]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    head = read_full(stream, 64 * 1024)
    encoding = "utf-8-sig"
    try:
        probe = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        for cut in range(4):
            try:
                probe[: len(probe) - cut].decode("utf-8")
                break
            except UnicodeDecodeError:
                if cut == 3:
                    raise
    except UnicodeDecodeError:
        encoding = "cp1252"
        ctx.report.warn("the incident log is not UTF-8 text; it was read as Windows-1252 (the encoding Excel "
                        "uses for plain CSV). Save it as 'CSV UTF-8' to be sure every character is read.")
    raw = io.BufferedReader(_Prepend(head, stream))  # type: ignore[arg-type]
    text = io.TextIOWrapper(raw, encoding=encoding, errors="strict" if encoding == "utf-8-sig" else "replace",
                            newline="")
    first = head.decode(encoding, "replace").splitlines()[:1]
    delimiter = _delimiter(first[0]) if first else ","
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="")
    number = 0
    try:
        for number, row in enumerate(csv.reader(text, delimiter=delimiter), 1):
            out.seek(0)
            out.truncate()
            writer.writerow(row)
            yield None, number, list(row), out.getvalue()
    except UnicodeDecodeError:
        raise InputError(f"the incident log stops being UTF-8 text after row {number}.", file=ctx.source_path,
                         hint="Open it in Excel or LibreOffice and save it as 'CSV UTF-8'.") from None
    except csv.Error as exc:   # a cell beyond CSV_FIELD_LIMIT (an unclosed quote swallowing the file)
        raise InputError(f"row {number + 1} cannot be read as CSV ({exc}).", file=ctx.source_path,
                         where=f"row {number + 1}", hint="Look for a quote (\") that is opened and never "
                         "closed, or save the log again from Excel or LibreOffice as 'CSV UTF-8'.") from None


class _Prepend(io.RawIOBase):
    """A raw stream that first returns ``head`` and then reads on from ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if len(self._head):
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _xlsx_rows(stream: BinaryIO, ctx: ParseContext) -> Iterator[Row]:
    """Every row of every sheet, sheet after sheet."""
    import openpyxl

    with tempfile.SpooledTemporaryFile(max_size=32 << 20) as spool:
        while chunk := stream.read(1 << 20):
            spool.write(chunk)
        spool.seek(0)
        try:
            book = openpyxl.load_workbook(spool, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types on damaged files
            raise InputError(f"this spreadsheet cannot be opened ({type(exc).__name__}: {exc}).",
                             file=ctx.source_path, hint="Open it in Excel or LibreOffice and save it again "
                             "as .xlsx or as CSV UTF-8.") from None
        try:
            for sheet in book.worksheets:
                for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
                    cells = list(row)
                    yield sheet.title, number, cells, "\t".join(_cell_text(c) for c in cells)
        finally:
            book.close()


@dataclass
class _Section:
    """The rows of one CSV or one sheet: its header, the incidents below it, the rows above it."""

    sheet: str | None
    header: dict[int, str] | None = None
    extra_names: dict[int, str] = field(default_factory=dict)
    body: list[tuple[int, list[object], str]] = field(default_factory=list)
    above: list[tuple[int, list[object], str]] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        """What the locators of its rows begin with: the sheet's name in a workbook."""
        return "" if self.sheet is None else f"sheet '{self.sheet}' "

    def add(self, number: int, cells: list[object], raw: str, ctx: ParseContext) -> None:
        if self.header is not None:
            self.body.append((number, cells, raw))
            return
        if number <= HEADER_SEARCH_ROWS and (header := match_header(cells)) is not None:
            self.header = header
            self.extra_names = _unique_names({i: str(c).strip() for i, c in enumerate(cells)
                                              if i not in header and str(c or "").strip()})
            return
        if self.sheet is None and number > HEADER_SEARCH_ROWS:
            raise InputError("no header row naming the incident-log columns was found in the first "
                             f"{HEADER_SEARCH_ROWS} rows.", file=ctx.source_path,
                             hint="Keep the header row of the incidents.csv template as the first row.")
        if any(_cell_text(c).strip() for c in cells):
            self.above.append((number, cells, raw))

    def unread(self) -> Iterator[Reject]:
        """Rows that cannot be incidents, kept as rejects: those above the header row, or every row of
        a sheet without one."""
        reason = ("above the header row: a title or a note, not an incident" if self.header is not None else
                  f"the sheet '{self.sheet}' has no header row naming incident-log columns (date, description, "
                  f"...) in its first {HEADER_SEARCH_ROWS} rows")
        for number, _, raw in self.above:
            yield Reject(f"{self.prefix}row {number}", reason, raw)


def parse(stream: BinaryIO, ctx: ParseContext):  # type: ignore[no-untyped-def]
    """Incident rows of the CSV or of every sheet as records; unreadable dates and rows that are not
    incidents (above the header, or on a sheet without one) as rejects."""
    head = read_full(stream, 4)
    source = io.BufferedReader(_Prepend(head, stream))  # type: ignore[arg-type]
    rows = _xlsx_rows(source, ctx) if head == b"PK\x03\x04" else _csv_rows(source, ctx)
    sections: list[_Section] = []
    for sheet, number, cells, raw in rows:
        if not sections or sections[-1].sheet != sheet:
            sections.append(_Section(sheet))
        sections[-1].add(number, cells, raw, ctx)
    read = [s for s in sections if s.header is not None]
    if not read:
        if head == b"PK\x03\x04":
            raise InputError("this spreadsheet has no sheet whose first rows name the columns of an "
                             "incident log (date, description, ...).", file=ctx.source_path,
                             hint="Use the incidents.csv template that 'commtrail init' wrote in the case's "
                                  "incident-log folder, or name the columns as it does.")
        raise InputError("the incident log has no header row.", file=ctx.source_path,
                         hint="Keep the header row of the incidents.csv template as the first row.")
    for section in sections:
        if section.header is None and section.above:
            ctx.report.warn(f"the sheet '{section.sheet}' has no header row naming incident-log columns; its "
                            f"{len(section.above)} row(s) are kept as rejects.")
    decided = _decide_order(read, ctx)
    for section in sections:
        yield from section.unread()
        if section.header is not None:
            yield from _records(section.body, section.header, section.extra_names, ctx, decided, section.prefix)


def _unique_names(names: dict[int, str]) -> dict[int, str]:
    """Column names made unique ("Notes", "Notes (2)"), so that no column's cells hide another's."""
    out: dict[int, str] = {}
    taken: set[str] = set()
    tried: dict[str, int] = {}
    for i, name in names.items():
        key, n = name, tried.get(name, 2)
        while key in taken:
            key, n = f"{name} ({n})", n + 1
        tried[name] = n
        taken.add(key)
        out[i] = key
    return out


def _decide_order(sections: list[_Section], ctx: ParseContext) -> str | None:
    """The day/month order of the log's numeric dates, from every sheet's dates together."""
    order = _Order(ctx.date_order)
    sample = None
    for section in sections:
        at = next(i for i, key in section.header.items() if key == "date")  # type: ignore[union-attr]
        for number, cells, _ in section.body:
            value = cells[at] if at < len(cells) else None
            if isinstance(value, str):
                order.observe(value, f"{section.prefix}row {number}")
                m = _NUMERIC_DATE.match(value)
                if m and len(m.group(1)) != 4 and int(m.group(1)) <= 12 and int(m.group(2)) <= 12 and sample is None:
                    sample = value.strip()
    decided = order.decide(ctx.source_path, sample)
    if (note := order.overridden(decided)) is not None:
        ctx.report.warn(note)
    if order.dmy and order.mdy and decided is None:
        ctx.report.warn("some dates can only be day/month and others only month/day; rows whose date "
                        "fits neither reading unambiguously were rejected.")
    return decided


def _records(body_rows, header, extra_names, ctx: ParseContext, decided: str | None,  # type: ignore[no-untyped-def]
             prefix: str = ""):
    col = {key: i for i, key in header.items()}
    zone = ZoneInfo(ctx.timezone)
    out: list[dict] = []
    blank = 0

    def get(cells: list[object], key: str) -> object:
        i = col.get(key)
        return cells[i] if i is not None and i < len(cells) else None

    for number, cells, raw in body_rows:
        if all(_cell_text(c).strip() == "" for c in cells):
            blank += 1
            continue
        locator = f"{prefix}row {number}"
        date_value, time_value = get(cells, "date"), get(cells, "time")
        date_text, time_text = _cell_text(date_value).strip(), _cell_text(time_value).strip()
        flags: list[str] = []
        day: date | None = None
        clock: time | None = None
        precision = "day"
        if isinstance(date_value, datetime):
            day = date_value.date()
            if date_value.time() != time(0):
                clock, precision = date_value.time().replace(microsecond=0), "s" if date_value.second else "min"
        elif isinstance(date_value, date):
            day = date_value
        elif date_text:
            m = _DATE_WITH_TIME.match(date_text)
            day = _parse_date(date_text, decided)
            if day is None and m:
                day = _parse_date(m.group(1), decided)
                parsed = _parse_time(m.group(2))
                if day is not None and parsed:
                    clock, precision = parsed
        if day is None:
            reason = "no date in this row" if not date_text else f"the date '{date_text}' cannot be read"
            yield Reject(locator, reason + " (write it as 2024-03-01 or 01/03/2024)", raw)
            continue
        if isinstance(time_value, time):
            clock, precision = time_value.replace(microsecond=0), "s" if time_value.second else "min"
        elif isinstance(time_value, datetime):
            clock, precision = time_value.time().replace(microsecond=0), "s" if time_value.second else "min"
        elif time_text:
            parsed = _parse_time(time_text)
            if parsed is None:
                flags.append("time_unreadable")
                ctx.report.warn(f"{locator}: the time '{time_text}' cannot be read; the incident is dated by "
                                "its day only.")
            else:
                clock, precision = parsed
        naive = datetime.combine(day, clock or time(0))
        try:
            ts, tz_source = _to_utc(naive, zone)
        except OverflowError:   # the first or last day a date can hold, moved past it by the zone's offset
            yield Reject(locator, f"the date '{date_text}' is at the very edge of the calendar (year {day.year}), "
                         "so it cannot be placed in time (write it as 2024-03-01 or 01/03/2024)", raw)
            continue
        if precision == "day":
            tz_source = "case"
        ts_local = " ".join(t for t in (date_text, time_text) if t)
        sender, sender_raw = _who(_cell_text(get(cells, "who")).strip(), ctx.phone_region)
        description = get(cells, "description")
        body = None if description is None else _cell_text(description)
        attachments = _evidence(_cell_text(get(cells, "evidence")), locator, flags, ctx)
        extra = {key: _cell_text(get(cells, key)) for key in
                 ("location", "witnesses", "police_called", "report_number", "officer", "effect", "evidence")
                 if key in col and _cell_text(get(cells, key)) != ""}
        others = {name: _cell_text(cells[i]) for i, name in extra_names.items()
                  if i < len(cells) and _cell_text(cells[i]) != ""}
        if others:
            extra["other_columns"] = others
        # cells under no header name: past the header's end, or under an empty header cell
        unnamed = [_cell_text(c) for i, c in enumerate(cells)
                   if i not in header and i not in extra_names and _cell_text(c).strip()]
        if unnamed:
            extra["unnamed_cells"] = unnamed
        out.append({
            "ts_utc": ts, "ts_local": ts_local, "ts_precision": precision, "tz_source": tz_source,
            "channel": "incident", "kind": "incident", "direction": "incoming",
            "sender": sender, "sender_raw": sender_raw,
            "body": body, "attachments": attachments or None, "flags": flags or None,
            "source_sha256": ctx.source_sha256, "source_path": ctx.source_path, "locator": locator,
            "parser": ctx.parser_label, "extra": dumps_extra(extra),
        })
        if len(out) >= ctx.batch_size:
            yield rows_to_batch(out)
            out = []
    if out:
        yield rows_to_batch(out)
    if blank:
        ctx.report.warn(f"{blank} blank row(s) held nothing and were passed over.")


def _who(text: str, region: str) -> tuple[str | None, str | None]:
    """(sender, sender_raw) of the "who" cell: a phone number or e-mail address is normalised as
    everywhere else; a name (a party of case.toml, a WhatsApp name) is kept as written, and the
    timeline matches it to a party."""
    if not text:
        return None, None
    ident = normalise_one(text, region)
    return (ident if kind_of(ident) in ("phone", "email") else None), text


_SPLIT_EVIDENCE = re.compile(r"[;\n\r]+")


def _evidence(text: str, locator: str, flags: list[str], ctx: ParseContext) -> list[dict]:
    """Hash each evidence file named in the cell into the blob store; flag the row for missing ones
    and for paths that lead outside the log's folder (or archive), which are never opened."""
    out = []
    for item in _SPLIT_EVIDENCE.split(text):
        name = item.strip().strip('"').strip("'").strip()
        if not name:
            continue
        mime = mimetypes.guess_type(PureWindowsPath(name).name if "\\" in name else PurePosixPath(name).name)[0]
        missing = {"name": name, "mime": mime, "size": None, "sha256": None}
        try:
            opener = _evidence_opener(name, ctx)
        except OutsideInput as exc:
            ctx.report.warn(f"{locator}: evidence file '{name}' was refused ({exc}): only files in the incident "
                            "log's own folder (or below it, or in the same archive) are read. It was not opened; "
                            "the incident is kept and flagged attachment_refused.")
            _flag(flags, "attachment_refused")
            out.append(missing)
            continue
        except OSError as exc:
            opener = _failing(exc)
        if opener is None or ctx.blobs is None:
            where = "beside the incident log" if len(_parts(name)) == 1 else "at that path from the incident log's folder"
            ctx.report.warn(f"{locator}: evidence file '{name}' was not found {where}; the incident is kept "
                            "and flagged attachment_missing.")
            _flag(flags, "attachment_missing")
            out.append(missing)
            continue
        try:
            with opener() as stream:
                sha, size = ctx.blobs.put_stream(stream)
        except OSError as exc:
            ctx.report.warn(f"{locator}: evidence file '{name}' cannot be read ({exc.strerror or exc}); the "
                            "incident is kept and flagged attachment_missing.")
            _flag(flags, "attachment_missing")
            out.append(missing)
            continue
        out.append({"name": name, "mime": mime, "size": size, "sha256": sha})
    return out


def _parts(name: str) -> tuple[str, ...]:
    return PureWindowsPath(name).parts if "\\" in name else PurePosixPath(name).parts


def _evidence_opener(name: str, ctx: ParseContext) -> Callable[[], BinaryIO] | None:
    """How to open the evidence file ``name``: a file beside the log, or one under its folder
    (through ``ctx.open_relative``, which refuses paths leading out); None when it is not there."""
    opener = ctx.siblings.get(name) if len(_parts(name)) == 1 else None
    if opener is not None:
        ctx.report.used_siblings.add(name)
        return opener
    if ctx.open_relative is None:
        if PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive:
            raise OutsideInput("an absolute path that leads outside its folder")
        return None
    try:
        stream = ctx.open_relative(name)
    except FileNotFoundError:
        return None
    return lambda: stream


def _failing(exc: OSError) -> Callable[[], BinaryIO]:
    def opener() -> BinaryIO:
        raise exc
    return opener


def _flag(flags: list[str], flag: str) -> None:
    if flag not in flags:
        flags.append(flag)


register(Parser(NAME, VERSION, "incident log kept by the user (CSV or XLSX with date, description, ... columns)",
                sniff, parse, priority=60, uses_siblings=True))
