"""A Messages database on its own (commtrail/parsers/ios/chatdb.py): a Mac's chat.db, an sms.db."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3

from conftest import make_ctx, new_case, run_parser
from commtrail.demo_ios import cocoa, messages_db, typedstream
from scenario import ATTACHMENTS, CHATS, HANDLES, JPEG, LINKS, MEMBERS, MESSAGES

from commtrail.case import Case
from commtrail.cli import main
from commtrail.inventory import read_inventory
from commtrail.parsers import registry
from commtrail.parsers.base import Owner
from commtrail.timeline.master import read_master, read_possibly_deleted


OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
MAC_PHOTO = "Attachments/ab/11/AAAA-1111/IMG_0001.jpeg"


def mac_messages(folder):
    """~/Library/Messages of a Mac: chat.db (attachments named ~/Library/Messages/...), the photo."""
    folder.mkdir(parents=True)
    attachments = [{**a, "filename": a["filename"].replace("Library/SMS/", "Library/Messages/")} for a in ATTACHMENTS]
    messages_db(folder / "chat.db", handles=HANDLES, chats=CHATS, members=MEMBERS, messages=MESSAGES,
                attachments=attachments, links=LINKS)
    (folder / MAC_PHOTO).parent.mkdir(parents=True)
    (folder / MAC_PHOTO).write_bytes(JPEG)
    return folder


def parse_db(tmp_path, folder, name="chat.db", **kwargs):
    siblings = {p.name: (lambda p=p: open(p, "rb")) for p in folder.iterdir() if p.is_file() and p.name != name}
    ctx = make_ctx(tmp_path, source_path=str(folder / name), owner=OWNER, timezone="Europe/London",
                   siblings=siblings, open_relative=lambda rel: open(folder / rel, "rb"), work_dir=tmp_path / "work",
                   **kwargs)
    return run_parser("apple-messages", (folder / name).read_bytes(), ctx)


def test_sniff():
    parser = registry.get("apple-messages")
    assert parser.sniff(b"SQLite format 3\x00 anything", "chat.db")
    assert parser.sniff(b"SQLite format 3\x00 anything", "sms.db")
    assert parser.sniff(b"SQLite format 3\x00 CREATE TABLE chat_message_join ... message_attachment_join", "x.sqlite")
    assert not parser.sniff(b"SQLite format 3\x00 CREATE TABLE Files", "Manifest.db")
    assert not parser.sniff(b"not sqlite", "chat.db")


def test_chunks_of_any_size_give_the_same_records(tmp_path):
    """Read a few messages at a time (senders, chats and their columns made across chunks), the
    records and rejects are those of one chunk."""
    folder = mac_messages(tmp_path / "Messages")
    whole, whole_rejects, _ = parse_db(tmp_path, folder)
    for size in (1, 2, 5):
        table, rejects, _ = parse_db(tmp_path, folder, batch_size=size)
        assert table.to_pylist() == whole.to_pylist() and rejects == whole_rejects


def test_mac_chat_db_reads_like_a_backup(tmp_path):
    folder = mac_messages(tmp_path / "Messages")
    table, rejects, report = parse_db(tmp_path, folder)
    rows = table.to_pylist()
    assert (len(rows), len(rejects), report.warnings) == (11, 1, [])
    assert [r["locator"] for r in rows][:2] == ["chat.db message ROWID 1", "chat.db message ROWID 2"]
    assert rows[1]["body"] == "Please stop messaging me."
    sha = hashlib.sha256(JPEG).hexdigest()
    assert rows[7]["attachments"] == [{"name": "IMG_0001.jpeg", "mime": "image/jpeg", "size": len(JPEG), "sha256": sha}]
    assert rows[8]["flags"] == ["attachment_missing"]
    assert [r["kind"] for r in rows].count("reaction") == 2


def test_rows_only_in_the_wal_are_read_and_the_original_is_untouched(tmp_path):
    folder = tmp_path / "Messages"
    folder.mkdir()
    db = messages_db(folder / "chat.db", handles=HANDLES[:1],
                     messages=[{"ROWID": 1, "guid": "A", "text": "checkpointed", "handle_id": 1, "service": "iMessage",
                                "date": cocoa("2024-03-01T10:00:00Z")}])
    live = sqlite3.connect(db)       # a Mac in use: the newest row is still in chat.db-wal
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.execute("INSERT INTO message (ROWID, guid, attributedBody, handle_id, service, date) VALUES (2, 'B', ?, 1, "
                 "'iMessage', ?)", (typedstream("only in the wal"), cocoa("2024-03-01T10:05:00Z")))
    live.commit()
    snapshot = tmp_path / "snapshot"
    shutil.copytree(folder, snapshot)
    live.close()
    before = {p.name: p.read_bytes() for p in snapshot.iterdir()}
    assert sorted(before) == ["chat.db", "chat.db-shm", "chat.db-wal"]
    table, rejects, report = parse_db(tmp_path, snapshot)
    assert [r["body"] for r in table.to_pylist()] == ["checkpointed", "only in the wal"]
    assert report.used_siblings == {"chat.db-wal", "chat.db-shm"}
    assert {p.name: p.read_bytes() for p in snapshot.iterdir()} == before


def test_ingest_a_mac_messages_folder(tmp_path, capsys):
    folder = mac_messages(tmp_path / "Messages")
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(folder / "chat.db")]) == 0
    capsys.readouterr()
    [row] = read_inventory(case / "sources.parquet")
    assert (row["format"], row["records"], row["rejects"], row["warnings"]) == ("apple-messages", 11, 1, [])


def test_a_message_in_several_chats_is_in_the_lowest(tmp_path):
    """The chat of a message is the lowest chat_id that chat_message_join gives it (a NULL one aside),
    whichever row comes first; a message in none has no chat."""
    folder = tmp_path / "Messages"
    folder.mkdir()
    db = messages_db(folder / "chat.db", handles=HANDLES, chats=CHATS, members=MEMBERS,
                     messages=[{"ROWID": i, "guid": f"G{i}", "text": f"text {i}", "handle_id": 1, "service": "iMessage",
                                "date": cocoa("2024-03-01T10:00:00Z") + i} for i in (1, 2, 3, 4)])
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO chat_message_join (chat_id, message_id) VALUES (?, ?)",
                    [(3, 1), (1, 1), (1, 2), (None, 3), (3, 3)])
    con.commit()
    con.close()
    for size in (1, 4):
        table, rejects, _ = parse_db(tmp_path, folder, batch_size=size)
        assert [r["conversation"] for r in table.to_pylist()] == ["+447700900123", "+447700900123", "Weekend plans",
                                                                  "+447700900123"]
        assert [r["extra"].count("chat_guid") for r in table.to_pylist()] == [1, 1, 1, 0]


def test_text_that_is_not_utf8_is_read_and_counted(tmp_path):
    folder = tmp_path / "Messages"
    folder.mkdir()
    db = messages_db(folder / "chat.db", handles=HANDLES[:1],
                     messages=[{"ROWID": i, "guid": f"G{i}", "text": f"fine {i}", "handle_id": 1, "service": "SMS",
                                "date": cocoa("2024-03-01T10:00:00Z") + i} for i in (1, 2, 3)])
    con = sqlite3.connect(db)
    con.execute("UPDATE message SET text = CAST(x'636166e9' AS TEXT) WHERE ROWID = 2")   # Latin-1 "café"
    con.commit()
    con.close()
    table, rejects, report = parse_db(tmp_path, folder)
    assert [r["body"] for r in table.to_pylist()] == ["fine 1", "caf\ufffd", "fine 3"]
    assert (len(rejects), report.repairs) == (0, 1)
    assert report.warnings == ["1 text value in chat.db is not valid UTF-8: their undecodable bytes were read as "
                               "U+FFFD"]


def test_an_attachment_path_leaving_the_folder_is_not_followed(tmp_path):
    folder = tmp_path / "Messages"
    folder.mkdir()
    (tmp_path / "secret.txt").write_text("outside the input")
    messages_db(folder / "chat.db", handles=HANDLES[:1],
                messages=[{"ROWID": 1, "guid": "A", "handle_id": 1, "service": "iMessage", "cache_has_attachments": 1,
                           "date": cocoa("2024-03-01T10:00:00Z")}],
                attachments=[{"ROWID": 1, "guid": "X", "filename": "~/Library/Messages/../../secret.txt",
                              "transfer_name": "secret.txt"}], links=[(1, 1)])
    table, _, _ = parse_db(tmp_path, folder)
    [row] = table.to_pylist()
    assert row["attachments"] == [{"name": "secret.txt", "mime": None, "size": 0, "sha256": None}]
    assert row["flags"] == ["attachment_missing"]


def test_two_chat_dbs_share_events_but_are_not_compared_for_deletions(tmp_path, capsys):
    """Nothing in a chat.db says which device it is from: a later one lacking a message of an
    earlier one does not make that message possibly deleted."""
    first = mac_messages(tmp_path / "first")
    later = tmp_path / "later"
    later.mkdir()
    messages_db(later / "chat.db", handles=HANDLES, chats=CHATS, members=MEMBERS,
                messages=[m for m in MESSAGES if m["ROWID"] != 6]
                + [dict(MESSAGES[0], ROWID=13, guid="GUID-0013", text="Later", date=cocoa("2024-03-05T20:00:00Z"))])
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(first / "chat.db"), str(later / "chat.db")]) == 0
    capsys.readouterr()
    master = {m["body"]: m for m in read_master(Case(case)).to_pylist()}
    assert (len(master["Are you home?"]["occurrences"]), len(master["Call me back"]["occurrences"])) == (2, 1)
    assert read_possibly_deleted(Case(case)).num_rows == 0
