"""A Parquet file made of the leading row groups of another, copied as bytes, and row groups a
writer appends: the bytes one writer would have written with all of them (timeline/reuse.py keeps
the leading row groups of the last master this way, without decoding or encoding them again).

A column chunk's bytes do not depend on where it lies in the file; only the footer (Thrift
compact protocol) holds file offsets. So the writer's own output, less its leading magic, follows
the copied bytes, and its footer is rewritten: the copied row groups' entries from the old footer,
then the writer's with their offsets and ordinals moved on, and the total row count.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

MAGIC = b"PAR1"

# Thrift compact protocol types.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)

# Field ids (parquet.thrift) of what the splice changes.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_NUM_ROWS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 3, 5, 7
_CHUNK_FILE_OFFSET, _CHUNK_META, _CHUNK_INDEX_OFFSETS = 2, 3, (4, 6)
_META_OFFSETS = (9, 10, 11, 14)   # data, index and dictionary page, bloom filter


class SpliceError(ValueError):
    """A file that is not a Parquet file this module can splice (encrypted, or damaged)."""


# A decoded Thrift struct: its fields in file order as [field id, type, value]; a list is
# (element type, values).
Fields = list[list]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int) -> object:
        if kind in (_TRUE, _FALSE):   # only inside a list: one byte
            return self.byte()
        if kind == _BYTE:
            return self.byte()
        if kind in (_I16, _I32, _I64):
            return self.zigzag()
        if kind == _DOUBLE:
            self.pos += 8
            return self.data[self.pos - 8:self.pos]
        if kind == _BINARY:
            size = self.varint()
            self.pos += size
            return self.data[self.pos - size:self.pos]
        if kind in (_LIST, _SET):
            head = self.byte()
            size = head >> 4 if head >> 4 != 15 else self.varint()
            return (head & 0x0F, [self.value(head & 0x0F) for _ in range(size)])
        if kind == _STRUCT:
            return self.fields()
        raise SpliceError(f"Thrift type {kind} in a Parquet footer")

    def fields(self) -> Fields:
        out: Fields = []
        last = 0
        while (head := self.byte()) != 0:
            kind = head & 0x0F
            last = last + (head >> 4) if head >> 4 else self.zigzag()
            out.append([last, kind, None if kind in (_TRUE, _FALSE) else self.value(kind)])
        return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint((n << 1) ^ (n >> 63))


def _encode_value(kind: int, value: object, out: bytearray) -> None:
    if kind in (_TRUE, _FALSE, _BYTE):
        out.append(value)
    elif kind in (_I16, _I32, _I64):
        out += _zigzag(value)
    elif kind == _DOUBLE:
        out += value
    elif kind == _BINARY:
        out += _varint(len(value)) + value
    elif kind in (_LIST, _SET):
        element, values = value
        out += bytes([len(values) << 4 | element]) if len(values) < 15 else bytes([0xF0 | element]) + _varint(len(values))
        for item in values:
            _encode_value(element, item, out)
    else:
        _encode_fields(value, out)


def _encode_fields(fields: Fields, out: bytearray) -> None:
    last = 0
    for fid, kind, value in fields:
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | kind)
        else:
            out.append(kind)
            out += _zigzag(fid)
        if kind not in (_TRUE, _FALSE):
            _encode_value(kind, value, out)
        last = fid
    out.append(0)


def decode(footer: bytes) -> Fields:
    """A Parquet footer (FileMetaData) as fields."""
    return _Reader(footer).fields()


def encode(fields: Fields) -> bytes:
    """Fields as Thrift compact bytes (the inverse of ``decode``, byte for byte)."""
    out = bytearray()
    _encode_fields(fields, out)
    return bytes(out)


def can_splice(path: Path) -> bool:
    """Whether the row groups of this Parquet file can be kept: its footer decodes, and encodes
    again to the very same bytes."""
    try:
        with open(path, "rb") as handle:
            raw, _ = footer_of(handle, Path(path).stat().st_size)
        return encode(decode(raw)) == raw
    except (SpliceError, IndexError, OSError):
        return False


def _field(fields: Fields, fid: int) -> list | None:
    return next((f for f in fields if f[0] == fid), None)


def _moved(group: Fields, offset: int, ordinal: int) -> None:
    """Move a row group's entry ``offset`` bytes on in the file, and number it ``ordinal``."""
    def shift(fields: Fields, fid: int, always: bool) -> None:
        if (f := _field(fields, fid)) is not None and (always or f[2]):   # 0: the writer leaves it unset
            f[2] += offset

    for chunk in _field(group, _GROUP_COLUMNS)[2][1]:
        shift(chunk, _CHUNK_FILE_OFFSET, False)
        for fid in _CHUNK_INDEX_OFFSETS:
            shift(chunk, fid, True)
        for fid in _META_OFFSETS:
            shift(_field(chunk, _CHUNK_META)[2], fid, True)
    shift(group, _GROUP_FILE_OFFSET, True)
    if (f := _field(group, _GROUP_ORDINAL)) is not None:
        f[2] = ordinal


