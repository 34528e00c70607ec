"""Text in screenshots, read by Tesseract (through pytesseract). Never the record's ``body``.

The text goes in ``extra.ocr_text`` (lines as Tesseract found them), with ``extra.ocr_confidence``
(the mean of Tesseract's word confidences, 0-100), ``extra.ocr_engine`` (its version, since
another version may read differently) and ``extra.ocr_languages``; the record is flagged ``ocr``.
The languages are case.toml's ``ocr_languages`` (English by default). Where Tesseract or a
language pack is not installed the item goes in without it and the run says so once.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

NOT_RUN = ("OCR was not run, so the text of screenshots was not read: {reason}. Install Tesseract "
           "(Debian/Ubuntu: sudo apt-get install tesseract-ocr; macOS: brew install tesseract; Windows: the "
           "installer from github.com/UB-Mannheim/tesseract) and the pytesseract package (pip install "
           "pytesseract); screenshots ingested before then keep no OCR text.")


@dataclass(frozen=True)
class OcrText:
    text: str
    confidence: float | None
    engine: str
    languages: str


MISSING_LANGUAGES = ("the Tesseract language pack(s) {missing} named in case.toml (ocr_languages) are not "
                     "installed, so screenshots were read in {used} only. Install them (Debian/Ubuntu: sudo "
                     "apt-get install {packages}) to read those languages.")


@dataclass(frozen=True)
class Engine:
    """Tesseract as found on this machine: its version and installed languages, or why it cannot run."""

    version: str | None
    languages: frozenset[str]
    problem: str | None = None


@lru_cache(maxsize=1)
def engine() -> Engine:
    """The Tesseract this machine has (looked up once per process).

    Tesseract runs one thread per process here (``OMP_THREAD_LIMIT=1`` unless set): its OpenMP
    threads gain little on one image and cost three to four times the CPU, spinning, on a busy
    machine; the cores are used by reading several images at a time (see _ahead.py)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        import pytesseract
    except ImportError:
        return Engine(None, frozenset(), "the pytesseract package is not installed")
    try:
        return Engine(f"tesseract {pytesseract.get_tesseract_version()}", frozenset(pytesseract.get_languages()))
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError) as exc:
        return Engine(None, frozenset(), f"Tesseract is not installed or cannot run ({type(exc).__name__})")


def read_text(stream: BinaryIO, languages: tuple[str, ...], version: str) -> OcrText:
    """The text Tesseract reads in the image in ``stream`` (seekable), in ``languages`` (installed ones)."""
    import pytesseract
    from PIL import Image

    lang = "+".join(languages)
    stream.seek(0)
    if _plain_png(stream.read(PNG_HEAD)):
        # Tesseract reads the file itself: the same pixels as Pillow's RGB copy, without decoding
        # the image in Pillow and encoding it again as PNG
        stream.seek(0)
        with tempfile.NamedTemporaryFile(suffix=".png") as copy:
            copy.write(stream.read())
            copy.flush()
            data = pytesseract.image_to_data(copy.name, lang=lang, output_type=pytesseract.Output.DICT)
    else:
        stream.seek(0)
        with Image.open(stream) as image:
            image.load()
            data = pytesseract.image_to_data(image.convert("RGB"), lang=lang, output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences: list[float] = []
    for i, word in enumerate(data["text"]):
        if not word.strip():
            continue
        lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(word)
        if float(data["conf"][i]) >= 0:
            confidences.append(float(data["conf"][i]))
    text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    confidence = round(sum(confidences) / len(confidences), 1) if confidences else None
    return OcrText(text, confidence, version, "+".join(languages))


PNG_HEAD = 64 << 10
# Chunks that change neither the pixels nor what Tesseract makes of them; any other (gamma, colour
# profile, transparency, pHYs: Tesseract would take its resolution, which Pillow's copy lacks)
# sends the image through Pillow.
_PLAIN_CHUNKS = {b"IHDR", b"sRGB", b"tEXt", b"iTXt", b"zTXt", b"tIME", b"eXIf", b"IDAT"}


def _plain_png(head: bytes) -> bool:
    """An 8-bit RGB PNG, not interlaced, with only plain chunks before its image data: what
    Pillow's RGB copy of it holds, pixel for pixel."""
    if not head.startswith(b"\x89PNG\r\n\x1a\n") or len(head) < 33:
        return False
    at = 8
    while at + 8 <= len(head):
        length, kind = struct.unpack(">I4s", head[at:at + 8])
        if kind not in _PLAIN_CHUNKS:
            return False
        if kind == b"IHDR" and head[at + 16:at + 21] != b"\x08\x02\x00\x00\x00":  # depth, RGB, methods, no interlace
            return False
        if kind == b"IDAT":
            return True
        at += 12 + length
    return False
