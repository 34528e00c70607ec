"""A single RFC 822 message file: ``.eml`` (saved or exported mail) or one Maildir message.

Maildir folders are walked by ingest, so each Maildir file reaches this parser on its own; the
flags in its name (``...:2,FRST``) are kept in ``extra`` and ``T`` (trashed) sets the flag
``deleted``, ``D`` (draft) the flag ``draft``. The record is built by the same code as an mbox
message (commtrail.parsers.email.builder); ``locator`` is ``byte 0+SIZE`` and ``raw_sha256`` the hash of
the whole file.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.email.builder import RawMessage, emit, is_from_field
from commtrail.parsers.registry import Parser, register

MAX_MESSAGE = 256 << 20

_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")  # white space before the colon: the obsolete form
# Lines of a header block that are not header fields (no colon, white space before the first
# field) that a message may have and still be recognised by its sound fields.
MAX_STRAY_LINES = 2
# Header names that only mail carries (at least one must be present) ...
_MAIL_ONLY = {b"from", b"message-id", b"received", b"return-path", b"delivered-to", b"x-received",
              b"x-gm-thrid", b"x-mozilla-status", b"in-reply-to", b"dkim-signature"}
# ... and names that mail usually carries (two of either kind in all).
_MAIL = _MAIL_ONLY | {b"to", b"cc", b"subject", b"date", b"mime-version", b"reply-to", b"sender",
                      b"x-mailer", b"user-agent", b"content-type", b"references", b"x-gmail-labels",
                      b"authentication-results", b"arc-seal", b"x-original-to", b"envelope-to"}


def sniff(head: bytes, filename: str) -> bool:
    """A header block of mail fields from the first byte (not an mbox ``From `` line), with at
    most MAX_STRAY_LINES lines that are not fields, and fewer of them than mail fields."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith(b"From ") and not is_from_field(head):
        return False
    known, mail_only, stray, fields = 0, False, 0, 0
    for line in head.split(b"\n", 400)[:400]:
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            stray += not fields
            continue
        m = _FIELD.match(line)
        if m is None:
            stray += 1
            if stray > MAX_STRAY_LINES:
                return False
            continue
        fields += 1
        name = m.group(1).lower()
        if name in _MAIL:
            known += 1
            mail_only = mail_only or name in _MAIL_ONLY
    return known >= 2 and mail_only and stray <= MAX_STRAY_LINES and stray < known


def parse(stream: BinaryIO, ctx: ParseContext):
    """The one record (or reject) of a message file."""
    data = stream.read(MAX_MESSAGE + 1)
    if len(data) > MAX_MESSAGE:
        size = len(data)
        while chunk := stream.read(1 << 20):
            size += len(chunk)
        yield Reject(f"byte 0+{size}", f"message larger than {MAX_MESSAGE >> 20} MiB: not parsed (its "
                     "bytes stay in the original file; the first 64 KiB are kept here)",
                     data[:64 << 10].decode("utf-8", "replace"))
        return
    from_line, offset = None, 0
    if data.startswith(b"From ") and not is_from_field(data):  # a one-message mbox saved as .eml
        offset = data.find(b"\n") + 1 or len(data)
        from_line, data = data[:offset], data[offset:]
    yield from emit([RawMessage(offset, data, from_line)], ctx, pool_min_bytes=1 << 62)


register(Parser(
    name="eml",
    version="2",   # 2: charset fallback, bad header lines, undated records, uuencode, Gmail drafts
    description="single e-mail message file (.eml, Maildir message)",
    sniff=sniff,
    parse=parse,
))
