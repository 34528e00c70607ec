"""Each parse in a process of its own, under a memory cap.

A hostile or broken input can make a parser ask for more memory than the machine has. Left to
the kernel, the whole ingest would be killed with the case half-written. Instead the parse runs
in a forked process whose address space may grow by at most the cap (``RLIMIT_AS``, which the
processes it starts inherit: the SMS part process, the e-mail workers). A parse that needs more
fails there with a MemoryError, or is stopped by the system; either way this process carries on
and refuses that one source by name. The forked process dies with its parent, so a killed ingest
leaves nothing writing to the case. Where processes cannot be forked (not Linux), the parse runs
in this process without a cap.

Forking costs about a tenth of a second, which a Maildir of thousands of small files would pay
thousands of times; so a plain input smaller than 1/256 of the cap (16 MiB of the default 4 GiB),
which no parser can make need the cap, is parsed in this process. Compressed inputs (an XLSX is a
zip) can expand far beyond their size and always get a process of their own.
"""

from __future__ import annotations

import faulthandler
import mmap
import os
import pickle
import select
import signal
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

from commtrail.lifeline import die_with

T = TypeVar("T")
Advance = Callable[[int], None]

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

CAN_CAP = resource is not None and hasattr(os, "fork") and sys.platform.startswith("linux")


class MemoryCapExceeded(Exception):
    """The parse asked for more memory than the cap (``certain``), or died by a signal while under
    the cap, as a library whose memory request fails can (not ``certain``)."""

    def __init__(self, reason: str, certain: bool = True) -> None:
        super().__init__(reason)
        self.certain = certain


class ParseCrashed(Exception):
    """The parse failed in a way that is a bug: ``detail`` is the error (with ``traceback``)."""

    def __init__(self, detail: str, trace: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.trace = trace


# Inputs whose parse may need more than this many times their size: none of the parsers comes
# near it on a plain (not compressed) input.
PLAIN_RATIO = 256
COMPRESSED = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"(\xb5/\xfd")


def needs_cap(size: int, head: bytes, cap_bytes: int) -> bool:
    """Whether an input of ``size`` bytes beginning with ``head`` is parsed in a capped process."""
    return CAN_CAP and (head.startswith(COMPRESSED) or size * PLAIN_RATIO >= cap_bytes)


def run_capped(work: Callable[[Advance], T], cap_bytes: int, advance: Advance) -> T:
    """``work(advance)`` in a forked process whose memory may grow by at most ``cap_bytes``; its
    result (or its CommtrailError) comes back here. ``advance`` is told of the bytes it reads."""
    if not CAN_CAP:
        return work(advance)
    counter = mmap.mmap(-1, 8)     # shared with the child: bytes read so far, for the progress bar
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:   # the child: never returns
        os.close(read_end)
        _child(work, cap_bytes, counter, write_end, parent)
    os.close(write_end)
    try:
        data = _collect(read_end, counter, advance)
        _, status = os.waitpid(pid, 0)
    except BaseException:   # interrupted here: the child goes too
        _stop(pid)
        raise
    finally:
        os.close(read_end)
        counter.close()
    if not data:
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            raise MemoryCapExceeded(f"signal {number} ({signal.Signals(number).name})", certain=False)
        raise ParseCrashed(f"the process reading it ended with status {os.WEXITSTATUS(status)}", "")
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    if kind == "memory":
        raise MemoryCapExceeded(value)
    if kind == "interrupted":
        raise KeyboardInterrupt
    if kind == "error":
        raise value
    raise ParseCrashed(*value)


def _child(work: Callable[[Advance], T], cap_bytes: int, counter: mmap.mmap, out: int, parent: int) -> None:
    code = 1
    try:
        faulthandler.disable()   # a crash is reported by the parent, not dumped on the terminal
        sys.unraisablehook = _quiet_when_out_of_memory
        die_with(parent)
        limits = resource.getrlimit(resource.RLIMIT_AS)
        try:
            _cap(cap_bytes, limits)
            payload: tuple = ("ok", work(lambda n: _add(counter, n)))
            code = 0
        except BaseException as exc:  # sent to the parent, which decides
            resource.setrlimit(resource.RLIMIT_AS, limits)   # room to report it
            payload = _failure(exc)
        resource.setrlimit(resource.RLIMIT_AS, limits)
        try:
            data = pickle.dumps(payload)
        except Exception as exc:  # noqa: BLE001 - an error that cannot be pickled: send its text
            data = pickle.dumps(("crash", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))
        view = memoryview(data)
        while view:
            view = view[os.write(out, view):]
    finally:
        os._exit(code)


def _quiet_when_out_of_memory(unraisable) -> None:  # type: ignore[no-untyped-def]
    """The capped child's hook for errors Python cannot raise (a generator closed while the stack
    unwinds): one that is itself a MemoryError is not printed ("Exception ignored in ...", with a
    traceback), since the parent reports the parse's memory failure once, by name; any other is."""
    if not isinstance(unraisable.exc_value, MemoryError):
        sys.__unraisablehook__(unraisable)


def _failure(exc: BaseException) -> tuple:
    from commtrail.errors import CommtrailError

    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)):
        return ("memory", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, KeyboardInterrupt):
        return ("interrupted", None)
    if isinstance(exc, CommtrailError):
        return ("error", exc)
    return ("crash", (f"{type(exc).__name__}: {exc}", traceback.format_exc()))


def _cap(cap_bytes: int, limits: tuple[int, int]) -> None:
    """Let this process's address space grow by ``cap_bytes`` from what it is now."""
    with open("/proc/self/statm", "rb") as statm:
        now = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = limits
    want = now + cap_bytes
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or want < soft:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def _add(counter: mmap.mmap, n: int) -> None:
    counter[:8] = (int.from_bytes(counter[:8], "little") + n).to_bytes(8, "little")


def _collect(fd: int, counter: mmap.mmap, advance: Advance) -> bytes:
    """Everything the child writes to ``fd``; meanwhile pass its progress on."""
    chunks: list[bytes] = []
    seen = 0
    while True:
        ready, _, _ = select.select([fd], [], [], 0.1)
        now = int.from_bytes(counter[:8], "little")
        if now > seen:
            advance(now - seen)
            seen = now
        if ready:
            piece = os.read(fd, 1 << 16)
            if not piece:
                return b"".join(chunks)
            chunks.append(piece)


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
