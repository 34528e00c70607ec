"""WhatsApp's iPhone database (ChatStorage.sqlite): in a backup, on its own, and beside its export."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from conftest import damage_page_of, make_ctx, new_case, plain_rows, run_on_disk, run_parser
from scenario import (ALEX_JID, GROUP_JID, JORDAN_JID, JPEG, WA_EXPORT, WA_PHOTO, chat_storage, whatsapp_backup)

from commtrail.case import Case
from commtrail.cli import main
from commtrail.errors import InputError
from commtrail.parsers import registry
from commtrail.parsers.base import Owner
from commtrail.timeline.master import read_master

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}), whatsapp_names=frozenset({"Sam"}))
DEVICE = "00008030-000A1B2C3D4E5F60"
GROUP = f"group-jid:{GROUP_JID}"


def parse_backup(tmp_path, folder, owner=OWNER):
    ctx = make_ctx(tmp_path, source_path=str(folder / "Manifest.db"), owner=owner, timezone="Europe/London",
                   open_relative=lambda rel: open(folder / rel, "rb"), work_dir=tmp_path / "work")
    table, rejects, report = run_parser("ios-backup", (folder / "Manifest.db").read_bytes(), ctx)
    return plain_rows(table), rejects, report


def test_sniff(tmp_path):
    parser = registry.get("whatsapp-ios-db")
    head = chat_storage(tmp_path / "x.sqlite").read_bytes()[:65536]
    assert parser.sniff(head, "x.sqlite")                       # by its tables
    assert parser.sniff(b"SQLite format 3\x00", "ChatStorage.sqlite")
    assert not parser.sniff(b"SQLite format 3\x00", "sms.db")
    assert registry.sniff(head, "anything.db") is parser


def test_backup_messages_media_and_group(tmp_path):
    rows, rejects, report = parse_backup(tmp_path, whatsapp_backup(tmp_path / "backup", tmp_path / "build"))
    assert rejects == []
    assert [(r["ts_utc"], r["kind"], r["direction"], r["sender"], r["body"], r["flags"], r["extra"]["chat"])
            for r in rows] == [
        ("2024-03-14T20:15:30+00:00", "message", "incoming", "wa:Jordan", "Why are you ignoring me", None,
         "one-to-one:wa:Jordan"),
        ("2024-03-14T20:16:05+00:00", "message", "outgoing", "wa:Sam", "Please leave me alone", None,
         "one-to-one:wa:Jordan"),
        ("2024-03-14T20:20:00+00:00", "message", "incoming", "wa:Jordan", "outside your house", None,
         "one-to-one:wa:Jordan"),
        ("2024-03-14T20:21:00+00:00", "message", "incoming", "wa:Jordan", None, ["attachment_missing"],
         "one-to-one:wa:Jordan"),
        ("2024-03-14T20:22:00+00:00", "message", "incoming", "wa:Jordan", None, ["deleted"], "one-to-one:wa:Jordan"),
        ("2024-03-15T09:00:00+00:00", "system", "unknown", None, None, None, GROUP),
        ("2024-03-15T09:01:00+00:00", "message", "incoming", "+447700900456", "Is Sam coming?", None, GROUP),
        ("2024-03-15T09:02:00+00:00", "message", "incoming", "wa:Jordan", "She is not", None, GROUP),
        ("2024-03-15T09:03:00+00:00", "message", "outgoing", "wa:Sam", "No", None, GROUP),
    ]
    assert {r["channel"] for r in rows} == {"whatsapp"}
    assert {r["tz_source"] for r in rows} == {"source"}
    assert {r["extra"]["device"] for r in rows} == {DEVICE}
    photo, lost = rows[2]["attachments"], rows[3]["attachments"]
    sha = hashlib.sha256(JPEG).hexdigest()
    assert photo == [{"name": "3f1c-photo.jpg", "mime": "image/jpeg", "size": len(JPEG), "sha256": sha}]
    assert (tmp_path / "blobs" / sha).is_file()
    assert lost == [{"name": "9a2d-lost.jpg", "mime": "image/jpeg", "size": 52011, "sha256": None}]
    assert rows[2]["extra"]["media_path"] == WA_PHOTO
    assert rows[6]["extra"]["chat_members"] == ["+447700900456", "Jordan"]
    assert rows[8]["recipients"] == ["+447700900456", "wa:Jordan"]
    assert rows[6]["extra"]["from_jid"] == GROUP_JID and rows[6]["sender_raw"] == "+447700900456"
    assert rows[0]["locator"] == "ChatStorage.sqlite ZWAMESSAGE Z_PK 1"
    assert rows[0]["conversation"] == "Jordan (447700900123@s.whatsapp.net)"
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []
    assert "the backup holds no HomeDomain-Library/SMS/sms.db: nothing was read from it" in report.warnings
    assert not any("WhatsApp" in w or "ChatStorage" in w for w in report.warnings)


def test_a_member_without_phone_or_saved_name_is_named_as_they_named_themselves(tmp_path):
    folder = tmp_path / "group.net.whatsapp.WhatsApp.shared"
    folder.mkdir()
    con = sqlite3.connect(chat_storage(folder / "ChatStorage.sqlite"))
    con.execute("UPDATE ZWAGROUPMEMBER SET ZMEMBERJID = '81234567890123@lid' WHERE Z_PK = 2")
    con.execute("UPDATE ZWAPROFILEPUSHNAME SET ZJID = '81234567890123@lid'")
    con.commit()
    con.close()
    table, _, _ = run_on_disk(tmp_path, "whatsapp-ios-db", folder / "ChatStorage.sqlite", owner=OWNER,
                              work_dir=tmp_path / "work")
    assert plain_rows(table)[6]["sender"] == "wa:AJ"


def test_a_damaged_table_of_push_names_leaves_the_member_named_by_their_jid(tmp_path):
    """As above, with the table of the names people gave themselves damaged (the whole database used
    to be refused): every message is read, the member is named by their JID, and a warning says why."""
    folder = tmp_path / "group.net.whatsapp.WhatsApp.shared"
    folder.mkdir()
    path = chat_storage(folder / "ChatStorage.sqlite")
    con = sqlite3.connect(path)
    con.execute("UPDATE ZWAGROUPMEMBER SET ZMEMBERJID = '81234567890123@lid' WHERE Z_PK = 2")
    con.commit()
    con.close()
    damage_page_of(path, "ZWAPROFILEPUSHNAME")
    table, rejects, report = run_on_disk(tmp_path, "whatsapp-ios-db", path, owner=OWNER, work_dir=tmp_path / "work")
    rows = plain_rows(table)
    assert (len(rows), rejects) == (9, [])
    assert (rows[6]["sender"], rows[6]["sender_raw"]) == ("wa:81234567890123@lid", "81234567890123@lid")
    assert report.warnings == [
        "ZWAPROFILEPUSHNAME in ChatStorage.sqlite is damaged (database disk image is malformed): the names people "
        "gave themselves could not be read, so a sender known only by one is named by their JID"]


def test_the_database_on_its_own_finds_media_beside_it(tmp_path):
    folder = tmp_path / "group.net.whatsapp.WhatsApp.shared"
    (folder / "Message" / WA_PHOTO).parent.mkdir(parents=True)
    (folder / "Message" / WA_PHOTO).write_bytes(JPEG)
    chat_storage(folder / "ChatStorage.sqlite")
    table, rejects, report = run_on_disk(tmp_path, "whatsapp-ios-db", folder / "ChatStorage.sqlite", owner=OWNER,
                                         work_dir=tmp_path / "work")
    rows = plain_rows(table)
    assert len(rows) == 9 and rejects == [] and report.warnings == []
    assert [r["flags"] for r in rows[2:4]] == [None, ["attachment_missing"]]
    assert rows[2]["attachments"][0]["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert "device" not in rows[0]["extra"]


def test_an_unknown_layout_names_the_table_and_column(tmp_path):
    path = chat_storage(tmp_path / "ChatStorage.sqlite")
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE ZWAMESSAGE DROP COLUMN ZTEXT")
    con.commit()
    con.close()
    ctx = make_ctx(tmp_path, source_path=str(path), owner=OWNER, work_dir=tmp_path / "work")
    with pytest.raises(InputError) as err:
        run_parser("whatsapp-ios-db", path.read_bytes(), ctx)
    assert "table ZWAMESSAGE has no column ZTEXT" in err.value.render()


def test_owner_without_whatsapp_name_is_their_phone_and_two_names_are_said(tmp_path):
    folder = whatsapp_backup(tmp_path / "backup", tmp_path / "build")
    rows, _, report = parse_backup(tmp_path, folder, Owner(name="Sam", phones=frozenset({"+447700900999"})))
    assert rows[1]["sender"] == "+447700900999"
    rows, _, report = parse_backup(tmp_path, folder, Owner(name="Sam", whatsapp_names=frozenset({"Sam", "S"})))
    assert rows[1]["sender"] == "wa:S"
    assert any("owner.whatsapp_names gives 2 names" in w for w in report.warnings)


def test_database_and_export_of_one_chat_are_one_event_with_two_occurrences(tmp_path, capsys):
    backup = whatsapp_backup(tmp_path / "backup", tmp_path / "build")
    export = tmp_path / "WhatsApp Chat with Jordan.txt"
    export.write_text(WA_EXPORT, encoding="utf-8")
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(backup), str(export)]) == 0, capsys.readouterr().out
    master = [m for m in read_master(Case(case)).to_pylist() if m["channel"] == "whatsapp"]
    # 9 from the database, 4 from the export, 2 of them the same messages
    assert len(master) == 11
    both = {m["body"]: sorted(o["locator"] for o in m["occurrences"]) for m in master if len(m["occurrences"]) > 1}
    assert both == {"Why are you ignoring me": ["ChatStorage.sqlite ZWAMESSAGE Z_PK 1", "line 2"],
                    "Please leave me alone": ["ChatStorage.sqlite ZWAMESSAGE Z_PK 2", "line 3"]}
    by_body = {m["body"]: m for m in master}
    assert by_body["Why are you ignoring me"]["party"] == "Jordan"
    assert len(by_body["I will wait"]["occurrences"]) == 1
    assert by_body["Is Sam coming?"]["sender"] == "+447700900456" and ALEX_JID.startswith("447700900456")


def test_a_message_without_date_is_kept_and_flagged(tmp_path):
    folder = tmp_path / "group.net.whatsapp.WhatsApp.shared"
    folder.mkdir()
    con = sqlite3.connect(chat_storage(folder / "ChatStorage.sqlite"))
    con.execute("UPDATE ZWAMESSAGE SET ZMESSAGEDATE = NULL WHERE Z_PK = 1")
    con.commit()
    con.close()
    table, _, _ = run_on_disk(tmp_path, "whatsapp-ios-db", folder / "ChatStorage.sqlite", owner=OWNER,
                              work_dir=tmp_path / "work")
    first = table.to_pylist()[0]
    assert (first["ts_utc"], first["ts_local"], first["flags"], first["body"]) == (
        None, None, ["undated"], "Why are you ignoring me")


LRM = "\u200e"
# The rest of the one-to-one chat as iOS's "Export chat" writes it without media, and the group's export.
WA_MEDIA_LINES = (f"[14/03/2024, 20:20:00] Jordan: {LRM}<attached: 00000012-PHOTO-2024-03-14-20-20-00.jpg>\n"
                  f"[14/03/2024, 20:21:00] Jordan: {LRM}image omitted\n"
                  f"[14/03/2024, 20:22:00] Jordan: {LRM}This message was deleted.\n")
WEEKEND = (f"[15/03/2024, 08:59:00] Weekend: {LRM}Messages and calls are end-to-end encrypted. No one outside of "
           "this chat, not even WhatsApp, can read or listen to them.\n"
           f"[15/03/2024, 09:00:00] Weekend: {LRM}Jordan created group “Weekend”\n"
           "[15/03/2024, 09:01:00] +44 7700 900456: Is Sam coming?\n"
           "[15/03/2024, 09:02:00] Jordan: She is not\n"
           "[15/03/2024, 09:03:00] Sam: No\n"
           "[15/03/2024, 09:10:00] Jordan: Only in the export\n")


def edited_chat_storage(folder, *statements: tuple[str, tuple]):
    """Sam's WhatsApp database in ``folder``, changed by these SQL statements (with their parameters)."""
    folder.mkdir(parents=True)
    con = sqlite3.connect(chat_storage(folder / "ChatStorage.sqlite"))
    for sql, params in statements:
        con.execute(sql, params)
    con.commit()
    con.close()
    return folder / "ChatStorage.sqlite"


