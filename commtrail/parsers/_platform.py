"""What the parsers of platform data downloads share: rows to batches, media files beside the
export into blobs (confined to the export's folder or archive), and the repair of Meta's mojibake.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from commtrail.parsers.base import ParseContext
from commtrail.timeline.schema import dumps_extra, make_batch

COLUMNS = ("ts_utc", "ts_local", "ts_precision", "kind", "direction", "sender", "sender_raw", "recipients",
           "conversation", "body", "duration_s", "attachments", "flags", "locator", "extra")
_DRIVE = re.compile(r"^[A-Za-z]:")


class Rows:
    """Collects records column by column; ``batches`` yields them as RECORD_SCHEMA batches."""

    def __init__(self, ctx: ParseContext, channel: str) -> None:
        self.ctx, self.channel = ctx, channel
        self.cols: dict[str, list] = {name: [] for name in COLUMNS}
        self.count = 0

    def add(self, ts_us: int, ts_local: str, precision: str, kind: str, direction: str, sender: str | None,
            sender_raw: str | None, recipients: list[str], conversation: str | None, body: str | None,
            locator: str, *, duration: int | None = None, attachments: list[dict] | None = None,
            flags: list[str] | None = None, extra: dict[str, Any] | None = None) -> None:
        c = self.cols
        c["ts_utc"].append(ts_us)
        c["ts_local"].append(ts_local)
        c["ts_precision"].append(precision)
        c["kind"].append(kind)
        c["direction"].append(direction)
        c["sender"].append(sender)
        c["sender_raw"].append(sender_raw)
        c["recipients"].append(recipients)
        c["conversation"].append(conversation)
        c["body"].append(body)
        c["duration_s"].append(duration)
        c["attachments"].append(attachments or [])
        c["flags"].append(flags or [])
        c["locator"].append(locator)
        c["extra"].append(dumps_extra(extra))
        self.count += 1

    def full(self) -> bool:
        return len(self.cols["locator"]) >= max(1, self.ctx.batch_size)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows collected so far, as one batch (none when empty); the buffer is emptied."""
        n = len(self.cols["locator"])
        if not n:
            return
        ctx, cols = self.ctx, self.cols
        self.cols = {name: [] for name in COLUMNS}
        cols["ts_utc"] = pa.array(cols["ts_utc"], pa.int64())
        const = {"channel": [self.channel] * n, "tz_source": ["source"] * n,
                 "source_sha256": [ctx.source_sha256] * n, "source_path": [ctx.source_path] * n,
                 "parser": [ctx.parser_label] * n}
        yield make_batch({**cols, **const})


def iso_local(ts_us: int) -> str:
    """ISO UTC text of an epoch time in µs (``ts_local`` of epoch sources)."""
    seconds, micro = divmod(ts_us, 1_000_000)
    text = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{micro // 1000:03d}Z" if micro else f"{text}Z"


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


def store_file(ctx: ParseContext, rel: str, mime: str | None = None) -> dict | None:
    """Hash the file at ``rel`` (relative to the export's folder or archive) into the blob store.

    Returns the attachment (name, mime, size, sha256), or None when the path leaves the export or
    the file is not there."""
    safe = safe_relative(rel)
    if safe is None or ctx.open_relative is None:
        return None
    try:
        stream = ctx.open_relative(safe)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None
    with stream:
        if ctx.blobs is not None:
            sha, size = ctx.blobs.put_stream(stream)
        else:
            digest, size = hashlib.sha256(), 0
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            sha = digest.hexdigest()
    ctx.report.used_siblings.add(safe.rsplit("/", 1)[-1])
    return {"name": rel, "mime": mime or mime_of(rel), "size": size, "sha256": sha}


@functools.lru_cache(maxsize=256)
def _mime_of_ext(ext: str) -> str | None:
    return mimetypes.guess_type("x" + ext)[0]


def mime_of(name: str) -> str | None:
    """The MIME type its extension suggests, or None."""
    dot = name.rfind(".")
    return _mime_of_ext(name[dot:].lower()) if dot > name.rfind("/") else None


class Mojibake:
    """Meta's downloads write each UTF-8 byte of a text as its own ``\\u00XX`` code point; this
    undoes it where the code points spell valid UTF-8, and counts the texts repaired."""

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

    def deep(self, value: Any) -> Any:
        """The same repair over every text inside a JSON value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        return value
