"""Values of the wrong type in Apple databases: SQLite enforces no column type, so any column may
hold an INTEGER, a REAL, a TEXT, a BLOB or NULL.

For every column a reader reads, each wrong value is put in one row of Sam's database
(``scenario.py``) and the database is parsed. The parse never fails as a whole; every other row's
record is exactly as without the bad value; the bad row is a record where the value is read by the
rules of ``commtrail/parsers/ios/database.py`` (a time that is no number, or outside 1970-2200, or an
id that is no ROWID, is left out and kept in ``extra`` as ``<column>_raw``, counted in a warning), or
a reject with its row written out (a message whose own date is no time). The rule on numeric text:
a TEXT is never a number, even ``'12'`` (in a column declared INTEGER SQLite stores ``'12'`` as the
integer 12 itself, which is then read as a number: the tests read back what SQLite stored).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from conftest import damage_page_of, make_ctx, run_parser
from scenario import ATTACHMENTS, CHATS, HANDLES, JPEG, LINKS, MEMBERS, MESSAGES

from commtrail.demo_ios import messages_db
from commtrail.parsers.base import Owner

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
PHOTO = "Attachments/ab/11/AAAA-1111/IMG_0001.jpeg"
# The wrong values: SQL literals, each put in one row.
VALUES = {"text x": "'x'", "text 12": "'12'", "real 1.5": "1.5", "blob 00ff": "x'00ff'", "2**62": str(2**62),
          "-1": "-1", "null": "NULL"}
COCOA = datetime(2001, 1, 1, tzinfo=timezone.utc)

# What each column the Messages reader reads is, and the message whose row is changed. For the other
# tables, the row changed and the messages whose records may change with it.
TIME, ID, TRUTH, TEXT, BLOB, SQL_EXTRA = "time", "id", "truth", "text", "blob", "extra"
MESSAGE_COLUMNS = {
    "date": (TIME, 1), "date_read": (TIME, 1), "date_delivered": (TIME, 1), "date_edited": (TIME, 4),
    "date_retracted": (TIME, 5), "handle_id": (ID, 1), "is_from_me": (TRUTH, 2), "text": (TEXT, 1),
    "subject": (TEXT, 1), "service": (TEXT, 6), "guid": (TEXT, 1), "account": (TEXT, 1),
    "destination_caller_id": (TEXT, 8), "attributedBody": (BLOB, 2), "message_summary_info": (BLOB, 4),
    "associated_message_type": (SQL_EXTRA, 3), "associated_message_guid": (SQL_EXTRA, 3),
    "item_type": (SQL_EXTRA, 11), "group_action_type": (SQL_EXTRA, 11), "other_handle": (SQL_EXTRA, 11),
    "group_title": (SQL_EXTRA, 11), "error": (SQL_EXTRA, 1), "balloon_bundle_id": (SQL_EXTRA, 1),
    "expressive_send_style_id": (SQL_EXTRA, 1), "reply_to_guid": (SQL_EXTRA, 1),
    "thread_originator_guid": (SQL_EXTRA, 1), "cache_has_attachments": (SQL_EXTRA, 1),
}
# table -> (WHERE of the row changed, its columns read, the messages it may change)
OTHER_TABLES = {
    "handle": ("ROWID = 4", ("id",), {7, 8, 11}),
    "chat": ("ROWID = 3", ("guid", "chat_identifier", "display_name", "service_name", "style"), {7, 8, 11}),
    "chat_message_join": ("message_id = 6", ("chat_id", "message_id"), {6}),
    "chat_handle_join": ("chat_id = 3 AND handle_id = 4", ("chat_id", "handle_id"), {7, 8, 11}),
    "attachment": ("ROWID = 2", ("filename", "mime_type", "transfer_name", "total_bytes"), {9}),
    "message_attachment_join": ("attachment_id = 2", ("message_id", "attachment_id"), {9, 12}),   # 12: '12
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Sam's Messages folder (chat.db and the photo beside it) and what it parses to."""
    folder = tmp_path_factory.mktemp("pristine") / "Messages"
    folder.mkdir()
    messages_db(folder / "chat.db", handles=HANDLES, chats=CHATS, members=MEMBERS, messages=MESSAGES,
                attachments=ATTACHMENTS, links=LINKS)
    (folder / PHOTO).parent.mkdir(parents=True)
    (folder / PHOTO).write_bytes(JPEG)
    return folder, parse(tmp_path_factory.mktemp("parse"), folder)


def parse(tmp_path, folder, db="chat.db", parser="apple-messages", owner=OWNER, **kwargs):
    """(records by ROWID, rejects by ROWID, report) of the database ``db`` in ``folder``."""
    ctx = make_ctx(tmp_path, source_path=str(folder / db), owner=owner, timezone="Europe/London",
                   open_relative=lambda rel: open(folder / rel, "rb"), work_dir=tmp_path / "work", **kwargs)
    table, rejects, report = run_parser(parser, (folder / db).read_bytes(), ctx)
    records = {int(r["locator"].rsplit(" ", 1)[1]): {**r, "source_path": None} for r in table.to_pylist()}
    return records, {int(r.locator.rsplit(" ", 1)[1]): r for r in rejects}, report


