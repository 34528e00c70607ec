"""What the parsers of platform data downloads share: rows to batches, media files beside the
export into blobs (confined to the export's folder or archive), and the repair of Meta's mojibake.
"""

from __future__ import annotations

import functools
import hashlib
import json
import mimetypes
import operator
import re
from collections.abc import Iterator
from itertools import chain, compress
from itertools import repeat as repeat_value
from typing import Any, BinaryIO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.errors import InputError
from commtrail.parsers._arrowtext import wrap
from commtrail.parsers.base import OutsideInput, ParseContext, read_full
from commtrail.parsers.platforms.jsonstream import SURROGATE_ESCAPE, SURROGATE_WARNING, without_surrogates
from commtrail.timeline.schema import make_batch
from commtrail.timeline.utclocal import local_iso

COLUMNS = ("ts_utc", "ts_local", "ts_precision", "kind", "direction", "sender", "sender_raw", "recipients",
           "conversation", "body", "duration_s", "attachments", "flags", "locator", "extra")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Bytes to "0" for an ASCII digit, " " for any other: a run of 19 digits in them is a number orjson
# may read otherwise than the standard library (an integer beyond 64 bits becomes a float there).
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))


class Rows:
    """Collects records (one tuple each, in COLUMNS order); ``batches`` yields them as RECORD_SCHEMA
    batches, in the order they were added.

    A parser that builds some records column-wise (``add_batch``) gives every record its place in
    the source (``place``); ``batches`` then writes the records gathered both ways in the order of
    their places, so the records of a file always come in its order."""

    def __init__(self, ctx: ParseContext, channel: str, local_unit: str | None = None) -> None:
        """``local_unit``: for epoch sources, ts_local is made from ts_utc in the case's zone, to
        that unit (``s``, ``ms``), rather than given per record."""
        self.ctx, self.channel, self.local_unit = ctx, channel, local_unit
        self.rows: list[tuple] = []
        self.places: list[int] = []
        self.parts: list[tuple[pa.RecordBatch, np.ndarray]] = []
        self.held = 0
        self.flushed = 0

    def add(self, ts_us: int, ts_local: str, precision: str, kind: str, direction: str, sender: str | None,
            sender_raw: str | None, recipients: list[str], conversation: str | None, body: str | None,
            locator: str, duration: int | None = None, attachments: list[dict] | None = None,
            flags: list[str] | None = None, extra: dict[str, Any] | None = None, place: int | None = None) -> None:
        self.rows.append((ts_us, ts_local, precision, kind, direction, sender, sender_raw, recipients,
                          conversation, body, duration, attachments, flags, locator,
                          _EXTRA.encode(extra) if extra else None))
        if place is not None:
            self.places.append(place)

    def add_batch(self, cols: dict[str, Any], n: int, places: np.ndarray) -> None:
        """Hold ``n`` records built column-wise (lists or Arrow arrays), at ``places`` in the source,
        to be written with the others in the order of their places."""
        self.parts.append((self.batch(cols, n), places))
        self.held += n

    @property
    def pending(self) -> int:
        """Records added and not yet written."""
        return len(self.rows) + self.held

    @property
    def count(self) -> int:
        """Records added so far."""
        return self.flushed + self.pending

    def full(self) -> bool:
        return self.pending >= max(1, self.ctx.batch_size)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The records gathered so far, as one batch (none when empty); the buffers are emptied."""
        parts, self.parts, self.held = self.parts, [], 0
        places, self.places = self.places, []
        if self.rows:
            parts.append((self.row_batch(), np.asarray(places, dtype=np.int64)))
        self.flushed += sum(b.num_rows for b, _ in parts)
        if len(parts) == 1:
            yield parts[0][0]
        elif parts:
            order = np.argsort(np.concatenate([p for _, p in parts]), kind="stable")
            table = pa.Table.from_batches([b for b, _ in parts]).take(pa.array(order))
            yield table.combine_chunks().to_batches(max_chunksize=len(order))[0]

    def row_batch(self) -> pa.RecordBatch:
        """The records added one by one, as a batch; their buffer is emptied."""
        rows, n = self.rows, len(self.rows)
        self.rows = []
        cols = dict(zip(COLUMNS, (list(c) for c in zip(*rows))))
        del rows
        cols["ts_utc"] = pa.array(cols["ts_utc"], pa.int64())
        if self.local_unit:
            cols["ts_local"] = local_iso(cols["ts_utc"], self.ctx.timezone, self.local_unit)
        return self.batch(cols, n)

    def batch(self, cols: dict[str, Any], n: int) -> pa.RecordBatch:
        """A batch of ``n`` rows from ``cols`` (lists or Arrow arrays), the source's constants added."""
        ctx = self.ctx
        const = {"channel": repeat_dict(self.channel, n), "tz_source": repeat_dict("source", n),
                 "source_sha256": repeat(ctx.source_sha256, n), "source_path": repeat(ctx.source_path, n),
                 "parser": repeat(ctx.parser_label, n)}
        return make_batch({**cols, **const})


