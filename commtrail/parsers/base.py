"""What every parser receives and returns: the context, rejects, and the parse report.

A parser is pure: ``parse(stream, ctx)`` reads a byte stream and yields ``pyarrow.RecordBatch``
objects of ``RECORD_SCHEMA`` and :class:`Reject` objects. It does not open the case, read config
files or print. Everything it needs from the case comes in :class:`ParseContext`; everything it
has to say beyond records goes into ``ctx.report``. ``stream.read(n)`` returns n bytes unless the
stream ends (ingest guarantees it, archive members included).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from commtrail.timeline.identity import Owner


class BlobSink(Protocol):
    """Where attachments and media go: content-addressed, streamed, never held whole."""

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Copy a stream into the store; return (sha256 hex, size in bytes)."""

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes; return (sha256 hex, size in bytes)."""

    def open_writer(self) -> "BlobWriter":
        """A writer for content that arrives in pieces (e.g. base64 decoded while streaming)."""


class BlobWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> tuple[str, int]:
        """Finish the blob; return (sha256 hex, size in bytes)."""


class OutsideInput(Exception):
    """A path named inside an input (an evidence file, an attachment) that leads outside the
    input's own folder or archive: absolute, climbing out with ``..``, or through a link. It is
    refused and never opened."""


@dataclass
class Reject:
    """A piece of a recognised source that could not become a record. Raw text is kept."""

    locator: str
    reason: str
    raw: str


@dataclass
class ParseReport:
    """What a parser says about a source besides its records."""

    warnings: list[str] = field(default_factory=list)
    repairs: int = 0
    # What the source itself declares it holds (e.g. the root `count` of an XML backup), if anything.
    declared_count: int | None = None
    # Sibling files (media next to a chat export) that the parser linked as attachments.
    used_siblings: set[str] = field(default_factory=set)
    # Notices that hold for the whole run (e.g. OCR not installed): said once, however many sources say them.
    notices: set[str] = field(default_factory=set)

    def warn(self, message: str) -> None:
        """Record a warning (printed and kept in sources.parquet; it does not fail the run)."""
        self.warnings.append(message)


@dataclass
class ParseContext:
    """Everything a parser may know about the case and the input it is parsing."""

    source_sha256: str
    source_path: str
    timezone: str = "UTC"
    phone_region: str = "GB"
    owner: Owner = field(default_factory=Owner)
    date_order: str | None = None  # DMY, MDY or YMD when the user settled it
    blobs: BlobSink | None = None
    # Files beside the input (same folder or same folder inside a zip), by base name.
    siblings: Mapping[str, Callable[[], BinaryIO]] = field(default_factory=dict)
    # Opens a file named by a path relative to the input's folder (on disk, or inside the same
    # archive); raises FileNotFoundError, or OutsideInput for a path that leads out of the folder
    # or archive (absolute, ``..``, a link), which is never opened.
    open_relative: Callable[[str], BinaryIO] | None = None
    report: ParseReport = field(default_factory=ParseReport)
    batch_size: int = 50_000
    parser_label: str = ""
    # A private folder for a parser's temporary files (the case's .tmp folder, which interrupted
    # runs leave to the next one to clear); None: the parser writes no temporary files.
    work_dir: Path | None = None
    # The input's base name (inside an archive: the member's) and its modification time: aware for a
    # file on disk or a tar member, naive (local wall-clock time) for a zip member; None if unknown.
    file_name: str | None = None
    modified: datetime | None = None
    ocr_languages: tuple[str, ...] = ("eng",)   # Tesseract language codes (case.toml ocr_languages)
    # The password of an encrypted input (an iPhone backup), asked only when one needs it: from
    # ``--password-file`` or a prompt; None when there is neither.
    password: Callable[[], str | None] | None = None


def collect(parse_output, ctx: ParseContext):
    """Drain a parser's output into (pyarrow.Table of RECORD_SCHEMA, list of Reject).

    For tests and tools; ingest itself writes batches as they come.
    """
    import pyarrow as pa

    from commtrail.timeline.schema import RECORD_SCHEMA

    batches, rejects = [], []
    for item in parse_output:
        if isinstance(item, Reject):
            rejects.append(item)
        else:
            batches.append(item)
    table = pa.Table.from_batches(batches, schema=RECORD_SCHEMA) if batches else RECORD_SCHEMA.empty_table()
    return table, rejects


def counted(n: int, one: str, many: str) -> str:
    """A count with the words that agree with it, for a warning: ``counted(1, "call has", "calls
    have")`` is "1 call has", ``counted(2, ...)`` "2 calls have"."""
    return f"{n:,} {one if n == 1 else many}"


def read_full(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes of ``stream``: fewer only at its end, however the stream splits its reads."""
    parts, got = [], 0
    while got < n:
        piece = stream.read(n - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)