def ingest_with_exports(tmp_path, exports: dict[str, str], *statements: tuple[str, tuple]) -> list[dict]:
    """Sam's WhatsApp database (changed by ``statements``) and these exports, ingested."""
    inputs = [str(edited_chat_storage(tmp_path / "group.net.whatsapp.WhatsApp.shared", *statements))]
    for name, text in exports.items():
        path = tmp_path / "exports" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        inputs.append(str(path))
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), *inputs]) == 0
    return [m for m in read_master(Case(case)).to_pylist() if m["channel"] == "whatsapp"]


def shared(master: list[dict]) -> list[list[str]]:
    """The locators of every event with more than one copy."""
    return sorted(sorted(o["locator"] for o in m["occurrences"]) for m in master if len(m["occurrences"]) > 1)


def test_a_group_and_media_and_deleted_messages_in_database_and_export_are_one_event_each(tmp_path):
    master = ingest_with_exports(tmp_path, {"WhatsApp Chat with Jordan.txt": WA_EXPORT + WA_MEDIA_LINES,
                                            "WhatsApp Chat - Weekend/_chat.txt": WEEKEND})
    # 9 from the database, 7 + 6 from the exports; 2 texts, 2 photos and a deletion of the
    # one-to-one chat and 3 messages of the group in both
    assert len(master) == 14
    db = "ChatStorage.sqlite ZWAMESSAGE Z_PK "
    assert shared(master) == [[f"{db}1", "line 2"], [f"{db}2", "line 3"], [f"{db}3", "line 5"],
                              [f"{db}4", "line 6"], [f"{db}5", "line 7"], [f"{db}7", "line 3"],
                              [f"{db}8", "line 4"], [f"{db}9", "line 5"]]
    by_body = {m["body"]: m for m in master}
    assert by_body["She is not"]["party"] == "Jordan" and by_body["She is not"]["sender"] == "wa:Jordan"
    assert len(by_body["Only in the export"]["occurrences"]) == 1


