"""WhatsApp msgstore.db (Android): records, media, groups, layouts, encrypted backups, and dedup with a .txt export."""

from __future__ import annotations

import hashlib

import pytest
from android_scenario import JPEG, build, msgstore, msgstore_legacy

from commtrail.case import Case
from commtrail.cli import main
from commtrail.errors import InputError
from commtrail.inventory import read_inventory
from commtrail.parsers import registry
from commtrail.parsers.android.layouts import MSGSTORE
from commtrail.parsers.base import Owner
from commtrail.timeline.master import read_master
from conftest import make_ctx, new_case, plain_rows, run_on_disk, run_parser

OWNER = Owner(phones=frozenset({"+447700900999"}), whatsapp_names=frozenset({"Sam"}))
JORDAN, OTHER = "+447700900123", "+447700900456"
ONE_TO_ONE, GROUP = "one-to-one:+447700900123", "group-jid:120363000000000001@g.us"


def test_messages_media_deletions_groups_and_replies(tmp_path):
    path = msgstore(tmp_path / "phone")
    assert registry.sniff(path.read_bytes()[:registry.SNIFF_BYTES], "backup.db").name == "android-whatsapp"
    table, rejects, report = run_on_disk(tmp_path, "android-whatsapp", path, owner=OWNER, timezone="Europe/London")
    rows = plain_rows(table)
    assert [(r["locator"], r["kind"], r["direction"], r["sender"], r["conversation"], r["extra"]["chat"], r["body"],
             r["flags"], r["ts_utc"]) for r in rows] == [
        ("msgstore.db message _id 1", "message", "incoming", JORDAN, JORDAN, ONE_TO_ONE, "Are you ignoring me?", None,
         "2024-03-01T18:00:30+00:00"),
        ("msgstore.db message _id 2", "message", "outgoing", "wa:Sam", JORDAN, ONE_TO_ONE, "Please stop messaging me.",
         None, "2024-03-01T18:02:10+00:00"),
        ("msgstore.db message _id 3", "message", "incoming", JORDAN, JORDAN, ONE_TO_ONE, "Look", None,
         "2024-03-01T18:05:00+00:00"),
        ("msgstore.db message _id 4", "message", "incoming", JORDAN, JORDAN, ONE_TO_ONE, None, ["deleted"],
         "2024-03-01T18:06:00+00:00"),
        ("msgstore.db message _id 5", "message", "incoming", OTHER, "Family (120363000000000001@g.us)", GROUP,
         "Hello all", None, "2024-03-02T10:00:00+00:00"),
        ("msgstore.db message _id 6", "system", "unknown", None, "Family (120363000000000001@g.us)", GROUP, None, None,
         "2024-03-02T10:01:00+00:00"),
        ("msgstore.db message _id 7", "message", "outgoing", "wa:Sam", "Family (120363000000000001@g.us)", GROUP, None,
         ["attachment_missing"], "2024-03-02T10:02:00+00:00"),
        ("msgstore.db message _id 9", "message", "incoming", JORDAN, JORDAN, ONE_TO_ONE, "Answer me", None,
         "2024-03-01T18:20:00+00:00"),
    ]
    assert {(r["channel"], r["ts_precision"], r["tz_source"]) for r in rows} == {("whatsapp", "ms", "source")}
    assert rows[0]["sender_raw"] == "447700900123@s.whatsapp.net"
    sha = hashlib.sha256(JPEG).hexdigest()
    assert rows[2]["attachments"] == [{"name": "IMG-20240301-WA0001.jpg", "mime": "image/jpeg", "size": len(JPEG),
                                       "sha256": sha}]
    assert (tmp_path / "blobs" / sha).read_bytes() == JPEG
    assert rows[6]["attachments"] == [{"name": "VID-20240302-WA0002.mp4", "mime": "video/mp4", "size": 4096,
                                       "sha256": None}]
    assert rows[4]["extra"]["group_members"] == [JORDAN, OTHER] and rows[4]["extra"]["subject"] == "Family"
    assert rows[5]["extra"]["action_type"] == 12
    assert rows[7]["extra"]["quoted_key_id"] == "KEY0001"
    assert rows[7]["extra"]["quoted_text"] == "Are you ignoring me?"
    assert [(r.locator, r.reason) for r in rejects] == [("msgstore.db message _id 8", "date 0 is outside 1970-2200")]
    assert report.warnings == ["1 WhatsApp media file(s) named by msgstore.db are not beside it: listed without their "
                               "content and flagged attachment_missing"]