def whole_number(value: Any) -> int | None:
    """A JSON integer, or a text of its ASCII digits (blanks around them allowed: int() takes only
    some); None for anything else: a fraction, an infinity, true/false, other text."""
    if isinstance(value, str) and value.isascii() and value.strip().isdigit():
        return int(value.strip())
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def call_seconds(value: Any) -> int | None:
    """A call's duration as the export gives it, in whole seconds: a JSON integer (or a whole
    number written with a fraction, ``42.0``) from 0 that ``duration_s`` holds; None for anything
    else (a negative or fractional number, a text, a true/false), which no call lasts: the caller
    leaves the duration empty, keeps the value in ``extra`` and counts it (:data:`CALL_SECONDS_UNREAD`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    return value if 0 <= value < 2**31 else None


# The warning of the calls whose duration is no whole number of seconds: its count, key and what is done.
CALL_SECONDS_UNREAD = ("{n} call(s) have a {key} that is no whole number of seconds (0 or more): their duration is "
                       "left empty{more}, the value is kept in extra.{kept}.")


def repeat(value: str | None, n: int) -> pa.Array:
    """``value`` ``n`` times, as a string array (made from its buffers: the offsets step by the
    value's length over the value's bytes ``n`` times)."""
    if value is None:
        return pa.array([value], pa.string()).take(pa.array(np.zeros(n, dtype=np.int32)))
    data = value.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(data))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


def repeat_dict(value: str, n: int) -> pa.Array:
    """``value`` ``n`` times, as a dictionary column of RECORD_SCHEMA."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], pa.string()))


def joined(prefix: str, values: pa.Array, suffix: str) -> pa.Array:
    """``prefix + str(value) + suffix`` for each value of an Arrow array."""
    return wrap(prefix, pc.cast(values, pa.string()), suffix)


def empty_lists(n: int) -> pa.Array:
    """``n`` empty list<string> values."""
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))


def lists_at(n: int, places: list[int], lists: list[list[str]]) -> pa.Array:
    """``n`` list<string> values: ``lists[k]`` at ``places[k]`` (in increasing order), empty elsewhere."""
    if not places:
        return empty_lists(n)
    sizes = np.zeros(n, dtype=np.int32)
    sizes[places] = list(map(len, lists))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(sizes, dtype=np.int32, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(list(chain.from_iterable(lists)), pa.string()))


