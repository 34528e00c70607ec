"""Pillow with HEIC/HEIF support, for the stages that open images (the evidence parser, the report)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def heif_opener() -> str | None:
    """Register pillow-heif with Pillow; the reason it cannot be, or None."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return "pillow-heif is not installed (pip install pillow-heif)"
    register_heif_opener()
    return None
