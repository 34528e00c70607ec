"""Android databases from a rooted phone or a forensic extraction: ``mmssms.db`` (SMS and MMS),
``calllog.db`` (calls), WhatsApp's ``msgstore.db``, and the refusal of WhatsApp's encrypted
``msgstore.db.cryptNN`` backups. Each is recognised by its tables, never its file name (the
encrypted backups, which have no readable content, excepted). Importing the package registers them."""

from __future__ import annotations

from commtrail.parsers.android import calllog, crypt, mmssms, msgstore

__all__ = ["calllog", "crypt", "mmssms", "msgstore"]
