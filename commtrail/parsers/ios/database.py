"""SQLite databases of a phone, read safely: a private copy, opened read-only, schema checked.

The user's database is never opened in place (SQLite may write beside a database it opens, and a
live ``-wal`` file holds the newest rows). Each database is copied with its ``-wal`` and ``-shm``
files into a private folder (the case's temporary folder), its bytes also streamed into the blob
store so the case keeps what was read, and the copy is opened read-only.

Times: Apple stores them from the Cocoa epoch (2001-01-01 UTC), in seconds on old systems and in
nanoseconds on iOS 11 / macOS 10.13 and later, sometimes both in one database. Each value is told
apart on its own: no date in seconds reaches 10^11 (the year 5170), no date in nanoseconds after
2001-01-01 00:01:40 falls below it.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext

SQLITE_MAGIC = b"SQLite format 3\x00"
COCOA_EPOCH_US = 978_307_200_000_000
NANOSECONDS_FROM = 10**11
COMPANIONS = ("-wal", "-shm")
CHUNK = 1 << 20

Opener = Callable[[str], BinaryIO]   # a companion file by suffix ("", "-wal", "-shm"); FileNotFoundError


@contextmanager
def private_folder(ctx: ParseContext) -> Iterator[Path]:
    """A folder only this parse uses, inside ``ctx.work_dir`` when there is one; removed afterwards."""
    parent = ctx.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix=".ios-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def copy_stream(stream: BinaryIO, target: Path, ctx: ParseContext | None) -> None:
    """Copy ``stream`` to ``target`` (and, given a context with a blob store, into it as well)."""
    writer = ctx.blobs.open_writer() if ctx is not None and ctx.blobs is not None else None
    with open(target, "wb") as out:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            if writer is not None:
                writer.write(chunk)
    if writer is not None:
        writer.close()


def private_copy(open_part: Opener, folder: Path, name: str, ctx: ParseContext) -> Path:
    """Copy a database and whichever of its -wal/-shm files exist into ``folder`` (the database and
    its -wal also into the blob store); the copy's path. The main file missing raises FileNotFoundError."""
    target = folder / name
    with open_part("") as stream:
        copy_stream(stream, target, ctx)
    for suffix in COMPANIONS:
        try:
            with open_part(suffix) as stream:
                copy_stream(stream, folder / (name + suffix), ctx if suffix == "-wal" else None)
        except FileNotFoundError:
            continue
    return target


def open_read_only(path: Path, label: str) -> sqlite3.Connection:
    """A read-only connection to a private copy; a file that is no SQLite database is a clear error."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC:
        raise InputError("this is not an SQLite database (it does not start with the SQLite header), so it "
                         "cannot be read.", file=label, where="byte 0",
                         hint="Give the database as the phone or the backup wrote it; it may be damaged or encrypted.")
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        with as_input_error(label, "opening it"):
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except InputError:
        con.close()
        raise
    return con


@contextmanager
def as_input_error(label: str, where: str = "reading its tables") -> Iterator[None]:
    """Turn SQLite's "malformed" and similar errors into a clear error naming the file and what
    was being read (SQLite does not say which page)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise InputError(f"this SQLite database cannot be read ({exc}).", file=label, where=where,
                         hint="It may be damaged or encrypted; give an intact copy.") from None


