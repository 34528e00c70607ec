"""Data downloads of messaging platforms: Telegram Desktop (``telegram``, read as a stream by
``jsonstream``), Facebook Messenger and Instagram (``meta``), Google Voice (``gvoice``), Signal
Desktop through sigtop (``signal``), Snapchat (``snapchat``) and Discord (``discord``). What they
share (rows to batches, media beside the export into blobs, Meta's mojibake) is in ``common``.
Importing the package registers the six parsers."""

from __future__ import annotations

from commtrail.parsers.platforms import discord, gvoice, meta, signal, snapchat, telegram

__all__ = ["discord", "gvoice", "meta", "signal", "snapchat", "telegram"]
