"""Rows fetched by a second process (commtrail/sqlitefeed.py) are the rows fetched here: the same
chunks, the same repairs and switches, the same SQLite error at the same place, and the same
records from every iPhone reader. ``FEED_FROM_BYTES`` is set to 0 so that the tests' small
databases are fed too."""

from __future__ import annotations

import marshal
import shutil
import sqlite3
import subprocess
import sys
from array import array
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import make_ctx, run_parser, with_rowid_rewritten
from scenario import ATTACHMENTS, CHATS, HANDLES, JPEG, LINKS, MEMBERS, MESSAGES, chat_storage
from test_ios_hostile_values import calls_parse

from commtrail import sqlitefeed
from commtrail.demo_ios import call_history, messages_db
from commtrail.parsers._sqlite import columns_of
from commtrail.parsers._values import arrow
from commtrail.parsers.base import Owner

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
PHOTO = "Attachments/ab/11/AAAA-1111/IMG_0001.jpeg"
KEYED = "SELECT id, body, json_quote(extra) FROM t WHERE id > ? ORDER BY id"
CAREFUL = ("SELECT id, body, json_quote(CASE WHEN extra >= x'' THEN hex(extra) ELSE extra END) FROM t "
           "WHERE id > ? ORDER BY id")


@pytest.fixture
def fed(monkeypatch):
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)