def changed(tmp_path, pristine, table: str, column: str, where: str, value_sql: str, db="chat.db",
            reparse=parse):
    """Parse a copy of Sam's database with one value changed: (records, rejects, report, value stored)."""
    folder = tmp_path / pristine[0].name
    shutil.copytree(pristine[0], folder)
    con = sqlite3.connect(folder / db)
    rowids = [rowid for (rowid,) in con.execute(f"SELECT ROWID FROM {table} WHERE {where}")]
    assert rowids, f"no row of {table} where {where}"
    marks = ", ".join("?" * len(rowids))   # (by ROWID: ``where`` may name the very column changed)
    try:
        con.execute(f"UPDATE {table} SET {column} = {value_sql} WHERE ROWID IN ({marks})", rowids)
    except sqlite3.IntegrityError as exc:   # NOT NULL in the layout: SQLite itself refuses the value
        pytest.skip(str(exc))
    [(stored,)] = con.execute(f"SELECT {column} FROM {table} WHERE ROWID = ?", rowids[:1]).fetchall()
    con.commit()
    con.close()
    return (*reparse(tmp_path, folder), stored)


def extra(record: dict) -> dict:
    return json.loads(record["extra"]) if record["extra"] else {}


def raw(value):
    """A value as extra keeps it raw: a BLOB as its hex digits."""
    return value.hex().upper() if isinstance(value, bytes) else value


