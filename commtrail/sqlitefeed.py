"""The rows of an SQLite query a chunk at a time, fetched by a second process for a large database.

Fetching the rows (SQLite's steps and a Python object for every value) costs a phone-database
reader about as much as all its own work on them. For a database of :data:`FEED_FROM_BYTES` or
more, :func:`chunks` starts this module as a program: a second Python process that runs the same
query on the same read-only private copy and hands each chunk over as a ``marshal`` frame, so that
the next chunk is fetched while the reader works on this one (the second core of the machine).
The first chunk is read in this process while the second one starts; it then runs the same query
and passes over those rows inside SQLite (``LIMIT -1 OFFSET``), so that it goes on with the very
rows the first process's cursor would have given next.

The reader sees the same thing either way: the same rows (``marshal`` keeps every SQLite value
exactly: int, float, str, bytes, None; a column of ints only, or of floats only, goes as the bytes of
an ``array``, see :func:`typed`), in the same chunks, and an SQLite error the query meets
raised at the same place with the same text. Texts that are not UTF-8 are read as U+FFFD and
counted the same way (:class:`Lenient`). Should the second process be unable to start, or stop
without saying it is done, the rows not yet handed over are read in this process instead.

Keyed queries (one parameter: the key, the first column, the rows come after) are run again after
the last row read when SQLite refuses a value: with the lenient text factory from a text that is not
UTF-8, with the ``careful`` query from a BLOB that the query's JSON cannot hold (:func:`keyed`). A
damaged table can give its rows out of their key's order (the same ROWID twice): a row whose key does
not rise above every key before it is set aside (:func:`in_order`), for the reader to reject, so that
a key names one record and the rows after it are still read.

This module imports little of the standard library (the rest only where the first process needs
it), and the second process skips ``site`` (``python -S``; it finds commtrail by ``PYTHONPATH``),
so that it starts in about 20 ms.
"""

from __future__ import annotations

import gc
import marshal
import os
import sqlite3
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter, lt

FEED_FROM_BYTES = 4 << 20   # smaller databases are read in this process (starting another costs ~20 ms)
FIRST_KEY = -(1 << 63)      # below every key: the parameter of a keyed query's first run
_LENGTH = 8                 # bytes of a frame's length


class Lenient:
    """A text factory that reads bytes that are not UTF-8 as U+FFFD, counting them (SQLite's own
    decoder stops the whole query at the first such value)."""

    def __init__(self) -> None:
        self.repaired = 0

    def __call__(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.repaired += 1
            return data.decode("utf-8", "replace")


class Columns(Sequence):
    """A chunk of rows held column by column (as the second process hands it over when asked for
    columns): ``columns`` are the columns of values (:func:`as_columns`); a row, taken by its index,
    is a tuple."""

    __slots__ = ("columns",)

    def __init__(self, columns: list[list]) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns[0])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Columns([column[index] for column in self.columns])
        return tuple(column[index] for column in self.columns)

    def __iter__(self) -> Iterator[tuple]:
        return zip(*self.columns)


def typed(values: tuple) -> tuple | array:
    """A column of SQLite values as an ``array`` of int64 (type code ``q``) when each is an int, of
    doubles (``d``) when each is a float, else as it is. An item of an ``array`` is the same Python
    value again, while the column as a whole goes through ``marshal`` as its bytes and into Arrow
    without a Python object per value (``commtrail.parsers._values.arrow``). A column of ints and
    floats mixed (a column of NUMERIC affinity holds both) stays as it is, so no int becomes a float."""
    try:
        return array("q", values)
    except (TypeError, OverflowError):   # (at the first value that is no int)
        pass
    if values and type(values[0]) is float and set(map(type, values)) == {float}:
        return array("d", values)
    return values


def as_columns(rows: list[tuple]) -> list[tuple | array]:
    """The values of rows (at least one) column by column, each :func:`typed`."""
    return [typed(column) for column in zip(*rows)]


