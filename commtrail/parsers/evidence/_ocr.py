"""Text in screenshots, read by Tesseract (through pytesseract). Never the record's ``body``.

The text goes in ``extra.ocr_text`` (lines as Tesseract found them), with ``extra.ocr_confidence``
(the mean of Tesseract's word confidences, 0-100), ``extra.ocr_engine`` (its version, since
another version may read differently) and ``extra.ocr_languages``; the record is flagged ``ocr``.
The languages are case.toml's ``ocr_languages`` (English by default). Where Tesseract or a
language pack is not installed the item goes in without it and the run says so once.
"""

from __future__ import annotations

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
    """The Tesseract this machine has (looked up once per process)."""
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

    with Image.open(stream) as image:
        image.load()
        data = pytesseract.image_to_data(image.convert("RGB"), lang="+".join(languages),
                                         output_type=pytesseract.Output.DICT)
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
