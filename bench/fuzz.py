"""Fuzzing of every registered parser and of sniffing, seeded from the project's own fixtures.

Two parts share this module:

* the library (seeds, mutations, the checks every parse must pass), used at low volume by
  ``tests/adversarial/`` with hypothesis, and
* the long run (``make fuzz``), which applies the same mutations at high volume for a given time,
  counts the inputs tried per parser and saves every failure with its reproducing input under
  ``bench/out/fuzz-failures/``::

      python -m bench.fuzz --minutes 20 [--seed 1] [--only whatsapp,mbox] [--seeds DIR]
                           [--out bench/out/fuzz-failures]
      python -m bench.fuzz --replay bench/out/fuzz-failures/mbox/crash-0123456789ab.bin mbox

Seeds are every file under ``tests/fixtures/`` and ``tests/adversarial/seeds/`` (members of zips
included), the demo's sample inputs and any ``--seeds`` folder (e.g. sample files of other projects
that may not be committed); each seed belongs to the parser whose sniff claims it, so a parser
added to the registry with fixtures is fuzzed without a change here. Every couple of minutes a
handful of the mutated inputs also goes through ``commtrail ingest``, verify, the exports and the
report (:func:`cli_round`).

What a parse must do with any input (see :func:`check`): raise nothing but a ``CommtrailError``
that names the file and the place; yield record batches of ``RECORD_SCHEMA`` whose records all
carry the source's sha256, path, parser label and a locator, and rejects with a locator, reason and
raw text; keep its counts sane; give the same output for the same bytes however the stream hands
them out; finish in bounded time; and, for text formats (``TOKEN_COVERAGE``), keep every word of
the input somewhere in its records, rejects or warnings.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from commtrail.errors import CommtrailError, DateOrderAmbiguous
from commtrail.blobs import DirBlobStore
from commtrail.parsers import registry
from commtrail.parsers.base import ParseContext, ParseReport, Reject
from commtrail.timeline.identity import Owner
from commtrail.timeline.schema import DIRECTIONS, RECORD_SCHEMA, TS_PRECISIONS, TZ_SOURCES

ROOT = Path(__file__).resolve().parent.parent
SEED_DIRS = (ROOT / "tests" / "fixtures", ROOT / "tests" / "adversarial" / "seeds")
OUT = ROOT / "bench" / "out" / "fuzz-failures"
MAX_SEED_BYTES = 4 << 20
TEN_MB = 10 << 20
MEMORY_LIMIT_MB = 2048   # the long run's own peak; one parse should never take it there

# Parsers of text formats whose every word must survive somewhere in the output (body, sender,
# time as written, extra, reject raw text or a warning), with how many leading lines of an input
# are structure rather than content (a header row, title rows above it). Not for formats that
# encode their text (base64 and quoted-printable mail, XML character references).


def _csv_rows(n: int) -> Callable[[bytes], int]:
    """The physical lines that the first ``n`` CSV rows take (a quoted cell may span lines)."""
    def lines(data: bytes) -> int:
        reader = csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline=""))
        try:
            for _ in range(n):
                next(reader)
        except (StopIteration, csv.Error):
            pass
        return reader.line_num
    return lines


TOKEN_COVERAGE: dict[str, Callable[[bytes], int]] = {"whatsapp": lambda data: 0, "incident-log": _csv_rows(6)}
_TOKEN = re.compile(rb"[A-Za-z0-9]{5,}")
_TOKEN_STR = re.compile(r"[A-Za-z0-9]{5,}")

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}), emails=frozenset({"sam@example.org"}),
              whatsapp_names=frozenset({"Sam"}))


# ---------------------------------------------------------------------------------------------
# seeds

@dataclass(frozen=True)
class Seed:
    """One input the mutations start from."""

    label: str                 # where it came from (for reports)
    name: str                  # file name as the parser sees it
    data: bytes
    parser: str | None         # the parser whose sniff claims it (None: no parser does)
    siblings: tuple[tuple[str, bytes], ...] = ()   # files beside it, by base name


def _claim(data: bytes, name: str) -> str | None:
    try:
        parser = registry.sniff(data[: registry.SNIFF_BYTES], name)
    except Exception:  # noqa: BLE001 - a crashing sniff is found by the sniff checks, not here
        return None
    return parser.name if parser else None


def _members(label: str, data: bytes) -> list[Seed]:
    """The members of a zip (an export holds the chat and its media side by side)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = {i.filename: archive.read(i) for i in archive.infolist()
                     if not i.is_dir() and i.file_size <= MAX_SEED_BYTES}
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError):
        return []
    out = []
    for member, content in sorted(files.items()):
        folder, base = member.rpartition("/")[0], member.rpartition("/")[2]
        sibs = tuple((n.rpartition("/")[2], d) for n, d in sorted(files.items())
                     if n != member and n.rpartition("/")[0] == folder)
        out.append(Seed(f"{label}!{member}", base, content, _claim(content, base), sibs))
    return out


def _demo_files() -> list[tuple[str, str, bytes, tuple]]:
    """The demo's sample inputs (written to a temporary folder and read back)."""
    try:
        from commtrail.demo_data import write_inputs
    except ImportError:  # pragma: no cover - no demo in this tree
        return []
    folder = Path(tempfile.mkdtemp(prefix="fuzz-demo-"))
    try:
        write_inputs(folder)
        return [(f"demo:{p.relative_to(folder)}", p.name, p.read_bytes(), ())
                for p in sorted(folder.rglob("*")) if p.is_file()]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# More seed folders for a long run (``--seeds DIR``), e.g. sample files of other projects that
# are not the project's to commit.
EXTRA_SEED_DIRS: list[Path] = []


def _fixture_files() -> list[tuple[str, str, bytes, tuple]]:
    out = []
    for base in (*SEED_DIRS, *EXTRA_SEED_DIRS):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if not path.is_file() or path.name.startswith(".") or path.stat().st_size > MAX_SEED_BYTES:
                continue
            sibs = tuple((p.name, p.read_bytes()) for p in sorted(path.parent.iterdir())
                         if p.is_file() and p != path and not p.name.startswith(".") and p.stat().st_size <= 1 << 20)
            label = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
            out.append((label, path.name, path.read_bytes(), sibs))
    return out


_SEEDS: list[Seed] | None = None


