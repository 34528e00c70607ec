"""An iPhone backup made by iTunes or Finder: a folder of files named by hash, with ``Manifest.db``.

Ingest hands the backup over as one input, its ``Manifest.db`` (the folder is recognised by
``Manifest.db`` beside ``Info.plist``, whatever its name; a zip of it likewise). The manifest's
``Files`` table names every file: ``fileID`` is the SHA-1 of ``domain-relativePath`` and the file
is stored as ``<fileID[:2]>/<fileID>`` (flat, ``<fileID>``, in backups before iOS 10). Read from it:

- ``HomeDomain`` ``Library/SMS/sms.db``: messages (:mod:`commtrail.parsers.ios.messages`), their
  attachments from ``MediaDomain`` ``Library/SMS/Attachments/...``;
- ``HomeDomain`` ``Library/CallHistoryDB/CallHistory.storedata``: calls (:mod:`.calls`);
- ``HomeDomain`` ``Library/AddressBook/AddressBook.sqlitedb``: contact names as hints (:mod:`.contacts`);
- ``AppDomainGroup-group.net.whatsapp.WhatsApp.shared`` ``ChatStorage.sqlite``: WhatsApp
  (:mod:`.whatsapp_db`), its media from ``Message/Media/...`` of that domain (a backup without
  WhatsApp says nothing about it).

A database the backup lacks is a warning. An encrypted backup (``Manifest.plist`` ``IsEncrypted``)
is decrypted with its password (:mod:`.encrypted`), file by file as they are read, into the
parse's private folder; without the password, or with a wrong one, it is refused with one message. The phone's identifier (UDID: ``Manifest.plist``
``Lockdown.UniqueDeviceID``, ``Info.plist`` ``Unique Identifier`` / ``Target Identifier``) is put in
every record's ``extra`` (``device``), so that only backups of one phone are compared for possibly
deleted messages; a backup naming none, or two, is a warning and is compared with no other.
"""

from __future__ import annotations

import hashlib
import json
import plistlib
from contextlib import closing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO
from xml.parsers.expat import ExpatError

import pyarrow as pa

from commtrail.errors import InputError
from commtrail.parsers._sqlite import (SQLITE_MAGIC, as_input_error, copy_stream, open_read_only, private_copy,
                                       private_folder, require)
from commtrail.parsers.base import OutsideInput, ParseContext
from commtrail.parsers.ios import fragments
from commtrail.parsers.ios.calls import read_calls
from commtrail.parsers.ios.contacts import ContactHints, read_contacts
from commtrail.parsers.ios.encrypted import Decryptor
from commtrail.parsers.ios.messages import MessagesReader
from commtrail.parsers.ios.whatsapp_db import WhatsAppReader
from commtrail.parsers.registry import Parser, register
from commtrail.timeline.schema import EXTRA_DEVICE

VERSION = "4"
MANIFEST = "Manifest.db"
SMS = ("HomeDomain", "Library/SMS/sms.db")
CALLS = ("HomeDomain", "Library/CallHistoryDB/CallHistory.storedata")
CONTACTS = ("HomeDomain", "Library/AddressBook/AddressBook.sqlitedb")
ATTACHMENT_DOMAIN = "MediaDomain"
WHATSAPP_DOMAIN = "AppDomainGroup-group.net.whatsapp.WhatsApp.shared"
WHATSAPP = (WHATSAPP_DOMAIN, "ChatStorage.sqlite")


def file_id(domain: str, relative_path: str) -> str:
    """The name a backup stores a file under: SHA-1 of ``domain-relativePath``."""
    return hashlib.sha1(f"{domain}-{relative_path}".encode()).hexdigest()


def sniff(head: bytes, filename: str) -> bool:
    """A backup's manifest: ``Manifest.db``, an SQLite database with a ``Files`` table, or (an
    encrypted backup) not SQLite at all."""
    return filename == MANIFEST and bool(head) and (not head.startswith(SQLITE_MAGIC) or b"Files" in head)