class LenientText:
    """A text factory for sqlite3 that reads bytes that are not UTF-8 as U+FFFD, counting them
    (SQLite's own decoder stops the whole query at the first such value)."""

    def __init__(self) -> None:
        self.repaired = 0

    def __call__(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.repaired += 1
            return data.decode("utf-8", "replace")

    def report(self, ctx: ParseContext, label: str) -> None:
        """Count the repairs and say where they were."""
        if self.repaired:
            ctx.report.repairs += self.repaired
            ctx.report.warn(f"{self.repaired} text values in {label} are not valid UTF-8: their undecodable bytes "
                            "were read as U+FFFD")


def damaged(label: str, what: str, last: object, exc: sqlite3.DatabaseError) -> str:
    """The warning for a database found damaged while its rows were being read."""
    where = f"after {what} {last}" if last is not None else "before its first row"
    return (f"{label} is damaged {where} ({exc}): the rows read before the damage were kept, the rest of "
            "this database could not be read")


def columns(con: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (lower case), empty when there is no such table."""
    return {row[1].lower() for row in con.execute(f"PRAGMA table_info({table})")}


def require(con: sqlite3.Connection, label: str, needed: dict[str, Iterable[str]]) -> dict[str, set[str]]:
    """Check each table has the columns named; returns the columns of every table checked."""
    found = {}
    for table, names in needed.items():
        have = columns(con, table)
        if not have:
            raise InputError(f"this database has no table {table}, so it is not a layout commtrail knows.",
                             file=label, where="its list of tables", hint="The README lists the iOS and macOS versions commtrail reads; "
                             "please report the version this database comes from.")
        for name in names:
            if name.lower() not in have and name.lower() != "rowid":   # every table has its ROWID
                raise InputError(f"table {table} has no column {name}, so this database is of a layout commtrail "
                                 "does not know.", file=label, hint="The README lists the iOS and macOS versions "
                                 "commtrail reads; please report the version this database comes from.")
        found[table] = have
    return found


def optional(have: set[str], alias: str, name: str) -> str:
    """``alias.name`` when the column exists, else SQL NULL (older layouts lack newer columns)."""
    return f"{alias}.{name}" if name.lower() in have else "NULL"


def cocoa_us(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cocoa times (int64 seconds or nanoseconds, told apart per value) as epoch microseconds,
    and a mask of the values that were nanoseconds."""
    nanos = np.abs(values) >= NANOSECONDS_FROM
    us = np.where(nanos, values // 1000, values * 1_000_000) + COCOA_EPOCH_US
    return us, nanos


# A Cocoa time (seconds or nanoseconds, per value) as ISO 8601 UTC, in SQL.
_ISO_SQL = ("strftime('%Y-%m-%dT%H:%M:%fZ', CASE WHEN abs({0}) >= {1} THEN {0} / 1e9 ELSE {0} END + 978307200, "
            "'unixepoch')")


def json_field(key: str, value_sql: str) -> str:
    """SQL for ``,"key":<value as JSON>``, or NULL when the value is NULL."""
    return f"""CASE WHEN {value_sql} IS NOT NULL THEN ',"{key}":' || json_quote({value_sql}) END"""


def date_field(key: str, column: str) -> str:
    """SQL for ``,"key":"<ISO time>"`` of a Cocoa time column, or NULL when it is 0 or NULL."""
    return f"""CASE WHEN {column} <> 0 THEN ',"{key}":"' || {_ISO_SQL.format(column, NANOSECONDS_FROM)} || '"' END"""


def object_sql(fields: list[str]) -> str:
    """SQL for a JSON object text from field expressions (each ``,"key":value`` or NULL)."""
    return "'{' || substr(" + " || ".join(f"coalesce({f}, '')" for f in fields) + ", 2) || '}'"


def fragments_sql(fields: list[str]) -> str:
    """SQL for the fragments (``,"key":value...``) of the fields that are not NULL, or NULL for none."""
    return "NULLIF(" + " || ".join(f"coalesce({f}, '')" for f in fields) + ", '')"


def splice_json(obj: str, fragment: str) -> str | None:
    """An object text from :func:`object_sql` with a fragment (``,"key":value...``) added; None for
    an object left empty."""
    if fragment:
        obj = "{" + fragment[1:] + "}" if obj == "{}" else obj[:-1] + fragment + "}"
    return None if obj == "{}" else obj


def flag_column(n: int, names: tuple[str, ...], masks: dict[str, np.ndarray]) -> pa.Array:
    """The ``flags`` column of ``n`` records: for each, the names (in ``names`` order) whose mask is set."""
    bits = np.zeros(n, dtype=np.int64)
    for i, name in enumerate(names):
        bits |= masks[name].astype(np.int64) << i
    if not bits.any():
        return pa.nulls(n, pa.list_(pa.string()))
    combos, inverse = np.unique(bits, return_inverse=True)
    lists = [[name for i, name in enumerate(names) if c >> i & 1] or None for c in combos.tolist()]
    return pa.array(lists, pa.list_(pa.string())).take(pa.array(inverse.ravel().astype(np.int32)))

