"""An encrypted WhatsApp backup (``msgstore.db.crypt12``, ``.crypt14``, ``.crypt15``): refused with
one message that says what it is and what reading it would need.

WhatsApp encrypts its on-phone backups end to end; the contents look like random bytes, so such a
file is known by its name (the ``.cryptNN`` ending) and by not being an SQLite database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from commtrail.errors import InputError
from commtrail.parsers._sqlite import SQLITE_MAGIC
from commtrail.parsers.base import ParseContext
from commtrail.parsers.registry import Parser, register

VERSION = "1"
_NAME = re.compile(r"\.db\.crypt(\d{1,2})$", re.IGNORECASE)


def sniff(head: bytes, filename: str) -> bool:
    return bool(_NAME.search(filename)) and not head.startswith(SQLITE_MAGIC)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    """Refuses the file (nothing in it can be read without the key)."""
    found = _NAME.search(ctx.file_name or ctx.source_path)
    kind = f"crypt{found.group(1)}" if found else "crypt"
    raise InputError(
        f"this is an end-to-end encrypted WhatsApp backup ({kind}), so its messages cannot be read without "
        "its key.", file=ctx.source_path,
        hint="Reading it needs the key file from the phone (/data/data/com.whatsapp/files/key, on a rooted phone "
             "or in a full extraction) or the 64-digit key WhatsApp showed when end-to-end encrypted backup was "
             "turned on; commtrail does not decrypt backups. Give the unencrypted msgstore.db of a rooted phone or "
             "an extraction, or export the chats from WhatsApp (Export chat) and give those .txt files.")


register(Parser(name="android-whatsapp-crypt", version=VERSION,
                description="encrypted WhatsApp backup (msgstore.db.crypt12/14/15): refused, it needs its key",
                sniff=sniff, parse=parse, priority=20))
