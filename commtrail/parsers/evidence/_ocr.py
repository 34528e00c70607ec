"""Text in screenshots, read by Tesseract (through pytesseract). Never the record's ``body``.

The text goes in ``extra.ocr_text`` (lines as Tesseract found them), with ``extra.ocr_confidence``
(the mean of Tesseract's word confidences, 0-100) and ``extra.ocr_engine`` (its version, since
another version may read differently); the record is flagged ``ocr``. Where Tesseract is not
installed the item goes in without it and the run says so once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

LANGUAGES = "eng"
NOT_RUN = ("OCR was not run, so the text of screenshots was not read: {reason}. Install Tesseract "
           "(Debian/Ubuntu: sudo apt-get install tesseract-ocr; macOS: brew install tesseract; Windows: the "
           "installer from github.com/UB-Mannheim/tesseract) and the pytesseract package (pip install "
           "pytesseract); screenshots ingested before then keep no OCR text.")


@dataclass(frozen=True)
class OcrText:
    text: str
    confidence: float | None
    engine: str


@lru_cache(maxsize=1)
def engine() -> tuple[str | None, str | None]:
    """``(version, None)`` when Tesseract can run, else ``(None, why not)``."""
    try:
        import pytesseract
    except ImportError:
        return None, "the pytesseract package is not installed"
    try:
        return f"tesseract {pytesseract.get_tesseract_version()}", None
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        return None, f"Tesseract is not installed or cannot run ({type(exc).__name__})"


def read_text(stream: BinaryIO) -> OcrText:
    """The text Tesseract reads in the image in ``stream`` (seekable); ``engine()`` must be ready."""
    import pytesseract
    from PIL import Image

    version, _ = engine()
    with Image.open(stream) as image:
        image.load()
        data = pytesseract.image_to_data(image.convert("RGB"), lang=LANGUAGES, output_type=pytesseract.Output.DICT)
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
    return OcrText(text, confidence, version or "tesseract")
