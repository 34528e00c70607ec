"""The SQL pieces the phone database readers share (commtrail/parsers/_sqlite.py)."""

from __future__ import annotations

import sqlite3

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