def test_a_layout_without_text_data_is_refused_by_column(tmp_path):
    path = tmp_path / "odd" / "msgstore.db"
    build(path, MSGSTORE.replace("text_data TEXT, starred", "starred"), {})
    with pytest.raises(InputError) as caught:
        run_on_disk(tmp_path, "android-whatsapp", path, owner=OWNER)
    assert caught.value.render().startswith(f"{path}: table message has no column text_data, so this database is of "
                                            "a layout commtrail does not know. The README lists the WhatsApp versions")


def test_the_layout_before_2022_gives_the_same_records(tmp_path):
    path = msgstore_legacy(tmp_path / "old")
    assert registry.sniff(path.read_bytes()[:registry.SNIFF_BYTES], "msgstore.db").name == "android-whatsapp"
    table, rejects, report = run_on_disk(tmp_path, "android-whatsapp", path, owner=OWNER, timezone="Europe/London")
    rows = plain_rows(table)
    assert [(r["locator"], r["kind"], r["direction"], r["sender"], r["sender_raw"], r["conversation"],
             r["extra"]["chat"], r["body"], r["flags"], r["ts_utc"]) for r in rows] == [
        ("msgstore.db messages _id 1", "message", "incoming", JORDAN, "447700900123@s.whatsapp.net", JORDAN, ONE_TO_ONE,
         "Are you ignoring me?", None, "2024-03-01T18:00:30+00:00"),
        ("msgstore.db messages _id 2", "message", "outgoing", "wa:Sam", None, JORDAN, ONE_TO_ONE,
         "Please stop messaging me.", None, "2024-03-01T18:02:10+00:00"),
        ("msgstore.db messages _id 3", "message", "incoming", JORDAN, "447700900123@s.whatsapp.net", JORDAN, ONE_TO_ONE,
         "Look", ["attachment_missing"], "2024-03-01T18:05:00+00:00"),
        ("msgstore.db messages _id 4", "message", "incoming", JORDAN, "447700900123@s.whatsapp.net", JORDAN, ONE_TO_ONE,
         None, ["deleted"], "2024-03-01T18:06:00+00:00"),
        ("msgstore.db messages _id 5", "message", "incoming", OTHER, "447700900456@s.whatsapp.net",
         "Family (120363000000000001@g.us)", GROUP, "Hello all", None, "2024-03-02T10:00:00+00:00"),
        ("msgstore.db messages _id 6", "system", "unknown", None, None, "Family (120363000000000001@g.us)", GROUP, None,
         None, "2024-03-02T10:01:00+00:00"),
    ]
    assert rows[2]["attachments"] == [{"name": "IMG-20240301-WA0001.jpg", "mime": "image/jpeg", "size": 999,
                                       "sha256": None}]
    assert rows[4]["extra"]["group_members"] == [JORDAN, OTHER]
    assert (rejects, report.warnings) == ([], ["1 WhatsApp media file(s) named by msgstore.db are not beside it: "
                                               "listed without their content and flagged attachment_missing"])


@pytest.mark.parametrize("name", ["msgstore.db.crypt12", "msgstore-2024-03-01.1.db.crypt14", "msgstore.db.crypt15"])
def test_an_encrypted_whatsapp_backup_is_refused_saying_what_it_is_and_what_it_needs(tmp_path, name):
    data = bytes(range(256)) * 8
    assert registry.sniff(data[:registry.SNIFF_BYTES], name).name == "android-whatsapp-crypt"
    with pytest.raises(InputError) as caught:
        run_parser("android-whatsapp-crypt", data, make_ctx(tmp_path, source_path=f"phone/{name}", file_name=name))
    text = caught.value.render()
    assert text.startswith(f"phone/{name}: this is an end-to-end encrypted WhatsApp backup (crypt{name[-2:]}), so its "
                           "messages cannot be read without its key.")
    assert "/data/data/com.whatsapp/files/key" in text and "64-digit key" in text


EXPORT = """01/03/2024, 18:00 - Messages and calls are end-to-end encrypted. No one outside of this chat, not even \
WhatsApp, can read or listen to them. Tap to learn more.
01/03/2024, 18:00 - +44 7700 900123: Are you ignoring me?
01/03/2024, 18:02 - Sam: Please stop messaging me.
01/03/2024, 18:30 - +44 7700 900123: Only in the export
"""


