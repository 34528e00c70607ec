"""MMS media: base64 ``data`` attributes decoded in pieces into the blob store.

Memory: lxml hands an attribute to Python as one ``str``, so one part's base64 text is held once,
whole, while it is decoded (libxml2 itself held the start tag's bytes and the value while parsing
it, and lets go before the part is handed over). The text is decoded 1 MiB at a time (white space
dropped, pieces aligned to 4 characters); a text up to 16 MiB is decoded completely before
anything is written (at most 12 MiB of bytes more), so that an invalid one stores nothing; a
larger one is checked first and then decoded piece by piece into the blob writer. So the peak is
about three times the largest single part while it is parsed, and nothing accumulates.
"""

from __future__ import annotations

import binascii
import hashlib

# Characters per piece: a multiple of 4, so every piece decodes on its own.
PIECE = 1 << 20
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_SPACE = b" \t\r\n"


class _HashOnly:
    """A blob writer that keeps nothing (when the context has no blob store)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self._size += len(data)

    def close(self) -> tuple[str, int]:
        return self._hash.hexdigest(), self._size


def _pieces(text: str):
    """``text`` as ASCII bytes without white space, in pieces of about PIECE characters."""
    for start in range(0, len(text), PIECE):
        chunk = text[start:start + PIECE]
        if not chunk.isascii():
            raise ValueError("non-ASCII character in base64 data")
        yield chunk.encode("ascii").translate(None, _SPACE)


def check_base64(text: str) -> str | None:
    """Why ``text`` is not valid (padded, standard-alphabet) base64, or None when it is.

    White space anywhere is allowed (line-wrapped base64). Checked piece by piece, so a large
    attribute is never copied whole.
    """
    total = 0
    padding_seen = False
    try:
        for piece in _pieces(text):
            if not piece:
                continue
            if padding_seen:
                return "data after the '=' padding"
            stripped = piece.rstrip(b"=")
            if len(piece) - len(stripped) > 2:
                return "more than two '=' padding characters"
            if stripped.translate(None, _ALPHABET):
                return "characters outside the base64 alphabet"
            padding_seen = len(stripped) != len(piece)
            total += len(piece)
    except ValueError as exc:
        return str(exc)
    if total % 4:
        return f"length {total} is not a multiple of 4"
    return None


SMALL = 16 << 20  # base64 texts up to this size are decoded before anything is stored


def store_base64(text: str, blobs) -> tuple[str | None, int | None, str | None]:
    """Decode base64 ``text`` into a new blob: (sha256, size, None), or (None, None, why not)
    when it is not valid base64 (then nothing is stored).

    Decoded piece by piece. A text up to 16 MiB is decoded (and so checked) before it is stored,
    at most 12 MiB of bytes held; a larger one is checked in a first pass, then decoded straight
    into the blob store, so that memory stays at one piece whatever the size of the media.
    """
    if len(text) > SMALL:
        problem = check_base64(text)
        if problem is not None:
            return None, None, problem
        writer = blobs.open_writer() if blobs is not None else _HashOnly()
        for data in _decoded(text):
            writer.write(data)
        sha, size = writer.close()
        return sha, size, None
    try:
        pieces = list(_decoded(text))
    except (ValueError, binascii.Error) as exc:
        return None, None, check_base64(text) or str(exc) or "not valid base64"
    writer = blobs.open_writer() if blobs is not None else _HashOnly()
    for data in pieces:
        writer.write(data)
    sha, size = writer.close()
    return sha, size, None


def _decoded(text: str):
    """The bytes of base64 ``text``, piece by piece; ValueError / binascii.Error when invalid."""
    carry = b""
    padded = False
    for piece in _pieces(text):
        if not piece:
            continue
        if padded:
            raise ValueError("data after the '=' padding")
        if carry:
            piece = carry + piece
        usable = len(piece) - len(piece) % 4
        if usable:
            chunk = piece[:usable]
            padded = chunk.endswith(b"=")
            yield binascii.a2b_base64(chunk, strict_mode=True)
        carry = piece[usable:]
    if carry:
        raise ValueError(f"length is not a multiple of 4 ({len(carry)} characters left over)")


def store_bytes(data: bytes, blobs) -> tuple[str, int]:
    """Store ``data`` as a blob: (sha256, size)."""
    writer = blobs.open_writer() if blobs is not None else _HashOnly()
    writer.write(data)
    return writer.close()