def test_two_groups_with_one_name_stay_apart(tmp_path):
    # Another group called Weekend, where someone the database's Weekend does not know writes: the
    # same words from Jordan in the same minute are two events
    other = WEEKEND.replace("09:10:00] Jordan", "09:10:00] +44 7700 900777")
    master = ingest_with_exports(tmp_path, {"WhatsApp Chat - Weekend/_chat.txt": WEEKEND,
                                            "WhatsApp Chat - Weekend (other)/_chat.txt": other.replace(
                                                "08:59:00", "08:58:00")})
    she = sorted(len(m["occurrences"]) for m in master if m["body"] == "She is not")
    assert she == [1, 2]
    assert len(master) == 9 + 6 + 6 - 3     # only the database group and its own export share messages
    # Two groups called Weekend in the database: an export named Weekend is linked to neither
    jid = "447700900999-1709999999@g.us"
    master = ingest_with_exports(
        tmp_path / "two", {"WhatsApp Chat - Weekend/_chat.txt": WEEKEND},
        ("INSERT INTO ZWACHATSESSION (Z_PK, ZCONTACTJID, ZPARTNERNAME, ZSESSIONTYPE) "
         "VALUES (3, ?, 'Weekend', 1)", (jid,)),
        ("INSERT INTO ZWAMESSAGE (Z_PK, ZCHATSESSION, ZMESSAGEDATE, ZISFROMME, ZMESSAGETYPE, ZTEXT, ZFROMJID) "
         "VALUES (100, 3, 732000000, 1, 0, 'Hi', ?)", (jid,)))
    assert shared(master) == [] and len(master) == 10 + 6