def _packed(columns: list[tuple | array]) -> tuple[str, list]:
    """Columns as ``marshal`` holds them: the type code of each (``-``: a tuple of values) and the
    columns, an ``array`` as its bytes."""
    return ("".join(c.typecode if type(c) is array else "-" for c in columns),
            [c.tobytes() if type(c) is array else c for c in columns])


def _unpacked(packed: tuple[str, list]) -> list[tuple | array]:
    """The columns of :func:`_packed`."""
    columns = []
    for code, column in zip(*packed):
        if code != "-":
            values = array(code)
            values.frombytes(column)
            column = values
        columns.append(column)
    return columns


UNREADABLE_MESSAGE = ("SQLite's message about this database is not valid text: its layout (a table or column "
                      "name it quotes) is damaged")


def _messages_as_errors(method):
    """``method`` of sqlite3's cursor, an SQLite error whose message is not UTF-8 (it quotes a
    damaged layout) raised as the ``sqlite3.DatabaseError`` it is: Python's sqlite3 raises
    UnicodeDecodeError instead."""
    def checked(self, *args):
        try:
            return method(self, *args)
        except UnicodeDecodeError:
            raise sqlite3.DatabaseError(UNREADABLE_MESSAGE) from None
    checked.__name__ = method.__name__
    return checked


class Cursor(sqlite3.Cursor):
    """A cursor whose SQLite errors all arrive as sqlite3 errors (:func:`_messages_as_errors`)."""

    execute = _messages_as_errors(sqlite3.Cursor.execute)
    fetchone = _messages_as_errors(sqlite3.Cursor.fetchone)
    fetchmany = _messages_as_errors(sqlite3.Cursor.fetchmany)
    fetchall = _messages_as_errors(sqlite3.Cursor.fetchall)
    __next__ = _messages_as_errors(sqlite3.Cursor.__next__)


class Connection(sqlite3.Connection):
    """A connection (``sqlite3.connect(..., factory=Connection)``) whose cursors are :class:`Cursor`:
    every SQLite error on a damaged database is a ``sqlite3.DatabaseError``, never a UnicodeDecodeError."""

    def cursor(self, factory=Cursor):
        return super().cursor(factory)

    def execute(self, *args):   # (sqlite3's own would run the cursor's C execute, not Cursor.execute)
        return self.cursor().execute(*args)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused meanwhile (as it was afterwards). For work on a chunk
    of rows: it makes tens of thousands of tuples and lists of plain values, which hold no cycles,
    and the collections that making them would set off, each going over the chunk's live rows and
    columns again, cost a good part of the reading. Objects left in a cycle are collected after."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def fetch(cursor: sqlite3.Cursor, size: int | None = None) -> list[tuple]:
    """``cursor.fetchmany(size)`` (every row left when ``size`` is None) with the garbage collector
    paused (:func:`gc_paused`)."""
    with gc_paused():
        return cursor.fetchall() if size is None else cursor.fetchmany(size)


