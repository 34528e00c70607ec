"""Android databases whose columns hold a value of another type than the phone writes (SQLite enforces
none): every column each reader reads, in turn, holds a text, a numeric text, a REAL, a BLOB, a huge
or negative integer or NULL in one row. The parse never fails; every other row is read as before; the
row is read as the same value written with the right type would be (a numeric text is a number, any
value of a text column is text), or, when the value is no usable number, as the row with NULL there,
the value kept in ``extra`` (under its own name or ``<name>_raw``, then counted in a warning), or
rejected with the row written out. The column under test is declared without a type, so that SQLite
keeps each value as given (a column declared INTEGER would store the text '12' as the number 12)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from android_scenario import (ADDR, CALLS, JIDS, LEGACY_MESSAGES, PART, PDU, SMS, WA_CHATS, WA_MEDIA, WA_MESSAGES,
                              GROUP_JID, ONE, build, ms)

from commtrail.parsers import _sqlite
from commtrail.parsers.android.layouts import CALLLOG, MMSSMS, MSGSTORE, MSGSTORE_LEGACY
from commtrail.parsers.base import Owner
from conftest import plain_rows, run_on_disk

OWNER = Owner(phones=frozenset({"+447700900999"}), whatsapp_names=frozenset({"Sam"}))
VALUES = {"text x": "x", "text 12": "12", "real 1.5": 1.5, "blob 00ff": b"\x00\xff", "int 2**62": 2**62,
          "int -1": -1, "null": None}


@dataclass(frozen=True)
class Db:
    """A scenario database: its parser, layout, rows per table, and the row of each table that gets
    the hostile value (by position) with the locator of the record that row belongs to (None: it
    belongs to several)."""

    name: str
    parser: str
    file: str
    schema: str
    rows: dict[str, list[dict]]
    target: dict[str, tuple[int, str | None]] = field(default_factory=dict)


MMS_QUOTED = [{"message_row_id": 9, "chat_row_id": 1, "parent_message_chat_row_id": 1, "from_me": 0,
               "key_id": "KEY0001", "text_data": "Are you ignoring me?"}]
DATABASES = {db.name: db for db in (
    Db("mmssms", "android-sms", "mmssms.db", MMSSMS, {"sms": SMS, "pdu": PDU, "addr": ADDR, "part": PART},
       {"sms": (1, "mmssms.db sms _id 2"), "pdu": (1, "mmssms.db pdu _id 2"), "addr": (3, "mmssms.db pdu _id 2"),
        "part": (3, "mmssms.db pdu _id 2")}),
    Db("calllog", "android-calls", "calllog.db", CALLLOG, {"calls": CALLS}, {"calls": (1, "calllog.db calls _id 2")}),
    Db("msgstore", "android-whatsapp", "msgstore.db", MSGSTORE, {
        "jid": JIDS, "chat": WA_CHATS, "message": WA_MESSAGES, "message_media": WA_MEDIA,
        "message_quoted": MMS_QUOTED, "message_system": [{"message_row_id": 6, "action_type": 12}],
        "group_participant_user": [{"group_jid_row_id": 2, "user_jid_row_id": 1},
                                   {"group_jid_row_id": 2, "user_jid_row_id": 3}]},
       {"message": (4, "msgstore.db message _id 5"), "jid": (2, None), "chat": (1, None),
        "message_media": (0, "msgstore.db message _id 3"), "message_quoted": (0, "msgstore.db message _id 9"),
        "message_system": (0, "msgstore.db message _id 6"), "group_participant_user": (1, None)}),
    Db("msgstore-legacy", "android-whatsapp", "msgstore.db", MSGSTORE_LEGACY, {
        "messages": LEGACY_MESSAGES,
        "chat_list": [{"key_remote_jid": ONE}, {"key_remote_jid": GROUP_JID, "subject": "Family"}],
        "group_participants": [{"gjid": GROUP_JID, "jid": ONE},
                               {"gjid": GROUP_JID, "jid": "447700900456@s.whatsapp.net"}]},
       {"messages": (2, "msgstore.db messages _id 3"), "chat_list": (1, None), "group_participants": (1, None)}),
)}


def _statements(schema: str) -> list[str]:
    return [s.strip() for s in schema.split(";") if s.strip()]


def _create(schema: str, table: str) -> str:
    return next(s for s in _statements(schema) if re.match(rf"CREATE TABLE {table} \(", s))


def declared(schema: str, table: str, column: str) -> str:
    """The declared type and constraints of a column, as the layout writes them."""
    found = re.search(rf"[(,]\s*{column}\b([^,)]*)", _create(schema, table))
    return found.group(1).strip() if found else ""


def untyped(schema: str, table: str, column: str) -> str:
    """The layout with ``column`` of ``table`` declared without a type or constraint."""
    create = _create(schema, table)
    bare = re.sub(rf"([(,]\s*){column}\b[^,)]*", rf"\g<1>{column}", create, count=1)
    return schema.replace(create, bare)


def make(db: Db, folder: Path, schema: str | None = None, change: tuple[str, str, object] | None = None) -> Path:
    """The database in ``folder`` (a fresh one), with ``change`` (table, column, value) in its target row."""
    rows = {table: [dict(row) for row in items] for table, items in db.rows.items()}
    if change is not None:
        table, column, value = change
        rows[table][db.target[table][0]][column] = value
    path = folder / db.file
    build(path, schema or db.schema, rows)
    return path


@cache
def read_columns(name: str) -> tuple[tuple[str, str], ...]:
    """(table, column) of every column the reader's SQL names (every column of a table it reads
    with ``*``), found by tracing the statements it runs on the scenario database; the
    tables' own keys (``INTEGER PRIMARY KEY``: SQLite holds only integers there) left out."""
    import tempfile
    db = DATABASES[name]
    statements: list[str] = []
    opened = _sqlite.open_read_only

    def traced(path, label):
        con = opened(path, label)
        con.set_trace_callback(statements.append)
        return con

    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_sqlite, "open_read_only", traced)
        run_on_disk(Path(folder), db.parser, make(db, Path(folder)), owner=OWNER)
    found = []
    for table in db.target:
        names = re.findall(r"[(,]\s*(\w+)", _create(db.schema, table))
        read: set[str] = set()
        for statement in statements:
            every = re.search(rf"SELECT \* FROM {table}\b", statement)
            for alias in re.findall(rf"\b(?:FROM|JOIN)\s+{table}\b(?:\s+(?!WHERE|ORDER|LEFT|JOIN|ON)(\w+))?",
                                    statement):
                named = (rf"\b{alias}\.{{}}\b" if alias else r"\b{}\b").format
                read |= {c for c in names if every or re.search(named(c), statement)}
        found += [(table, c) for c in names if c in read and "PRIMARY KEY" not in declared(db.schema, table, c)]
    return tuple(found)