def iso(value) -> str:
    """A Cocoa time (seconds, or nanoseconds from 10**11 on) as ISO 8601 UTC to the millisecond."""
    seconds = value / 1e9 if abs(value) >= 10**11 else value
    return (COCOA + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_time(value) -> bool:
    """The rule: an INTEGER or REAL whose Cocoa time falls between 1970 and 2200."""
    if type(value) not in (int, float):
        return False
    seconds = value / 1e9 if abs(value) >= 10**11 else value
    return -978307200 < seconds <= 6279811200


def warned(report, text: str) -> bool:
    return any(text in w for w in report.warnings)


def direction_read(record: dict, fields: dict, report, stored, raw_key: str, warning: str) -> None:
    """The rule for a flag of who sent a message: a number (or NULL) gives the direction; anything
    else leaves it unknown, with no sender or recipients, the value kept raw and warned of."""
    if type(stored) in (int, float) or stored is None:
        assert record["direction"] == ("outgoing" if stored else "incoming")
    else:
        assert (record["direction"], record["sender"], record["recipients"]) == ("unknown", None, None)
        assert fields[raw_key] == raw(stored)
        assert warned(report, warning)


def same_except(records: dict, rejects: dict, pristine_parse, affected: set[int]) -> None:
    """Every message not in ``affected`` is exactly the record it was, and no reject is new."""
    before, before_rejects, _ = pristine_parse
    assert {k: v for k, v in records.items() if k not in affected} == \
        {k: v for k, v in before.items() if k not in affected}
    assert {k: v for k, v in rejects.items() if k not in affected} == \
        {k: v for k, v in before_rejects.items() if k not in affected}


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
@pytest.mark.parametrize("column", MESSAGE_COLUMNS)
def test_a_message_column_of_the_wrong_type(tmp_path, pristine, column, value):
    kind, rowid = MESSAGE_COLUMNS[column]
    records, rejects, report, stored = changed(tmp_path, pristine, "message", column, f"ROWID = {rowid}", value)
    same_except(records, rejects, pristine[1], {rowid})
    before = pristine[1][0].get(rowid) or pristine[1][1][rowid]
    if column == "date" and stored not in (None, 0) and not is_time(stored):
        reject = rejects[rowid]
        why = "is not a time between 1970 and 2200" if type(stored) in (int, float) else \
            "is not a number of seconds or nanoseconds"
        assert (reject.reason, rowid not in records) == (f"date {stored!r} {why}", True)
        assert reject.raw.startswith(f"ROWID={rowid} text={before['body']!r} attributedBody=None handle_id=1 ")
        assert f" date={stored!r} " in reject.raw
        return
    if column == "attributedBody" and type(stored) is not bytes and stored is not None:
        assert rejects[rowid].reason == "the text of this message is only in attributedBody, and it cannot be decoded"
        assert rejects[rowid].raw.endswith(f"attributedBody(hex)={stored!r}")
        return
    record = records.get(rowid)
    if record is None:   # attributedBody NULL with text NULL, or bytes that are no typedstream: as any such message
        assert column == "attributedBody" and rowid in rejects
        return
    fields = extra(record)
    if kind == TIME:
        key = "ts_utc" if column == "date" else column
        if stored in (None, 0):
            assert (fields.get(column), f"{column}_raw" in fields) == (None, False)
            if column == "date":
                assert (record["ts_utc"], record["flags"]) == (None, ["undated"])
        elif is_time(stored):
            shown = record["ts_utc"].isoformat(timespec="milliseconds").replace("+00:00", "Z") \
                if column == "date" else fields[column]
            assert shown == iso(stored), key
        else:
            assert (fields.get(column), fields[f"{column}_raw"]) == (None, raw(stored))
            assert warned(report, f"1 message in chat.db has a {column} that is no time")
    elif kind == ID:
        if type(stored) is int or stored is None:
            assert "handle_id_raw" not in fields
        else:
            assert (record["sender"], fields["handle_id_raw"]) == (None, raw(stored))
            assert warned(report, "1 message in chat.db has a handle_id that is no ROWID")
    elif kind == TRUTH:
        direction_read(record, fields, report, stored, "is_from_me_raw",
                       "1 message in chat.db has an is_from_me that is no number")
    elif kind == TEXT:
        as_text = None if stored is None else stored.decode("utf-8", "replace") if isinstance(stored, bytes) \
            else stored if isinstance(stored, str) else repr(stored)
        if column == "text":
            assert record["body"] == as_text
        elif column == "subject":
            assert record["subject"] == as_text
        elif column in ("guid", "service", "account"):
            assert fields.get(column) == (as_text or None)
        if isinstance(stored, bytes):
            assert report.repairs >= 1
    elif kind == BLOB:   # message_summary_info (attributedBody rejects are above)
        if type(stored) is not bytes and stored:
            assert fields["message_summary_info_raw"] == stored
        elif stored:
            assert fields["message_summary_info_hex"] == stored.hex()
        if stored:
            assert warned(report, "1 message in chat.db has a message_summary_info that cannot be read")
    else:   # a field SQLite writes into extra as it is: a BLOB as its hex digits
        key = {"cache_has_attachments": None}.get(column, column)
        if key and stored not in (None, 0):
            assert fields[key] == raw(stored)
        if column == "item_type":   # a group event: a whole number but 0; any other value tells nothing
            whole = type(stored) is int or (type(stored) is float and stored.is_integer())
            assert record["kind"] == ("system" if whole and stored != 0 else "message")
            odd = stored is not None and not whole
            assert warned(report, "1 message in chat.db has an item_type that is no whole number, which cannot tell "
                                  "a group event: each is read as a message, its value kept in extra.item_type") == odd


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
@pytest.mark.parametrize("table,column", [(t, c) for t, (_, columns, _) in OTHER_TABLES.items() for c in columns])
def test_a_linked_table_column_of_the_wrong_type(tmp_path, pristine, table, column, value):
    where, _, affected = OTHER_TABLES[table]
    records, rejects, report, stored = changed(tmp_path, pristine, table, column, where, value)
    same_except(records, rejects, pristine[1], affected)
    assert set(records) | set(rejects) == set(pristine[1][0]) | set(pristine[1][1])   # no message is lost
    before = pristine[1][0]
    if (table, column) == ("chat_message_join", "chat_id") and stored is not None and type(stored) is not int \
            and not (type(stored) is float and stored.is_integer()):
        assert (records[6]["conversation"], extra(records[6])["chat_id_raw"]) == ("+447700900123", raw(stored))
        assert warned(report, "1 message in chat.db has a chat_message_join chat_id that is no ROWID")
    if table in ("chat_message_join", "message_attachment_join") and column == "message_id":
        whole = type(stored) is int or (type(stored) is float and stored.is_integer())
        assert warned(report, f"1 row of {table} in chat.db names their message by a value that is no ROWID (NULL, "
                              "a number with a fraction, a text or a blob): they link no message") == (not whole)
    if table == "chat_handle_join" and not (stored is None or type(stored) is int or
                                            (type(stored) is float and stored.is_integer())):
        assert warned(report, "1 row of chat_handle_join in chat.db names their chat or handle by a value that is "
                              "no ROWID: they add no member to a chat")
    if (table, column) == ("handle", "id") and stored is not None:
        text = stored.decode("utf-8", "replace") if isinstance(stored, bytes) else \
            stored if isinstance(stored, str) else repr(stored)
        assert records[7]["sender_raw"] == text
    if (table, column) == ("chat", "chat_identifier"):
        assert records[7]["conversation"] == "Weekend plans"   # the display name comes first
    if (table, column) == ("attachment", "total_bytes"):
        [item] = records[9]["attachments"]
        if type(stored) is int or stored is None:
            assert item["size"] == stored
        else:
            assert (item["size"], extra(records[9])["attachment_total_bytes_raw"]) == (None, [raw(stored)])
            assert warned(report, "1 message in chat.db has an attachment missing whose total_bytes is no integer")
    if (table, column) == ("attachment", "filename") and stored is not None:
        text = stored.decode("utf-8", "replace") if isinstance(stored, bytes) else \
            stored if isinstance(stored, str) else repr(stored)
        assert extra(records[9])["attachment_paths"] == [text]
        assert records[9]["flags"] == ["attachment_missing"]
    if table == "attachment" and column in ("mime_type", "transfer_name"):
        [item] = records[9]["attachments"]
        assert (item["mime"], item["name"]) != (before[9]["attachments"][0]["mime"], None)


def test_out_of_range_dates(tmp_path, pristine):
    """A date past 2200 (2**63-1 nanoseconds is in 2293) is a reject; the same in date_read is left out, kept raw."""
    records, rejects, report, _ = changed(tmp_path, pristine, "message", "date", "ROWID = 2", str(2**63 - 1))
    assert rejects[2].reason == f"date {2**63 - 1} is not a time between 1970 and 2200"
    shutil.rmtree(tmp_path / "Messages")
    records, rejects, report, _ = changed(tmp_path, pristine, "message", "date_read", "ROWID = 1", "1e20")
    assert extra(records[1])["date_read_raw"] == 1e20 and "date_read" not in extra(records[1])
    assert report.warnings == ["1 message in chat.db has a date_read that is no time (no number, or not between "
                               "1970 and 2200): it is left out, the value is kept in extra.date_read_raw"]


def test_a_blob_sqlite_cannot_write_as_json_switches_to_the_careful_query_where_it_is(tmp_path, pristine):
    """The query writes the rare fields of extra with json_quote, which refuses a BLOB: from the last
    chunk done, the query that writes a BLOB as hex is run instead. Read one, two or all messages
    at a time, no message is lost or read twice."""
    records, rejects, report, _ = changed(tmp_path, pristine, "message", "group_title", "ROWID = 11", "x'00ff'")
    assert extra(records[11])["group_title"] == "00FF"
    for size in (1, 2, 5):
        assert parse(tmp_path / f"size{size}", tmp_path / "Messages", batch_size=size)[:2] == (records, rejects)


def test_the_documented_bug_one_text_date_fails_only_its_message(tmp_path, pristine):
    """UPDATE message SET date='x' WHERE ROWID=3 used to fail the whole source (ArrowInvalid)."""
    records, rejects, report, _ = changed(tmp_path, pristine, "message", "date", "ROWID = 3", "'x'")
    assert sorted(records) == [1, 2, 4, 5, 6, 7, 8, 9, 11, 12]
    assert (rejects[3].locator, rejects[3].reason) == ("chat.db message ROWID 3",
                                                       "date 'x' is not a number of seconds or nanoseconds")
    assert rejects[3].raw.startswith("ROWID=3 text='Loved \u201cPlease stop messaging me.\u201d' attributedBody=None "
                                     "handle_id=1 service='iMessage' date='x' is_from_me=0 ")


@pytest.mark.parametrize("column", ["filename", "mime_type", "transfer_name"])
def test_an_attachment_text_that_is_not_utf8_is_repaired_not_taken_for_damage(tmp_path, pristine, column):
    """An attachment's text that is not UTF-8 failed the per-chunk attachment query (SQLite's own
    decoder), which was reported as a database damaged before its first row: every message lost."""
    folder = tmp_path / pristine[0].name
    shutil.copytree(pristine[0], folder)
    con = sqlite3.connect(folder / "chat.db")
    con.execute(f"UPDATE attachment SET {column} = CAST(x'4f6b20ff21' AS TEXT) WHERE ROWID = 2")
    con.commit()
    con.close()
    records, rejects, report = parse(tmp_path, folder)
    assert sorted(records) == sorted(pristine[1][0]) and sorted(rejects) == sorted(pristine[1][1])
    assert report.repairs == 1 and not [w for w in report.warnings if "damaged" in w]
    [attachment] = records[9]["attachments"]
    key = {"filename": None, "mime_type": "mime", "transfer_name": "name"}[column]
    if key:
        assert attachment[key] == "Ok \ufffd!"
    else:
        assert extra(records[9])["attachment_paths"] == ["Ok \ufffd!"]


@pytest.mark.parametrize("value,reaction", [("2001", "like"), ("2001.0", "like"), ("2000.5", None),
                                            ("3001", "like"), ("3000.5", None), ("2008", None)])
def test_only_a_whole_number_codes_a_tapback(tmp_path, pristine, value, reaction):
    """An associated_message_type of 2000-2007 (3000-3007: taken back) is a tapback only as a whole
    number: SQLite's % cut a REAL 2000.5 to 2000, which read as "love". Any other value is a message
    that keeps it in extra."""
    records, rejects, _, stored = changed(tmp_path, pristine, "message", "associated_message_type", "ROWID = 3",
                                          value)
    fields = extra(records[3])
    assert (records[3]["kind"], fields.get("reaction"), fields["associated_message_type"]) == \
        ("reaction" if reaction else "message", reaction, stored)
    assert fields.get("reaction_removed") is (True if reaction and stored >= 3000 else None)
    assert ("reacts_to" in fields) is bool(reaction)


def test_an_infinite_handle_id_is_kept_as_the_text_inf_in_valid_json(tmp_path, pristine):
    """A REAL handle_id of infinity names no handle: kept raw as the text "inf" (json.dumps wrote the
    number as Infinity, which is not JSON, so the record's extra could not be read back)."""
    records, rejects, _, stored = changed(tmp_path, pristine, "message", "handle_id", "ROWID = 2", "9e999")
    assert stored == float("inf") and 2 not in rejects
    assert "Infinity" not in records[2]["extra"]
    assert extra(records[2])["handle_id_raw"] == "inf"


# -- WhatsApp's ChatStorage.sqlite -----------------------------------------------------------------------
WA_OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}), whatsapp_names=frozenset({"Sam"}))
CODE = "code"
WA_MESSAGE_COLUMNS = {
    "ZMESSAGEDATE": (TIME, 1), "ZISFROMME": (TRUTH, 2), "ZMESSAGETYPE": (CODE, 3), "ZTEXT": (TEXT, 1),
    "ZCHATSESSION": (ID, 1), "ZGROUPMEMBER": (ID, 7), "ZMEDIAITEM": (ID, 3), "ZFROMJID": (SQL_EXTRA, 7),
    "ZSTANZAID": (SQL_EXTRA, 1), "ZTOJID": (SQL_EXTRA, 2), "ZGROUPEVENTTYPE": (SQL_EXTRA, 6),
    "ZSTARRED": (SQL_EXTRA, 1), "ZPARENTMESSAGE": (SQL_EXTRA, 1),
}
WA_EXTRA_KEYS = {"ZFROMJID": "from_jid", "ZSTANZAID": "stanza_id", "ZTOJID": "to_jid",
                 "ZGROUPEVENTTYPE": "group_event_type", "ZSTARRED": "starred", "ZPARENTMESSAGE": "parent_message"}