def test_a_chat_from_the_database_and_from_its_txt_export_is_one_set_of_events(tmp_path, capsys):
    folder = tmp_path / "phone"
    msgstore(folder)
    (folder / "WhatsApp Chat with +44 7700 900123.txt").write_text(EXPORT, encoding="utf-8")
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(folder), "--date-order", "DMY"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    inventory = sorted(read_inventory(case / "sources.parquet"), key=lambda r: r["path"])
    assert [(r["path"].rsplit("/", 1)[1], r["format"], r["records"], r["rejects"]) for r in inventory] == [
        ("WhatsApp Chat with +44 7700 900123.txt", "whatsapp", 4, 0), ("msgstore.db", "android-whatsapp", 8, 1)]
    master = read_master(Case(case)).to_pylist()
    assert len(master) == 10
    copies = {(m["kind"], m["body"]): sorted(o["locator"] for o in m["occurrences"]) for m in master}
    assert copies[("message", "Are you ignoring me?")] == ["line 2", "msgstore.db message _id 1"]
    assert copies[("message", "Please stop messaging me.")] == ["line 3", "msgstore.db message _id 2"]
    assert copies[("message", "Only in the export")] == ["line 4"]
    assert copies[("message", "Answer me")] == ["msgstore.db message _id 9"]
    party = {m["body"]: m["party"] for m in master if m["kind"] == "message"}
    assert party["Are you ignoring me?"] == "Jordan" and party["Hello all"] == "Jordan"


def test_an_encrypted_backup_given_to_ingest_is_refused_with_exit_1_and_the_rest_goes_in(tmp_path, capsys):
    folder = tmp_path / "phone"
    msgstore(folder)
    (folder / "msgstore.db.crypt14").write_bytes(bytes(range(256)) * 8)
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"{folder}/msgstore.db.crypt14: this is an end-to-end encrypted WhatsApp backup (crypt14)" in err
    assert "Traceback" not in err
    assert [r["format"] for r in read_inventory(case / "sources.parquet")] == ["android-whatsapp"]


# The same phone's exports of both chats: the group's file named by WhatsApp, the media and the
# deleted message as an export writes them.
MORE = """01/03/2024, 18:05 - +44 7700 900123: IMG-20240301-WA0001.jpg (file attached)
Look
01/03/2024, 18:06 - +44 7700 900123: This message was deleted
"""
FAMILY = """02/03/2024, 09:58 - Messages and calls are end-to-end encrypted. No one outside of this chat, not even \
WhatsApp, can read or listen to them. Tap to learn more.
02/03/2024, 09:58 - Sam created group "Family"
02/03/2024, 10:00 - +44 7700 900456: Hello all
02/03/2024, 10:02 - Sam: VID-20240302-WA0002.mp4 (file attached)
02/03/2024, 10:05 - +44 7700 900456: Only in the group's export
"""


def ingest_folder(tmp_path, files: dict[str, str]) -> list[dict]:
    folder = tmp_path / "phone"
    msgstore(folder)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(folder), "--date-order", "DMY"]) == 0
    return read_master(Case(case)).to_pylist()


def test_a_group_media_and_deleted_messages_from_the_database_and_the_exports_are_one_event_each(tmp_path):
    master = ingest_folder(tmp_path, {"WhatsApp Chat with +44 7700 900123.txt": EXPORT + MORE,
                                      "WhatsApp Chat with Family.txt": FAMILY})
    # 8 from the database, 6 from the one-to-one export, 5 from the group's: 6 messages in two of them
    assert len(master) == 13
    both = sorted(sorted(o["locator"] for o in m["occurrences"]) for m in master if len(m["occurrences"]) == 2)
    assert both == [["line 2", "msgstore.db message _id 1"], ["line 3", "msgstore.db message _id 2"],
                    ["line 3", "msgstore.db message _id 5"], ["line 4", "msgstore.db message _id 7"],
                    ["line 5", "msgstore.db message _id 3"], ["line 7", "msgstore.db message _id 4"]]
    assert all(len(m["occurrences"]) <= 2 for m in master)
    by_locator = {o["locator"]: m for m in master for o in m["occurrences"]}
    assert by_locator["msgstore.db message _id 7"]["dup_method"] == "author+chat+minute+text"
    assert by_locator["msgstore.db message _id 4"]["flags"] == ["deleted"]
    assert len(by_locator["msgstore.db message _id 6"]["occurrences"]) == 1     # a group event without text


def test_a_group_export_with_a_writer_the_database_group_lacks_stays_apart(tmp_path):
    other = FAMILY.replace("10:05 - +44 7700 900456", "10:05 - +44 7700 900777")   # not in the database's Family
    master = ingest_folder(tmp_path, {"WhatsApp Chat with Family.txt": other})
    assert len(master) == 8 + 5 and all(len(m["occurrences"]) == 1 for m in master)
