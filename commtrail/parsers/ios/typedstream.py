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


def decode_text(blob: bytes | None) -> str | None:
    """The text of an archived NSAttributedString, or None when it cannot be read exactly."""
    if not blob or not blob.startswith(HEADER):
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
