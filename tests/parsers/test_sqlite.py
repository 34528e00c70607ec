"""The SQL pieces the phone database readers share (commtrail/parsers/_sqlite.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from commtrail.parsers._sqlite import columns_json

NAMES = ("i", "s", "r", "n", "b", "a")


def test_columns_json_writes_each_value_as_sqlite_holds_it_and_a_blob_as_hex():
    """Whatever a column's affinity (and a collation that could change comparisons of text), a BLOB is
    written as its hex digits and every other value as it is; a column the table lacks is left out."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (i INTEGER, s TEXT COLLATE NOCASE, r REAL, n NUMERIC, b BLOB, a)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", [
        (1, "x", 2.5, 7, b"\x00\xff", None),
        ("12", 3, 1, "abc", "text", b""),
        (None, None, None, None, None, None),
        (b"\x01", b"ab", b"\x02", b"", 4, 'q"'),
    ])
    sql = columns_json(set(NAMES), "t", (*NAMES, "missing"))
    assert [row[0] for row in con.execute(f"SELECT {sql} FROM t")] == [
        '{"i":1,"s":"x","r":2.5,"n":7,"b":"00FF","a":null}',
        '{"i":12,"s":"3","r":1.0,"n":"abc","b":"text","a":""}',
        '{"i":null,"s":null,"r":null,"n":null,"b":null,"a":null}',
        '{"i":"01","s":"6162","r":"02","n":"","b":4,"a":"q\\""}',
    ]


def test_a_database_copy_given_by_a_relative_path_opens(tmp_path, monkeypatch):
    """A case named by a relative path gives its parsers a relative temporary folder: the copy is
    opened by its absolute file URI (a relative one cannot be written as a URI and failed the source)."""
    from pathlib import Path

    from commtrail.parsers._sqlite import open_read_only
    monkeypatch.chdir(tmp_path)
    con = sqlite3.connect("made.db")
    con.execute("CREATE TABLE t (a)")
    con.commit()
    con.close()
    opened = open_read_only(Path("made.db"), "made.db")
    assert opened.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    opened.close()


def damaged_layout(path: Path) -> Path:
    """A database whose second table's CREATE statement has a byte flipped into one that is not
    UTF-8 (``CREATE \\xc9ABLE``): SQLite's message about it quotes that byte."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    con.execute("CREATE TABLE u (x)")
    con.commit()
    con.close()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"CREATE TABLE u", b"CREATE \xc9ABLE u"))
    return path


def test_a_damaged_layout_whose_message_is_not_text_is_a_clear_error_not_a_traceback(tmp_path):
    """Python's sqlite3 raised UnicodeDecodeError for SQLite's message (found by the fuzzer in an
    iPhone backup's Manifest.db and an sms.db): now it is the database error it is, so a reader
    names the file and says it is damaged."""
    from commtrail.errors import InputError
    from commtrail.parsers._sqlite import open_read_only
    from commtrail.sqlitefeed import UNREADABLE_MESSAGE
    path = damaged_layout(tmp_path / "bad.db")
    with pytest.raises(UnicodeDecodeError):
        sqlite3.connect(path).execute("SELECT count(*) FROM sqlite_master")
    with pytest.raises(InputError) as caught:
        open_read_only(path, "chat.db")
    assert caught.value.render() == (f"chat.db (opening it): this SQLite database cannot be read ({UNREADABLE_MESSAGE}). "
                                     "It may be damaged or encrypted; give an intact copy.")