def test_a_media_message_whose_file_was_never_downloaded_is_listed_missing_and_merges_with_its_export(tmp_path):
    never = [("UPDATE ZWAMEDIAITEM SET ZMEDIALOCALPATH = NULL WHERE Z_PK = 2", ()),
             ("INSERT INTO ZWAMESSAGE (Z_PK, ZCHATSESSION, ZMESSAGEDATE, ZISFROMME, ZMESSAGETYPE, ZFROMJID) "
              "VALUES (10, 1, 732140000, 0, 3, ?)", (JORDAN_JID,))]     # a voice note without a media item
    path = edited_chat_storage(tmp_path / "group.net.whatsapp.WhatsApp.shared", *never)
    table, _, _ = run_on_disk(tmp_path, "whatsapp-ios-db", path, owner=OWNER, work_dir=tmp_path / "work")
    rows = plain_rows(table)
    assert [(r["attachments"], r["flags"]) for r in (rows[3], rows[9])] == [
        ([{"name": None, "mime": None, "size": 52011, "sha256": None}], ["attachment_missing"]),
        ([{"name": None, "mime": None, "size": None, "sha256": None}], ["attachment_missing"])]
    master = ingest_with_exports(tmp_path / "both", {"WhatsApp Chat with Jordan.txt": WA_EXPORT + WA_MEDIA_LINES},
                                 *never)
    assert len(master) == 10 + 7 - 5 and len(shared(master)) == 5    # "image omitted" is the photo never downloaded