CASES = [pytest.param(name, table, column, id=f"{name}-{table}.{column}")
         for name in DATABASES for table, column in read_columns(name)]


@dataclass
class Outcome:
    records: dict[str, dict]
    rejects: dict[str, tuple[str, str]]
    warnings: list[str]


def outcome(tmp_path: Path, db: Db, schema: str, change: tuple[str, str, object] | None, tag: str) -> Outcome:
    folder = tmp_path / tag
    folder.mkdir()
    table, rejects, report = run_on_disk(folder, db.parser, make(db, folder, schema, change), owner=OWNER,
                                         timezone="Europe/London")
    rows = [{k: v for k, v in row.items() if k != "source_path"} for row in plain_rows(table)]
    assert len({r["locator"] for r in rows}) == len(rows)
    return Outcome({r["locator"]: r for r in rows}, {r.locator: (r.reason, r.raw) for r in rejects},
                   [w for w in report.warnings if "not valid UTF-8" not in w])


def _numeric(decl: str) -> bool:
    return any(word in decl.upper() for word in ("INT", "REAL", "BOOL"))


def _keys_holding(extra: object, kept: list) -> set[str]:
    """The keys (in nested objects too) whose value is one of ``kept``."""
    if isinstance(extra, dict):
        return {k for k, v in extra.items() if v is not None and v in kept} | \
            {k for v in extra.values() for k in _keys_holding(v, kept)}
    if isinstance(extra, list):
        return {k for v in extra for k in _keys_holding(v, kept)}
    return set()


def _kept_as(*values: object) -> list:
    """How ``extra`` may hold each value as the database holds it."""
    return [k for v in values for k in ([v.hex().upper()] if isinstance(v, bytes) else [v, str(v)])]