def footer_of(handle: BinaryIO, size: int) -> tuple[bytes, int]:
    """The footer bytes of the Parquet file open in ``handle`` (``size`` bytes long) and where they start."""
    if size < 12:
        raise SpliceError("too short for a Parquet file")
    handle.seek(size - 8)
    tail = handle.read(8)
    if tail[4:] != MAGIC:
        raise SpliceError("not a Parquet file (or an encrypted one)")
    length = struct.unpack("<I", tail[:4])[0]
    handle.seek(size - 8 - length)
    return handle.read(length), size - 8 - length


def data_end(footer: Fields, at: int, groups: int) -> int:
    """Where the row group ``groups`` starts, the end of those before it (``at``, where the footer
    starts, when it is the last)."""
    rows = _field(footer, _FILE_ROW_GROUPS)[2][1]
    if groups < len(rows):
        return _field(rows[groups], _GROUP_FILE_OFFSET)[2]
    if groups == len(rows):
        return at
    raise SpliceError(f"the file holds {len(rows)} row groups, not {groups}")


class _AfterMagic:
    """A binary file object for a Parquet writer: drops the magic it writes first, passes the rest on."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._started = False
        self.closed = False

    def write(self, data: bytes) -> int:
        if not self._started:
            if bytes(data) != MAGIC:
                raise SpliceError("the writer did not start with the Parquet magic alone")
            self._started = True
            return len(data)
        self._handle.write(data)
        return len(data)

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True


@contextmanager
def spliced(out: Path, head: Path, groups: int) -> Iterator[BinaryIO]:
    """A binary file object to give one Parquet writer (with the schema and metadata of ``head``)
    for the row groups that follow the first ``groups`` of ``head``; once it is closed, ``out``
    holds the file that writer would have written had it written those first groups too."""
    with open(head, "rb") as old:
        raw, at = footer_of(old, Path(head).stat().st_size)
        old_footer = decode(raw)
        start = data_end(old_footer, at, groups)
        with open(out, "wb") as new:
            _copy(old, new, start)
            yield _AfterMagic(new)
            new.flush()
    _patch_footer(out, old_footer, groups, start - len(MAGIC))


def _copy(source: BinaryIO, target: BinaryIO, size: int) -> None:
    """Copy the first ``size`` bytes of ``source`` to the start of ``target`` (in the kernel where
    it can), and put ``target`` after them."""
    done = 0
    kernel = hasattr(os, "copy_file_range")   # Linux
    while done < size:
        if kernel:
            try:
                step = os.copy_file_range(source.fileno(), target.fileno(), size - done, done, done)
            except OSError:   # a file system that cannot: through memory from here on
                kernel = False
                continue
        else:
            step = os.pwrite(target.fileno(), os.pread(source.fileno(), min(size - done, 1 << 22), done), done)
        if not step:
            raise SpliceError("the file ended before its row groups did")
        done += step
    target.seek(size)


def _patch_footer(path: Path, old_footer: Fields, groups: int, offset: int) -> None:
    """Rewrite the footer of ``path``, whose row groups past the copied ones are ``offset`` bytes on
    from where their writer put them: the old footer's first ``groups`` entries, then the
    writer's, moved; the total row count."""
    with open(path, "r+b") as handle:
        raw, at = footer_of(handle, path.stat().st_size)
        footer = decode(raw)
        kept = _field(old_footer, _FILE_ROW_GROUPS)[2][1][:groups]
        written = _field(footer, _FILE_ROW_GROUPS)
        for ordinal, group in enumerate(written[2][1], start=groups):
            _moved(group, offset, ordinal)
        written[2] = (written[2][0], kept + written[2][1])
        _field(footer, _FILE_NUM_ROWS)[2] += sum(_field(g, _GROUP_NUM_ROWS)[2] for g in kept)
        data = encode(footer)
        handle.seek(at)
        handle.write(data + struct.pack("<I", len(data)) + MAGIC)
        handle.truncate()
