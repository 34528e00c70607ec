"""SQLite databases from a phone, read safely: a private copy, opened read-only, schema checked.

Shared by the iPhone (:mod:`commtrail.parsers.ios`) and Android (:mod:`commtrail.parsers.android`)
parsers. The user's database is never opened in place (SQLite may write beside a database it opens,
and a live ``-wal`` file holds the newest rows): it is copied with its ``-wal`` and ``-shm`` files
into a private folder (the case's temporary folder) and the copy is opened read-only. Rows are read
a chunk at a time; the ``extra`` JSON of a row is put together by SQLite (:func:`object_sql`).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
from array import array
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, TypeVar

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext, Reject, counted
# fetch is imported by the readers from here
from commtrail.sqlitefeed import Columns, Connection, Lenient, as_columns, chunks, fetch, gc_paused  # noqa: F401

SQLITE_MAGIC = b"SQLite format 3\x00"
COMPANIONS = ("-wal", "-shm", "-journal")
KEPT = ("-wal", "-journal")   # the companions that hold rows: kept in the blob store too
CHUNK = 1 << 20
# A table's name in the CREATE statements SQLite keeps near the start of the file (sqlite_master).
_CREATE_TABLE = re.compile(rb'CREATE TABLE\s+(?:IF NOT EXISTS\s+)?["`\[]?(\w+)', re.IGNORECASE)

T, U = TypeVar("T"), TypeVar("U")
Opener = Callable[[str], BinaryIO]   # a companion file by suffix ("", "-wal", "-shm"); FileNotFoundError


def head_tables(head: bytes) -> set[str]:
    """The (lower-case) names of the tables whose CREATE statements the first bytes of an SQLite
    file hold; empty when it is no SQLite file. Sniffing by content: a database is known by its
    tables. (A database whose schema grew after it was made may keep a table's CREATE statement
    further on: its parser may then also take the file by the name the phone gives it.)"""
    if not head.startswith(SQLITE_MAGIC):
        return set()
    return {m.group(1).decode("ascii", "replace").lower() for m in _CREATE_TABLE.finditer(head)}


@contextmanager
def private_folder(ctx: ParseContext) -> Iterator[Path]:
    """A folder only this parse uses, inside ``ctx.work_dir`` when there is one; removed afterwards."""
    parent = ctx.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix=".db-", dir=parent))
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
    """Copy a database and whichever of its -wal/-shm/-journal files exist into ``folder`` (the database,
    its -wal and -journal also into the blob store); the copy's path. The main file missing raises
    FileNotFoundError."""
    target = folder / name
    with open_part("") as stream:
        copy_stream(stream, target, ctx)
    for suffix in COMPANIONS:
        try:
            with open_part(suffix) as stream:
                copy_stream(stream, folder / (name + suffix), ctx if suffix in KEPT else None)
        except FileNotFoundError:
            continue
    return target


def open_read_only(path: Path, label: str) -> sqlite3.Connection:
    """A read-only connection to a private copy; a file that is no SQLite database is a clear error.
    A ``-journal`` beside the copy (a write the phone had not finished) is first rolled back in the
    copy, as SQLite would on the phone, so the database is read as it was before that write."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC:
        raise InputError("this is not an SQLite database (it does not start with the SQLite header), so it "
                         "cannot be read.", file=label, where="byte 0",
                         hint="Give the database as the phone or the backup wrote it; it may be damaged or encrypted.")
    if Path(f"{path}-journal").exists():   # an unfinished write: rolled back in the private copy only
        with as_input_error(label, "rolling back the unfinished write its -journal holds"):
            recover = sqlite3.connect(path, factory=Connection)
            try:
                recover.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                recover.close()
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                          factory=Connection)
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


@contextmanager
def texts_read_by(con: sqlite3.Connection, factory: Callable[[bytes], str]) -> Iterator[None]:
    """The connection's texts read by ``factory`` meanwhile (a :class:`LenientText`: bytes that are
    not UTF-8 as U+FFFD, counted, where SQLite's own decoder would fail the query), by its own
    factory again afterwards."""
    before, con.text_factory = con.text_factory, factory
    try:
        yield
    finally:
        con.text_factory = before


class LenientText(Lenient):
    """A text factory for sqlite3 that reads bytes that are not UTF-8 as U+FFFD, counting them
    (SQLite's own decoder stops the whole query at the first such value)."""

    def report(self, ctx: ParseContext, label: str) -> None:
        """Count the repairs and say where they were."""
        if self.repaired:
            ctx.report.repairs += self.repaired
            values = counted(self.repaired, f"text value in {label} is", f"text values in {label} are")
            ctx.report.warn(f"{values} not valid UTF-8: their undecodable bytes were read as U+FFFD")


def damaged(label: str, what: str, last: object, exc: sqlite3.DatabaseError, rest: str = "this database") -> str:
    """The warning for a database found damaged while its rows were being read (``what``: the table
    and its key; ``rest``: what could not be read from there on)."""
    if last is None:
        return f"{label} is damaged before its first {what.split()[0]} row ({exc}): none of {rest} could be read"
    return (f"{label} is damaged after {what} {last} ({exc}): the rows read before the damage were kept, the rest "
            f"of {rest} could not be read")


