"""The text of an ``attributedBody``: an NSAttributedString archived as a NeXTSTEP typedstream.

Messages on iOS 16 and later (and macOS Ventura and later) often leave ``message.text`` NULL and
keep the text only here. The archive starts with ``\\x04\\x0bstreamtyped``; the attributed string's
first member is an ``NSString`` (or ``NSMutableString``) object whose contents are written as the
type ``+`` (bytes with a length): ``... NSString \\x01 <superclass> \\x84 \\x01 + <length> <UTF-8>``.
Only that string is read; the attributes after it (fonts, links, message parts) are not.

Lengths use typedstream's integer encoding: one signed byte for -110..127, ``0x81`` and two
little-endian bytes, ``0x82`` and four. Anything that does not fit (another header, no string
class, a length past the end, bytes that are not UTF-8) gives None: the caller rejects the
message with its raw bytes rather than store a wrong or empty text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"\x04\x0bstreamtyped"
STRING_CLASSES = (b"NSString", b"NSMutableString")
BYTES_TYPE = b"\x84\x01+"   # a new type string of length 1: '+' (bytes with a length)
# How far after the string class name its '+' type may start (version byte, superclass reference).
TYPE_WINDOW = 24
_STRING, _MUTABLE = STRING_CLASSES


def read_int(data: bytes, pos: int) -> tuple[int, int] | None:
    """A typedstream integer at ``pos``: (value, position after it), or None past the end."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first == 0x81:
        end = pos + 3
        return (int.from_bytes(data[pos + 1:end], "little", signed=True), end) if end <= len(data) else None
    if first == 0x82:
        end = pos + 5
        return (int.from_bytes(data[pos + 1:end], "little", signed=True), end) if end <= len(data) else None
    if 0x83 <= first <= 0x91:   # other tags (reals, nil, new/reference markers): not an integer
        return None
    return (first - 256 if first > 127 else first), pos + 1


def decode_text(blob: object) -> str | None:
    """The text of an archived NSAttributedString, or None when it cannot be read exactly (or is no bytes)."""
    if not isinstance(blob, bytes) or not blob.startswith(HEADER):
        return None
    type_at = blob.find(BYTES_TYPE, len(HEADER))
    if type_at < 0:
        return None
    before = blob[max(0, type_at - TYPE_WINDOW - len(_MUTABLE)):type_at]
    if _STRING not in before[-TYPE_WINDOW - len(_STRING):] and _MUTABLE not in before:
        return None
    start = type_at + len(BYTES_TYPE)
    if start < len(blob) and blob[start] < 0x80:   # the usual one-byte length, read here at once
        size, start = blob[start], start + 1
    else:
        length = read_int(blob, start)
        if length is None:
            return None
        size, start = length
    if size < 0 or start + size > len(blob):
        return None
    try:
        return blob[start:start + size].decode("utf-8")
    except UnicodeDecodeError:
        return None


# What most attributedBody archives hold just before the string's type: the class name NSString,
# its version byte 1 and the superclass reference 0x94 (the usual layout, decoded column-wise).
_USUAL_CLASS = _STRING + b"\x01\x94"


def decode_texts(blobs: Sequence[object]) -> list[str | None]:
    """:func:`decode_text` of each blob (None stays None), the same texts, worked out column-wise
    for the archives of the usual layout (NSString, a one-byte length) and blob by blob for the rest."""
    found = _usual_texts(blobs)
    return [text if text is not None or blob is None else decode_text(blob) for text, blob in zip(found, blobs)] \
        if found is not None else [None if blob is None else decode_text(blob) for blob in blobs]


def _usual_texts(blobs: Sequence[object]) -> list[str | None] | None:
    """The texts of the archives of the usual layout (None for the others), or None when the
    column is not a column of blobs or a text found so is no UTF-8 (all are then read one by one)."""
    try:
        array = pa.array(blobs, pa.binary())
    except (pa.ArrowException, TypeError):   # no column of blobs, or past what one array holds
        return None
    if not isinstance(array, pa.BinaryArray):
        return None
    if array.null_count == len(array):
        return [None] * len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    starts, lengths = offsets[:-1].astype(np.int64), np.diff(offsets).astype(np.int64)
    valid = ~np.asarray(array.is_null())
    at = pc.fill_null(pc.find_substring(array, BYTES_TYPE), -1).to_numpy().astype(np.int64)
    usual = valid & pc.fill_null(pc.starts_with(array, HEADER), False).to_numpy(zero_copy_only=False) \
        & (at >= len(HEADER) + len(_USUAL_CLASS) - 1) & (at + len(BYTES_TYPE) < lengths)
    rows = np.flatnonzero(usual)
    before = starts[rows] + at[rows] - len(_USUAL_CLASS)
    same = np.ones(len(rows), dtype=bool)
    for i, byte in enumerate(_USUAL_CLASS):   # the bytes before the type are the usual ones
        same &= data[before + i] == byte
    rows = rows[same]
    size_at = starts[rows] + at[rows] + len(BYTES_TYPE)
    sizes = data[size_at].astype(np.int64)
    fits = (sizes < 0x80) & (at[rows] + len(BYTES_TYPE) + 1 + sizes <= lengths[rows])
    rows, sizes, text_at = rows[fits], sizes[fits], size_at[fits] + 1
    text_offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(sizes, out=text_offsets[1:])
    gather = np.repeat((text_at - text_offsets[:-1]).astype(np.int32), sizes)
    gather += np.arange(text_offsets[-1], dtype=np.int32)
    texts = pa.StringArray.from_buffers(len(rows), pa.py_buffer(text_offsets), pa.py_buffer(data[gather].tobytes()))
    try:
        texts.validate(full=True)   # every text UTF-8
    except pa.ArrowInvalid:
        return None
    out: list[str | None] = [None] * len(array)
    for row, text in zip(rows.tolist(), texts.to_pylist()):
        out[row] = text
    return out