def hostile_db(path: Path, n: int = 50) -> Path:
    """Rows 1..n: row 23's body is not UTF-8, row 37's extra a BLOB (json_quote refuses it), the
    others text, numbers of both kinds and NULLs."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, extra)")
    for i in range(1, n + 1):
        con.execute("INSERT INTO t VALUES (?, ?, ?)", (i, f"message {i} café 🙂" if i % 7 else None,
                                                       [i * 1.5, f"x{i}", None, -(2 ** 62)][i % 4]))
    con.execute("UPDATE t SET body = CAST(x'4f6b20ff21' AS TEXT) WHERE id = 23")
    con.execute("UPDATE t SET extra = x'00ff' WHERE id = 37")
    con.commit()
    con.close()
    return path


def read_all(path: Path, size: int = 8, **kwargs) -> tuple[list, int, bool]:
    """(every chunk as a list of rows, repairs, whether the text factory was switched)."""
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    lenient = sqlitefeed.Lenient()
    try:
        chunks = [list(chunk) for chunk in sqlitefeed.chunks(con, KEYED, size, key=True, careful=CAREFUL,
                                                             lenient=lenient, aside=[], **kwargs)]
        return chunks, lenient.repaired, con.text_factory is lenient
    finally:
        con.close()


def test_the_fed_rows_are_the_rows_read_here(tmp_path, monkeypatch):
    path = hostile_db(tmp_path / "t.db")
    here = read_all(path)
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    started = []
    real_send = sqlitefeed._send_spec
    monkeypatch.setattr(sqlitefeed, "_send_spec", lambda process, spec: started.append(spec) or real_send(process, spec))
    assert read_all(path) == here
    assert read_all(path, columns=True) == here
    assert len(started) == 2
    chunks, repaired, switched = here
    assert [len(c) for c in chunks] == [8] * 6 + [2]
    assert (repaired, switched) == (1, True)
    assert chunks[2][6][:2] == (23, "Ok \ufffd!")
    assert chunks[4][4] == (37, "message 37 café 🙂", '"00FF"')   # from row 37 on, the careful query
    assert [spec.get("skip") for spec in started] == [8, 8]   # the first chunk read here, the second process after it


def test_a_first_chunk_sqlite_refuses_a_value_of_is_read_by_the_second_process(tmp_path, monkeypatch):
    """Rows 23 (not UTF-8) and 37 (a BLOB) in the first chunk: the reader leaves it all to the
    second process, which gives the same chunks, repairs and switch."""
    path = hostile_db(tmp_path / "t.db")
    here = read_all(path, 40)
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    started = []
    real_send = sqlitefeed._send_spec
    monkeypatch.setattr(sqlitefeed, "_send_spec", lambda process, spec: started.append(spec) or real_send(process, spec))
    assert read_all(path, 40) == here
    assert [len(c) for c in here[0]] == [40, 10] and here[1:] == (1, True)
    assert len(started) == 1 and "skip" not in started[0]


def test_a_reader_that_stops_after_the_first_chunk_leaves_no_process(tmp_path, monkeypatch, fed):
    path = hostile_db(tmp_path / "t.db")
    processes = []
    real_start = sqlitefeed._start
    monkeypatch.setattr(sqlitefeed, "_start", lambda: processes.append(real_start()) or processes[-1])
    con = sqlite3.connect(path)
    chunks = sqlitefeed.chunks(con, "SELECT id FROM t WHERE id > ? ORDER BY id", 5, key=True, aside=[])
    assert next(chunks) == [(i,) for i in range(1, 6)]
    chunks.close()
    con.close()
    assert len(processes) == 1 and processes[0].poll() is not None


def test_an_empty_table_read_fed_gives_no_chunk_and_leaves_no_process(tmp_path, monkeypatch, fed):
    path = tmp_path / "t.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, extra)")
    con.close()
    processes = []
    real_start = sqlitefeed._start
    monkeypatch.setattr(sqlitefeed, "_start", lambda: processes.append(real_start()) or processes[-1])
    assert read_all(path) == ([], 0, False)
    assert len(processes) == 1 and processes[0].poll() is not None


def test_a_chunk_given_as_columns_reads_as_its_rows(tmp_path, fed):
    path = hostile_db(tmp_path / "t.db")
    con = sqlite3.connect(path)
    con.text_factory = sqlitefeed.Lenient()
    chunk = next(sqlitefeed.chunks(con, "SELECT id, body FROM t WHERE id > ? ORDER BY id LIMIT 40", 5, params=(3,),
                                   columns=True))   # (a query with its own LIMIT: every chunk fetched there)
    assert isinstance(chunk, sqlitefeed.Columns)
    rows = [(i, f"message {i} café 🙂") for i in range(4, 7)] + [(7, None), (8, "message 8 café 🙂")]
    assert (len(chunk), chunk[0], chunk[-1], list(chunk), list(chunk[1:3])) == (5, rows[0], rows[-1], rows, rows[1:3])
    assert [list(column) for column in columns_of(chunk)] == [list(column) for column in zip(*rows)]
    assert [type(column).__name__ for column in columns_of(chunk)] == ["array", "tuple"]   # ints; a NULL among texts
    con.close()


def damaged_db(path: Path) -> Path:
    """2,000 rows over many pages, one page in the middle overwritten."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA page_size = 1024")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, extra)")
    con.executemany("INSERT INTO t VALUES (?, ?, NULL)", [(i, f"row {i} " + "x" * 200) for i in range(1, 2001)])
    con.commit()
    con.close()
    data = bytearray(path.read_bytes())
    middle = (len(data) // 1024 // 2) * 1024
    data[middle:middle + 1024] = b"\xa5" * 1024
    path.write_bytes(bytes(data))
    return path


def read_until_error(path: Path) -> tuple[list, str, str]:
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    got = []
    try:
        for chunk in sqlitefeed.chunks(con, "SELECT id, body FROM t WHERE id > ? ORDER BY id", 100, key=True,
                                       aside=[]):
            got.append(list(chunk))
    except sqlite3.DatabaseError as exc:
        return got, type(exc).__name__, str(exc)
    finally:
        con.close()
    pytest.fail("the damaged page was read")


def test_a_damaged_database_fails_at_the_same_row_with_the_same_error(tmp_path, monkeypatch):
    path = damaged_db(tmp_path / "t.db")
    here = read_until_error(path)
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    assert read_until_error(path) == here
    assert 0 < sum(map(len, here[0])) < 2000 and here[1] == "DatabaseError"


def test_rows_not_handed_over_by_a_process_that_stops_are_read_here(tmp_path, monkeypatch, fed):
    path = hostile_db(tmp_path / "t.db")
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 1 << 40)
    here = read_all(path)
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    stops_after_two = ("import os, sys; from commtrail import sqlitefeed as f; send = f._send; sent = []\n"
                       "def two(out, frame):\n"
                       "    if len(sent) == 2: os._exit(0)\n"
                       "    sent.append(1); send(out, frame)\n"
                       "f._send = two; f.main()")

    def start():
        return subprocess.Popen([sys.executable, "-c", stops_after_two], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, cwd=str(Path(sqlitefeed.__file__).parent.parent))

    monkeypatch.setattr(sqlitefeed, "_start", start)
    assert read_all(path) == here
    assert read_all(path, columns=True) == here
    monkeypatch.setattr(sqlitefeed, "_start", lambda: None)   # cannot be started at all
    assert read_all(path) == here