def _without(extra: object, kept: list) -> object:
    """``extra`` without the keys whose value is one of ``kept`` (in nested objects too)."""
    if isinstance(extra, dict):
        return {k: _without(v, kept) for k, v in extra.items() if v is None or v not in kept}
    if isinstance(extra, list):
        return [_without(v, kept) for v in extra]
    return extra


def _covers(got: object, was: object) -> bool:
    """``got`` holds every non-null value of ``was`` (objects may have more keys)."""
    if isinstance(was, dict):
        return isinstance(got, dict) and all(k in got and _covers(got[k], v) for k, v in was.items() if v is not None)
    if isinstance(was, list):   # in any order (rows sorted by a column holding the value move)
        left = list(got) if isinstance(got, list) else []
        for item in was:
            match = next((i for i, candidate in enumerate(left) if _covers(candidate, item)), None)
            if match is None:
                return False
            left.pop(match)
        return not left
    return got == was


def _alike(got: dict, like: dict, kept: list) -> dict:
    """A record for comparing: its ``extra`` without the values kept as held."""
    return {**got, "extra": _without(got["extra"], kept)}


@pytest.mark.parametrize("name,table,column", CASES)
def test_a_value_of_any_type_in_any_column_is_read_by_the_rule_never_lost(tmp_path, name, table, column):
    db = DATABASES[name]
    schema = untyped(db.schema, table, column)
    decl = declared(db.schema, table, column)
    base = outcome(tmp_path, db, schema, None, "base")
    empty = outcome(tmp_path, db, schema, (table, column, None), "empty")
    locator = db.target[table][1]
    for label, value in VALUES.items():
        got = outcome(tmp_path, db, schema, (table, column, value), label.replace(" ", "_").replace("*", ""))
        # Nothing is lost: every row is a record or a reject; rows the value is not in read as before.
        assert len(got.records) + len(got.rejects) == len(base.records) + len(base.rejects), label
        if locator is not None:
            assert {k: v for k, v in got.records.items() if k != locator} == \
                   {k: v for k, v in base.records.items() if k != locator}, label
            assert got.rejects.keys() - {locator} == base.rejects.keys() - {locator}, label
        same = None
        if _numeric(decl) and isinstance(value, str) and re.fullmatch(r"\d+", value):
            same = int(value)                       # numeric text: the number
        elif not _numeric(decl) and isinstance(value, (int, float)):
            same = str(value)                       # a number in a text column: its digits
        elif not _numeric(decl) and isinstance(value, bytes):
            same = value.decode("utf-8", "replace")  # a BLOB in a text column: its UTF-8
        if same is not None:
            like = outcome(tmp_path, db, schema, (table, column, same), label.replace(" ", "_") + "_same")
            kept = _kept_as(value, same)
            assert {k: _alike(r, None, kept) for k, r in got.records.items()} == \
                   {k: _alike(r, None, kept) for k, r in like.records.items()}, label
            assert got.rejects.keys() == like.rejects.keys(), label
            continue
        usable = isinstance(value, int) or value is None or (isinstance(value, float) and "REAL" in decl.upper())
        if not _numeric(decl) or usable:
            continue
        # No usable number: read as NULL there, the value kept in extra (a counted warning when not
        # under its own name) or the row rejected with the value written out.
        assert got.rejects.keys() == empty.rejects.keys(), label
        for where, (reason, raw) in got.rejects.items():
            if locator == where or locator is None and where not in base.rejects:
                assert any(str(k) in raw for k in _kept_as(value)), (label, raw)
        for where, record in got.records.items():
            before = empty.records[where]
            assert {k: v for k, v in record.items() if k not in ("extra", "flags")} == \
                   {k: v for k, v in before.items() if k not in ("extra", "flags")}, (label, where)
            added = set(record["flags"] or []) - set(before["flags"] or [])
            assert set(before["flags"] or []) <= set(record["flags"] or []) and \
                   all(f.startswith("unknown_") for f in added), (label, where)
            assert _covers(record["extra"] or {}, before["extra"] or {}), (label, where, record["extra"])
        if locator is not None:
            extra = got.records[locator]["extra"] if locator in got.records else None
            if extra is not None:
                kept = _keys_holding(extra, _kept_as(value))
                if not kept:   # a reference that names no row: the row holding it is counted as in no record
                    assert any(table in w for w in got.warnings if w not in base.warnings), (label, got.warnings)
                elif column not in kept:
                    assert any(column in w for w in got.warnings if w not in empty.warnings), (label, got.warnings)