class Backup:
    """The files of one backup, found through its manifest (decrypted by ``decryptor`` into
    ``folder`` when the backup is encrypted)."""

    def __init__(self, manifest: Path, ctx: ParseContext, decryptor: Decryptor | None = None,
                 folder: Path | None = None) -> None:
        self.ctx, self.decryptor, self.folder = ctx, decryptor, folder
        self.con = open_read_only(manifest, ctx.source_path)
        with as_input_error(ctx.source_path):
            require(self.con, ctx.source_path, {"Files": ("fileID", "domain", "relativePath")})

    def record(self, domain: str, path: str) -> tuple[bytes | None] | None:
        """The file's row in the manifest, (its ``file`` property list,), or None when not listed. A
        domain or path held as a BLOB is its UTF-8 text (SQLite never finds a TEXT equal to a BLOB);
        one of any other type names no file."""
        with as_input_error(self.ctx.source_path, "table Files"):
            return self.con.execute("SELECT file FROM Files WHERE domain IN (?1, CAST(?1 AS BLOB)) "
                                    "AND relativePath IN (?2, CAST(?2 AS BLOB))", (domain, path)).fetchone()

    def has(self, domain: str, path: str) -> bool:
        return self.record(domain, path) is not None

    def open(self, domain: str, path: str) -> BinaryIO:
        """A file of the backup by domain and path; FileNotFoundError when not listed or not there."""
        row = self.record(domain, path)
        if row is None or self.ctx.open_relative is None:
            raise FileNotFoundError(f"{domain}-{path}")
        fid = file_id(domain, path)
        if self.decryptor is None or self.folder is None:
            return self._stored(fid, f"{domain}-{path}")
        if not isinstance(row[0], bytes):
            raise FileNotFoundError(f"{domain}-{path}")
        return self.decryptor.open(row[0], lambda: self._stored(fid, f"{domain}-{path}"), self.folder, fid)

    def _stored(self, fid: str, name: str) -> BinaryIO:
        """The file stored as ``<fid[:2]>/<fid>`` (or flat, before iOS 10)."""
        assert self.ctx.open_relative is not None
        try:
            try:
                return self.ctx.open_relative(f"{fid[:2]}/{fid}")
            except FileNotFoundError:
                return self.ctx.open_relative(fid)
        except OutsideInput as exc:   # a link in the backup folder: never opened, counted as missing
            raise FileNotFoundError(name) from exc

    def part_opener(self, domain: str, path: str) -> Callable[[str], BinaryIO]:
        return lambda suffix: self.open(domain, path + suffix)

    def open_attachment(self, filename: str) -> BinaryIO:
        """An attachment by the path sms.db writes (``~/Library/SMS/...`` or ``/var/mobile/Library/...``)."""
        at = filename.find("Library/")
        if at < 0:
            raise FileNotFoundError(filename)
        return self.open(ATTACHMENT_DOMAIN, filename[at:])

    def open_whatsapp_media(self, path: str) -> BinaryIO:
        """A WhatsApp media file by its path in the app group (``Message/Media/...``)."""
        return self.open(WHATSAPP_DOMAIN, path)


def _plist(ctx: ParseContext, name: str) -> dict:
    """A property list beside the manifest (kept in the blob store when read), or {} when it is
    absent or unreadable."""
    if ctx.open_relative is None:
        return {}
    try:
        with ctx.open_relative(name) as stream:
            data = stream.read()
        value = plistlib.loads(data)
    except (OutsideInput, OSError, ValueError, ExpatError):
        return {}
    if ctx.blobs is not None:
        ctx.blobs.put_bytes(data)
    return value if isinstance(value, dict) else {}


def _device_id(manifest_plist: dict, ctx: ParseContext) -> str | None:
    """The phone's UDID (upper case) as the backup's plists name it; None, with a warning, when they
    name none or disagree."""
    lockdown = manifest_plist.get("Lockdown")
    info = _plist(ctx, "Info.plist")
    named = [lockdown.get("UniqueDeviceID") if isinstance(lockdown, dict) else None,
             info.get("Unique Identifier"), info.get("Target Identifier")]
    ids = sorted({value.strip().upper() for value in named if isinstance(value, str) and value.strip()})
    if len(ids) == 1:
        return ids[0]
    said = (f"names more than one device ({', '.join(ids)})" if ids else "names no device (no Lockdown "
            "UniqueDeviceID in Manifest.plist, no Unique Identifier or Target Identifier in Info.plist)")
    ctx.report.warn(f"the backup {said}: it is not compared with other backups for possibly deleted messages "
                    "and calls")
    return None