WA_RAW_KEYS = {"ZCHATSESSION": "chat_session_raw", "ZGROUPMEMBER": "group_member_raw"}
WA_OTHER_TABLES = {
    "ZWAMEDIAITEM": ("Z_PK = 1", ("ZMEDIALOCALPATH", "ZTITLE", "ZFILESIZE", "ZLATITUDE", "ZLONGITUDE", "ZMEDIAURL"),
                     {3}),
    "ZWACHATSESSION": ("Z_PK = 1", ("ZCONTACTJID", "ZPARTNERNAME", "ZSESSIONTYPE"), {1, 2, 3, 4, 5}),
    "ZWAGROUPMEMBER": ("Z_PK = 2", ("ZCHATSESSION", "ZMEMBERJID", "ZCONTACTNAME"), {6, 7, 8, 9}),
    "ZWAPROFILEPUSHNAME": ("Z_PK = 1", ("ZJID", "ZPUSHNAME"), {6, 7, 8, 9}),
}


@pytest.fixture(scope="module")
def wa_pristine(tmp_path_factory):
    """Sam's ChatStorage.sqlite on its own and what it parses to."""
    from scenario import chat_storage
    folder = tmp_path_factory.mktemp("wa") / "WhatsApp"
    folder.mkdir()
    chat_storage(folder / "ChatStorage.sqlite")
    return folder, wa_parse(tmp_path_factory.mktemp("wa-parse"), folder)