def columns(con: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (lower case), empty when there is no such table."""
    return {row[1].lower() for row in con.execute(f"PRAGMA table_info({table})")}


def require(con: sqlite3.Connection, label: str, needed: dict[str, Iterable[str]],
            versions: str = "iOS and macOS") -> dict[str, set[str]]:
    """Check each table has the columns named; returns the columns of every table checked. An
    unknown layout is a clear error naming the table or column missing (``versions``: whose
    versions the README lists)."""
    found = {}
    for table, names in needed.items():
        have = columns(con, table)
        if not have:
            raise InputError(f"this database has no table {table}, so it is not a layout commtrail knows.",
                             file=label, where="its list of tables",
                             hint=f"The README lists the {versions} versions commtrail reads; "
                             "please report the version this database comes from.")
        for name in names:
            if name.lower() not in have and name.lower() != "rowid":   # every table has its ROWID
                raise InputError(f"table {table} has no column {name}, so this database is of a layout commtrail "
                                 "does not know.", file=label, hint=f"The README lists the {versions} versions "
                                 "commtrail reads; please report the version this database comes from.")
        found[table] = have
    return found


def optional(have: set[str], alias: str, name: str) -> str:
    """``alias.name`` when the column exists, else SQL NULL (older layouts lack newer columns)."""
    return f"{alias}.{name}" if name.lower() in have else "NULL"


def json_field(key: str, value_sql: str) -> str:
    """SQL for ``,"key":<value as JSON>``, or NULL when the value is NULL."""
    return f"""CASE WHEN {value_sql} IS NOT NULL THEN ',"{key}":' || json_quote({value_sql}) END"""


def object_sql(fields: list[str]) -> str:
    """SQL for a JSON object text from field expressions (each ``,"key":value`` or NULL)."""
    return "'{' || substr(" + " || ".join(f"coalesce({f}, '')" for f in fields) + ", 2) || '}'"


def as_text_sql(value_sql: str) -> str:
    """A column's value as JSON can hold it: a BLOB as its hex digits. A BLOB sorts after every other
    value and the empty BLOB before every other BLOB, whatever the column's affinity and collation,
    so ``>= x''`` tells BLOBs apart (NULL: neither), at a fraction of ``typeof``'s cost per row."""
    return f"CASE WHEN {value_sql} >= x'' THEN hex({value_sql}) ELSE {value_sql} END"


def splice_json(obj: str, fragment: str) -> str | None:
    """An object text from :func:`object_sql` with a fragment (``,"key":value...``) added; None for
    an object left empty."""
    if fragment:
        obj = "{" + fragment[1:] + "}" if obj == "{}" else obj[:-1] + fragment + "}"
    return None if obj == "{}" else obj


def base_name(ctx: ParseContext) -> str:
    """The input's own file name (inside an archive, the member's)."""
    return ctx.source_path.replace("!", "/").replace("\\", "/").rsplit("/", 1)[-1]


@contextmanager
def input_copy(stream: BinaryIO, ctx: ParseContext, label: str | None = None) -> Iterator[sqlite3.Connection]:
    """A database given as an input, opened read-only from a private copy: the stream copied with
    the ``-wal``, ``-shm`` and ``-journal`` files beside it (the ``-wal`` and ``-journal`` also into
    the blob store, since the case's copy of the input lacks them), all removed afterwards."""
    name = base_name(ctx)
    with private_folder(ctx) as folder:
        copy = folder / "input.db"
        copy_stream(stream, copy, None)
        for suffix in COMPANIONS:
            opener = ctx.siblings.get(name + suffix)
            if opener is not None:
                with opener() as part:
                    copy_stream(part, folder / ("input.db" + suffix), ctx if suffix in KEPT else None)
                ctx.report.used_siblings.add(name + suffix)
        journal = folder / "input.db-journal"
        if journal.exists() and journal.stat().st_size:
            ctx.report.warn(f"{name}-journal holds a write the phone had not finished: the database was read as it "
                            "was before that write, as SQLite on the phone would read it (the -journal is kept in "
                            "blobs/)")
        con = open_read_only(copy, label or ctx.source_path)
        try:
            yield con
        finally:
            con.close()


def each_paused(chunks: Iterable[T], work: Callable[[T], Iterable[U]]) -> Iterator[U]:
    """What ``work`` makes of each chunk, taken and made with the garbage collector paused
    (:func:`gc_paused`; never while the caller has it), then handed on. The chunk is let go before
    the collector resumes (the generators giving chunks hold none while they wait), so that the
    rows it made do not set off a collection that would go over them all once more."""
    chunks = iter(chunks)
    while True:
        with gc_paused():
            chunk = next(chunks, _END)
            if chunk is _END:
                return
            items = list(work(chunk))
            del chunk
        yield from items


_END = object()


def keyed_chunks(con: sqlite3.Connection, query: str, ctx: ParseContext, chunk: int, lenient: LenientText,
                 aside: list[tuple], careful: str | None = None) -> Iterator[list[tuple] | Columns]:
    """The rows of a keyed query a chunk of at most ``chunk`` (and the context's batch size) at a time,
    for a reader that works column by column (:func:`columns_of` takes each chunk apart): its one
    parameter is the key (its first column, in ascending order) the rows come after. Run at once (a
    query SQLite refuses fails here), read as the chunks are taken, by a second process for a large
    database (:mod:`commtrail.sqlitefeed`).
    Text is read by SQLite's own UTF-8 decoder (no Python call per value); text that is not UTF-8
    makes it fail, and the query is run again after the last row done with ``lenient`` as the
    connection's text factory from there on (the caller reports its count). Likewise a BLOB that
    the query's JSON cannot hold makes it fail, and ``careful`` (the same query writing BLOBs as
    JSON can hold them, slower) is run instead from there on. A row whose key does not rise above
    the keys before it (a damaged table) goes to ``aside`` (:func:`out_of_order` rejects it)."""
    return chunks(con, query, max(1, min(ctx.batch_size, chunk)), key=True, careful=careful, lenient=lenient,
                  aside=aside, columns=True)


def out_of_order(aside: list[tuple], ctx: ParseContext, label: str, table: str,
                 names: Sequence[str]) -> Iterator[Reject]:
    """The rejects of the rows a keyed read set aside (:func:`keyed_chunks`): a damaged table gave them
    out of the order of their key (``names``: the query's columns, the key first), so that a key
    would name two records. Each is written out whole, and counted in a warning."""
    key = names[0]
    for n, row in enumerate(aside, 1):
        yield Reject(locator=f"{label} {table} {key} {row[0]} (out of order, {n})",
                     reason=f"{table} is damaged here: this row's {key} {row[0]!r} does not come after the rows "
                            "read before it, so it cannot name one record",
                     raw=" ".join(f"{name}={value!r}" for name, value in zip(names, row)))
    if aside:
        ctx.report.warn(f"{counted(len(aside), 'row', 'rows')} of {table} in {label} came out of the order of their "
                        f"{key} (the table is damaged there): each is a reject with its row written out; the rows after "
                        "them were read")


def columns_of(rows: list[tuple] | Columns) -> list[tuple | array]:
    """The values of a chunk (rows, or :class:`~commtrail.sqlitefeed.Columns`) column by column, a
    column of ints only or of floats only as an ``array`` (:func:`~commtrail.sqlitefeed.typed`; Arrow
    takes it as it is, see :func:`._values.arrow`); the same columns however the chunk was read. They
    are the chunk's own: the caller does not change them."""
    if isinstance(rows, Columns):
        return rows.columns
    return as_columns(rows) if rows else []


def query_chunks(con: sqlite3.Connection, query: str, ctx: ParseContext, chunk: int, aside: list[tuple],
                 columns: bool = False) -> Iterator[list[tuple] | Columns]:
    """The rows of a query in the order of a table's key (its first column) a chunk of at most
    ``chunk`` (and the context's batch size) at a time, with the connection's text factory, read by
    a second process for a large database (:mod:`commtrail.sqlitefeed`; ``columns``: see its
    ``chunks``); a row whose key does not rise above the keys before it (a damaged table) goes to
    ``aside`` (:func:`out_of_order` rejects it). Run at once: a query SQLite refuses fails here."""
    return chunks(con, query, max(1, min(ctx.batch_size, chunk)), lenient=_lenient_of(con), aside=aside,
                  columns=columns)


def _lenient_of(con: sqlite3.Connection) -> Lenient | None:
    return con.text_factory if isinstance(con.text_factory, Lenient) else None


def read_chunks(rows: Iterator[list[tuple]], ctx: ParseContext, label: str, what: str,
                rest: str = "this database") -> Iterator[list[tuple]]:
    """The chunks of :func:`query_chunks` (their first column identifies a row). A database found
    damaged part way is a warning naming the last row read (:func:`damaged`); the rows before it are kept."""
    last = None
    try:
        for chunk in rows:
            key = chunk[-1][0]
            held = [chunk]
            del chunk   # while the caller works on the chunk, this frame holds no reference to it
            yield held.pop()
            last = key
    except sqlite3.DatabaseError as exc:
        ctx.report.warn(damaged(label, what, last, exc, rest))


def columns_json(have: set[str], alias: str, names: Iterable[str], careful: bool = True) -> str:
    """SQL for a JSON object of the columns named that the table has, each as SQLite holds it (NULL
    as null, a BLOB as its hex digits). Cheaper per row than :func:`object_sql`, which leaves NULLs out.
    Not ``careful``: the columns as they are, a third cheaper again, for a keyed query whose careful
    twin takes over should SQLite refuse a BLOB (:func:`keyed_chunks`)."""
    pairs = [f"'{name}', {as_text_sql(f'{alias}.{name}') if careful else f'{alias}.{name}'}"
             for name in names if name.lower() in have]
    return f"json_object({', '.join(pairs)})"
