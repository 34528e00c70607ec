"""Find every input file: plain files, folders (recursed) and archives (read in place).

An :class:`InputItem` is one file to ingest, wherever it lives. Members of a zip or tar archive
are named ``archive.zip!member`` and opened without extracting the archive (a zip inside a zip is
copied to a private temporary file first). Files that sit in the same folder (on disk or inside an
archive) are each other's *siblings*: a WhatsApp chat finds its media through them.

Nothing is ever written under a name taken from an archive, so names with ``..`` or absolute
paths cannot escape the case. Links are not followed inside folders or archives. Archive bombs are
refused by a compression-ratio limit and a total-size limit (both in case.toml ``[limits]``).
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from commtrail.case import INCIDENT_DIR, ArchiveLimits
from commtrail.errors import InputError
from commtrail.parsers.base import OutsideInput

Opener = Callable[[], BinaryIO]
ZIP_MAGIC = b"PK\x03\x04"
# A folder holding both files is an iPhone backup: one input, its manifest (the parser finds the
# other files through it), not thousands of files named by hash.
BACKUP_MARKERS = ("Manifest.db", "Info.plist")


@dataclass
class InputItem:
    """One file to ingest."""

    label: str                 # path as given; inside an archive: archive.zip!member
    name: str                  # base name
    size: int
    open: Opener
    folder_key: str            # items with the same key are siblings
    disk_key: str | None = None     # resolved path|size|mtime (+ !member): the fast "already ingested" check
    container: str | None = None    # the archive's label, for members
    given: str | None = None        # the input named on the command line that this item came from
    siblings: dict[str, Opener] = field(default_factory=dict)
    # path relative to the item's folder -> (label of the file opened, stream); FileNotFoundError
    open_relative: Callable[[str], tuple[str, BinaryIO]] | None = None
    # modification time: aware (disk, tar) or naive local wall-clock time (zip); None if unknown
    modified: datetime | None = None


@dataclass
class Discovery:
    items: list[InputItem]
    errors: list[InputError]
    notices: list[str] = field(default_factory=list)
    spool: Path | None = None
    skipped: dict[str, int] = field(default_factory=dict)   # system files passed over, by kind

    def close(self) -> None:
        """Remove the temporary copies of nested archives."""
        if self.spool is not None:
            shutil.rmtree(self.spool, ignore_errors=True)


# Files mail servers and programs keep in Maildir folders beside the messages (indexes, caches,
# UID lists, markers): not mail, and not failed inputs. Skipped and counted by kind (SKIP_RULES).
MAILDIR_CONTROL_NAMES = frozenset({".noindex", ".noupdate", ".mu", "maildirfolder"})
MAILDIR_CONTROL_PREFIXES = ("dovecot", "courierimap")


def maildir_control(name: str) -> bool:
    """Whether a file (by its name, or the folder it sits in) is a Maildir control file."""
    path = PurePosixPath(name.replace("\\", "/"))
    base, parent = path.name.lower(), path.parent.name.lower()
    return base in MAILDIR_CONTROL_NAMES or base.startswith(MAILDIR_CONTROL_PREFIXES) \
        or parent.startswith("courierimap")


@dataclass(frozen=True)
class SkipRule:
    """Files that hold no evidence and are passed over (counted in the summary, never in silence)."""

    kind: str                                   # as the summary names them
    matches: Callable[[PurePosixPath], bool]    # on the path inside the folder or archive given


SKIP_RULES: tuple[SkipRule, ...] = (
    SkipRule("macOS archive metadata (__MACOSX/)", lambda p: "__MACOSX" in p.parts[:-1]),
    SkipRule("macOS resource forks (._*)", lambda p: p.name.startswith("._")),
    SkipRule("macOS folder settings (.DS_Store)", lambda p: p.name == ".DS_Store"),
    SkipRule("Windows thumbnail caches (Thumbs.db)", lambda p: p.name.lower() == "thumbs.db"),
    SkipRule("Windows folder settings (desktop.ini)", lambda p: p.name.lower() == "desktop.ini"),
    SkipRule("Maildir control files (mail program indexes, UID lists, markers)",
             lambda p: maildir_control(p.as_posix())),
)


def skip_kind(name: str) -> str | None:
    """The kind of system file ``name`` (a path inside what was given) is, or None for an input."""
    path = PurePosixPath(name)
    return next((rule.kind for rule in SKIP_RULES if rule.matches(path)), None)


class _Walker:
    def __init__(self, limits: ArchiveLimits, spool_parent: Path | None) -> None:
        self.limits = limits
        self.spool_parent = spool_parent
        self.spool: Path | None = None
        self.items: list[InputItem] = []
        self.errors: list[InputError] = []
        self.notices: list[str] = []
        self.skipped: Counter[str] = Counter()   # system files passed over, by kind
        # bytes the current input (an archive and every archive nested in it) expands to so far
        self.expanded = 0
        self.case_root: Path | None = None

    def inside_case(self, path: Path) -> bool:
        if self.case_root is None:
            return False
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return False
        working = self.case_root / INCIDENT_DIR   # the user's incident log and its evidence: inputs
        if resolved == working or working in resolved.parents:
            return False
        return resolved == self.case_root or self.case_root in resolved.parents

    def given(self, given: str) -> None:
        """One input as named on the command line."""
        path = Path(given)
        if self.inside_case(path):
            self.errors.append(InputError(
                "this is the case folder or inside it; the case's own files are not inputs.", file=given,
                hint="Give the phone or mail backups themselves, from outside the case folder."))
        elif path.is_dir():
            self.folder(path)
        elif path.is_file():
            self.file(path, given)
        elif not path.exists():
            self.errors.append(InputError("this file or folder does not exist.", file=given,
                                          hint="Check the path (quote it if it has spaces)."))
        else:
            self.errors.append(InputError(f"this is {_special_kind(path.stat().st_mode)}, not a regular file or "
                                          "folder; it was not read.", file=given,
                                          hint="Save what it holds to a file and give that file."))

    def skip(self, name: str) -> bool:
        """Whether ``name`` is a system file to pass over (then counted by kind)."""
        kind = skip_kind(name)
        if kind is not None:
            self.skipped[kind] += 1
        return kind is not None

    def _spool_dir(self) -> Path:
        if self.spool is None:
            if self.spool_parent is not None:
                self.spool_parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.spool = Path(tempfile.mkdtemp(prefix=".nested-", dir=self.spool_parent))
        return self.spool

    def file(self, path: Path, label: str, depth: int = 0) -> None:
        self.expanded = 0
        try:
            if zipfile.is_zipfile(path) and not _is_office_document(path):
                self.zip(path, label, depth)
            elif _is_tar(path):
                self.tar(path, label)
            else:
                st = path.stat()
                self.items.append(InputItem(label, path.name, st.st_size, lambda p=path: open_regular(p),
                                            str(path.parent), disk_key=_disk_key(path),
                                            open_relative=_disk_relative(path, label),
                                            modified=datetime.fromtimestamp(st.st_mtime, timezone.utc)))
        except (OSError, RuntimeError, ValueError, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
            # (ValueError: a member name that is not the UTF-8 its archive says it is, and others)
            self.errors.append(_unreadable(label, exc))

    def folder(self, path: Path) -> None:
        """Every file under ``path``, depth first in name order, without recursion (a tree of any
        depth is walked); a folder that cannot be listed fails alone. Links are not followed;
        pipes, sockets and devices are never opened."""
        stack = [path]
        while stack:
            here = stack.pop()
            try:
                with os.scandir(here) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                self.errors.append(_unreadable(str(here), exc, "folder"))
                continue
            if set(BACKUP_MARKERS) <= {e.name for e in entries}:   # an iPhone backup: one input, its manifest
                marker = here / BACKUP_MARKERS[0]
                self.file(marker, str(marker))
                continue
            folders = []
            for entry in entries:
                epath = here / entry.name
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except OSError as exc:
                    self.errors.append(_unreadable(str(epath), exc))
                    continue
                if stat.S_ISDIR(mode):
                    if self.inside_case(epath):
                        self.notices.append(f"{epath}: the case folder; its own files are not inputs")
                    else:
                        folders.append(epath)
                elif self.skip(epath.relative_to(path).as_posix()):
                    continue
                elif stat.S_ISLNK(mode):
                    self.notices.append(f"{epath}: a link; not followed (give the file it points to instead)"
                                        if not epath.is_dir() else f"{epath}: a link to a folder; not followed")
                elif not stat.S_ISREG(mode):
                    self.notices.append(f"{epath}: {_special_kind(mode)}, not a file; not read")
                else:
                    self.file(epath, str(epath))
            stack.extend(reversed(folders))

    def _over_budget(self, size: int, mlabel: str) -> bool:
        """Count a member's size against the total limit of the input; refuse it (and the rest)
        when the input as a whole expands beyond it."""
        self.expanded += size
        if self.expanded <= self.limits.max_total_bytes:
            return False
        self.errors.append(InputError(
            f"the archive expands to more than {self.limits.max_total_bytes:,} bytes; this member and "
            "the rest of the archive were not read.", file=mlabel,
            hint="Raise [limits] max_archive_total_bytes in case.toml if the archive is genuine."))
        return True

    def zip(self, path: Path, label: str, depth: int, key: str | None = None) -> None:
        key = key or _disk_key(path)
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
        # links are never opened, not even when a chat or an incident log names one
        names = {info.filename for info in infos if not stat.S_ISLNK(info.external_attr >> 16)}
        seen = Counter(info.filename for info in infos)
        backups = _backup_folders(names)
        for info in infos:
            member = info.filename
            if member.endswith("/") or self.skip(member) or _inside_backup(member, backups):
                continue
            mlabel = f"{label}!{member}"
            mkey = f"{key}!{member}"
            if seen[member] > 1:
                # Several entries under one name (a damaged or crafted archive): each is read,
                # so none is lost behind another, and each keeps its own key.
                mkey += f"@{info.header_offset}"
            if stat.S_ISLNK(info.external_attr >> 16):
                self.errors.append(InputError("this archive member is a link, not a file; it was not read.",
                                              file=mlabel))
                continue
            if self._over_budget(info.file_size, mlabel):
                break
            if info.compress_size and info.file_size / info.compress_size > self.limits.max_ratio \
                    and info.file_size > 1024 * 1024:
                self.errors.append(InputError(
                    f"this member expands {info.file_size / info.compress_size:.0f} times its compressed size, "
                    "as archive bombs do; it was not read.", file=mlabel,
                    hint="Raise [limits] max_archive_ratio in case.toml if the file is genuine."))
                continue

            def opener(info: zipfile.ZipInfo = info) -> BinaryIO:
                return _open_zip_member(path, info)

            if member.lower().endswith(".zip") or self._starts_with_zip(opener):
                if depth + 1 >= self.limits.max_depth:
                    self.errors.append(InputError("archives nested this deep are not opened.", file=mlabel,
                                                  hint="Extract the inner archive and give it on its own."))
                    continue
                try:
                    copy = self._spool_dir() / f"{len(self.items)}-{depth}-{info.header_offset}.zip"
                    with opener() as src, open(copy, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except (OSError, RuntimeError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
                    self.errors.append(_unreadable(mlabel, exc))
                    continue
                if zipfile.is_zipfile(copy) and not _is_office_document(copy):
                    self.zip(copy, mlabel, depth + 1, mkey)
                    continue
            folder = str(PurePosixPath(member).parent)
            self.items.append(InputItem(mlabel, PurePosixPath(member).name, info.file_size, opener,
                                        f"{label}!{folder}", container=label, disk_key=mkey,
                                        open_relative=_zip_relative(path, label, folder, names),
                                        modified=_zip_time(info)))

    @staticmethod
    def _starts_with_zip(opener: Opener) -> bool:
        try:
            with opener() as stream:
                return stream.read(4) == ZIP_MAGIC
        except (OSError, RuntimeError, zipfile.BadZipFile, EOFError, zlib.error):
            return False   # reported when the member is read for real

    def tar(self, path: Path, label: str) -> None:
        key = _disk_key(path)
        packed = path.stat().st_size
        compressed = _tar_compressed(path)
        first = len(self.items)
        offsets: list[int] = []
        with tarfile.open(path, "r:*") as archive:
            # Member by member: listing a compressed tar means inflating it, so stop at a limit
            # instead of inflating a bomb to the end.
            while (m := archive.next()) is not None:
                mlabel = f"{label}!{m.name}"
                if m.issym() or m.islnk():
                    self.errors.append(InputError("this archive member is a link, not a file; it was not read.",
                                                  file=mlabel))
                    continue
                if m.isdir() or self.skip(m.name):
                    continue
                if not m.isfile():
                    self.notices.append(f"{mlabel}: a device, pipe or other special file, not a file; not read")
                    continue
                if self._over_budget(m.size, mlabel):
                    break
                if compressed and self.expanded > 1024 * 1024 and self.expanded / max(packed, 1) > self.limits.max_ratio:
                    self.errors.append(InputError(
                        f"this compressed archive expands more than {self.limits.max_ratio:g} times its size, as "
                        "archive bombs do; this member and the rest were not read.", file=mlabel,
                        hint="Raise [limits] max_archive_ratio in case.toml if the archive is genuine."))
                    break

                def opener(name: str = m.name, offset: int = m.offset) -> BinaryIO:
                    archive = tarfile.open(path, "r:*")
                    try:
                        member = _tar_member(archive, name, offset)
                        stream = archive.extractfile(member)
                    except BaseException:
                        archive.close()
                        raise
                    if stream is None:
                        archive.close()
                        raise OSError(f"{name} is not a regular file")
                    return _closing_archive(stream, archive)
                folder = str(PurePosixPath(m.name).parent)
                self.items.append(InputItem(mlabel, PurePosixPath(m.name).name, m.size, opener,
                                            f"{label}!{folder}", container=label, disk_key=f"{key}!{m.name}",
                                            modified=datetime.fromtimestamp(m.mtime, timezone.utc) if m.mtime
                                            else None))
                offsets.append(m.offset)
        # Several members under one name: each is read, and each keeps its own key.
        items = self.items[first:]
        counts = Counter(item.label for item in items)
        for item, offset in zip(items, offsets):
            if counts[item.label] > 1:
                item.disk_key = f"{item.disk_key}@{offset}"


def _backup_folders(names: set[str]) -> tuple[str, ...]:
    """The folders (as ``prefix/``, or ``""`` for the top) of an archive that are iPhone backups."""
    folders = {posixpath.dirname(n) for n in names if posixpath.basename(n) == BACKUP_MARKERS[0]}
    return tuple(sorted(f + "/" if f else "" for f in folders
                        if posixpath.join(f, BACKUP_MARKERS[1]) in names))


def _inside_backup(member: str, backups: tuple[str, ...]) -> bool:
    """Whether a member belongs to a backup folder and is not its manifest."""
    return any(member.startswith(folder) and member != folder + BACKUP_MARKERS[0] for folder in backups)


def _zip_time(info: zipfile.ZipInfo) -> datetime | None:
    """A zip member's modification time (local wall-clock time, as zip stores it); None when unset."""
    try:
        stamp = datetime(*info.date_time)
    except ValueError:
        return None
    return None if stamp == datetime(1980, 1, 1) else stamp


