"""Evidence files: screenshots, photos, voice notes, videos and PDF documents, each one item.

A file is recognised by its first bytes (see _formats.py), never by its name. It becomes one record:
channel ``evidence``, kind ``screenshot``, ``photo`` (see _image.py for the rule), ``audio``,
``video`` or ``document``; the file itself is its one attachment, stored in the blob store
(``blobs/<sha256>``, the same hash as the source). When it was taken comes from EXIF, the file
name or the modification time, best first (see _when.py); ``extra.time_from`` says which. The
text of a screenshot is read by OCR into ``extra.ocr_text`` (see _ocr.py), never into ``body``.
A recording's length is read from the file (see _duration.py) into ``duration_s`` (whole seconds)
and ``extra.duration`` (seconds to the millisecond).

Media that a chat or an incident log in the same folder names are that record's attachment, not
items of their own: ingest runs this parser after the other inputs of a folder, and only on files
none of them named (``Parser.after_siblings``).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import PurePosixPath
from typing import BinaryIO

from commtrail.parsers.base import ParseContext, Reject, read_full
from commtrail.parsers.evidence._ahead import ahead
from commtrail.parsers.evidence._duration import duration
from commtrail.parsers.evidence._formats import Format, identify
from commtrail.parsers.evidence._image import ImageFacts, image_kind, read_image
from commtrail.parsers.evidence._ocr import MISSING_LANGUAGES, NOT_RUN, engine, read_text
from commtrail.parsers.evidence._when import NameFacts, Taken, from_exif, from_mtime, from_name, screenshot_software
from commtrail.parsers.registry import SNIFF_BYTES, Parser, register
from commtrail.timeline.schema import dumps_extra, rows_to_batch

CHUNK = 1 << 20
# An image or a recording is also kept in a spool file for Pillow or tinytag, which seek; up to
# this size in memory.
SPOOL_IN_MEMORY = 16 << 20


def sniff(head: bytes, filename: str) -> bool:
    """An image, audio, video or PDF file, by its signature."""
    return identify(head) is not None


def parse(stream: BinaryIO, ctx: ParseContext):
    """The one record of an evidence file."""
    head = read_full(stream, SNIFF_BYTES)
    fmt = identify(head)
    if fmt is None:
        yield Reject("byte 0", "not an image, audio, video or PDF file", head[:256].decode("latin-1"))
        return
    name = ctx.file_name or PurePosixPath(ctx.source_path.replace("\\", "/").rsplit("!", 1)[-1]).name
    spooled = fmt.family in ("image", "audio")
    spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=ctx.work_dir) if spooled else None
    try:
        sha, size = _store(head, stream, ctx, spool)
        facts = None
        if spool is not None and fmt.family == "image":
            spool.seek(0)
            facts = read_image(spool, fmt)
        row = _record(fmt, name, sha, size, facts, ctx)
        if spool is not None and fmt.family == "audio" and (seconds := duration(spool, fmt)) is not None:
            row["duration_s"] = round(seconds)
            row["extra"]["duration"] = round(seconds, 3)
        if spool is not None and row["kind"] == "screenshot" and facts is not None and facts.problem is None:
            _ocr(row, spool, name, ctx)
    finally:
        if spool is not None:
            spool.close()
    row.update(flags=row["flags"] or None, extra=dumps_extra(row["extra"]))
    yield rows_to_batch([row])


def _ocr(row: dict, spool: BinaryIO, name: str, ctx: ParseContext) -> None:
    """Add the text Tesseract reads in a screenshot to ``extra`` (never to ``body``)."""
    tesseract = engine()
    if tesseract.version is None:
        ctx.report.notices.add(NOT_RUN.format(reason=tesseract.problem))
        return
    languages = tuple(code for code in ctx.ocr_languages if code in tesseract.languages)
    missing = [code for code in ctx.ocr_languages if code not in tesseract.languages]
    if missing:
        ctx.report.notices.add(MISSING_LANGUAGES.format(
            missing=", ".join(missing), used=", ".join(languages) or "no language",
            packages=" ".join(f"tesseract-ocr-{code.lower().replace('_', '-')}" for code in missing)))
    if not languages:
        return
    pool = ahead()
    pool.offer(ctx.siblings, name, lambda data, other: _screenshot(data, other, ctx.timezone), languages,
               tesseract.version)
    try:
        found = pool.take(name, ctx.source_sha256) or read_text(spool, languages, tesseract.version)
    except (RuntimeError, OSError, ValueError) as exc:   # pytesseract.TesseractError is a RuntimeError
        ctx.report.warn(f"{name}: OCR failed ({type(exc).__name__}: {exc}); the screenshot went in without "
                        "its text.")
        return
    row["extra"].update(ocr_text=found.text, ocr_confidence=found.confidence, ocr_engine=found.engine,
                        ocr_languages=found.languages)
    if found.text:
        row["flags"].append("ocr")


def _store(head: bytes, stream: BinaryIO, ctx: ParseContext, spool: BinaryIO | None) -> tuple[str, int]:
    """Copy the file into the blob store (and the spool): its sha256 and size."""
    writer = ctx.blobs.open_writer() if ctx.blobs is not None else None
    size, chunk = 0, head
    while chunk:
        if writer is not None:
            writer.write(chunk)
        if spool is not None:
            spool.write(chunk)
        size += len(chunk)
        chunk = stream.read(CHUNK)
    if writer is None:   # no blob store: the file is the source, whose hash ingest already took
        return ctx.source_sha256, size
    return writer.close()[0], size


def _record(fmt: Format, name: str, sha: str, size: int, facts: ImageFacts | None, ctx: ParseContext) -> dict:
    """The item's row, with ``flags`` as a list and ``extra`` as a dict."""
    named = from_name(name, ctx.timezone)
    exif = facts.exif if facts is not None else {}
    extra: dict[str, object] = {"file_name": name, "format": fmt.name}
    flags: list[str] = []
    if facts is not None:
        if facts.problem:
            ctx.report.warn(f"{name}: the image's own data (size, EXIF) could not be read ({facts.problem}); "
                            "its time comes from its name or its modification time.")
        if facts.width is not None:
            extra.update(width=facts.width, height=facts.height)
        if exif:
            extra["exif"] = exif
        kind, extra["kind_from"] = _image_kind(fmt, facts, named)
    else:
        kind = fmt.family
    if named is not None:
        extra["name_pattern"] = named.source
        if named.app:
            extra["app"] = named.app
        if named.problem:
            ctx.report.warn(f"{name}: {named.problem}; it was not used.")
    taken = _taken(name, exif, named.taken if named else None, ctx)
    if taken is None:
        flags.append("undated")
    else:
        extra["time_from"] = taken.time_from
        if taken.time_from == "mtime":
            flags.append("time_from_mtime")
    return {
        "ts_utc": taken.ts_utc if taken else None, "ts_local": taken.ts_local if taken else None,
        "ts_precision": taken.precision if taken else None, "tz_source": taken.tz_source if taken else None,
        "channel": "evidence", "kind": kind, "direction": "unknown",
        "attachments": [{"name": name, "mime": fmt.mime, "size": size, "sha256": sha}],
        "flags": flags, "source_sha256": ctx.source_sha256, "source_path": ctx.source_path,
        "locator": f"byte 0+{size}", "parser": ctx.parser_label, "extra": extra,
    }


