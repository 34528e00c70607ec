"""An image's size and EXIF fields (Pillow; HEIC/HEIF through pillow-heif), and screenshot or photo.

Screenshot or photo, first rule that applies:

1. EXIF ``UserComment`` (or the XMP ``exif:UserComment`` of a PNG) is ``Screenshot``, as iPhones,
   iPads and Macs write on their screenshots -> screenshot (``exif_user_comment``);
2. EXIF ``Software`` names a screenshot tool (data/evidence_names.toml) -> screenshot (``exif_software``);
3. the file name is a screenshot's (``Screenshot_...``, ``Screenshot ... at ...``) -> screenshot (``file_name``);
4. EXIF names a camera (``Make`` or ``Model``) -> photo (``camera_exif``);
5. a PNG without camera EXIF (cameras do not write PNG) -> screenshot (``png_without_camera``);
6. otherwise -> photo (``default``: e.g. a WhatsApp-recompressed JPEG, whose EXIF is stripped).

The rule that decided is kept in ``extra.kind_from``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import BinaryIO

from commtrail.images import heif_opener as _heif_opener
from commtrail.parsers.evidence._formats import Format

# EXIF tags: in the main IFD, and in the Exif sub-IFD.
_MAIN = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software"}
_SUB = {0x9003: "DateTimeOriginal", 0x9011: "OffsetTimeOriginal", 0x9291: "SubSecTimeOriginal",
        0x9004: "DateTimeDigitized", 0x9012: "OffsetTimeDigitized", 0x9292: "SubSecTimeDigitized",
        0x9286: "UserComment"}
_EXIF_IFD = 0x8769
_OBJECT = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")
_XMP_COMMENT = re.compile(r"UserComment>(?:\s*<[^>]+>)*\s*([^<]+?)\s*<", re.S)


@dataclass
class ImageFacts:
    """What the image itself says."""

    width: int | None = None
    height: int | None = None
    exif: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def read_image(stream: BinaryIO, fmt: Format) -> ImageFacts:
    """Size and EXIF text fields of the image in ``stream`` (seekable). A problem is reported, not raised."""
    from PIL import Image, UnidentifiedImageError

    if fmt.name in ("heic", "heif") and (missing := _heif_opener()) is not None:
        return ImageFacts(problem=missing)
    try:
        with Image.open(stream) as image:
            facts = ImageFacts(image.width, image.height)
            exif = image.getexif()
            facts.exif.update({name: _text(exif[tag]) for tag, name in _MAIN.items() if tag in exif})
            sub = exif.get_ifd(_EXIF_IFD)
            facts.exif.update({name: _text(sub[tag]) for tag, name in _SUB.items() if tag in sub})
            xmp = image.info.get("XML:com.adobe.xmp")
            if "UserComment" not in facts.exif and isinstance(xmp, str) and (m := _XMP_COMMENT.search(xmp)):
                facts.exif["UserComment"] = m.group(1)
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        # (without the repr of the stream, whose address differs from run to run)
        return ImageFacts(problem=f"{type(exc).__name__}: {_OBJECT.sub('', str(exc))}")
    facts.exif = {k: v for k, v in facts.exif.items() if v}
    return facts


def _text(value: object) -> str:
    """An EXIF value as text; ``UserComment``'s 8-byte character-code prefix read and removed."""
    if isinstance(value, bytes):
        code, rest = value[:8], value[8:]
        if code.startswith(b"UNICODE"):
            text = rest.decode("utf-16-be" if rest[:1] == b"\x00" else "utf-16-le", "replace")
        elif code.startswith((b"ASCII", b"\x00" * 8, b"JIS")):
            text = rest.decode("utf-8", "replace")
        else:
            text = value.decode("utf-8", "replace")
    else:
        text = str(value)
    return text.replace("\x00", "").strip()


def image_kind(fmt: Format, facts: ImageFacts, screenshot_name: bool, tools: tuple[str, ...]) -> tuple[str, str]:
    """``(kind, rule)``: screenshot or photo, and which rule of the module docstring decided."""
    exif = facts.exif
    if exif.get("UserComment", "").strip().lower() == "screenshot":
        return "screenshot", "exif_user_comment"
    software = exif.get("Software", "").lower()
    if any(tool in software for tool in tools):
        return "screenshot", "exif_software"
    if screenshot_name:
        return "screenshot", "file_name"
    if exif.get("Make") or exif.get("Model"):
        return "photo", "camera_exif"
    if fmt.name == "png":
        return "screenshot", "png_without_camera"
    return "photo", "default"