def wa_parse(tmp_path, folder):
    return parse(tmp_path, folder, "ChatStorage.sqlite", "whatsapp-ios-db", WA_OWNER)


def wa_changed(tmp_path, pristine, table: str, column: str, where: str, value_sql: str):
    return changed(tmp_path, pristine, table, column, where, value_sql, "ChatStorage.sqlite", wa_parse)


def seconds_time(value) -> bool:
    """The rule for ZMESSAGEDATE (Cocoa seconds): an INTEGER or REAL between 1970 and 2200."""
    return type(value) in (int, float) and -978307200 < value <= 6279811200


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
@pytest.mark.parametrize("column", WA_MESSAGE_COLUMNS)
def test_a_whatsapp_message_column_of_the_wrong_type(tmp_path, wa_pristine, column, value):
    kind, pk = WA_MESSAGE_COLUMNS[column]
    records, rejects, report, stored = wa_changed(tmp_path, wa_pristine, "ZWAMESSAGE", column, f"Z_PK = {pk}", value)
    same_except(records, rejects, wa_pristine[1], {pk})
    if kind == TIME and stored is not None and not seconds_time(stored):
        why = "is not a time between 1970 and 2200" if type(stored) in (int, float) else "is not a number of seconds"
        assert (rejects[pk].reason, pk in records) == (f"ZMESSAGEDATE {stored!r} {why}", False)
        assert rejects[pk].raw.startswith(f"Z_PK={pk} ZMESSAGEDATE={stored!r} ZISFROMME=0 ZMESSAGETYPE=0 ")
        return
    record, fields = records[pk], extra(records[pk])
    if kind == TIME:
        expected = None if stored is None else COCOA + timedelta(seconds=stored)
        assert (record["ts_utc"], record["flags"]) == (expected, ["undated"] if stored is None else None)
    elif kind == TRUTH:
        direction_read(record, fields, report, stored, "from_me_raw",
                       "1 message in ChatStorage.sqlite has a ZISFROMME that is no number")
    elif kind == CODE:
        assert fields.get("message_type") == raw(stored)
        if stored is not None and type(stored) is not int:
            assert (record["kind"], record["body"]) == ("message", None)
            assert warned(report, "1 message in ChatStorage.sqlite has a ZMESSAGETYPE that is no integer")
    elif kind == TEXT:
        assert record["body"] == (None if stored is None else stored.decode("utf-8", "replace")
                                  if isinstance(stored, bytes) else stored)
    elif kind == ID:
        if column in WA_RAW_KEYS and stored is not None and not (type(stored) is int or
                                                                  (type(stored) is float and stored.is_integer())):
            assert fields[WA_RAW_KEYS[column]] == raw(stored)
            assert warned(report, f"1 message in ChatStorage.sqlite has a {column} that is no ROWID")
    else:
        key = WA_EXTRA_KEYS[column]
        assert fields.get(key) == (None if stored in (None, 0) and key in ("group_event_type", "starred")
                                   else raw(stored))


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
@pytest.mark.parametrize("table,column", [(t, c) for t, (_, columns, _) in WA_OTHER_TABLES.items() for c in columns])
def test_a_whatsapp_linked_table_column_of_the_wrong_type(tmp_path, wa_pristine, table, column, value):
    where, _, affected = WA_OTHER_TABLES[table]
    records, rejects, report, stored = wa_changed(tmp_path, wa_pristine, table, column, where, value)
    same_except(records, rejects, wa_pristine[1], affected)
    assert set(records) == set(wa_pristine[1][0]) and not rejects
    if column == "ZFILESIZE":
        [item] = records[3]["attachments"]
        if type(stored) is int or stored is None:
            assert item["size"] == stored
        else:
            assert (item["size"], extra(records[3])["media_file_size_raw"]) == (None, raw(stored))
            assert warned(report, "1 message in ChatStorage.sqlite has a media ZFILESIZE that is no integer")
    if (table, column) == ("ZWAGROUPMEMBER", "ZCHATSESSION"):
        named = stored is None or type(stored) is int or (type(stored) is float and stored.is_integer())
        assert warned(report, "1 row of ZWAGROUPMEMBER in ChatStorage.sqlite names their chat (ZCHATSESSION) by a "
                              "value that is no ROWID: they are listed as a member of no group") is not named
    if column == "ZTITLE":
        assert records[3]["body"] == (None if stored is None else stored.decode("utf-8", "replace")
                                      if isinstance(stored, bytes) else stored if isinstance(stored, str)
                                      else repr(stored))