def load_seeds() -> list[Seed]:
    """Every seed, in a stable order (cached)."""
    global _SEEDS
    if _SEEDS is None:
        seeds = []
        for label, name, data, sibs in _fixture_files() + _demo_files():
            seeds.append(Seed(label, name, data, _claim(data, name), sibs))
            if data.startswith(b"PK\x03\x04") and seeds[-1].parser is None:
                seeds += _members(label, data)
        _SEEDS = seeds
    return _SEEDS


def seeds_by_parser() -> dict[str, list[Seed]]:
    """Registered parser name -> its seeds (a parser without seeds maps to an empty list)."""
    out: dict[str, list[Seed]] = {p.name: [] for p in registry.all_parsers()}
    for seed in load_seeds():
        if seed.parser in out:
            out[seed.parser].append(seed)
    return out


# ---------------------------------------------------------------------------------------------
# mutations: each takes (data, rnd, big) and returns new bytes; ``big`` allows 10 MB inputs.

BOUNDARIES = ("byte", "head", "tail", "line_start", "line_end", "crlf_mid", "utf8_mid", "tag_open",
              "tag_close", "quote", "entity", "separator")
_BOUNDARY_RE = {
    "line_start": (rb"\n", 1), "line_end": (rb"\n", 0), "crlf_mid": (rb"\r\n", 1),
    "utf8_mid": (rb"[\xc0-\xff]", 1), "tag_open": (rb"<", 0), "tag_close": (rb">", 1),
    "quote": (rb"\"", 0), "entity": (rb"&", 2), "separator": (rb"[,;:|\t]", 0),
}

INTERESTING = [
    b"\n", b"\r\n", b"\r", b"\n\n", b'"', b"'", b'"\n"', b"<", b">", b"&", b"&amp;", b"&#0;", b"&#27;",
    b"&#55357;", b"&#56832;", b"&#55357;&#56832;", b"&#x10FFFF;", b"&#99999999999;", b"&undefined;",
    b"]]>", b"<![CDATA[", b"<!--", b"-->", b"<?xml version='1.0'?>", b"<sms/>", b"</smses>",
    b"\nFrom sender@example.com Mon Jan  1 00:00:00 2024\n", b"\nFrom \n", b">From ",
    b"\xef\xbb\xbf", b"\xe2\x80\xaf", b"\xc2\xa0", b"\xe2\x80\x8e", b"\xe2\x80\xae", b"\x00", b"\x00\x00\x00\x00",
    b"\xff\xfe", b"\xfe\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf0\x9f\x98\x80", b"\xf0\x9f", b"\xe2\x80\xa8",
    b"\xc2\x85", b"\x0b", b"\x0c", b"\x1c", b"\x1e", b"\x1b[2J", b"\x7f", b"\\", b"%s%n%x", b"{}", b"$(x)",
    b"=?utf-8?B?", b"=?UTF-8?Q?=FF=FE?=", b"=?x-unknown?B?AAAA?=", b"=\n", b"=ZZ",
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n', b"--b\n", b"--b--\n",
    b"Content-Transfer-Encoding: base64\n\n!!!notbase64===\n", b"Content-Type: text/plain; charset=x-bogus\n",
    b"Date: \n", b"Date: Thu, 31 Dec 9999 23:59:59 +9999\n", b"Date: Mon, 1 Jan 0001 00:00:00 -2400\n",
    b"Message-ID: <>\n", b"Subject: =?utf-8?B?8J+YgA==?=\n",
    b"1/1/1", b"99/99/9999, 99:99 - ", b"31/12/9999, 23:59 - X: y\n", b"01/01/0001, 00:00 - X: y\n",
    b"29/02/2023, 12:00 - X: y\n", b"[31/12/2024, 25:61:61] X: y\n", b"12/31/24, 12:00\xe2\x80\xafAM - X: y\n",
    b" - ", b": ", b"\xe2\x80\x8e<attached: ../../etc/passwd>", b"<Media omitted>",
    b'date="-1"', b'date="99999999999999999999"', b'count="-5"', b'type="99"', b'duration="-1"', b'address=""',
    b"\t", b",", b";", b'"",""', b",,,,,,,,,,,,,,,,,,,,", b"../../", b"/etc/passwd", b"C:\\Windows\\win.ini",
]
EXTREME_NUMBERS = [b"0", b"-1", b"", b"00000000", b"2147483648", b"-9223372036854775809",
                   b"99999999999999999999", b"9" * 40, b"1e309", b"NaN", b"253402300800000", b"-62135596800001"]
CODECS = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "mac_roman", "utf-8-sig",
          "mojibake", "utf-7", "cp037")


def boundary(data: bytes, kind: str, rnd: random.Random) -> int:
    """A position in ``data`` at a boundary of the given kind (a random byte when there is none)."""
    if not data:
        return 0
    if kind == "head":
        return rnd.randrange(min(len(data), 256) + 1)
    if kind == "tail":
        return len(data) - rnd.randrange(min(len(data), 256) + 1)
    spec = _BOUNDARY_RE.get(kind)
    if spec is not None:
        pattern, shift = spec
        hits = [m.start() for m in re.finditer(pattern, data[: 4 << 20])]
        if hits:
            return min(len(data), rnd.choice(hits) + (rnd.randrange(shift + 1) if kind == "entity" else shift))
    return rnd.randrange(len(data) + 1)


def _pos(data: bytes, rnd: random.Random) -> int:
    return boundary(data, rnd.choice(BOUNDARIES), rnd)


def m_truncate(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    return data[: _pos(data, rnd)]


def m_flip(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    if not data:
        return bytes([rnd.randrange(256)])
    out = bytearray(data)
    for _ in range(rnd.choice((1, 1, 1, 2, 3, 8, 32))):
        i = rnd.randrange(len(out))
        out[i] ^= rnd.choice((1 << rnd.randrange(8), rnd.randrange(1, 256)))
    return bytes(out)


def m_insert(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    pos = _pos(data, rnd)
    if rnd.random() < 0.75:
        chunk = rnd.choice(INTERESTING) * rnd.choice((1, 1, 1, 2, 10))
    else:
        chunk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 64)))
    return data[:pos] + chunk + data[pos:]