def _on_device(items: Iterator, device: str | None) -> Iterator:
    """The records of ``items`` with the phone's identifier added to ``extra``; rejects as they are."""
    fragment = "," + json.dumps({EXTRA_DEVICE: device})[1:-1] if device else ""
    for item in items:
        if fragment and isinstance(item, pa.RecordBatch):
            at = item.schema.get_field_index("extra")
            item = item.set_column(at, item.schema.field(at), fragments.extended(item.column(at), fragment))
        yield item


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    with private_folder(ctx) as folder:
        manifest = folder / MANIFEST
        copy_stream(stream, manifest, None)
        with open(manifest, "rb") as f:
            sqlite = f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
        manifest_plist = _plist(ctx, "Manifest.plist")
        decryptor = None
        if not sqlite and manifest_plist.get("IsEncrypted"):
            decryptor = Decryptor(manifest_plist, ctx)
            decryptor.manifest(manifest, folder / "Manifest.decrypted.db", manifest_plist)
            manifest = folder / "Manifest.decrypted.db"
        backup = Backup(manifest, ctx, decryptor, folder)
        device = _device_id(manifest_plist, ctx)
        with closing(backup.con):
            yield from _on_device(read_backup(backup, folder, ctx), device)


def _database(backup: Backup, folder: Path, where: tuple[str, str], name: str, ctx: ParseContext):
    """A private read-only copy of one database of the backup, or None (with a warning) if it lacks it."""
    domain, path = where
    try:
        copy = private_copy(backup.part_opener(domain, path), folder, name, ctx)
    except FileNotFoundError:
        ctx.report.warn(f"the backup holds no {domain}-{path}: nothing was read from it")
        return None
    return open_read_only(copy, _label(ctx, where))


def read_backup(backup: Backup, folder: Path, ctx: ParseContext) -> Iterator:
    """Contact names, then messages, calls and WhatsApp. A damaged or unknown sms.db refuses the
    backup; a damaged or unknown address book, call history or WhatsApp database is a warning (the
    messages are kept)."""
    hints = ContactHints()
    try:
        contacts = _database(backup, folder, CONTACTS, "AddressBook.sqlitedb", ctx)
        if contacts is not None:
            with closing(contacts):
                hints = read_contacts(contacts, _label(ctx, CONTACTS), ctx.phone_region)
    except InputError as exc:
        ctx.report.warn(f"{exc.render()} No contact names were offered.")
    messages = _database(backup, folder, SMS, "sms.db", ctx)
    if messages is not None:
        with closing(messages):
            reader = MessagesReader(messages, ctx, "sms.db", backup.open_attachment, hints, _label(ctx, SMS))
            yield from reader.read()
    try:
        calls = _database(backup, folder, CALLS, "CallHistory.storedata", ctx)
        if calls is not None:
            with closing(calls):
                yield from read_calls(calls, ctx, "CallHistory.storedata", hints, _label(ctx, CALLS))
    except InputError as exc:
        ctx.report.warn(f"{exc.render()} No calls were read.")
    if backup.has(*WHATSAPP):
        try:
            chats = _database(backup, folder, WHATSAPP, "ChatStorage.sqlite", ctx)
            if chats is not None:
                with closing(chats):
                    yield from WhatsAppReader(chats, ctx, "ChatStorage.sqlite", backup.open_whatsapp_media,
                                              _label(ctx, WHATSAPP)).read()
        except InputError as exc:
            ctx.report.warn(f"{exc.render()} No WhatsApp messages were read.")


def _label(ctx: ParseContext, where: tuple[str, str]) -> str:
    """How a database of the backup is named in messages: the input, and the file inside it."""
    return f"{ctx.source_path} ({where[0]}-{where[1]})"


register(Parser(name="ios-backup", version=VERSION,
                description="iPhone backup folder (iTunes/Finder: Manifest.db, Info.plist): messages, calls, "
                            "WhatsApp, contact names",
                sniff=sniff, parse=parse, priority=20))
