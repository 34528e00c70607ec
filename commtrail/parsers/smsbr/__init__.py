"""SMS Backup & Restore (Android app) XML backups: the ``smsbr-sms`` and ``smsbr-calls`` parsers
(``backup``, one streaming reader), the bytes repaired in front of the XML parser (``xmlrepair``),
``<sms>``/``<call>`` rows (``rows``) and ``<mms>`` rows (``mms``, media through ``media``), reading
on after damage (``resync``) and a big file parsed in two processes (``split``). The row code is
shared with the Android databases (``android/``) and the iPhone's local times (``ios/``).
Importing the package registers the two parsers."""

from __future__ import annotations

from commtrail.parsers.smsbr import backup

__all__ = ["backup"]