def _tar_compressed(path: Path) -> bool:
    with open(path, "rb") as stream:
        magic = stream.read(6)
    return magic.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ"))


def _tar_member(archive: tarfile.TarFile, name: str, offset: int) -> tarfile.TarInfo:
    """The member at ``offset`` (two members of a tar may share a name), read up to it only."""
    while (m := archive.next()) is not None:
        if m.offset == offset and m.name == name:
            return m
    raise OSError(f"{name} is no longer in the archive")


def _closing_archive(stream: BinaryIO, archive: zipfile.ZipFile | tarfile.TarFile) -> BinaryIO:
    """Make closing a member's stream close its archive too."""
    close_stream = stream.close

    def close() -> None:
        close_stream()
        archive.close()
    stream.close = close  # type: ignore[method-assign]
    return stream


def _open_zip_member(path: Path, member: str | zipfile.ZipInfo) -> BinaryIO:
    archive = zipfile.ZipFile(path)
    try:
        stream = archive.open(member)
    except BaseException:
        archive.close()
        raise
    return _closing_archive(stream, archive)


def _is_office_document(path: Path) -> bool:
    """An XLSX/DOCX/PPTX file is a zip, but one document, not an archive of inputs."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "[Content_Types].xml" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _relative(rel: str, folder: str = "", within: str = "folder") -> str:
    """``rel``, a path named inside an input, joined to ``folder`` and normalised; ``OutsideInput``
    when it is absolute (``/``, ``C:``, ``\\\\server``) or climbs above ``folder``'s root with ``..``."""
    text = rel.replace("\\", "/")
    if text.startswith("/") or PureWindowsPath(rel).drive or PureWindowsPath(rel).is_absolute():
        raise OutsideInput("an absolute path that leads outside its folder")
    norm = posixpath.normpath(posixpath.join(folder, text))
    if norm == ".." or norm.startswith("../"):
        raise OutsideInput(f"a path that climbs out of its {within} with ..")
    return norm