@pytest.mark.parametrize("value,number,whole_number", [
    (12, 12, 12), ("12", 12, 12), (" -1.5e3 ", -1500.0, -1500), ("1.0", 1.0, 1), (2.0, 2.0, 2), (1.5, 1.5, None),
    ("x", None, None), ("0x10", None, None), ("1_000", None, None), ("inf", None, None), (float("inf"), None, None),
    (b"12", None, None), (None, None, None), (2**63, 2**63, None), (1e300, 1e300, None)])
def test_the_rule_for_a_number_in_any_sqlite_value(value, number, whole_number):
    from commtrail.parsers._values import number as read_number, whole
    assert (read_number(value), whole(value)) == (number, whole_number)


def test_text_json_and_written_forms_of_any_sqlite_value():
    from commtrail.parsers._sqlite import LenientText
    from commtrail.parsers._values import as_text, json_fragment, written
    lenient = LenientText()
    assert [as_text(v, lenient) for v in ("x", 12, 1.5, b"ok", b"\x00\xff", None)] == \
           ["x", "12", "1.5", "ok", "\x00\ufffd", None]
    assert lenient.repaired == 1
    assert [written(v) for v in ("x", 12, b"ok", b"\x00\xff", None)] == ["'x'", "12", "'ok'", "x'00FF'", "None"]
    assert json_fragment("type_raw", b"\x00\xff") + json_fragment("d", 1.5) == ',"type_raw":"00FF","d":1.5'


def test_calls_with_a_text_duration_a_real_type_a_numeric_text_date_and_a_blob_date(tmp_path):
    schema = CALLLOG
    for column in ("date", "duration", "type"):
        schema = untyped(schema, "calls", column)
    calls = [dict(row) for row in CALLS[:4]]
    calls[0]["duration"], calls[1]["type"] = "x", 1.5
    calls[2]["date"], calls[3]["date"] = str(ms("2024-03-01T21:00:00Z")), b"\x00\xff"
    path = tmp_path / "calllog.db"
    build(path, schema, {"calls": calls})
    table, rejects, report = run_on_disk(tmp_path, "android-calls", path, owner=OWNER)
    rows = plain_rows(table)
    assert [(r["locator"], r["kind"], r["duration_s"], r["ts_utc"], r["extra"].get("duration_raw"),
             r["extra"].get("type_raw")) for r in rows] == [
        ("calllog.db calls _id 1", "missed", None, "2024-03-01T20:00:00+00:00", "x", None),
        ("calllog.db calls _id 2", "type_missing", 95, "2024-03-01T20:05:10.500000+00:00", None, 1.5),
        ("calllog.db calls _id 3", "outgoing", 12, "2024-03-01T21:00:00+00:00", None, None)]
    assert [(r.locator, r.reason) for r in rejects] == [
        ("calllog.db calls _id 4", "date x'00FF' is not a whole number of milliseconds")]
    assert "date=x'00FF'" in rejects[0].raw and "number=''" in rejects[0].raw
    assert report.warnings == [
        "1 row of calllog.db has a calls.type that is no whole number: it is left empty, the value is kept in "
        "extra.type_raw",
        "1 row of calllog.db has a calls.duration that is no whole number of seconds (0 or more): it is left "
        "empty, the value is kept in extra.duration_raw"]


def test_a_whatsapp_message_whose_from_me_is_text_and_whose_text_is_a_number(tmp_path):
    db = DATABASES["msgstore"]
    schema = untyped(untyped(db.schema, "message", "from_me"), "message", "text_data")
    rows = {table: [dict(row) for row in items] for table, items in db.rows.items()}
    rows["message"][0]["from_me"], rows["message"][1]["text_data"] = "yes", 1.5
    path = tmp_path / "msgstore.db"
    build(path, schema, rows)
    table, _, report = run_on_disk(tmp_path, "android-whatsapp", path, owner=OWNER)
    first, second = plain_rows(table)[:2]
    assert (first["direction"], first["sender"], first["extra"]["from_me_raw"]) == ("incoming", "+447700900123", "yes")
    assert (second["direction"], second["body"]) == ("outgoing", "1.5")
    assert report.warnings[-1] == ("1 row of msgstore.db has a message.from_me that is no whole number: it is left "
                                   "empty, the value is kept in extra.from_me_raw")