# -- the address book (AddressBook.sqlitedb): names offered as hints -------------------------------------
AB_COLUMNS = [("ABPerson", "ROWID = 1", c) for c in ("First", "Middle", "Last", "Organization", "Nickname")] + \
    [("ABMultiValue", "UID = 2", c) for c in ("record_id", "property", "value")]


def hints(path):
    from commtrail.parsers.ios.contacts import read_contacts
    con = sqlite3.connect(path)
    try:
        return read_contacts(con, "AddressBook.sqlitedb", "GB").names
    finally:
        con.close()


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
@pytest.mark.parametrize("table,where,column", AB_COLUMNS)
def test_an_address_book_column_of_the_wrong_type(tmp_path, table, where, column, value):
    """Jordan's e-mail address (ABMultiValue UID 2) or Jordan's names changed: the other entries'
    hints are as before; a name or an address held as a BLOB is read as UTF-8, as a number as its digits."""
    from commtrail.demo_ios import address_book
    from scenario import PEOPLE
    path = address_book(tmp_path / "ab.sqlite", PEOPLE)
    before = hints(path)
    assert before == {"+447700900123": "Jordan Example", "jordan.k@example.com": "Jordan Example",
                      "+447700900456": "Example Dental"}
    con = sqlite3.connect(path)
    con.execute(f"UPDATE {table} SET {column} = {value} WHERE {where}")
    [(stored,)] = con.execute(f"SELECT {column} FROM {table} WHERE {where}").fetchall()
    con.commit()
    con.close()
    after = hints(path)
    assert after["+447700900456"] == "Example Dental"
    as_text = None if stored is None else stored.decode("utf-8", "replace") if isinstance(stored, bytes) \
        else stored if isinstance(stored, str) else repr(stored)
    if column in ("First", "Last"):
        first, last = ("Jordan", as_text) if column == "Last" else (as_text, "Example")
        assert after["+447700900123"] == " ".join(p.strip() for p in (first, last) if p and p.strip())
    elif column == "value" and stored is not None:
        assert "jordan.k@example.com" not in after and after["+447700900123"] == "Jordan Example"
        assert "Jordan Example" in after.values()
    elif column in ("record_id", "property") or stored is None:
        assert after.get("+447700900123") == "Jordan Example"


# -- a backup's Manifest.db ------------------------------------------------------------------------------
MANIFEST_ROWS = {"sms.db": ("HomeDomain", "Library/SMS/sms.db"),
                 "photo": ("MediaDomain", "Library/SMS/Attachments/ab/11/AAAA-1111/IMG_0001.jpeg")}


@pytest.fixture(scope="module")
def backup_pristine(tmp_path_factory):
    from scenario import iphone_backup
    base = tmp_path_factory.mktemp("backup")
    folder = iphone_backup(base / "backup", base / "build")
    return folder, backup_parse(tmp_path_factory.mktemp("backup-parse"), folder)


def backup_parse(tmp_path, folder):
    """(records by locator, rejects, report) of a backup."""
    ctx = make_ctx(tmp_path, source_path="Manifest.db", owner=OWNER, timezone="Europe/London",
                   open_relative=lambda rel: open(folder / rel, "rb"), work_dir=tmp_path / "work")
    table, rejects, report = run_parser("ios-backup", (folder / "Manifest.db").read_bytes(), ctx)
    return {r["locator"]: r for r in table.to_pylist()}, rejects, report


@pytest.mark.parametrize("value", [*VALUES.values(), "CAST(domain AS BLOB)", "CAST(relativePath AS BLOB)"],
                         ids=[*VALUES.keys(), "domain as blob", "relativePath as blob"])
