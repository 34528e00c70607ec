"""OCR speed-ups that must not change a text (commtrail/parsers/evidence/_ocr.py, _ahead.py): a plain
PNG read by Tesseract from its own bytes, and a folder's screenshots read ahead on the other cores."""

from __future__ import annotations

import hashlib
import io
import json
import sys

from PIL import Image

from conftest import make_ctx, run_parser
from evidence_media import exif, text_image

from commtrail.parsers.evidence import _ahead
from commtrail.parsers.evidence._ahead import ahead
from commtrail.parsers.evidence._ocr import _plain_png, engine, read_text

OCR = sys.modules["commtrail.parsers.evidence._ocr"]   # (the package's own `_ocr` is a function)

LINES = ["Jordan: where are you tonight", "you saw my car outside", "answer me now"]


def png(picture: Image.Image, **kwargs) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG", **kwargs)
    return out.getvalue()


def test_a_plain_png_is_read_from_its_bytes_with_the_text_pillow_would_give(monkeypatch):
    data = text_image(LINES)
    assert _plain_png(data)
    direct = read_text(io.BytesIO(data), ("eng",), engine().version)
    monkeypatch.setattr(OCR, "_plain_png", lambda head: False)
    assert read_text(io.BytesIO(data), ("eng",), engine().version) == direct
    assert direct.text == "\n".join(LINES)


def test_pngs_whose_reading_could_differ_go_through_pillow():
    picture = Image.open(io.BytesIO(text_image(LINES)))
    assert not _plain_png(png(picture, dpi=(144, 144)))          # pHYs: Tesseract would take the resolution
    assert not _plain_png(png(picture.convert("RGBA")))          # alpha
    assert not _plain_png(png(picture.convert("L")))             # grey
    assert not _plain_png(png(picture.convert("P")))             # palette
    assert not _plain_png(text_image(LINES, "JPEG"))
    assert _plain_png(png(picture, exif=exif(software="ExampleShot").tobytes()))


def test_the_screenshots_of_a_folder_are_read_ahead_with_the_same_text(tmp_path, monkeypatch):
    monkeypatch.setattr(_ahead, "_ahead", None)   # a pool of this test's own
    shots = {f"Screenshot_20240315-08401{i}_WhatsApp.png": text_image([LINES[i], f"message {i} of three"])
             for i in range(3)}
    photo = text_image(LINES, "JPEG", exif(make="ExampleCam"))
    files = {**shots, "photo.jpg": photo}
    openers = {name: (lambda data=data: io.BytesIO(data)) for name, data in files.items()}
    texts = {}
    for name, data in shots.items():
        ctx = make_ctx(tmp_path, source_path=f"phone/{name}", timezone="Europe/London", file_name=name,
                       source_sha256=hashlib.sha256(data).hexdigest(),
                       siblings={k: v for k, v in openers.items() if k != name})
        table, rejects, report = run_parser("evidence", data, ctx)
        assert rejects == [] and report.warnings == []
        texts[name] = json.loads(table.to_pylist()[0]["extra"])["ocr_text"]
    assert list(texts.values()) == [f"{LINES[i]}\nmessage {i} of three" for i in range(3)]
    pool = ahead()
    # the two later screenshots were taken from the pool (the first was read in its turn, never
    # ahead); the photo was looked at and not read
    assert pool._offered == set(files) and list(pool._jobs) == ["photo.jpg"]
    assert pool.take("photo.jpg", hashlib.sha256(photo).hexdigest()) is None


def test_a_text_read_ahead_from_other_bytes_is_not_taken(monkeypatch):
    monkeypatch.setattr(_ahead, "_ahead", None)
    data = text_image(["first version"])
    pool = ahead()
    pool.offer({"Screenshot_20240316-090000.png": lambda: io.BytesIO(data)}, "", lambda d, n: True, ("eng",),
               engine().version)
    assert pool.take("Screenshot_20240316-090000.png", "f" * 64) is None
