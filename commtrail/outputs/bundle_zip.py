"""Zip files of the bundle: XLSX made byte-stable, and the encrypted archive (AES-256 zip, pyzipper).

An XLSX file is a zip whose entries carry the time they were written and whose core properties
name the time of saving; :func:`restamp_zip` rewrites both to one given time, so the same case
gives the same bytes. The encrypted bundle is one WinZip AES-256 zip (7-Zip opens it) holding the
bag folder.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from commtrail.atomic import atomic_path
from commtrail.errors import CommtrailError, UsageError

_CORE_TIME = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")
MIN_PASSPHRASE = 8


def _stamp(when: datetime) -> tuple[int, int, int, int, int, int]:
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    return max(stamp, (1980, 1, 1, 0, 0, 0))


def restamp_zip(path: Path, when: datetime) -> None:
    """Rewrite the zip at ``path`` with every entry dated ``when`` and an Office document's
    created/modified properties set to it (entries streamed, in their order)."""
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                entry = zipfile.ZipInfo(info.filename, date_time=_stamp(when))
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o600 << 16
                if info.filename == "docProps/core.xml":
                    dst.writestr(entry, _CORE_TIME.sub(lambda m: m.group(1) + iso + m.group(3), src.read(info)))
                    continue
                with src.open(info) as inp, dst.open(entry, "w", force_zip64=info.file_size > 1 << 30) as out:
                    shutil.copyfileobj(inp, out, 1 << 20)


def check_passphrase(passphrase: str) -> str:
    """Refuse an empty or short passphrase."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"the passphrase is shorter than {MIN_PASSPHRASE} characters.",
                         hint="Choose a longer one (a few unrelated words are easy to remember).")
    return passphrase


def read_passphrase(file: str | None, confirm: bool) -> str:
    """The passphrase from ``file`` (its first line) or, without one, from a prompt (twice when
    ``confirm``); never from the command line."""
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"the passphrase file cannot be read ({exc}).", file=file,
                             hint="Give a UTF-8 text file whose first line is the passphrase.") from None
        return check_passphrase(text.splitlines()[0] if text else "")
    import getpass
    first = getpass.getpass("Passphrase: ")
    if confirm:
        check_passphrase(first)
        if getpass.getpass("Passphrase again: ") != first:
            raise UsageError("the two passphrases differ; nothing was written.", hint="Run the command again.")
    return first


def write_encrypted(bag_dir: Path, target: Path, passphrase: str) -> None:
    """One AES-256 zip at ``target`` holding the folder ``bag_dir`` (under its own name)."""
    import pyzipper

    check_passphrase(passphrase)
    files = sorted(p for p in bag_dir.rglob("*") if p.is_file())
    with atomic_path(target) as tmp:
        with pyzipper.AESZipFile(tmp, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
            zf.setpassword(passphrase.encode("utf-8"))
            zf.setencryption(pyzipper.WZ_AES, nbits=256)
            for path in files:
                arcname = f"{bag_dir.name}/{path.relative_to(bag_dir).as_posix()}"
                zf.write(path, arcname)


class WrongPassphrase(CommtrailError):
    """The passphrase does not open the archive."""


@contextmanager
def open_encrypted(path: Path, passphrase: str) -> Iterator["EncryptedBag"]:
    """The encrypted bundle at ``path``, opened with ``passphrase`` (checked on its first entry)."""
    import pyzipper

    try:
        zf = pyzipper.AESZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise CommtrailError(f"this is not a readable zip archive ({exc}).", file=str(path),
                             hint="Give the .zip that commtrail bundle --encrypt wrote.") from None
    with zf:
        zf.setpassword(passphrase.encode("utf-8"))
        bag = EncryptedBag(zf, path)
        bag.check_passphrase()
        yield bag


class EncryptedBag:
    """Read access to the files of a bag inside an encrypted zip, by path relative to the bag."""

    def __init__(self, zf, path: Path) -> None:  # type: ignore[no-untyped-def]
        self.zf = zf
        self.path = path
        names = [n for n in zf.namelist() if not n.endswith("/")]
        roots = {n.split("/", 1)[0] for n in names}
        self.root = roots.pop() if len(roots) == 1 else ""
        prefix = self.root + "/" if self.root else ""
        self.members = {n[len(prefix):]: n for n in names}

    def check_passphrase(self) -> None:
        if not self.members:
            return
        first = sorted(self.members.values())[0]
        try:
            with self.zf.open(first) as stream:
                stream.read(1)
        except RuntimeError:
            raise WrongPassphrase("the passphrase does not open this archive; nothing was read.",
                                  file=str(self.path), hint="Check the passphrase (or the passphrase file) "
                                  "and try again.") from None

    def open(self, rel: str) -> BinaryIO:
        return self.zf.open(self.members[rel])

    def size(self, rel: str) -> int:
        return self.zf.getinfo(self.members[rel]).file_size