@pytest.mark.parametrize("column", ("fileID", "domain", "relativePath", "flags", "file"))
@pytest.mark.parametrize("row", MANIFEST_ROWS)
def test_a_manifest_column_of_the_wrong_type(tmp_path, backup_pristine, row, column, value):
    """The manifest's row of sms.db or of the photo: fileID, flags and file (in a backup that is not
    encrypted) are not read; a domain or relativePath held as a BLOB of its UTF-8 text names the
    file; one other than the file's (another text, a number, another BLOB) names no file: sms.db is
    then missing (a warning; the calls are read), the photo is then missing (flagged
    attachment_missing on its message)."""
    folder = tmp_path / "backup"
    shutil.copytree(backup_pristine[0], folder)
    domain, path = MANIFEST_ROWS[row]
    con = sqlite3.connect(folder / "Manifest.db")
    con.execute(f"UPDATE Files SET {column} = {value} WHERE domain = ? AND relativePath = ?", (domain, path))
    con.commit()
    con.close()
    records, rejects, report = backup_parse(tmp_path, folder)
    before, before_rejects, before_report = backup_pristine[1]
    if column not in ("domain", "relativePath") or value == f"CAST({column} AS BLOB)":
        assert (records, rejects, report.warnings) == (before, before_rejects, before_report.warnings)
    elif row == "sms.db":
        assert records == {k: v for k, v in before.items() if not k.startswith("sms.db")} and rejects == []
        assert report.warnings == ["the backup holds no HomeDomain-Library/SMS/sms.db: nothing was read from it"]
    else:
        message = "sms.db message ROWID 8"
        assert {k: v for k, v in records.items() if k != message} == {k: v for k, v in before.items() if k != message}
        assert (records[message]["flags"], records[message]["attachments"][0]["sha256"]) == (["attachment_missing"],
                                                                                              None)


# -- the call history (CallHistory.storedata) ------------------------------------------------------------
CALL_COLUMNS = ("ZDATE", "ZDURATION", "ZORIGINATED", "ZANSWERED", "ZCALLTYPE", "ZADDRESS", "ZSERVICE_PROVIDER",
                "ZUNIQUE_ID", "ZISO_COUNTRY_CODE", "ZLOCATION", "ZNAME", "ZDISCONNECTED_CAUSE", "ZREAD",
                "ZJUNKCONFIDENCE")


def calls_parse(tmp_path, path):
    from commtrail.parsers.base import collect
    from commtrail.parsers.ios.calls import read_calls
    from commtrail.parsers.ios.contacts import ContactHints
    ctx = make_ctx(tmp_path, owner=OWNER, timezone="Europe/London", parser_label="ios-backup/4")
    con = sqlite3.connect(path)
    try:
        table, rejects = collect(read_calls(con, ctx, "CallHistory.storedata", ContactHints(), "calls"), ctx)
    finally:
        con.close()
    return ({int(r["locator"].rsplit(" ", 1)[1]): r for r in table.to_pylist()},
            {int(r.locator.rsplit(" ", 1)[1]): r for r in rejects}, ctx.report)


@pytest.fixture(scope="module")
def calls_pristine(tmp_path_factory):
    from commtrail.demo_ios import call_history
    from scenario import CALLS
    folder = tmp_path_factory.mktemp("calls")
    path = call_history(folder / "calls.sqlite", CALLS)
    return path, calls_parse(folder, path)


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
@pytest.mark.parametrize("column", CALL_COLUMNS)
def test_a_call_column_of_the_wrong_type(tmp_path, calls_pristine, column, value):
    """Call Z_PK 3 (a missed call from +447700900456) changed: the other calls are as before; a ZDATE
    that is no time makes it a reject with its row; a ZORIGINATED or ZANSWERED that is no number
    makes it kind call (ZORIGINATED: direction unknown, no parties), the value kept and counted."""
    path = tmp_path / "calls.sqlite"
    shutil.copy(calls_pristine[0], path)
    con = sqlite3.connect(path)
    con.execute(f"UPDATE ZCALLRECORD SET {column} = {value} WHERE Z_PK = 3")
    [(stored,)] = con.execute(f"SELECT {column} FROM ZCALLRECORD WHERE Z_PK = 3").fetchall()
    con.commit()
    con.close()
    records, rejects, report = calls_parse(tmp_path, path)
    before = calls_pristine[1][0]
    assert {k: v for k, v in records.items() if k != 3} == {k: v for k, v in before.items() if k != 3}
    if column == "ZDATE" and stored not in (None, 0) and not seconds_time(stored):
        assert 3 not in records and rejects[3].raw.startswith(f"ROWID=3 Z_PK=3 ZDATE={stored!r} ZDURATION=0.0 ")
        return
    assert set(rejects) == set()
    record, fields = records[3], extra(records[3])
    number = stored is None or type(stored) in (int, float)
    if column == "ZORIGINATED" and not number:
        assert (record["kind"], record["direction"], record["sender"], record["recipients"]) == \
            ("call", "unknown", None, None)
        assert fields["originated_raw"] == raw(stored)
        assert warned(report, "1 call in CallHistory.storedata has a ZORIGINATED that is no number")
    elif column == "ZORIGINATED":
        assert record["direction"] == ("outgoing" if stored else "incoming")
    elif column == "ZANSWERED":
        assert record["kind"] == ("call" if not number else "incoming" if stored else "missed")
        assert fields.get("answered") == (None if stored in (None, "") else raw(stored))
        assert warned(report, "1 call in CallHistory.storedata has a ZANSWERED that is no number") == (not number)
    elif column == "ZDURATION" and (not number or stored is not None and stored < 0):   # no call lasts -1 s
        assert (record["duration_s"], fields["duration_raw"]) == (None, raw(stored))
        assert warned(report, "1 call in CallHistory.storedata has a ZDURATION that is no number of seconds (0 or "
                              "more)")
    elif column == "ZADDRESS" and stored is not None:
        text = stored.decode("utf-8", "replace") if isinstance(stored, bytes) else \
            stored if isinstance(stored, str) else str(stored)
        assert record["sender_raw"] == text