@pytest.mark.parametrize("wa_type,flags,kind", [("15", ["deleted"], "message"), ("15abc", None, "message"),
                                                ("015", ["deleted"], "message"), ("7x", None, "message")])
def test_a_legacy_media_wa_type_is_a_type_only_when_the_whole_text_is_a_number(tmp_path, wa_type, flags, kind):
    """The old layout's media_wa_type is a TEXT column: '15' is type 15 (deleted), as is '015' (the number
    it spells); '15abc', which SQLite's CAST read as 15, is no type, so the message is not said to be
    deleted, and its value stays in extra."""
    db = DATABASES["msgstore-legacy"]
    rows = {table: [dict(row) for row in items] for table, items in db.rows.items()}
    rows["messages"][3]["media_wa_type"] = wa_type
    path = tmp_path / "msgstore.db"
    build(path, db.schema, rows)
    table, rejects, _ = run_on_disk(tmp_path, "android-whatsapp", path, owner=OWNER)
    [record] = [r for r in plain_rows(table) if r["locator"] == "msgstore.db messages _id 4"]
    assert (record["kind"], record["flags"], record["extra"]["media_wa_type"], rejects) == (kind, flags, wa_type, [])


@pytest.mark.parametrize("feed", [False, True], ids=["here", "fed"])
@pytest.mark.parametrize("name,table", [("mmssms", "sms"), ("mmssms", "pdu"), ("calllog", "calls"),
                                        ("msgstore", "message"), ("msgstore-legacy", "messages")])
def test_a_row_out_of_id_order_is_a_reject_not_a_second_record_of_its_id(tmp_path, monkeypatch, feed, name, table):
    """A damaged table whose row 3 claims _id 1: every other row is read as before; that row is a
    reject with the row written out (its _id would name two records), counted in a warning."""
    from conftest import with_rowid_rewritten
    from commtrail import sqlitefeed
    db = DATABASES[name]
    before = outcome(tmp_path, db, db.schema, None, "before")
    (tmp_path / "damaged").mkdir()
    path = make(db, tmp_path / "damaged")
    with_rowid_rewritten(path, table, 3, 1)
    if feed:
        monkeypatch.setattr(sqlitefeed, "FEED_FROM_BYTES", 0)
    records, rejects, report = run_on_disk(tmp_path / "damaged", db.parser, path, owner=OWNER,
                                           timezone="Europe/London")
    got = {r["locator"]: {k: v for k, v in r.items() if k != "source_path"} for r in plain_rows(records)}
    assert len(got) == records.num_rows
    gone = f"{db.file} {table} _id 3"
    assert {k: v for k, v in got.items() if not k.startswith(gone)} == \
           {k: v for k, v in before.records.items() if not k.startswith(gone)}
    [reject] = [r for r in rejects if "out of order" in r.locator]
    assert (reject.locator, reject.raw.split(" ", 1)[0]) == (f"{db.file} {table} _id 1 (out of order, 1)", "_id=1")
    assert any(f"1 row of {table} in {db.file} came out of the order of their _id" in w for w in report.warnings)


def test_a_layout_that_lost_its_primary_key_still_gives_each_record_its_locator(tmp_path):
    """A flipped bit made the sms table's ``_id INTEGER PRIMARY KEY`` read ``PBIMARY KEY`` (found by the
    fuzzer): _id is then an ordinary column, NULL in every row, and every record had no locator. The
    rows are read by their ROWID, which _id is in an intact layout: the same records and locators as
    before. (In the tables declared AUTOINCREMENT the same flip is a syntax error SQLite refuses: a
    clear "cannot be read" error.)"""
    name, table = "mmssms", "sms"
    db = DATABASES[name]
    before = outcome(tmp_path, db, db.schema, None, "before")
    (tmp_path / "damaged").mkdir()
    path = make(db, tmp_path / "damaged")
    data = path.read_bytes()
    create = f"CREATE TABLE {table} (_id INTEGER PRIMARY KEY".encode()
    assert data.count(create) == 1
    path.write_bytes(data.replace(create, create.replace(b"PRIMARY", b"PBIMARY")))
    records, _, _ = run_on_disk(tmp_path / "damaged", db.parser, path, owner=OWNER, timezone="Europe/London")
    got = {r["locator"]: {k: v for k, v in r.items() if k != "source_path"} for r in plain_rows(records)}
    assert got.keys() == before.records.keys()