def _disk_relative(path: Path, label: str) -> Callable[[str], tuple[str, BinaryIO]]:
    def open_relative(rel: str) -> tuple[str, BinaryIO]:
        base = path.parent
        if PurePosixPath(rel).is_absolute():   # an absolute path that lies in the folder is read from it
            inside = posixpath.relpath(posixpath.normpath(rel), posixpath.abspath(base))
            rel = rel if inside == ".." or inside.startswith("../") else inside
        parts = [part for part in _relative(rel).split("/") if part != "."]
        if not parts:
            raise FileNotFoundError(rel)
        target = base
        for i, part in enumerate(parts):
            target = target / part
            try:
                mode = os.lstat(target).st_mode
            except (FileNotFoundError, NotADirectoryError):
                raise FileNotFoundError(rel) from None
            if stat.S_ISLNK(mode):
                raise OutsideInput("a link, which is not followed")
            if i < len(parts) - 1 and not stat.S_ISDIR(mode):
                raise FileNotFoundError(rel)
        if not stat.S_ISREG(mode):
            raise OutsideInput(f"{_special_kind(mode)}, not a file")
        return str(Path(label).parent.joinpath(*parts)), open_regular(target)
    return open_relative


def _zip_relative(path: Path, label: str, folder: str, names: set[str]) -> Callable[[str], tuple[str, BinaryIO]]:
    def open_relative(rel: str) -> tuple[str, BinaryIO]:
        member = _relative(rel, "" if folder == "." else folder, "archive")
        if member not in names:
            raise FileNotFoundError(rel)
        return f"{label}!{member}", _open_zip_member(path, member)
    return open_relative


