"""OCR of a folder's screenshots ahead of their turn, one Tesseract process per core.

Ingest hands the evidence parser one file at a time, and Tesseract reads one image on one core.
When the parser first reads a screenshot of a folder, it gives that folder's other image files
(its siblings) to a pool of one thread per core; each thread reads a file, and when the parser
would read its text (a screenshot whose image data can be read) runs Tesseract on it. When the
parser's turn comes to one of them, it takes the text read ahead if the file's bytes were the
ones it was given (the same SHA-256), waits for it if it is being read, or reads it itself if it
was not begun. The text is the one the parser would read itself: the same function on the same
bytes. Names are offered once per process: a name met again in another folder is read in its turn.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from commtrail.parsers.evidence._ocr import OcrText, read_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".heic", ".heif")
Check = Callable[[bytes, str], bool]  # (the file's bytes, its name) -> whether the parser reads its text


class Ahead:
    """The texts being read ahead, by file name (and checked by SHA-256 when taken). At most two
    files per thread are begun and not finished at a time, so that files the parser is never
    given (media a chat names, files ingested before) cost little."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ocr-ahead")
        self._limit = 2 * workers
        self._jobs: dict[str, Future] = {}
        self._waiting: deque[tuple[str, Callable[[], Future]]] = deque()  # not begun yet, in name order
        self._running = 0
        self._offered: set[str] = set()
        self._taken: set[str] = set()  # taken before they were begun: not to be begun
        self._lock = threading.RLock()  # (a job done already runs its callback at once, in _fill)

    def offer(self, siblings: Mapping[str, Callable[[], BinaryIO]], own: str, wanted: Check,
              languages: tuple[str, ...], version: str) -> None:
        """Read ahead the images among ``siblings`` not offered before (in name order); the file
        ``own``, being read now, is not to be read ahead when a later file offers it."""
        with self._lock:
            self._offered.add(own)
            for name in sorted(siblings):
                if name in self._offered or not name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                self._offered.add(name)
                self._waiting.append((name, lambda o=siblings[name], n=name: self._pool.submit(
                    _read, o, n, wanted, languages, version)))
            self._fill()

    def _fill(self) -> None:
        while self._waiting and self._running < self._limit:
            name, submit = self._waiting.popleft()
            if name in self._taken:
                continue
            self._running += 1
            job = self._jobs[name] = submit()
            job.add_done_callback(self._finished)

    def _finished(self, job: Future) -> None:
        with self._lock:
            self._running -= 1
            self._fill()

    def take(self, name: str, sha256: str) -> OcrText | None:
        """The text read ahead for the file ``name`` whose bytes have ``sha256``, or None (not read
        ahead, not begun, or other bytes)."""
        with self._lock:
            job = self._jobs.pop(name, None)
            if job is None:  # not begun: no longer to be read ahead
                self._taken.add(name)
        if job is None or job.cancel():
            return None
        try:
            sha, text = job.result()
        except (RuntimeError, OSError, ValueError):  # the parser reads it itself and reports the error
            return None
        return text if sha == sha256 else None


def _read(opener: Callable[[], BinaryIO], name: str, wanted: Check, languages: tuple[str, ...],
          version: str) -> tuple[str, OcrText | None]:
    with opener() as f:
        data = f.read()
    sha = hashlib.sha256(data).hexdigest()
    if not wanted(data, name):
        return sha, None
    return sha, read_text(io.BytesIO(data), languages, version)


_ahead: tuple[int, Ahead] | None = None


def ahead() -> Ahead:
    """This process's pool (a forked process, whose threads did not come along, gets its own)."""
    global _ahead
    if _ahead is None or _ahead[0] != os.getpid():
        _ahead = (os.getpid(), Ahead(max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                         else os.cpu_count() or 1)))
    return _ahead[1]