def test_a_call_of_infinite_duration_and_a_mixed_column_are_written_as_json(tmp_path, calls_pristine):
    """SQLite holds 9e999 as infinity, which JSON cannot hold as a number: extra keeps it as the text
    "inf" (it was written as the bare word inf, no JSON). A REAL in a column that also holds a text
    is written as in a column of REALs (120, not 120.0), so the other calls' extra does not change."""
    path = tmp_path / "calls.sqlite"
    shutil.copy(calls_pristine[0], path)
    con = sqlite3.connect(path)
    con.execute("UPDATE ZCALLRECORD SET ZDURATION = 9e999 WHERE Z_PK = 1")
    con.execute("UPDATE ZCALLRECORD SET ZDURATION = 'long' WHERE Z_PK = 3")
    con.commit()
    con.close()
    records, rejects, report = calls_parse(tmp_path, path)
    assert [(r["duration_s"], extra(r)["duration_raw"]) for r in records.values()] == [
        (None, "inf"), (120, 120), (None, "long"), (30, 30.2)]
    assert report.warnings == ["2 calls in CallHistory.storedata have a ZDURATION that is no number of seconds (0 or "
                               "more): their duration is left empty, the value is kept in extra.duration_raw"]


def test_a_damaged_index_of_attachments_keeps_every_message(tmp_path, pristine):
    """The index of message_attachment_join damaged: SQLite refuses every look-up of attachments. The
    messages are all read as before; the two that chat.db marks as having an attachment (8 and 9) are
    flagged attachment_missing, and a warning says what could not be read. (A fuzzed chat.db whose
    attachment look-up SQLite refused had lost all its messages.)"""
    folder = tmp_path / pristine[0].name
    shutil.copytree(pristine[0], folder)
    damage_page_of(folder / "chat.db", "sqlite_autoindex_message_attachment_join_1")
    records, rejects, report = parse(tmp_path, folder)
    before, before_rejects = pristine[1][0], pristine[1][1]
    assert sorted(records) == sorted(before) and sorted(rejects) == sorted(before_rejects)
    assert [rowid for rowid, r in records.items() if "attachment_missing" in (r["flags"] or [])] == [8, 9]
    assert (records[8]["attachments"], records[9]["attachments"]) == (None, None)
    assert {i: r for i, r in records.items() if i not in (8, 9)} == {i: r for i, r in before.items() if i not in (8, 9)}
    assert report.warnings == [
        "the attachment tables of chat.db are damaged (database disk image is malformed): the attachments of the 2 "
        "messages that chat.db marks as having one could not be listed; those messages are kept, flagged "
        "attachment_missing"]


def test_a_damaged_attachment_join_table_is_told_of_and_its_index_still_read(tmp_path, pristine):
    """The table message_attachment_join damaged, its index whole: the attachments are found through the
    index as before; the rows that link no message cannot be counted, which a warning says."""
    folder = tmp_path / pristine[0].name
    shutil.copytree(pristine[0], folder)
    damage_page_of(folder / "chat.db", "message_attachment_join")
    records, rejects, report = parse(tmp_path, folder)
    assert (records, sorted(rejects)) == (pristine[1][0], sorted(pristine[1][1]))
    assert report.warnings == [
        "the rows of message_attachment_join in chat.db that name their message by a value that is no ROWID could "
        "not be counted: the table is damaged (database disk image is malformed)"]


def test_a_damaged_index_of_chats_makes_the_messages_rejects_written_out(tmp_path, pristine):
    """The index of chat_message_join by message damaged: SQLite refuses to look up the chat of any
    message, so who a message went to (or came from, in a group) cannot be told. Each message is a
    reject with its row written out, none is left out, and the warnings say why (the database used
    to be given up at the first chunk, as if damaged before its first message)."""
    folder = tmp_path / pristine[0].name
    shutil.copytree(pristine[0], folder)
    damage_page_of(folder / "chat.db", "chat_message_join_idx_message_id_only")
    records, rejects, report = parse(tmp_path, folder)
    assert records == {}
    assert sorted(rejects) == sorted(set(pristine[1][0]) | set(pristine[1][1])) == list(range(1, 13))
    assert {r.reason for r in rejects.values()} == {
        "its chat cannot be read, chat_message_join is damaged (database disk image is malformed): who it went to, "
        "or came from in a group, is unknown"}
    assert rejects[1].raw.startswith("ROWID=1 text=")
    assert report.warnings == [
        "the rows of chat_message_join in chat.db that name their message by a value that is no ROWID could not be "
        "counted: the table is damaged (database disk image is malformed)",
        "chat_message_join in chat.db is damaged (database disk image is malformed): 12 messages whose chat could "
        "not be read are rejects, each written out; the other messages were read"]
