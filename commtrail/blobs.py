"""The content-addressed blob store: ``blobs/<sha256>``, written by streaming."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


class BlobStoreWriter:
    """Receives a blob in pieces; ``close`` moves it to its content address."""

    def __init__(self, root: Path) -> None:
        self._root = root
        fd, name = tempfile.mkstemp(dir=root, prefix=".tmp-")
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self._file.write(data)
        self._size += len(data)

    def close(self) -> tuple[str, int]:
        """Move the blob to its content address; its bytes are on disk before its name is (the
        folder itself is synced before the inventory that refers to it is written)."""
        digest = self._hash.hexdigest()
        target = self._root / digest
        if target.exists():
            self._file.close()
            self._tmp.unlink()
        else:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.chmod(self._tmp, 0o400)
            os.replace(self._tmp, target)
        return digest, self._size


class DirBlobStore:
    """Blobs kept as files named by their SHA-256 in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def open_writer(self) -> BlobStoreWriter:
        return BlobStoreWriter(self.root)

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        writer = self.open_writer()
        while chunk := stream.read(CHUNK):
            writer.write(chunk)
        return writer.close()

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        writer = self.open_writer()
        writer.write(data)
        return writer.close()