def test_a_query_sqlite_refuses_fails_at_once_in_this_process(tmp_path, fed):
    path = hostile_db(tmp_path / "t.db")
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        sqlitefeed.chunks(con, "SELECT missing_column FROM t WHERE id > ?", 5, key=True, aside=[])
    con.close()


# -- every iPhone reader, fed and not ------------------------------------------------------------------
def parse_messages(folder: Path, tmp_path: Path, db: str = "chat.db", parser: str = "apple-messages"):
    ctx = make_ctx(tmp_path, source_path=str(folder / db), owner=OWNER, timezone="Europe/London",
                   open_relative=lambda rel: open(folder / rel, "rb"), work_dir=tmp_path / "work")
    table, rejects, report = run_parser(parser, (folder / db).read_bytes(), ctx)
    return table.to_pylist(), rejects, report.warnings, report.repairs


def parse_calls(path: Path, tmp_path: Path):
    records, rejects, report = calls_parse(tmp_path, path)
    return records, rejects, report.warnings, report.repairs


def messages_folder(folder: Path, spoil: bool) -> Path:
    folder.mkdir(parents=True)
    messages_db(folder / "chat.db", handles=HANDLES, chats=CHATS, members=MEMBERS, messages=MESSAGES,
                attachments=ATTACHMENTS, links=LINKS)
    (folder / PHOTO).parent.mkdir(parents=True)
    (folder / PHOTO).write_bytes(JPEG)
    if spoil:   # a reject, a text that is not UTF-8 and a BLOB the JSON cannot hold, in three rows
        con = sqlite3.connect(folder / "chat.db")
        con.execute("UPDATE message SET date = 'x' WHERE ROWID = 2")
        con.execute("UPDATE message SET text = CAST(x'4f6b20ff21' AS TEXT) WHERE ROWID = 3")
        con.execute("UPDATE message SET balloon_bundle_id = x'00ff' WHERE ROWID = 5")
        con.commit()
        con.close()
    return folder


@pytest.mark.parametrize("spoil", [False, True], ids=["as-written", "spoilt"])
def test_apple_messages_reads_the_same_fed(tmp_path, monkeypatch, spoil):
    folder = messages_folder(tmp_path / "Messages", spoil)
    here = parse_messages(folder, tmp_path / "here")
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    assert parse_messages(folder, tmp_path / "fed") == here
    # Sam's database holds one message whose attributedBody cannot be decoded: a reject as written
    assert (len(here[0]), len(here[1]), here[3]) == (len(MESSAGES) - 1 - spoil, 1 + spoil, spoil)  # one repair


def test_whatsapp_chatstorage_reads_the_same_fed(tmp_path, monkeypatch):
    folder = tmp_path / "WhatsApp"
    folder.mkdir()
    chat_storage(folder / "ChatStorage.sqlite")
    wa_owner = Owner(name="Sam", phones=frozenset({"+447700900999"}))
    args = (folder, "ChatStorage.sqlite", "whatsapp-ios-db")
    ctx = lambda where: make_ctx(where, source_path=str(folder / args[1]), owner=wa_owner,  # noqa: E731
                                 timezone="Europe/London", open_relative=lambda rel: open(folder / rel, "rb"))
    here = run_parser(args[2], (folder / args[1]).read_bytes(), ctx(tmp_path / "here"))
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    fed_parse = run_parser(args[2], (folder / args[1]).read_bytes(), ctx(tmp_path / "fed"))
    assert fed_parse[0].to_pylist() == here[0].to_pylist() and here[0].num_rows > 0
    assert (fed_parse[1], fed_parse[2].warnings) == (here[1], here[2].warnings)


def test_call_history_reads_the_same_fed(tmp_path, monkeypatch):
    from scenario import CALLS
    path = call_history(tmp_path / "calls.sqlite", CALLS)
    con = sqlite3.connect(path)
    con.execute("UPDATE ZCALLRECORD SET ZDATE = 'x' WHERE Z_PK = 2")
    con.commit()
    con.close()
    here = parse_calls(path, tmp_path / "here")
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    assert parse_calls(path, tmp_path / "fed") == here
    assert (len(here[0]), len(here[1])) == (len(CALLS) - 1, 1)