def refuses_blob(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused a BLOB in a JSON function."""
    return "JSON cannot hold BLOB values" in str(exc)


def keyed_start(con: sqlite3.Connection, query: str, careful: str | None) -> tuple[str, sqlite3.Cursor]:
    """A keyed query run from the first key: (the query that ran, its cursor); ``careful`` instead
    when SQLite refuses a BLOB at once. Another refusal is raised here."""
    try:
        return query, con.execute(query, (FIRST_KEY,))
    except sqlite3.OperationalError as exc:
        if careful is None or not refuses_blob(exc):
            raise
        return careful, con.execute(careful, (FIRST_KEY,))


def in_order(rows: list[tuple], last: object, aside: list[tuple]) -> list[tuple]:
    """The rows whose key (their first value) rises above ``last`` and above every key before it;
    the others, which only a damaged table gives, appended to ``aside``."""
    keys = list(map(itemgetter(0), rows))
    try:
        if keys[0] > last and all(map(lt, keys, keys[1:])):   # (an intact table: one pass in C)
            return rows
        kept = []
        for row in rows:
            if row[0] > last:
                kept.append(row)
                last = row[0]
            else:
                aside.append(row)
        return kept
    except TypeError:   # a key that is no number (no ROWID is): the order cannot be told
        return rows


def keyed(con: sqlite3.Connection, query: str, cursor: sqlite3.Cursor | Callable[[], sqlite3.Cursor], size: int,
          lenient: Lenient, careful: str | None, aside: list[tuple], last: object = FIRST_KEY) -> Iterator[list[tuple]]:
    """The rows of a keyed query (``cursor``: it run after key ``last``, or a function that runs it)
    a chunk at a time; rows out of the key's order go to ``aside`` (:func:`in_order`). Text that is
    not UTF-8 makes it fail: it is run again after the last row read with ``lenient`` as the
    connection's text factory from there on. Likewise a BLOB its JSON cannot hold: ``careful`` (the
    same query writing BLOBs as JSON can hold them, slower) is run instead from there on."""
    while True:
        repaired = lenient.repaired
        try:
            if callable(cursor):
                cursor = cursor()
            rows = fetch(cursor, size)
        except sqlite3.OperationalError as exc:
            lenient.repaired = repaired   # the rows are read again: their repairs are counted then
            if careful is not None and query != careful and refuses_blob(exc):
                query = careful
            elif "decode" in str(exc) and con.text_factory is str:
                con.text_factory = lenient
            else:
                raise
            cursor = con.execute(query, (last,))
            continue
        if not rows:
            return
        rows = in_order(rows, last, aside)
        if not rows:   # the whole chunk out of order: on to the next
            continue
        last = rows[-1][0]
        held = [rows]
        del rows   # while the caller works on the chunk, this frame holds no reference to it
        yield held.pop()


def plain(cursor: sqlite3.Cursor, size: int, aside: list[tuple] | None = None,
          last: object = FIRST_KEY) -> Iterator[list[tuple]]:
    """The rows of a query run, a chunk at a time; with ``aside``, of a query in the order of its first
    column (a table's key), the rows out of that order go there (:func:`in_order`)."""
    while rows := fetch(cursor, size):
        if aside is not None:
            rows = in_order(rows, last, aside)
            if not rows:
                continue
            last = rows[-1][0]
        held = [rows]
        del rows
        yield held.pop()


def chunks(con: sqlite3.Connection, query: str, size: int, *, params: Sequence = (), key: bool = False,
           careful: str | None = None, lenient: Lenient | None = None, aside: list[tuple] | None = None,
           columns: bool = False) -> Iterator[list[tuple] | Columns]:
    """The rows of ``query`` a chunk of ``size`` at a time: keyed (``key``, with ``aside`` for the
    rows out of order; see :func:`keyed`, its first run happens here, so that a query SQLite refuses
    fails at once) or run with ``params`` and the connection's text factory as it is (with ``aside``: a query
    in the order of its first column, see :func:`plain`). For a database of :data:`FEED_FROM_BYTES`
    or more, fetched by a second process (the module's docstring); with ``columns`` (for a reader
    that works column by column), that process also puts each chunk's values column by column
    (:class:`Columns`; a reader takes both kinds of chunk alike, see :func:`columns_of`)."""
    lenient = lenient if lenient is not None else Lenient()
    if key:
        if aside is None:
            raise ValueError("a keyed query needs a list for the rows out of order")
        query, cursor = keyed_start(con, query, careful)
    else:
        cursor = con.execute(query, params)
    path = database_path(con)
    if path is None or _size(path) < FEED_FROM_BYTES:
        return keyed(con, query, cursor, size, lenient, careful, aside) if key else plain(cursor, size, aside)
    spec = {"uri": _read_only_uri(path), "query": query, "params": tuple(params), "size": size, "key": key,
            "careful": careful, "lenient": con.text_factory is not str, "columns": columns,
            "ordered": aside is not None}
    if "LIMIT" not in query.upper():   # (the second process adds its own: _fed_after_first)
        return _fed_after_first(con, cursor, spec, lenient, aside)
    cursor.close()
    return _fed_whole(con, spec, lenient, aside)


def database_path(con: sqlite3.Connection) -> str | None:
    """The file of the connection's main database (None in memory)."""
    for _, name, path in con.execute("PRAGMA database_list"):
        if name == "main":
            return path or None
    return None


def _read_only_uri(path: str) -> str:
    from pathlib import Path
    return f"{Path(path).absolute().as_uri()}?mode=ro"


def _size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def _fed_whole(con: sqlite3.Connection, spec: dict, lenient: Lenient,
               aside: list[tuple] | None) -> Iterator[list[tuple]]:
    """Every chunk of a query fetched by the second process (started when the first is asked for)."""
    yield from _fed(con, spec, lenient, aside, _send_spec(_start(), spec))


def _fed_after_first(con: sqlite3.Connection, cursor: sqlite3.Cursor, spec: dict, lenient: Lenient,
                     aside: list[tuple] | None) -> Iterator[list[tuple]]:
    """The chunks of a query (``cursor``: it run here): the first read here while the second process
    starts, the others fetched by it, each while the reader works on the one before. It runs the
    same query and passes over the rows read here inside SQLite (``OFFSET``), so that it goes on
    with the very rows this cursor would have given next, even where a damaged table gives them out
    of order. Should SQLite refuse a value of a keyed query's first chunk (a text that is not UTF-8,
    a BLOB the query's JSON cannot hold), the second process reads it all, from its first run on."""
    process = _start()
    try:
        rows = fetch(cursor, spec["size"])
    except sqlite3.OperationalError:
        if not spec["key"]:
            _stop(process)
            raise
        rows = None
    except BaseException:
        _stop(process)
        raise
    finally:
        cursor.close()
    if rows is None:
        yield from _fed(con, spec, lenient, aside, _send_spec(process, spec))
        return
    if not rows:
        _stop(process)
        return
    skip = len(rows)
    first = in_order(rows, FIRST_KEY, aside) if aside is not None else rows
    del rows
    spec = dict(spec, skip=skip, last=first[-1][0])
    process = _send_spec(process, spec)
    held = [first]
    del first
    try:
        yield held.pop()
    except BaseException:   # (the caller let go of the chunks: the second process goes too)
        _stop(process)
        raise
    yield from _fed(con, spec, lenient, aside, process)


def _fed(con: sqlite3.Connection, spec: dict, lenient: Lenient, aside: list[tuple] | None,
         process) -> Iterator[list[tuple]]:
    """The chunks ``process`` (given ``spec`` already; None if it could not be started or given it)
    hands over (and the rows it set aside, into ``aside``); from where it stopped, if it stops
    unannounced, the rest read here."""
    # the repairs it has told of; the rows handed over (those read here first); the last key
    told, done, last = 0, spec.get("skip", 0), spec.get("last", FIRST_KEY)
    try:
        while process is not None:
            frame = _receive(process.stdout)
            if frame is None:   # it stopped without a word: the rest is read here
                break
            what = frame[0]
            lenient.repaired += frame[-2] - told   # (the reader counts its own repairs there too)
            told = frame[-2]
            if aside is not None:
                aside.extend(frame[-1])
            done += len(frame[-1])   # (rows the query gave: those handed over and those set aside)
            if told and con.text_factory is str:   # as the query here would have switched (keyed)
                con.text_factory = lenient
            if what == "rows":
                held = [Columns(_unpacked(frame[1])) if spec["columns"] else frame[1]]
                del frame   # while the caller works on the chunk, this frame holds no reference to it
                done, last = done + len(held[0]), held[0][-1][0]
                yield held.pop()
            elif what == "end":
                return
            else:   # an SQLite error: raised here as it was raised there
                name, message = frame[1], frame[2]
                kind = getattr(sqlite3, name, None)
                raise (kind if isinstance(kind, type) and issubclass(kind, sqlite3.Error) else sqlite3.DatabaseError)(
                    message)
    finally:
        _stop(process)
    if spec["key"]:   # the careful query gives the same rows, and no BLOB refused when it is run
        query = spec["careful"] or spec["query"]
        yield from keyed(con, query, con.execute(query, (last,)), spec["size"], lenient, spec["careful"], aside,
                         last)
        return
    cursor = con.execute(spec["query"], spec["params"])
    while done > 0 and (skipped := len(fetch(cursor, min(done, spec["size"])))):   # the rows handed over already
        done -= skipped
    yield from plain(cursor, spec["size"], aside, last)


def _start():
    """This module as a program (a ``subprocess.Popen``), waiting for its spec; None when it cannot
    be started."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    try:
        return subprocess.Popen([sys.executable, "-S", "-m", "commtrail.sqlitefeed"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    except OSError:
        return None


def _send_spec(process, spec: dict):
    """``process`` once given ``spec``; None (the process stopped) when it cannot take it."""
    if process is None:
        return None
    try:
        marshal.dump(spec, process.stdin)
        process.stdin.close()
    except OSError:
        _stop(process)
        return None
    return process


def _stop(process) -> None:
    """``process`` (from :func:`_start`; None: none was started) stopped and waited for."""
    if process is None:
        return
    if process.poll() is None:
        process.kill()
    process.stdout.close()
    process.wait()


def _receive(stream) -> tuple | None:
    """The next frame, None at the end of the stream (or a frame cut short)."""
    head = stream.read(_LENGTH)
    if len(head) < _LENGTH:
        return None
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    if len(data) < size:
        return None
    with gc_paused():
        return marshal.loads(data)


def _send(stream, frame: tuple) -> None:
    data = marshal.dumps(frame)
    stream.write(len(data).to_bytes(_LENGTH, "little"))
    stream.write(data)
    stream.flush()


def _widen(stream) -> None:
    """The pipe of ``stream`` made large enough (1 MiB where Linux allows it) for this process to
    write most of a chunk while the reader is still working on the one before."""
    try:
        import fcntl
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def main() -> None:
    """The second process: read the spec from standard input, write the frames to standard output
    (``("rows", rows, repaired, aside)`` per chunk, then ``("end", repaired, aside)`` or ``("error",
    name, message, repaired, aside)``; ``aside``: the rows set aside since the last frame)."""
    gc.disable()   # nothing here makes a cycle
    spec = marshal.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    _widen(out)
    lenient, aside = Lenient(), []
    con = sqlite3.connect(spec["uri"], uri=True, factory=Connection)
    if spec["lenient"]:
        con.text_factory = lenient
    try:
        query, last, skip = spec["query"], spec.get("last", FIRST_KEY), spec.get("skip")
        # after the rows the reader read itself (_fed_after_first): the same query, those rows passed over
        skipped = f"{query} LIMIT -1 OFFSET ?"
        if spec["key"] and skip is not None:   # (run inside keyed, which runs it again should SQLite refuse a value)
            run = lambda: con.execute(skipped, (FIRST_KEY, skip))  # noqa: E731
            rows = keyed(con, query, run, spec["size"], lenient, spec["careful"], aside, last)
        elif spec["key"]:
            query, cursor = keyed_start(con, query, spec["careful"])
            rows = keyed(con, query, cursor, spec["size"], lenient, spec["careful"], aside)
        else:
            params = tuple(spec["params"])
            cursor = con.execute(query, params) if skip is None else con.execute(skipped, params + (skip,))
            rows = plain(cursor, spec["size"], aside if spec["ordered"] else None, last)
        for chunk in rows:
            if spec["columns"]:   # (the rows let go: marshal keeps no reference to a value held once)
                chunk = _packed(as_columns(chunk))
            _send(out, ("rows", chunk, lenient.repaired, aside))
            del chunk
            aside.clear()
    except sqlite3.Error as exc:
        _send(out, ("error", type(exc).__name__, str(exc), lenient.repaired, aside))
        return
    _send(out, ("end", lenient.repaired, aside))


if __name__ == "__main__":
    main()
