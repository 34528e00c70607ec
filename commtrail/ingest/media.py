"""Media files (image, audio, video, PDF) told by their first bytes, not by their names.

A file no parser claims is an attachment when a chat or an incident log names it; otherwise it
is kept as an unreferenced attachment of its folder when it is media, and refused as unknown when
it is not. Telling media by content keeps that outcome the same whatever the file is called.
"""

from __future__ import annotations

import re

# (what the summary calls it, a pattern its first bytes match)
MEDIA_MAGIC: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("image", re.compile(rb"\A(?:\xff\xd8|\x89PNG\r\n\x1a\n|GIF8[79]a|RIFF....WEBP|II\*\x00|MM\x00\*)", re.S)),
    ("video", re.compile(rb"\A(?:....ftyp(?:qt  |3g|mp4|isom|avc|M4V|MSNV|crx)|\x1a\x45\xdf\xa3|RIFF....AVI )",
                         re.S)),
    ("image", re.compile(rb"\A....ftyp(?:heic|heix|hevc|mif1|msf1|avif)", re.S)),
    ("audio", re.compile(rb"\A(?:....ftyp(?:M4A |M4B )|ID3|OggS|fLaC|#!AMR|RIFF....WAVE|\xff[\xe0-\xff])", re.S)),
    ("video", re.compile(rb"\A....(?:ftyp|moov|mdat|wide)", re.S)),   # other ISO/QuickTime brands
    ("PDF", re.compile(rb"\A[\x00-\x7f]{0,1024}?%PDF-", re.S)),
)


def media_kind(head: bytes) -> str | None:
    """``image``, ``audio``, ``video`` or ``PDF`` when ``head`` begins a file of that kind, else None."""
    return next((kind for kind, magic in MEDIA_MAGIC if magic.match(head)), None)