def _disk_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _is_tar(path: Path) -> bool:
    name = path.name.lower()
    if not name.endswith((".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")):
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def discover(inputs: list[str], limits: ArchiveLimits | None = None, spool_parent: Path | None = None,
             case_root: Path | None = None) -> Discovery:
    """Expand the inputs given on the command line into items; unreadable ones become errors.

    Call ``close()`` on the result when done: nested archives are copied into a temporary folder
    under ``spool_parent`` (the case folder, so that nothing leaves it). Nothing inside
    ``case_root`` is read: the case's own files are not inputs.
    """
    walker = _Walker(limits or ArchiveLimits(), spool_parent)
    walker.case_root = case_root.resolve() if case_root is not None else None
    for given in inputs:
        first = len(walker.items)
        try:
            walker.given(given)
        except OSError as exc:    # a path the system cannot even look at (too long, ...): it alone fails
            walker.errors.append(_unreadable(given, exc))
        for item in walker.items[first:]:
            item.given = _text(given)
    for item in walker.items:
        item.label, item.name, item.folder_key = _text(item.label), _text(item.name), _text(item.folder_key)
        item.container = _text(item.container) if item.container else None
        item.disk_key = _text(item.disk_key) if item.disk_key else None
    for error in walker.errors:
        error.file = _text(error.file) if error.file else None
    walker.notices = [_text(n) for n in walker.notices]
    by_folder: dict[str, dict[str, Opener]] = {}
    for item in walker.items:
        by_folder.setdefault(item.folder_key, {})[item.name] = item.open
    for item in walker.items:
        item.siblings = {k: v for k, v in by_folder[item.folder_key].items() if k != item.name}
    return Discovery(walker.items, walker.errors, walker.notices, walker.spool,
                     {r.kind: walker.skipped[r.kind] for r in SKIP_RULES if walker.skipped[r.kind]})


def _text(name: str) -> str:
    """A name as valid Unicode text: bytes of a file name that are not UTF-8 (kept by Python as
    lone surrogates) are written as ``\\xNN``, so the name can be stored and shown."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _unreadable(label: str, exc: BaseException, what: str = "file") -> InputError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if what == "folder":
        return InputError(f"this folder cannot be read ({reason}); nothing under it was read.", file=label,
                          hint="Check that you may read the folder, or give the files inside it directly.")
    return InputError(f"cannot be read ({reason}).", file=label,
                      hint="Check that the file is complete and that you may read it.")


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def open_regular(path: Path | str) -> BinaryIO:
    """Open a regular file for reading; a pipe, socket or device is refused without waiting on
    it (``OSError``), even one that replaced the file since it was listed."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{_special_kind(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")
