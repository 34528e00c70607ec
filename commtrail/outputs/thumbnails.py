"""Small JPEG thumbnails of evidence images for the report (so the HTML stays one file of a sane size)."""

from __future__ import annotations

import io
from pathlib import Path

from commtrail.images import heif_opener

# The longest side of a thumbnail, in pixels, and its JPEG quality.
SIDE = 320
QUALITY = 70


def thumbnail(path: Path) -> bytes | None:
    """A JPEG of the image at ``path``, at most SIDE pixels on its longest side, turned upright by its
    EXIF orientation; None when the file cannot be read as an image (it is then listed without one)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    heif_opener()
    try:
        with Image.open(path) as image:
            small = ImageOps.exif_transpose(image)
            small.thumbnail((SIDE, SIDE))
            if small.mode != "RGB":
                small = _on_white(small)
            out = io.BytesIO()
            small.save(out, "JPEG", quality=QUALITY, optimize=True)
            return out.getvalue()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def _on_white(image):  # type: ignore[no-untyped-def]
    """An image with transparency (or a palette) as RGB on white."""
    from PIL import Image
    rgba = image.convert("RGBA")
    base = Image.new("RGB", rgba.size, "white")
    base.paste(rgba, mask=rgba.getchannel("A"))
    return base
