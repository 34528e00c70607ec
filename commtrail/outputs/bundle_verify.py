"""``commtrail verify`` of a bundle: a bag folder or its encrypted zip, re-hashed against its manifests.

Every payload file against ``manifest-sha256.txt``, every tag file against
``tagmanifest-sha256.txt``; each missing, changed or extra file is named. ``hashdeep.txt`` and
bag-info's ``Payload-Oxum`` must agree with the manifest.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

from commtrail.outputs.bundle import HASHDEEP, parse_bag_manifest
from commtrail.outputs.bundle_zip import open_encrypted
from commtrail.outputs.manifest import Verification

MANIFEST, TAGMANIFEST = "manifest-sha256.txt", "tagmanifest-sha256.txt"


class BagFiles(Protocol):
    def files(self) -> list[str]: ...
    def open(self, rel: str) -> BinaryIO: ...
    def size(self, rel: str) -> int: ...


class FolderBag:
    """The files of a bag folder, by POSIX path relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                      if p.is_file() or p.is_symlink())

    def open(self, rel: str) -> BinaryIO:
        return open(self.root / rel, "rb")

    def size(self, rel: str) -> int:
        return (self.root / rel).stat().st_size


class _ZipFiles:
    def __init__(self, bag) -> None:  # type: ignore[no-untyped-def]
        self.bag = bag

    def files(self) -> list[str]:
        return sorted(self.bag.members)

    def open(self, rel: str) -> BinaryIO:
        return self.bag.open(rel)

    def size(self, rel: str) -> int:
        return self.bag.size(rel)


def is_bundle(path: Path) -> bool:
    """A bag folder (it has bagit.txt) or a zip archive; a case has case.toml instead."""
    path = Path(path)
    if path.is_dir():
        return (path / "bagit.txt").is_file() and not (path / "case.toml").exists()
    return path.is_file() and zipfile.is_zipfile(path)


def _hash(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    with stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest(bag: BagFiles, name: str) -> dict[str, str]:
    with bag.open(name) as stream:
        return parse_bag_manifest(stream.read().decode("utf-8"))


def check(bag: BagFiles) -> Verification:
    """Re-hash every file of ``bag`` against its manifests."""
    result = Verification()
    present = set(bag.files())
    for name in (MANIFEST, TAGMANIFEST, "bagit.txt"):
        if name not in present:
            result.missing.append(name)
    if MANIFEST in result.missing:
        result.problems.append(f"{MANIFEST} is missing, so the payload cannot be checked")
        return result
    payload = _manifest(bag, MANIFEST)
    tags = _manifest(bag, TAGMANIFEST) if TAGMANIFEST in present else {}
    for listed in (payload, tags):
        for rel, digest in sorted(listed.items()):
            if rel not in present:
                result.missing.append(rel)
                continue
            result.checked += 1
            try:
                same = _hash(bag.open(rel)) == digest
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:   # an entry failing its own check
                result.problems.append(f"{rel} cannot be read ({exc})")
                same = False
            if not same:
                result.changed.append(rel)
    known = set(payload) | set(tags) | {TAGMANIFEST}
    result.extra = sorted(present - known)
    result.missing = sorted(set(result.missing))
    _check_hashdeep(bag, payload, present, result)
    _check_oxum(bag, payload, present, result)
    return result


def _check_hashdeep(bag: BagFiles, payload: dict[str, str], present: set[str], result: Verification) -> None:
    if HASHDEEP not in present:
        return
    with bag.open(HASHDEEP) as stream:
        lines = [ln for ln in stream.read().decode("utf-8").splitlines() if ln and not ln.startswith(("%%%%", "#"))]
    listed = {}
    for line in lines:
        size, digest, rel = line.split(",", 2)
        listed[rel] = (int(size), digest)
    for rel in sorted(set(listed) ^ set(payload)):
        result.problems.append(f"{rel} is in {'hashdeep.txt' if rel in listed else MANIFEST} only")
    for rel in sorted(set(listed) & set(payload)):
        size, digest = listed[rel]
        if digest != payload[rel] or (rel in present and size != bag.size(rel)):
            result.problems.append(f"hashdeep.txt does not agree with {MANIFEST} or the file about {rel}")


def _check_oxum(bag: BagFiles, payload: dict[str, str], present: set[str], result: Verification) -> None:
    if "bag-info.txt" not in present:
        return
    with bag.open("bag-info.txt") as stream:
        info = stream.read().decode("utf-8")
    oxum = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("Payload-Oxum:")), None)
    if oxum is None:
        return
    files = [rel for rel in present if rel.startswith("data/")]
    actual = f"{sum(bag.size(rel) for rel in files)}.{len(files)}"
    if oxum != actual:
        result.problems.append(f"bag-info.txt says the payload is {oxum} (bytes.files) but it is {actual}")


def verify_bundle(path: Path, passphrase: str | None = None) -> Verification:
    """Verify the bag folder or encrypted bundle at ``path`` (the passphrase opens an archive)."""
    path = Path(path)
    if path.is_dir():
        return check(FolderBag(path))
    with open_encrypted(path, passphrase or "") as bag:
        return check(_ZipFiles(bag))
