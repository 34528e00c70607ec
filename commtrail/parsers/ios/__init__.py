"""Apple formats: an iPhone backup folder (``backup``) and a Messages database given on its own
(``chatdb``); both read messages with ``messages``. Importing the package registers both parsers."""

from __future__ import annotations

from commtrail.parsers.ios import backup, chatdb

__all__ = ["backup", "chatdb"]
