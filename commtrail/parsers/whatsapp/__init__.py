"""WhatsApp "Export chat" text files (``export``, the ``whatsapp`` parser): the header shapes and
wording (``headers``, from ``data/whatsapp_markers.toml``), the vectorised pass over the lines
(``scan``) and the chat's identity told from its content (``chat``, shared with the iPhone's
WhatsApp database in ``ios/``). Importing the package registers the parser."""

from __future__ import annotations

from commtrail.parsers.whatsapp import export

__all__ = ["export"]