def test_the_copy_is_read_by_the_second_process_not_the_users_file(tmp_path, monkeypatch, fed):
    folder = messages_folder(tmp_path / "Messages", False)
    paths = []
    real_send = sqlitefeed._send_spec
    monkeypatch.setattr(sqlitefeed, "_send_spec", lambda process, spec: paths.append(spec["uri"]) or real_send(process, spec))
    parse_messages(folder, tmp_path / "p")
    assert len(paths) == 1 and paths[0].startswith((tmp_path / "p").as_uri()) and paths[0].endswith("?mode=ro")
    shutil.rmtree(folder)


# -- a damaged table that gives its rows out of ROWID order ------------------------------------------------
@pytest.mark.parametrize("key", [True, False], ids=["keyed", "plain"])
@pytest.mark.parametrize("size", [2, 3, 100])
def test_rows_out_of_key_order_are_set_aside_and_the_rest_read(tmp_path, monkeypatch, size, key):
    """Rows 1-7 whose row 3 claims ROWID 1 and row 6 ROWID 2: the rows are 1, 2, 4, 5, 7 (each key
    above the ones before), the two others set aside, read here or by the second process alike (the
    first chunk read here, the second process going on after it: those very rows, not a new look-up
    of the keys above the last, which could give a row set aside once more, or pass over one)."""
    path = tmp_path / "t.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in range(1, 8)])
    con.commit()
    con.close()
    with_rowid_rewritten(path, "t", 3, 1)
    with_rowid_rewritten(path, "t", 6, 2)

    def read() -> tuple[list, list]:
        con, aside = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True), []
        try:
            rows = [row for chunk in sqlitefeed.chunks(con, "SELECT id, body FROM t WHERE id > ? ORDER BY id", size,
                                                       key=key, params=() if key else (-1,), aside=aside)
                    for row in chunk]
        finally:
            con.close()
        return rows, aside

    here = read()
    assert here == ([(1, "row 1"), (2, "row 2"), (4, "row 4"), (5, "row 5"), (7, "row 7")],
                    [(1, "row 3"), (2, "row 6")])
    monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    assert read() == here


@pytest.mark.parametrize("feed", [False, True], ids=["here", "fed"])
def test_a_message_out_of_rowid_order_is_a_reject_not_a_second_record_of_its_rowid(tmp_path, monkeypatch, feed):
    """Sam's chat.db with message 5's ROWID damaged into 2: message 2 and every message after 5 are read
    as before; the row that claims ROWID 2 is a reject with its row written out (it named two
    records, and verify and the master rely on a locator naming one), counted in a warning."""
    folder = messages_folder(tmp_path / "Messages", False)
    before = {r["locator"]: r for r in parse_messages(folder, tmp_path / "before")[0]}
    with_rowid_rewritten(folder / "chat.db", "message", 5, 2)
    if feed:
        monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    records, rejects, warnings, _ = parse_messages(folder, tmp_path / "after")
    after = {r["locator"]: r for r in records}
    assert len(after) == len(records)
    assert set(before) - set(after) == {"chat.db message ROWID 5"}
    assert {k: v for k, v in after.items()} == {k: v for k, v in before.items() if k != "chat.db message ROWID 5"}
    [reject] = [r for r in rejects if "out of order" in r.locator]
    assert reject.locator == "chat.db message ROWID 2 (out of order, 1)"
    assert reject.reason == ("message is damaged here: this row's ROWID 2 does not come after the rows read before "
                             "it, so it cannot name one record")
    assert reject.raw.startswith("ROWID=2 text=")
    assert "1 row of message in chat.db came out of the order of their ROWID (the table is damaged there): each is " \
           "a reject with its row written out; the rows after them were read" in warnings


def test_a_call_out_of_rowid_order_is_a_reject(tmp_path):
    from scenario import CALLS
    path = call_history(tmp_path / "calls.sqlite", CALLS)
    with_rowid_rewritten(path, "ZCALLRECORD", 3, 1)
    from commtrail.parsers.base import collect
    from commtrail.parsers.ios.calls import read_calls
    from commtrail.parsers.ios.contacts import ContactHints
    ctx = make_ctx(tmp_path, owner=OWNER, timezone="Europe/London", parser_label="ios-backup/4")
    con = sqlite3.connect(path)
    table, rejects = collect(read_calls(con, ctx, "CallHistory.storedata", ContactHints(), "calls"), ctx)
    con.close()
    warnings = ctx.report.warnings
    assert [r["locator"] for r in table.to_pylist()] == [f"CallHistory.storedata ZCALLRECORD Z_PK {k}"
                                                         for k in range(1, len(CALLS) + 1) if k != 3]
    [reject] = rejects
    assert reject.locator == "CallHistory.storedata ZCALLRECORD ROWID 1 (out of order, 1)"
    assert reject.raw.startswith("ROWID=1 Z_PK=1 ZDATE=") and "ZUNIQUE_ID='CALL-0003'" in reject.raw   # (Z_PK: the ROWID)
    assert any("1 row of ZCALLRECORD in CallHistory.storedata came out of the order of their ROWID" in w
               for w in warnings)