def _image_kind(fmt: Format, facts: ImageFacts, named: NameFacts | None) -> tuple[str, str]:
    return image_kind(fmt, facts, bool(named and named.screenshot), screenshot_software())


def _screenshot(data: bytes, name: str, timezone: str) -> bool:
    """Whether the parser reads the text of this file (a screenshot whose image data can be read)."""
    fmt = identify(data[:SNIFF_BYTES])
    if fmt is None or fmt.family != "image":
        return False
    facts = read_image(io.BytesIO(data), fmt)
    return facts.problem is None and _image_kind(fmt, facts, from_name(name, timezone))[0] == "screenshot"


def _taken(name: str, exif: dict[str, str], from_file_name: Taken | None, ctx: ParseContext) -> Taken | None:
    """The best time: EXIF original, EXIF digitized, the file name, the modification time."""
    for which in ("Original", "Digitized"):
        taken = from_exif(exif.get(f"DateTime{which}"), exif.get(f"OffsetTime{which}"),
                          exif.get(f"SubSecTime{which}"), ctx.timezone, f"exif_{which.lower()}")
        if taken is not None:
            return taken
        if exif.get(f"DateTime{which}"):
            ctx.report.warn(f"{name}: EXIF DateTime{which} '{exif[f'DateTime{which}']}' is not a date and time; "
                            "it was not used.")
    return from_file_name or from_mtime(ctx.modified, ctx.timezone)


register(Parser(
    name="evidence",
    version="2",
    description="evidence file: screenshot, photo (PNG, JPEG, HEIC, WebP), audio (Opus/Ogg, M4A, MP3, AMR, "
                "WAV), video (MP4, MOV, 3GP), PDF document",
    sniff=sniff,
    parse=parse,
    priority=90,
    after_siblings=True,
))