def m_delete(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    if not data:
        return data
    start = _pos(data, rnd)
    end = min(len(data), start + rnd.choice((1, 2, 8, 64, 512, 4096)))
    return data[:start] + data[end:]


def m_duplicate(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    """Copy a span (often a whole line or record) somewhere else, or repeat the whole input."""
    if not data:
        return data
    if rnd.random() < 0.2:
        return data * rnd.choice((2, 3, 20))
    a, b = sorted((_pos(data, rnd), _pos(data, rnd)))
    at = _pos(data, rnd)
    return data[:at] + data[a:b] + data[at:]


def m_swap_lines(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    """Lines out of order: swap two lines or reverse them all."""
    lines = data.split(b"\n")
    if len(lines) < 3:
        return data
    if rnd.random() < 0.3:
        lines = lines[:1] + lines[1:][::-1]
    else:
        i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def m_reencode(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    """The same text in another encoding (UTF-16/32, Latin-1 and friends, double-encoded UTF-8)."""
    codec = rnd.choice(CODECS)
    if codec == "mojibake":
        return data.decode("latin-1").encode("utf-8")
    text = data.decode("utf-8", "replace")
    out = text.encode(codec, "replace")
    if codec == "utf-16-le" and rnd.random() < 0.5:
        out = b"\xff\xfe" + out
    return out


def m_nul(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    """NUL bytes: one, a zeroed block (as a crash leaves in a file), a NUL tail, or NUL-interleaving."""
    choice = rnd.randrange(4)
    pos = _pos(data, rnd)
    if choice == 0:
        return data[:pos] + b"\x00" + data[pos:]
    if choice == 1:
        size = rnd.choice((16, 512, 4096))
        start = (pos // 512) * 512 if rnd.random() < 0.5 else pos
        return data[:start] + b"\x00" * size + data[start + size:]
    if choice == 2:
        return data[:pos] + b"\x00" * rnd.choice((1, 4096, 65536))
    return bytes(b for c in data[:4096] for b in (c, 0)) + data[4096:]


def m_long_line(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    """A very long line (10 MB when ``big``): plain letters, a repeated line of the input, or
    bytes without any line break, at a line boundary, inside a line, or at the end."""
    size = TEN_MB if big else rnd.choice((4096, 70_000, 140_000, 1_100_000))
    kind = rnd.randrange(3)
    if kind == 0:
        chunk = b"A" * size
    elif kind == 1:
        lines = [line for line in data.split(b"\n") if line] or [b"x"]
        line = rnd.choice(lines)[:200] or b"x"
        chunk = (line * (size // len(line) + 1))[:size]
    else:
        chunk = bytes(rnd.randrange(32, 127) for _ in range(1024)) * (size // 1024)
    pos = boundary(data, rnd.choice(("line_start", "line_end", "quote", "byte", "tail")), rnd)
    return data[:pos] + chunk + data[pos:]


def m_deep_nest(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    """Deep nesting: XML elements, MIME multiparts, or quotes, at a boundary of the input."""
    depth = 100_000 if big else rnd.choice((50, 300, 2_000, 20_000))
    kind = rnd.randrange(4)
    if kind == 0:
        chunk = b"<a>" * depth + b"x" + b"</a>" * depth
    elif kind == 1:
        chunk = b"<a>" * depth   # never closed
    elif kind == 2:
        depth = min(depth, 5_000)
        parts = [b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)]
        chunk = b"".join(parts) + b"Content-Type: text/plain\n\nx\n" + b"".join(
            b"--b%d--\n" % i for i in reversed(range(depth)))
    else:
        chunk = b'"' * depth
    pos = boundary(data, rnd.choice(("tag_close", "tag_open", "line_start", "byte")), rnd)
    return data[:pos] + chunk + data[pos:]


def m_line_endings(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    choice = rnd.randrange(4)
    if choice == 0:
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if choice == 1:
        return data.replace(b"\r\n", b"\n")
    if choice == 2:
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    return b"".join(line + rnd.choice((b"\n", b"\r\n", b"\r")) for line in data.split(b"\n"))


def m_numbers(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    """Replace a run of digits (a date, a count, a type code) by an extreme value."""
    runs = [m.span() for m in re.finditer(rb"\d+", data[: 4 << 20])]
    if not runs:
        return data
    out = data
    for _ in range(rnd.choice((1, 1, 3))):
        a, b = rnd.choice(runs)
        out = out[:a] + rnd.choice(EXTREME_NUMBERS) + out[b:]
        runs = [m.span() for m in re.finditer(rb"\d+", out[: 4 << 20])] or [(0, 0)]
    return out


def m_splice(data: bytes, rnd: random.Random, big: bool = False) -> bytes:
    """The start of this input followed by the rest of another seed (of any format)."""
    other = rnd.choice(load_seeds()).data
    return data[: _pos(data, rnd)] + other[boundary(other, rnd.choice(BOUNDARIES), rnd):]


MUTATIONS: dict[str, Callable[[bytes, random.Random, bool], bytes]] = {
    "truncate": m_truncate, "flip": m_flip, "insert": m_insert, "delete": m_delete,
    "duplicate": m_duplicate, "swap_lines": m_swap_lines, "reencode": m_reencode, "nul": m_nul,
    "long_line": m_long_line, "deep_nest": m_deep_nest, "line_endings": m_line_endings,
    "numbers": m_numbers, "splice": m_splice,
}
# The long, memory-hungry ones are drawn less often.
WEIGHTS = {name: 1.0 for name in MUTATIONS} | {"long_line": 0.25, "deep_nest": 0.25, "splice": 0.5}


def mutate(data: bytes, rnd: random.Random, names: Iterable[str] | None = None, big: bool = False,
           stack: int | None = None) -> tuple[list[str], bytes]:
    """Apply 1-3 mutations (from ``names``, or any); returns (their names, the new bytes)."""
    pool = list(names) if names is not None else list(MUTATIONS)
    weights = [WEIGHTS[n] for n in pool]
    applied = []
    for _ in range(stack or rnd.choice((1, 1, 1, 2, 3))):
        name = rnd.choices(pool, weights)[0]
        data = MUTATIONS[name](data, rnd, big)
        applied.append(name)
    return applied, data


# ---------------------------------------------------------------------------------------------
# running a parser

class Hang(BaseException):
    """Raised in the parser by the timer: a BaseException, so ``except Exception`` cannot hide it."""


@contextmanager
def time_limit(seconds: float | None):
    """Interrupt the body after ``seconds`` (main thread only; no limit elsewhere or for None)."""
    import threading
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):  # type: ignore[no-untyped-def]
        raise Hang(f"still running after {seconds:.0f} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class NonSeekable(io.RawIOBase):
    """A read-only stream that cannot seek, like a zip member. ``read(n)`` returns n bytes unless
    the end comes first (as ingest's streams guarantee); with ``rnd``, ``readinto`` and ``read1``
    hand out short pieces of random sizes (1 byte to 8 KiB), as io allows them to."""

    def __init__(self, data: bytes, rnd: random.Random | None = None) -> None:
        self._buf = memoryview(data)
        self._rnd = rnd

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = len(buffer)
        if self._rnd is not None:
            n = min(n, self._rnd.choice((1, 2, 3, 7, 64, 1000, 4096, 8192)))
        n = min(n, len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def read1(self, n: int = -1) -> bytes:
        buf = bytearray(len(self._buf) if n is None or n < 0 else min(n, len(self._buf)))
        return bytes(buf[: self.readinto(buf)])

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = len(self._buf)
        parts = []
        while n > 0 and (piece := self.read1(n)):
            parts.append(piece)
            n -= len(piece)
        return b"".join(parts)


@dataclass
class Outcome:
    """What one parse gave."""

    table: pa.Table | None
    rejects: list[Reject]
    report: ParseReport
    error: BaseException | None
    trace: str
    seconds: float
    batch_schemas_ok: bool = True


# Case settings the inputs are read with: mostly the fixtures' own (London, GB), sometimes zones at
# the ends of the offset range (dates near year 1 or 9999 leave the calendar there) and other regions.
SETTINGS = [("Europe/London", "GB")] * 4 + [("Pacific/Kiritimati", "US"), ("Pacific/Pago_Pago", "DE"),
                                            ("Asia/Tokyo", "IN"), ("America/Los_Angeles", "US")]


def make_context(workdir: Path, seed_siblings: Iterable[tuple[str, bytes]], parser: registry.Parser,
                 source_path: str, data: bytes, date_order: str | None = None) -> ParseContext:
    sibs = dict(seed_siblings)
    digest = hashlib.sha256(data).digest()
    zone, region = SETTINGS[digest[1] % len(SETTINGS)]
    return ParseContext(
        source_sha256=digest.hex(), source_path=source_path, timezone=zone,
        phone_region=region, owner=OWNER, date_order=date_order, blobs=DirBlobStore(workdir / "blobs"),
        siblings={name: (lambda d=content: io.BytesIO(d)) for name, content in sibs.items()},
        open_relative=None, parser_label=parser.label, batch_size=rnd_batch_size(data))


def rnd_batch_size(data: bytes) -> int:
    """A small batch size for some inputs, so batch boundaries are exercised too (deterministic)."""
    return (3, 50_000)[hashlib.sha256(data[:256]).digest()[0] % 2]


def run_parse(parser: registry.Parser, data: bytes, ctx: ParseContext, short_reads: int | None = None,
              timeout: float | None = None) -> Outcome:
    """Drain ``parser.parse`` over a non-seekable stream of ``data``; never raises (but Hang)."""
    stream = NonSeekable(data, random.Random(short_reads) if short_reads is not None else None)
    batches, rejects = [], []
    error, trace = None, ""
    schemas_ok = True
    start = time.perf_counter()
    try:
        with time_limit(timeout):
            for item in parser.parse(stream, ctx):  # type: ignore[arg-type]
                if isinstance(item, Reject):
                    rejects.append(item)
                elif isinstance(item, pa.RecordBatch):
                    if item.schema != RECORD_SCHEMA:
                        schemas_ok = False
                        item = pa.RecordBatch.from_arrays(
                            [item.column(i).cast(f.type) for i, f in enumerate(RECORD_SCHEMA)], schema=RECORD_SCHEMA)
                    batches.append(item)
                else:
                    raise TypeError(f"the parser yielded a {type(item).__name__}, not a RecordBatch or Reject")
    except Hang as exc:
        error, trace = exc, traceback.format_exc()
    except BaseException as exc:  # noqa: BLE001 - everything is a finding to classify
        if isinstance(exc, KeyboardInterrupt):
            raise
        error, trace = exc, traceback.format_exc()
    seconds = time.perf_counter() - start
    table = pa.Table.from_batches(batches, schema=RECORD_SCHEMA) if batches else RECORD_SCHEMA.empty_table()
    return Outcome(table, rejects, ctx.report, error, trace, seconds, schemas_ok)


# ---------------------------------------------------------------------------------------------
# checks

@dataclass
class Finding:
    """One way a parse broke the contract."""

    kind: str        # crash, hang, error-message, contract, nondeterministic, read-size, lost-text, sniff
    message: str
    trace: str = ""

    def signature(self) -> str:
        """Groups findings of one cause: the kind, the exception type and the innermost frame."""
        frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', self.trace)
        where = ""
        if frames:
            path, line, fn = frames[-1]
            where = f"{Path(path).name}:{line}:{fn}"
        first = self.message.split(":", 1)[0] if self.kind in ("crash", "hang") else re.sub(r"\d+", "N", self.message)[:80]
        return f"{self.kind}|{first}|{where}"


# Words that say where in the file (a file that cannot be opened at all has no smaller place).
PLACE_WORDS = re.compile(r"\b(row|line|byte|offset|header|element|record|message|column|part|sms|call|"
                         r"first|start|end|after|before|at|opened)\b", re.I)


def error_findings(error: BaseException, trace: str, source_path: str) -> list[Finding]:
    """An exception a parser raised: only CommtrailError, naming the file (the runner fills it in
    when missing) and the place, and with a message to act on."""
    if isinstance(error, Hang):
        return [Finding("hang", f"Hang: {error}", trace)]
    if not isinstance(error, CommtrailError):
        return [Finding("crash", f"{type(error).__name__}: {error}"[:500], trace)]
    out = []
    rendered = error.render() if error.file else f"{source_path}: {error.render()}"
    if not error.message or not error.message.strip():
        out.append(Finding("error-message", "a CommtrailError without a message", trace))
    elif source_path not in rendered:
        out.append(Finding("error-message", f"the message does not name the file: {rendered[:300]}", trace))
    elif not error.where and not PLACE_WORDS.search(error.message) and not re.search(r"\d", error.message):
        out.append(Finding("error-message", f"the message names no place in the file: {rendered[:300]}", trace))
    return out


def contract_findings(parser: registry.Parser, ctx: ParseContext, res: Outcome) -> list[Finding]:
    """Records and rejects as the parser contract says (base.py, DESIGN.md)."""
    out: list[Finding] = []

    def bad(message: str) -> None:
        out.append(Finding("contract", message))

    if not res.batch_schemas_ok:
        bad("a record batch is not of RECORD_SCHEMA (ingest casts it)")
    t = res.table
    n = t.num_rows if t is not None else 0
    if n:
        try:
            t.validate(full=True)   # a text column of bytes that are not UTF-8 breaks every reader of the master
        except pa.ArrowInvalid as exc:
            bad(f"the records are no valid Arrow data: {str(exc)[:200]}")
            return out
        cols = {name: t.column(name).to_pylist() for name in (
            "source_sha256", "source_path", "locator", "parser", "event_id", "party", "ts_precision",
            "tz_source", "direction", "flags")}
        if any(v != ctx.source_sha256 for v in cols["source_sha256"]):
            bad("a record without the source's sha256")
        if any(v != ctx.source_path for v in cols["source_path"]):
            bad("a record without the source's path")
        if any(v != ctx.parser_label for v in cols["parser"]):
            bad("a record without the parser label")
        if any(not isinstance(v, str) or not v.strip() for v in cols["locator"]):
            bad("a record without a locator")
        if any(v is not None for v in cols["event_id"]) or any(v is not None for v in cols["party"]):
            bad("a parser filled event_id or party (the timeline sets them)")
        for name, allowed in (("ts_precision", TS_PRECISIONS), ("tz_source", TZ_SOURCES), ("direction", DIRECTIONS)):
            odd = {v for v in cols[name] if v is not None and v not in allowed}
            if odd:
                bad(f"{name} outside {allowed}: {sorted(odd)[:3]}")
        flagged = sum(1 for f in cols["flags"] if f and "repaired_chars" in f)
        if flagged > res.report.repairs:
            bad(f"{flagged} records are flagged repaired_chars but only {res.report.repairs} repairs were counted")
        # (source, locator) names one record: verify and the master's occurrences rely on it
        dup = [loc for loc, c in Counter(v for v in cols["locator"] if isinstance(v, str)).items() if c > 1]
        if dup:
            bad(f"locators name more than one record: {dup[:3]}")
    for r in res.rejects:
        if not isinstance(r.locator, str) or not r.locator.strip():
            bad("a reject without a locator")
            break
        if not isinstance(r.reason, str) or not r.reason.strip():
            bad("a reject without a reason")
            break
        if not isinstance(r.raw, str):
            bad(f"a reject whose raw text is a {type(r.raw).__name__}, not str")
            break
    rep = res.report
    if not isinstance(rep.repairs, int) or rep.repairs < 0:
        bad(f"repairs is {rep.repairs!r}")
    if rep.declared_count is not None and (not isinstance(rep.declared_count, int) or rep.declared_count < 0):
        bad(f"declared_count is {rep.declared_count!r}")
    if any(not isinstance(w, str) or not w for w in rep.warnings):
        bad("a warning that is not a text")
    if not set(rep.used_siblings) <= set(ctx.siblings):
        bad(f"used_siblings names files that are not siblings: {sorted(set(rep.used_siblings) - set(ctx.siblings))[:3]}")
    return out


def output_text(res: Outcome) -> str:
    """Every text the parse kept: string columns, rejects (raw and reason) and warnings."""
    parts: list[str] = []
    t = res.table
    if t is not None and t.num_rows:
        for name in ("ts_local", "sender_raw", "sender", "conversation", "subject", "body", "locator", "extra"):
            column = t.column(name).cast(pa.binary())   # (bytes: a column that is not UTF-8 is a contract finding)
            parts += [v.decode("utf-8", "replace") for v in column.to_pylist() if v]
        try:
            for atts in t.column("attachments").to_pylist():
                parts += [a["name"] for a in atts or [] if a["name"]]
            for recips in t.column("recipients").to_pylist():
                parts += [r for r in recips or [] if r]
        except UnicodeDecodeError:   # (not UTF-8: a contract finding already)
            pass
    for r in res.rejects:
        parts += [r.raw, r.reason]
    parts += res.report.warnings
    return "\n".join(parts)


def lost_tokens(data: bytes, res: Outcome, skip_lines: int = 0) -> set[str]:
    """Words (5+ ASCII letters or digits) of the input found nowhere in the output (words on the
    first ``skip_lines`` lines are not counted: a header row is structure, not content)."""
    text = output_text(res)
    have = set(_TOKEN_STR.findall(text))
    lost = set()
    if skip_lines:
        data = b"\n".join(re.split(rb"\r\n|\r|\n", data)[skip_lines:])
    for token in {t.decode("ascii") for t in _TOKEN.findall(data)}:
        if token not in have and token not in text:
            lost.add(token)
    return lost


_BASELINE: dict[tuple[str, str], set[str]] = {}


def _same(a: Outcome, b: Outcome) -> str | None:
    """Why two outcomes of the same bytes differ (None when they agree)."""
    ea = None if a.error is None else (type(a.error).__name__, str(a.error))
    eb = None if b.error is None else (type(b.error).__name__, str(b.error))
    if ea != eb:
        return f"error {ea} vs {eb}"
    if a.error is not None:
        return None
    if not a.table.equals(b.table):
        for name in a.table.column_names:
            if not a.table.column(name).equals(b.table.column(name)):
                return f"records differ (column {name}; {a.table.num_rows} vs {b.table.num_rows} rows)"
        return "records differ"
    if [dataclasses.astuple(r) for r in a.rejects] != [dataclasses.astuple(r) for r in b.rejects]:
        return f"rejects differ ({len(a.rejects)} vs {len(b.rejects)})"
    if a.report.warnings != b.report.warnings:
        return "warnings differ"
    if a.report.repairs != b.report.repairs or a.report.declared_count != b.report.declared_count:
        return "counts differ"
    return None


@dataclass
class Check:
    """The result of checking one input against one parser."""

    findings: list[Finding]
    outcome: Outcome
    date_order: str | None = None


def check(parser: registry.Parser, data: bytes, workdir: Path, *, seed: Seed | None = None,
          name: str = "input", deep: bool = False, timeout: float | None = None) -> Check:
    """Parse ``data`` and check everything a parse must hold; ``deep`` also re-parses it through
    short random reads (the result must not change) — a determinism and streaming check."""
    siblings = seed.siblings if seed else ()
    path = f"fuzz/{name}"
    ctx = make_context(workdir, siblings, parser, path, data)
    res = run_parse(parser, data, ctx, timeout=timeout)
    order = None
    if isinstance(res.error, DateOrderAmbiguous):
        # The user would settle the order; go on with it, to reach the rest of the parser.
        findings = error_findings(res.error, res.trace, path)
        order = "DMY"
        ctx = make_context(workdir, siblings, parser, path, data, order)
        res = run_parse(parser, data, ctx, timeout=timeout)
    else:
        findings = []
    if res.error is not None:
        findings += error_findings(res.error, res.trace, path)
        return Check(findings, res, order)
    findings += contract_findings(parser, ctx, res)
    # (up to 256 KiB: a word that the output holds only inside a longer one costs a search of it all)
    if parser.name in TOKEN_COVERAGE and len(data) <= 256 << 10 and not data.startswith(b"PK\x03\x04"):
        lost = lost_tokens(data, res, TOKEN_COVERAGE[parser.name](data))
        if seed is not None and lost:
            key = (parser.name, seed.label)
            if key not in _BASELINE:
                bctx = make_context(workdir, siblings, parser, path, seed.data, order)
                base = run_parse(parser, seed.data, bctx, timeout=timeout)
                # every word the seed itself loses (its header among them) is excused wherever it moves
                _BASELINE[key] = lost_tokens(seed.data, base) if base.error is None else set()
            lost -= _BASELINE[key]
        if lost:
            findings.append(Finding("lost-text", f"{len(lost)} words of the input are in no record, reject or "
                                    f"warning: {sorted(lost)[:5]}"))
    if deep:
        ctx2 = make_context(workdir, siblings, parser, path, data, order)
        res2 = run_parse(parser, data, ctx2, short_reads=len(data), timeout=timeout)
        why = _same(res, res2)
        if why:
            findings.append(Finding("read-size", f"the same bytes, read in other pieces, give another result: "
                                    f"{why}", res2.trace))
    return Check(findings, res, order)


def check_sniff(data: bytes, name: str, limit: float = 1.0) -> list[Finding]:
    """Every parser's sniff answers a bool for any head, quickly; so does the registry. (Time is
    this thread's CPU time: on a shared machine a niced run may wait seconds for a processor.)"""
    out = []
    head = data[: registry.SNIFF_BYTES]
    for parser in registry.all_parsers():
        start = time.thread_time()
        try:
            answer = parser.sniff(head, name)
        except Exception as exc:  # noqa: BLE001
            out.append(Finding("sniff", f"{parser.name} sniff raised {type(exc).__name__}: {exc}"[:400],
                               traceback.format_exc()))
            continue
        took = time.thread_time() - start
        if took > limit:   # the first call's imports, or a collection of garbage: slow only if slow every time
            for _ in range(2):
                start = time.thread_time()
                parser.sniff(head, name)
                took = min(took, time.thread_time() - start)
        if not isinstance(answer, bool):
            out.append(Finding("sniff", f"{parser.name} sniff answered {type(answer).__name__}, not bool"))
        if took > limit:
            out.append(Finding("sniff", f"{parser.name} sniff took {took:.1f} s of CPU on a 64 KiB head"))
    return out


# ---------------------------------------------------------------------------------------------
# shrinking and saving failures

def shrink(data: bytes, still_fails: Callable[[bytes], bool], budget: float = 20.0) -> bytes:
    """Make a failing input smaller while it still fails (delta debugging, time-bounded)."""
    end = time.monotonic() + budget
    chunk = max(1, len(data) // 2)
    while chunk >= 1 and time.monotonic() < end:
        i, changed = 0, False
        while i < len(data) and time.monotonic() < end:
            candidate = data[:i] + data[i + chunk:]
            if candidate != data and still_fails(candidate):
                data, changed = candidate, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return data


def save_failure(out: Path, parser: str, finding: Finding, data: bytes, meta: dict) -> Path:
    """Write the reproducing input and a note on what failed; returns the input's path."""
    folder = out / re.sub(r"[^A-Za-z0-9_.-]+", "_", parser)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    stem = f"{finding.kind}-{digest}"
    (folder / f"{stem}.bin").write_bytes(data)
    note = {"parser": parser, "kind": finding.kind, "message": finding.message, "signature": finding.signature(),
            "size": len(data), **meta, "trace": finding.trace.splitlines()[-12:]}
    (folder / f"{stem}.json").write_text(json.dumps(note, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder / f"{stem}.bin"


def reproduce(path: Path, parser_name: str) -> list[Finding]:
    """Re-run a saved failure (``python -m bench.fuzz --replay FILE PARSER``)."""
    with tempfile.TemporaryDirectory() as tmp:
        return check(registry.get(parser_name), path.read_bytes(), Path(tmp), deep=True, timeout=120).findings


# ---------------------------------------------------------------------------------------------
# the long run

@dataclass
class Tally:
    tried: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    by_mutation: Counter = field(default_factory=Counter)
    findings: dict[str, list] = field(default_factory=lambda: defaultdict(list))   # signature -> examples
    errors: Counter = field(default_factory=Counter)    # refused inputs (CommtrailError), per parser
    sniffed: int = 0
    cli_runs: int = 0
    slowest: dict[str, tuple] = field(default_factory=dict)   # parser -> (seconds, size, mutations, CPU s)
    peaks: list[tuple] = field(default_factory=list)   # inputs that raised peak memory: (MB, parser, size, mutations)


def run(workdir: Path, minutes: float = 20.0, seed: int = 1, only: list[str] | None = None,
        out: Path = OUT, big_every: int = 400, cli_every: float = 120.0, log=print) -> Tally:
    """Fuzz for ``minutes``; returns the tally (also printed as it goes)."""
    rnd = random.Random(seed)
    by_parser = {k: v for k, v in seeds_by_parser().items() if v and (not only or k in only)}
    missing = [k for k, v in seeds_by_parser().items() if not v]
    if missing:
        log(f"no seeds (no fixture claimed) for: {', '.join(missing)}")
    all_seeds = load_seeds()
    tally = Tally()
    deadline = time.monotonic() + minutes * 60
    next_report = time.monotonic() + 60
    next_cli = time.monotonic() + cli_every
    names = sorted(by_parser)
    pending_cli: list[tuple[str, bytes]] = []
    i = 0
    workdir.mkdir(parents=True, exist_ok=True)
    while time.monotonic() < deadline:
        pname = names[i % len(names)]
        i += 1
        parser = registry.get(pname)
        seed = rnd.choice(by_parser[pname])
        big = i % big_every == 0
        muts, data = mutate(seed.data, rnd, big=big)
        tally.by_mutation.update(muts)
        deep = i % 7 == 0
        scratch = Path(tempfile.mkdtemp(dir=workdir))
        try:
            start, cpu = time.perf_counter(), time.thread_time()
            result = check(parser, data, scratch, seed=seed, name=seed.name, deep=deep,
                           timeout=60 + len(data) / 100_000)
            took, cpu = time.perf_counter() - start, time.thread_time() - cpu
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            if peak > (tally.peaks[-1][0] if tally.peaks else 0) + 100:
                tally.peaks.append((peak, pname, len(data), muts))
                if peak > MEMORY_LIMIT_MB:
                    findings_mem = Finding("memory", f"peak memory reached {peak:.0f} MB on {len(data):,} bytes")
                    _record(tally, out, pname, findings_mem, data, seed, muts, workdir, log)
            tally.seconds[pname] += took
            if took > tally.slowest.get(pname, (0,))[0]:
                tally.slowest[pname] = (took, len(data), muts, cpu)
            findings = result.findings + check_sniff(data, seed.name)
            tally.sniffed += 1
            if rnd.random() < 0.3:   # sniff also sees inputs that belong to no parser
                other = rnd.choice(all_seeds)
                omuts, odata = mutate(other.data, rnd)
                for finding in check_sniff(odata, other.name):   # (recorded with its own input, not this one)
                    _record(tally, out, other.parser or "no-parser", finding, odata, other, omuts, workdir, log)
                tally.sniffed += 1
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        tally.tried[pname] += 1
        if isinstance(result.outcome.error, CommtrailError):
            tally.errors[pname] += 1
        for finding in findings:
            _record(tally, out, pname, finding, data, seed, muts, workdir, log)
        if len(data) < 2 << 20 and rnd.random() < 0.05:
            pending_cli.append((seed.name, data))
        now = time.monotonic()
        if now >= next_cli and pending_cli:
            batch, pending_cli = pending_cli[:6], pending_cli[6:][-30:]
            for finding in cli_round(batch, workdir):
                sig = f"cli|{finding.signature()}"
                tally.findings[sig].append(finding.message)
                if len(tally.findings[sig]) == 1:
                    path = save_failure(out, "cli", finding, batch[0][1], {"inputs": [n for n, _ in batch]})
                    for n, (name, data) in enumerate(batch):
                        path.with_name(f"{path.stem}.input{n}-{name}").write_bytes(data)
                    log(f"  NEW cli: {finding.message[:300]}")
            tally.cli_runs += 1
            next_cli = now + cli_every
        if now >= next_report:
            log(summary(tally, brief=True))
            next_report = now + 60
    return tally


def _record(tally: Tally, out: Path, pname: str, finding: Finding, data: bytes, seed: Seed, muts: list[str],
            workdir: Path, log) -> None:  # type: ignore[no-untyped-def]
    sig = f"{pname}|{finding.signature()}"
    examples = tally.findings[sig]
    examples.append(finding.message)
    if len(examples) > 1:
        return
    small = data
    if finding.kind in ("crash", "contract", "sniff", "error-message") and len(data) < 1 << 20:
        parser = registry.get(pname)

        def still(candidate: bytes) -> bool:
            with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                if finding.kind == "sniff":
                    got = check_sniff(candidate, seed.name)
                else:
                    got = check(parser, candidate, Path(tmp), name=seed.name, timeout=20).findings
            return any(f"{pname}|{g.signature()}" == sig for g in got)
        small = shrink(data, still)
    path = save_failure(out, pname, finding, small, {"seed": seed.label, "mutations": muts,
                                                     "original_size": len(data)})
    log(f"  NEW {pname}: {finding.kind}: {finding.message[:200]} -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def cli_round(inputs: list[tuple[str, bytes]], workdir: Path, report: bool = True) -> list[Finding]:
    """Ingest mutated files through ``commtrail ingest`` (in this process), then verify, export and
    (with ``report``) write the report; check: no traceback, exit status 0 or 1 for ingest and 0
    for the rest, every error line naming an input, the printed summary equal to the inventory
    and the inventory equal to what staging holds."""
    import contextlib

    from commtrail.cli import main
    findings: list[Finding] = []
    root = Path(tempfile.mkdtemp(dir=workdir, prefix="cli-"))
    try:
        case = root / "case"
        case.mkdir()
        (case / "case.toml").write_text(CASE_TOML, encoding="utf-8")
        files = []
        for n, (name, data) in enumerate(inputs):
            folder = root / f"in{n}"
            folder.mkdir()
            (folder / name).write_bytes(data)
            files.append(str(folder / name))
        steps = [["ingest", str(case), *files], ["verify", str(case)], ["export", str(case), "--format", "jsonl"],
                 ["export", str(case), "--format", "xlsx"], ["export", str(case), "--format", "csv"]]
        if report:
            steps += [["report", str(case)], ["verify", str(case)]]
        for argv in steps:
            err, outs = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(outs):
                code = main(argv)
            text = err.getvalue() + outs.getvalue()
            for marker in ("Traceback", "failed unexpectedly", "commtrail failed while reading"):
                if marker in text:
                    at = text.index(marker)
                    findings.append(Finding("cli", f"{argv[0]}: '{marker}' in the output: "
                                            f"{text[max(0, at - 200):at + 400]}"))
            if code not in (0, 1) or (argv[0] != "ingest" and code != 0):
                findings.append(Finding("cli", f"{argv[0]} exited {code}: {text.strip()[-400:]}"))
            if argv[0] == "ingest":
                for line in err.getvalue().splitlines():
                    if line.startswith("Error: ") and not any(f in line for f in files):
                        findings.append(Finding("cli", f"an error that names no input: {line[:300]}"))
                findings += [Finding("cli", m) for m in summary_mismatches(outs.getvalue(), case)]
        findings += [Finding("cli", m) for m in staged_mismatches(case)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return findings


def summary_mismatches(printed: str, case_dir: Path) -> list[str]:
    """The ingest summary as printed against the inventory: one "ingested" row per inventory row,
    with its record and reject counts. The input column shows the file name (folded over several
    lines when long) and then its folder, so a row is matched by the file name it starts with."""
    from commtrail.ingest.runner import printable
    from commtrail.inventory import read_inventory, source_name
    lines = printed.splitlines()
    head = next((i for i, line in enumerate(lines) if line.split()[:2] == ["input", "status"]), None)
    if head is None:
        return ["the ingest summary was not printed"]
    rows: list[list] = []
    for line in lines[head + 1:]:
        if not line.strip() or line.startswith(("Warning:", "Error:", "master.parquet")):
            break
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) > 1 and cells[1] in ("ingested", "skipped", "media", "failed"):
            rows.append([cells[0], cells[1], *(cells[3:5] if cells[1] == "ingested" else [])])
        elif rows:
            rows[-1][0] += cells[0]
    want: dict[str, list] = {}
    for row in read_inventory(case_dir / "sources.parquet"):
        name = "".join(source_name(printable(row["path"])).split())
        want.setdefault(name, []).append((row["records"], row["rejects"]))
    got: dict[str, list] = {}
    for label, status, *counts in rows:
        if status == "ingested":
            text = "".join(label.split())
            name = max((n for n in want if text.startswith(n)), key=len, default=text)
            got.setdefault(name, []).append((int(counts[0]), int(counts[1])))
    if {k: sorted(v) for k, v in got.items()} != {k: sorted(v) for k, v in want.items()}:
        return [f"the printed summary {sorted(got.items())[:4]} differs from the inventory {sorted(want.items())[:4]}"]
    return []


def staged_mismatches(case_dir: Path) -> list[str]:
    """What the inventory says against what staging holds: counts, sha256s and locators."""
    import pyarrow.parquet as pq

    from commtrail.inventory import read_inventory
    out = []
    for row in read_inventory(case_dir / "sources.parquet"):
        sha = row["sha256"]
        staged = pq.read_table(case_dir / "staging" / f"{sha}.parquet")
        rejects = pq.read_table(case_dir / "staging" / f"{sha}.rejects.parquet")
        if staged.num_rows != row["records"] or rejects.num_rows != row["rejects"]:
            out.append(f"{row['path']}: summary says {row['records']} records and {row['rejects']} rejects, "
                       f"staging holds {staged.num_rows} and {rejects.num_rows}")
        if row["records"] < 0 or row["rejects"] < 0 or row["repairs"] < 0:
            out.append(f"{row['path']}: negative counts")
        if staged.num_rows and (set(staged.column("source_sha256").to_pylist()) != {sha}
                                or None in staged.column("locator").to_pylist()):
            out.append(f"{row['path']}: staged records without the source's sha256 or a locator")
    return out


CASE_TOML = """[case]
title = "Fuzz case"
timezone = "Europe/London"
phone_region = "GB"

[owner]
name = "Sam"
phones = ["+44 7700 900999"]
emails = ["sam@example.org"]
whatsapp_names = ["Sam"]

[[party]]
name = "Jordan"
phones = ["07700 900123", "+44 7700 900456"]
emails = ["jordan.k@example.com"]
whatsapp_names = ["Jordan"]
"""


def summary(tally: Tally, brief: bool = False) -> str:
    lines = []
    total = sum(tally.tried.values())
    lines.append(f"tried {total} inputs ({tally.sniffed} sniffed, {tally.cli_runs} CLI rounds); "
                 f"{len(tally.findings)} distinct failures")
    for name in sorted(tally.tried):
        n = tally.tried[name]
        rate = n / tally.seconds[name] if tally.seconds[name] else 0
        slow = tally.slowest.get(name)
        lines.append(f"  {name:14} {n:7} inputs  ({rate:6.1f}/s parsing), {tally.errors[name]} refused with a "
                     f"CommtrailError" + (f"; slowest {slow[0]:.1f} s ({slow[3]:.1f} s CPU here; {slow[1]:,} bytes, "
                                                            f"{'+'.join(slow[2])})"
                                          if slow and not brief else ""))
    if not brief:
        for mb, name, size, muts in tally.peaks[-3:]:
            lines.append(f"  peak memory {mb:.0f} MB after {name} on {size:,} bytes ({'+'.join(muts)})")
        lines.append("  mutations applied: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.by_mutation.items())))
        for sig, examples in sorted(tally.findings.items()):
            lines.append(f"  FAIL x{len(examples)}: {sig}\n      {examples[0][:300]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0, help="how long to run (default 20)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (a run is reproducible given its seed)")
    ap.add_argument("--only", default="", help="comma-separated parser names (default: every registered parser)")
    ap.add_argument("--out", type=Path, default=OUT, help="where failing inputs are saved")
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "fuzz-work")
    ap.add_argument("--seeds", type=Path, action="append", default=[],
                    help="another folder of seed files (repeatable; e.g. sample files that are not committed)")
    ap.add_argument("--replay", nargs=2, metavar=("FILE", "PARSER"), help="re-check one saved input")
    args = ap.parse_args(argv)
    EXTRA_SEED_DIRS.extend(args.seeds)
    if args.replay:
        findings = reproduce(Path(args.replay[0]), args.replay[1])
        for f in findings:
            print(f"{f.kind}: {f.message}\n{f.trace}")
        print("no failure" if not findings else f"{len(findings)} failures")
        return 1 if findings else 0
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    only = [n for n in args.only.split(",") if n] or None
    print(f"fuzzing {', '.join(sorted(k for k, v in seeds_by_parser().items() if v and (not only or k in only)))} "
          f"for {args.minutes:g} min (seed {args.seed}); {len(load_seeds())} seeds", flush=True)
    tally = run(args.workdir, args.minutes, args.seed, only, args.out,
                log=lambda s: print(s, flush=True))
    shutil.rmtree(args.workdir, ignore_errors=True)
    text = summary(tally)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"summary-seed{args.seed}.txt").write_text(text + "\n", encoding="utf-8")
    return 1 if tally.findings else 0


if __name__ == "__main__":
    sys.exit(main())
