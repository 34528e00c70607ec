"""E-mail: mbox mailboxes (``mbox``) and single ``.eml``/Maildir messages (``eml``), each message
built into one record by ``builder`` (in a pool of worker processes for a big mailbox), the MIME
work (charsets, encoded words, parts, HTML to text) in ``mime``. Importing the package registers
the two parsers."""

from __future__ import annotations

from commtrail.parsers.email import eml, mbox

__all__ = ["eml", "mbox"]
