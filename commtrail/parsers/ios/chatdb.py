"""A Messages database given on its own: a Mac's ``chat.db`` (``~/Library/Messages``), or an
iPhone's ``sms.db`` taken out of a backup or an extraction, with its ``Attachments/`` folder beside it.

Read by the same code as a backup's sms.db (:mod:`commtrail.parsers.ios.messages`). The database
is copied with the ``-wal`` and ``-shm`` files beside it (the newest messages of a Mac that is in
use are in ``chat.db-wal``). An attachment written as ``~/Library/Messages/Attachments/...`` (or
``.../Library/SMS/Attachments/...``) is looked for as ``Attachments/...`` beside the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from commtrail.parsers._sqlite import SQLITE_MAGIC, base_name, input_copy
from commtrail.parsers.base import OutsideInput, ParseContext
from commtrail.parsers.ios.contacts import ContactHints
from commtrail.parsers.ios.messages import MessagesReader
from commtrail.parsers.registry import Parser, register

VERSION = "1"
NAMES = ("chat.db", "sms.db")
# Table names only a Messages database has together (its schema is near the start of the file).
MARKERS = (b"chat_message_join", b"message_attachment_join")
LIBRARY_FOLDERS = ("Library/Messages/", "Library/SMS/")


def sniff(head: bytes, filename: str) -> bool:
    return head.startswith(SQLITE_MAGIC) and (filename in NAMES or all(m in head for m in MARKERS))


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    with input_copy(stream, ctx) as con:
        reader = MessagesReader(con, ctx, base_name(ctx), lambda path: _open_attachment(ctx, path), ContactHints(),
                                ctx.source_path)
        yield from reader.read()


def _open_attachment(ctx: ParseContext, filename: str) -> BinaryIO:
    """An attachment by the path the database writes, looked for beside the database (a path that
    would leave that folder is not followed: the attachment counts as missing)."""
    for folder in LIBRARY_FOLDERS:
        at = filename.find(folder)
        if at >= 0 and ctx.open_relative is not None:
            rel = filename[at + len(folder):]
            if rel.startswith(("/", "\\")) or ".." in rel.replace("\\", "/").split("/"):
                break
            try:
                return ctx.open_relative(rel)
            except OutsideInput:   # through a link: never opened, the attachment counts as missing
                break
    raise FileNotFoundError(filename)


register(Parser(name="apple-messages", version=VERSION,
                description="Apple Messages database on its own: a Mac's chat.db, an iPhone's sms.db "
                            "(with Attachments/ beside it)",
                sniff=sniff, parse=parse, priority=20, uses_siblings=True))
