"""Find every input file: plain files, folders (recursed) and archives (read in place).

An :class:`InputItem` is one file to ingest, wherever it lives. Members of a zip or tar archive
are named ``archive.zip!member`` and opened without extracting the archive. Files that sit in the
same folder (on disk or inside an archive) are each other's *siblings*: a WhatsApp chat finds its
media through them.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from commtrail.errors import InputError

Opener = Callable[[], BinaryIO]


@dataclass
class InputItem:
    """One file to ingest."""

    label: str                 # path as given; inside an archive: archive.zip!member
    name: str                  # base name
    size: int
    open: Opener
    folder_key: str            # items with the same key are siblings
    disk_path: Path | None = None   # set for plain files (for the fast "already ingested" check)
    mtime_ns: int | None = None
    container: str | None = None    # the archive's label, for members
    siblings: dict[str, Opener] = field(default_factory=dict)


@dataclass
class Discovery:
    items: list[InputItem]
    errors: list[InputError]


def _is_archive_member_dir(name: str) -> bool:
    return name.endswith("/")


def _skip_name(name: str) -> bool:
    base = PurePosixPath(name).name
    return base.startswith("._") or base in {".DS_Store", "Thumbs.db", "desktop.ini"} or "__MACOSX/" in name


def _zip_items(path: Path, label: str) -> Iterator[InputItem]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    for info in infos:
        if _is_archive_member_dir(info.filename) or _skip_name(info.filename):
            continue
        member = info.filename

        def opener(member: str = member) -> BinaryIO:
            archive = zipfile.ZipFile(path)
            stream = archive.open(member)
            _close = stream.close

            def close() -> None:
                _close()
                archive.close()
            stream.close = close  # type: ignore[method-assign]
            return stream

        folder = str(PurePosixPath(member).parent)
        yield InputItem(f"{label}!{member}", PurePosixPath(member).name, info.file_size, opener,
                        f"{label}!{folder}", container=label)


def _tar_items(path: Path, label: str) -> Iterator[InputItem]:
    with tarfile.open(path, "r:*") as archive:
        members = [m for m in archive.getmembers() if m.isfile() and not _skip_name(m.name)]
    for m in members:
        def opener(name: str = m.name) -> BinaryIO:
            archive = tarfile.open(path, "r:*")
            stream = archive.extractfile(name)
            assert stream is not None
            _close = stream.close

            def close() -> None:
                _close()
                archive.close()
            stream.close = close  # type: ignore[method-assign]
            return stream
        folder = str(PurePosixPath(m.name).parent)
        yield InputItem(f"{label}!{m.name}", PurePosixPath(m.name).name, m.size, opener,
                        f"{label}!{folder}", container=label)


def _is_tar(path: Path) -> bool:
    name = path.name.lower()
    if not name.endswith((".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")):
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _file_items(path: Path, label: str) -> Iterator[InputItem]:
    if zipfile.is_zipfile(path):
        yield from _zip_items(path, label)
    elif _is_tar(path):
        yield from _tar_items(path, label)
    else:
        st = path.stat()
        yield InputItem(label, path.name, st.st_size, lambda p=path: open(p, "rb"),
                        str(path.parent), disk_path=path.resolve(), mtime_ns=st.st_mtime_ns)


def discover(inputs: list[str]) -> Discovery:
    """Expand the inputs given on the command line into items; unreadable ones become errors."""
    items: list[InputItem] = []
    errors: list[InputError] = []
    for given in inputs:
        path = Path(given)
        try:
            if path.is_dir():
                for root, dirs, files in os.walk(path):
                    dirs.sort()
                    for fname in sorted(files):
                        fpath = Path(root) / fname
                        if _skip_name(fname) or fpath.is_symlink():
                            continue
                        try:
                            items.extend(_file_items(fpath, str(fpath)))
                        except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
                            errors.append(_unreadable(str(fpath), exc))
            elif path.is_file():
                items.extend(_file_items(path, given))
            elif not path.exists():
                errors.append(InputError("this file or folder does not exist.", file=given,
                                         hint="Check the path (quote it if it has spaces)."))
            else:
                errors.append(InputError("this is not a regular file or folder.", file=given))
        except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
            errors.append(_unreadable(given, exc))
    by_folder: dict[str, dict[str, Opener]] = {}
    for item in items:
        by_folder.setdefault(item.folder_key, {})[item.name] = item.open
    for item in items:
        item.siblings = {k: v for k, v in by_folder[item.folder_key].items() if k != item.name}
    return Discovery(items, errors)


def _unreadable(label: str, exc: Exception) -> InputError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return InputError(f"cannot be read ({reason}).", file=label,
                      hint="Check that the file is complete and that you may read it.")
