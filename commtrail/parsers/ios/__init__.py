"""Apple formats: an iPhone backup folder (``backup``), a Messages database given on its own
(``chatdb``; both read messages with ``messages``) and WhatsApp's database given on its own
(``chatstorage``; a backup's is read by the same ``whatsapp_db``). Importing the package registers
the three parsers."""

from __future__ import annotations

from commtrail.parsers.ios import backup, chatdb, chatstorage

__all__ = ["backup", "chatdb", "chatstorage"]