def test_a_column_of_ints_only_or_floats_only_goes_typed_and_a_mixed_one_as_it_is():
    ints, floats, mixed = (1, -2, 2**63 - 1), (0.5, -1e300, 3.0), (1, 2.5, 3)
    assert (sqlitefeed.typed(ints), sqlitefeed.typed(floats)) == (array("q", ints), array("d", floats))
    for column in (mixed, (2.5, 1), (1, None), (None, 1), ("1", 2), (b"\x01", 1.5)):
        assert sqlitefeed.typed(column) is column   # (no int becomes a float, no value is read as another)
    columns = sqlitefeed.as_columns([(1, 0.5, "a", None, 1), (2, 1.5, "b", None, 2.0)])
    assert [type(c).__name__ for c in columns] == ["array", "array", "tuple", "tuple", "tuple"]
    assert sqlitefeed._unpacked(sqlitefeed._packed(columns)) == columns
    assert [[type(v) for v in c] for c in columns[:2]] == [[int, int], [float, float]]


def test_typed_columns_go_into_arrow_as_the_values_would():
    assert arrow(array("q", [1, 2])).equals(pa.array([1, 2]))
    assert arrow(array("d", [0.5, 2.0]), pa.float64()).equals(pa.array([0.5, 2.0]))
    assert arrow(array("q", [1, 2]), pa.float64()).equals(pa.array([1.0, 2.0]))   # (another type: value by value)
    assert arrow(array("d", [0.5, 2.0]), pa.int64()).equals(pa.array([0.5, 2.0], pa.int64()))
    for kind in (None, pa.string(), pa.int64()):   # a column of NULLs only
        assert arrow((None, None), kind).equals(pa.array([None, None], kind))
        assert arrow((None, 1), pa.int64()).equals(pa.array([None, 1], pa.int64()))


def test_a_fed_chunk_keeps_each_value_of_a_numeric_column_as_the_database_holds_it(tmp_path, fed):
    path = tmp_path / "t.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n NUMERIC, r REAL)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", [(1, 1, 0.5), (2, 2.5, 1), (3, 3.0, 2.25), (4, 4, 3)])
    con.commit()
    con.close()
    con = sqlite3.connect(path)
    first, second = sqlitefeed.chunks(con, "SELECT id, n, r FROM t WHERE id > ? ORDER BY id", 2, key=True, aside=[],
                                      columns=True)   # (the first read here, the second by the second process)
    con.close()
    assert isinstance(second, sqlitefeed.Columns)
    assert [[[(type(v), v) for v in column] for column in columns_of(chunk)] for chunk in (first, second)] == [
        [[(int, 1), (int, 2)], [(int, 1), (float, 2.5)], [(float, 0.5), (float, 1.0)]],
        [[(int, 3), (int, 4)], [(int, 3), (int, 4)], [(float, 2.25), (float, 3.0)]]]
    assert [[type(column).__name__ for column in columns_of(chunk)] for chunk in (first, second)] == [
        ["array", "tuple", "array"], ["array", "array", "array"]]


SQLITE_VALUES = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                          st.text(max_size=5), st.binary(max_size=5))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda width: st.lists(
    st.tuples(*[st.one_of(SQLITE_VALUES, st.sampled_from([0, 1, -0.0, 2.5])) for _ in range(width)]),
    min_size=1, max_size=6)))
def test_columns_handed_over_give_back_every_value_with_its_type(rows):
    """Whatever the values (SQLite's five storage classes, mixed in a column or not), the columns as
    the second process hands them over read back as the very rows: each value equal and of the same
    type (an int never a float, -0.0 still -0.0)."""
    columns = sqlitefeed._unpacked(marshal.loads(marshal.dumps(sqlitefeed._packed(sqlitefeed.as_columns(rows)))))
    back = list(sqlitefeed.Columns(columns))
    assert [[(type(v), repr(v)) for v in row] for row in back] == [[(type(v), repr(v)) for v in row] for row in rows]
