"""Encrypted iPhone backups ("Encrypt local backup" in Finder or iTunes), decrypted with the
password into the parse's private folder.

The keys and the AES work are ``iphone_backup_decrypt``'s (``BackupKeyBag``, ``FilePlist``,
``aes_decrypt_chunked``): ``Manifest.plist`` holds the key bag (class keys wrapped with a key
derived from the password: PBKDF2-SHA256 then PBKDF2-SHA1) and ``ManifestKey`` (the manifest's
own key, wrapped with a class key); each file's record in ``Manifest.db`` holds its key, wrapped
with the key of its protection class; every file is AES-256-CBC. A file is decrypted only when the
parser opens it, and its decrypted copy is unlinked once open, so nothing decrypted outlives the
parse (the private folder itself is removed afterwards, also on error).
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext

NEEDS_PASSWORD = ("Give the backup's password in a file with --password-file FILE (the file holds only the "
                  "password), or run commtrail ingest in a terminal to be asked for it.")


class Decryptor:
    """The key bag of one encrypted backup, unlocked with its password."""

    def __init__(self, manifest_plist: dict, ctx: ParseContext) -> None:
        from iphone_backup_decrypt import utils   # here: only encrypted backups need the AES code
        from iphone_backup_decrypt.exceptions import UnsafeBackupError
        self._utils, self.ctx = utils, ctx
        password = ctx.password() if ctx.password is not None else None
        if not password:
            raise InputError("this iPhone backup is encrypted (IsEncrypted) and no password was given.",
                             file=ctx.source_path, where="Manifest.plist", hint=NEEDS_PASSWORD)
        try:
            self.keybag = utils.BackupKeyBag(manifest_plist["BackupKeyBag"])
            unlocked = self.keybag.unlock_with_passphrase(password.encode("utf-8"))
        except (KeyError, TypeError, ValueError, UnsafeBackupError) as exc:
            raise InputError(f"the key bag of this encrypted iPhone backup cannot be read ({exc}).",
                             file=ctx.source_path, where="Manifest.plist BackupKeyBag",
                             hint="The backup may be damaged; make a new one in Finder or iTunes.") from None
        if not unlocked:
            raise InputError("the password given does not open this encrypted iPhone backup.",
                             file=ctx.source_path, where="Manifest.plist BackupKeyBag",
                             hint="Check the password (the one chosen in Finder or iTunes for encrypted "
                                  "backups; the password file holds only it, a final line break is ignored).")

    def manifest(self, encrypted: Path, target: Path, manifest_plist: dict) -> None:
        """Decrypt ``Manifest.db`` to ``target``."""
        wrapped = manifest_plist.get("ManifestKey")
        if not isinstance(wrapped, bytes) or len(wrapped) < 5:
            raise InputError("this encrypted iPhone backup has no ManifestKey, so its list of files cannot be "
                             "decrypted.", file=self.ctx.source_path, where="Manifest.plist",
                             hint="The backup may be damaged; make a new one in Finder or iTunes.")
        key = self._unwrap(struct.unpack("<l", wrapped[:4])[0], wrapped[4:], "Manifest.plist ManifestKey")
        self._decrypt(encrypted, target, key, "Manifest.db")

    def open(self, record: bytes, stream: Callable[[], BinaryIO], folder: Path, name: str) -> BinaryIO:
        """A file of the backup, decrypted: ``record`` is its ``Files.file`` property list, ``stream``
        opens its encrypted bytes. The decrypted copy is unlinked once open."""
        try:
            info = self._utils.FilePlist(record)
        except Exception as exc:   # plistlib and the record's layout raise several types
            raise FileNotFoundError(f"{name}: unreadable record ({exc})") from None
        if info.encryption_key is None:
            raise FileNotFoundError(f"{name}: no key (a folder or an empty file)")
        key = self._unwrap(info.protection_class, info.encryption_key, f"the Manifest.db record of {name}")
        encrypted, plain = folder / (name + ".enc"), folder / name
        with stream() as source, open(encrypted, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        try:
            self._decrypt(encrypted, plain, key, name)
        finally:
            encrypted.unlink(missing_ok=True)
        handle = open(plain, "rb")
        plain.unlink()
        return handle

    def _unwrap(self, protection_class: int, wrapped: bytes, where: str) -> bytes:
        try:
            return self.keybag.unwrap_key_for_class(protection_class, wrapped)
        except ValueError as exc:
            raise InputError(f"a key of this encrypted iPhone backup cannot be unwrapped ({exc}).",
                             file=self.ctx.source_path, where=where,
                             hint="The backup may be damaged; make a new one in Finder or iTunes.") from None

    def _decrypt(self, encrypted: Path, target: Path, key: bytes, name: str) -> None:
        try:
            self._utils.aes_decrypt_chunked(in_filename=str(encrypted), key=key, out_filepath=str(target))
        except ValueError as exc:
            raise InputError(f"{name} of this encrypted iPhone backup does not decrypt ({exc}).",
                             file=self.ctx.source_path, where=name,
                             hint="The backup may be damaged or incomplete; make a new one in Finder or iTunes.") from None