class _ExtraEncoder(json.JSONEncoder):
    """The text of schema.dumps_extra (keys sorted, compact, non-ASCII kept). ``JSONEncoder.encode``
    makes a new C encoder for every value; this one makes the standard library's C encoder once, with
    the same settings, where it writes the same text as ``JSONEncoder`` (checked on a sample)."""

    _SAMPLE = {"b": [1, 2.5, -0.0, float("nan"), float("-inf"), 2**70, True, None], "a": {"z": "é\"\n\u2028😀"}}

    def __init__(self) -> None:
        super().__init__(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        self._once = None
        try:
            once = json.encoder.c_make_encoder(None, self.default, json.encoder.c_encode_basestring, None,
                                               self.key_separator, self.item_separator, True, False, True)
            if "".join(once(self._SAMPLE, 0)) == super().encode(self._SAMPLE):
                self._once = once
        except (AttributeError, TypeError):
            pass

    def encode(self, o: Any) -> str:
        if self._once is not None and type(o) is dict:
            return "".join(self._once(o, 0))
        return super().encode(o)


EXTRA = _EXTRA = _ExtraEncoder()


def safe_relative(path: str) -> str | None:
    """``path`` as a relative POSIX path inside the export, or None when it would leave it
    (absolute, a drive letter, a ``..`` part) or names nothing."""
    norm = path.replace("\\", "/")
    if not norm or norm.startswith("/") or _DRIVE.match(norm):
        return None
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def read_whole(stream: BinaryIO) -> bytes:
    """The whole file: these downloads are each one JSON value (or one page), read at once."""
    parts = []
    while chunk := read_full(stream, 4 << 20):
        parts.append(chunk)
    return b"".join(parts)


def decode_counted(data: bytes) -> tuple[str, int]:
    """``data`` as UTF-8 text (a BOM dropped), and how many U+FFFD the decoding put in for bytes
    that were not UTF-8 (a U+FFFD the file itself holds is not counted)."""
    text = data.decode("utf-8-sig", "replace")
    found = text.count("\ufffd")
    return text, found - data.count(b"\xef\xbf\xbd") if found else 0


def load_whole_json(data: bytes, ctx: ParseContext, what: str, hint: str) -> tuple[Any, int]:
    """The JSON value of a whole file and the count of :func:`decode_counted`, or the InputError of
    :func:`load_json`. orjson reads the bytes first (some times faster); whatever it refuses (invalid
    UTF-8, a lone surrogate escape, NaN, a syntax error) or might read otherwise (a run of 19 digits:
    an integer beyond 64 bits) goes the standard library's way, so the value is the same either way."""
    body = data.removeprefix(b"\xef\xbb\xbf")
    if b"0" * 19 not in body.translate(_DIGITS):
        try:
            return orjson.loads(body), 0
        except orjson.JSONDecodeError:
            pass
    text, replaced = decode_counted(data)
    return load_json(text, ctx, what, hint), replaced


def load_json(text: str, ctx: ParseContext, what: str, hint: str) -> Any:
    """The JSON value of a whole file, or an InputError naming the line and column where it breaks.
    A lone UTF-16 surrogate escape (``"\\ud83d"``: half of an emoji, not a character, which no text
    column can hold) becomes U+FFFD, counted as a repair with a warning, so the rest is still read."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"this {what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                         "nothing was read from it.", file=ctx.source_path, where=f"line {exc.lineno}",
                         hint=hint) from None
    except RecursionError:   # thousands of [ or { inside each other: no export writes that
        raise InputError(f"this {what} nests its values more deeply than any export does (more than Python's "
                         "JSON reader can follow), so it is damaged or not an export; nothing was read from it.",
                         file=ctx.source_path, where="the whole file", hint=hint) from None
    if SURROGATE_ESCAPE.search(text):
        value, found = without_surrogates(value)
        if found:
            ctx.report.repairs += found
            ctx.report.warn(SURROGATE_WARNING.format(n=found))
    return value


def store_file(ctx: ParseContext, rel: str, mime: str | None = None) -> dict | None:
    """Hash the file at ``rel`` (relative to the export's folder or archive) into the blob store.

    Returns the attachment (name, mime, size, sha256), or None when the path leaves the export, goes
    through a link (never opened; a warning says so) or the file is not there."""
    safe = safe_relative(rel)
    if safe is None or ctx.open_relative is None:
        return None
    try:
        stream = ctx.open_relative(safe)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None
    except OutsideInput as exc:
        ctx.report.warn(f"the file '{rel}' it names was refused ({exc}); it was not read.")
        return None
    with stream:
        sha, size = ctx.blobs.put_stream(stream) if ctx.blobs is not None else _hash_stream(stream)
    ctx.report.used_siblings.add(safe.rsplit("/", 1)[-1])
    return {"name": rel, "mime": mime or mime_of(rel), "size": size, "sha256": sha}


def store_sibling(ctx: ParseContext, ref: str) -> dict | None:
    """Hash the file named ``ref`` beside the input (or, when Takeout added an extension to it, the
    one file named ``ref.<ext>``) into the blob store; a path with folders goes through
    :func:`store_file`. None when there is no such file."""
    if "/" in ref or "\\" in ref:
        return store_file(ctx, ref)
    name = ref if ref in ctx.siblings else None
    if name is None:
        found = sorted(k for k in ctx.siblings if k.startswith(ref + ".") and "." not in k[len(ref) + 1:])
        name = found[0] if len(found) == 1 else None
    if name is None:
        return None
    with ctx.siblings[name]() as stream:
        if ctx.blobs is not None:
            sha, size = ctx.blobs.put_stream(stream)
        else:
            sha, size = _hash_stream(stream)
    ctx.report.used_siblings.add(name)
    return {"name": name, "mime": mime_of(name), "size": size, "sha256": sha}


def _hash_stream(stream) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@functools.lru_cache(maxsize=256)
def _mime_of_ext(ext: str) -> str | None:
    return mimetypes.guess_type("x" + ext)[0]


def mime_of(name: str) -> str | None:
    """The MIME type its extension suggests, or None."""
    dot = name.rfind(".")
    return _mime_of_ext(name[dot:].lower()) if dot > name.rfind("/") else None


class Mojibake:
    """Meta's downloads write each UTF-8 byte of a text as its own ``\\u00XX`` character
    (mojibake); this undoes it where those characters spell valid UTF-8, and counts the texts
    repaired. Each text of the source is repaired once, so a real ``Ã©`` survives."""

    def __init__(self) -> None:
        self.repaired = 0

    def __call__(self, text: str | None) -> str | None:
        if not text or text.isascii():
            return text
        try:
            fixed = text.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return text
        if fixed != text:
            self.repaired += 1
        return fixed

    def many(self, texts: list) -> list:
        """The repair of each text of a list (non-texts pass unchanged). The non-ASCII texts are
        joined by NUL and repaired in one go when they all can be (a NUL byte is never inside a
        UTF-8 sequence, so the pieces are exactly the texts repaired one by one), else one by one."""
        if list(map(type, texts)).count(str) == len(texts):  # all texts: tried whole first (C-level loops)
            whole = "\x00".join(texts)
            if whole.isascii():
                return texts
            try:
                fixed = whole.encode("latin-1").decode("utf-8").split("\x00")
            except (UnicodeEncodeError, UnicodeDecodeError):
                fixed = None
            if fixed is not None and len(fixed) == len(texts):
                self.repaired += sum(map(operator.ne, fixed, texts))
                return fixed
        where = [i for i, t in enumerate(texts) if type(t) is str and not t.isascii()]
        if not where:
            return texts
        out = list(texts)
        try:
            fixed = "\x00".join([texts[i] for i in where]).encode("latin-1").decode("utf-8").split("\x00")
        except (UnicodeEncodeError, UnicodeDecodeError):
            fixed = None
        if fixed is None or len(fixed) != len(where):
            for i in where:
                out[i] = self(texts[i])
            return out
        for i, text in zip(where, fixed):
            if text != out[i]:
                self.repaired += 1
                out[i] = text
        return out

    def column(self, texts: list) -> pa.Array:
        """:meth:`many` as an Arrow string array (None as null), made from the repaired UTF-8 bytes
        at once: the texts joined and encoded as Latin-1 are the repaired texts' bytes, one byte per
        character, so the texts' lengths place them; Arrow checks that each is valid UTF-8, and each
        that is not ASCII is one repaired. Falls back to :meth:`many` when a text is not repairable."""
        valid = np.frombuffer(bytes(map(operator.is_not, texts, repeat_value(None))), dtype=bool)
        count = int(np.count_nonzero(valid))
        present = list(compress(texts, valid)) if count < len(texts) else texts
        try:
            data = "".join(present).encode("latin-1")
        except UnicodeEncodeError:
            return pa.array(self.many(texts), pa.string())
        offsets = np.zeros(len(texts) + 1, dtype=np.int32)
        if count < len(texts):
            sizes = np.zeros(len(texts), dtype=np.int32)
            sizes[valid] = list(map(len, present))
            np.cumsum(sizes, dtype=np.int32, out=offsets[1:])
            bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
        else:
            np.cumsum(list(map(len, texts)), dtype=np.int32, out=offsets[1:])
            bitmap = None
        column = pa.StringArray.from_buffers(len(texts), pa.py_buffer(offsets), pa.py_buffer(data), bitmap,
                                             len(texts) - count)
        if data.isascii():
            return column
        try:
            column.validate(full=True)      # the repaired texts are valid UTF-8
        except pa.ArrowInvalid:
            return pa.array(self.many(texts), pa.string())
        # the texts that hold a byte >= 0x80: the place of each such byte among the offsets
        place = np.searchsorted(offsets, np.flatnonzero(np.frombuffer(data, dtype=np.uint8) >= 0x80), side="right")
        self.repaired += int(np.count_nonzero(np.diff(place))) + 1
        return column

    def deep(self, value: Any) -> Any:
        """The repair of every text inside a JSON value (of the types JSON gives, never a subclass)."""
        kind = type(value)
        if kind is str:
            return self(value)
        if kind is list:
            return [self.deep(v) for v in value]
        if kind is dict:
            return {k: self.deep(v) for k, v in value.items()}
        return value
