"""WhatsApp's iPhone database given on its own: ``ChatStorage.sqlite`` taken out of a backup or an
extraction (the app group folder ``group.net.whatsapp.WhatsApp.shared``), with its ``Message/Media/``
folder beside it when there is one. Recognised by its tables (``ZWAMESSAGE``, ``ZWACHATSESSION``),
or by its name. Read by the same code as the WhatsApp database of a backup
(:mod:`commtrail.parsers.ios.whatsapp_db`); the ``-wal`` and ``-shm`` files beside it are copied with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from commtrail.parsers._sqlite import SQLITE_MAGIC, input_copy
from commtrail.parsers.base import OutsideInput, ParseContext
from commtrail.parsers.ios.whatsapp_db import WhatsAppReader
from commtrail.parsers.registry import Parser, register

VERSION = "2"
NAME = "ChatStorage.sqlite"
MARKERS = (b"ZWAMESSAGE", b"ZWACHATSESSION")


def sniff(head: bytes, filename: str) -> bool:
    return head.startswith(SQLITE_MAGIC) and (filename == NAME or all(m in head for m in MARKERS))


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    with input_copy(stream, ctx) as con:
        yield from WhatsAppReader(con, ctx, NAME, lambda path: _open_media(ctx, path), ctx.source_path).read()


def _open_media(ctx: ParseContext, path: str) -> BinaryIO:
    """A media file beside the database (a path leaving its folder is not followed: it counts as missing)."""
    if ctx.open_relative is None or path.startswith(("/", "\\")) or ".." in path.replace("\\", "/").split("/"):
        raise FileNotFoundError(path)
    try:
        return ctx.open_relative(path)
    except OutsideInput as exc:
        raise FileNotFoundError(path) from exc


register(Parser(name="whatsapp-ios-db", version=VERSION,
                description="WhatsApp's iPhone database on its own (ChatStorage.sqlite, with Message/Media/ "
                            "beside it)",
                sniff=sniff, parse=parse, priority=20, uses_siblings=True))
