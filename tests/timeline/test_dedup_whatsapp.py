"""One WhatsApp chat exported twice is one set of events whatever its files are called; two chats
stay apart (README, "How a conversation is identified"). End to end: real exports through ingest."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commtrail.case import Case
from commtrail.cli import main
from commtrail.timeline.master import read_master, read_possibly_deleted

from conftest import new_case

NOTICE = ("Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, "
          "can read or listen to them.")
JORDAN = ["13/03/2024, 09:15 - Jordan: we need to talk\n",
          "13/03/2024, 09:16 - Sam: please stop messaging me\n"]
LATER = "13/03/2024, 22:40 - Jordan: you can't ignore me forever\n"


def ingest(tmp_path: Path, files: dict[str, str | bytes | dict[str, str | bytes]]) -> list[dict]:
    """Write ``files`` (a dict value is a zip's members), ingest them all into a new case, and
    return the master's rows."""
    inputs = tmp_path / "in"
    for name, content in files.items():
        path = inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            with zipfile.ZipFile(path, "w") as archive:
                for member, data in content.items():
                    archive.writestr(member, data)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)
    root = new_case(tmp_path / "case")
    assert main(["ingest", str(root), *(str(inputs / name) for name in files)]) == 0
    return read_master(Case(root)).to_pylist()


def summary(rows: list[dict]) -> list[tuple[str, str, int]]:
    return [(r["sender"] or "", r["body"], len(r["occurrences"])) for r in rows]


def test_a_renamed_export_is_the_same_chat(tmp_path):
    rows = ingest(tmp_path, {"WhatsApp Chat with Jordan.txt": "".join(JORDAN),
                             "jordan-export-2024.txt": "".join(JORDAN).replace("\n", "\r\n")})  # saved on Windows
    assert summary(rows) == [("wa:Jordan", "we need to talk", 2), ("wa:Sam", "please stop messaging me", 2)]
    assert [r["party"] for r in rows] == ["Jordan", "Jordan"]
    assert sorted(o["source_path"].rsplit("/", 1)[1] for o in rows[0]["occurrences"]) == [
        "WhatsApp Chat with Jordan.txt", "jordan-export-2024.txt"]
    assert {r["extra"] for r in rows} == {'{"chat":"one-to-one:wa:Jordan"}'}
    assert {r["dup_method"] for r in rows} == {"author+chat+minute+text"}


def test_a_numbered_copy_and_a_later_export_share_their_messages(tmp_path):
    rows = ingest(tmp_path, {"WhatsApp Chat with Jordan.txt": "".join(JORDAN),
                             "WhatsApp Chat with Jordan (1).txt": "".join(JORDAN) + LATER})
    assert summary(rows) == [("wa:Jordan", "we need to talk", 2), ("wa:Sam", "please stop messaging me", 2),
                             ("wa:Jordan", "you can't ignore me forever", 1)]


def test_the_zip_with_media_and_a_renamed_text_export(tmp_path):
    media = "13/03/2024, 09:17 - Jordan: IMG-20240313-WA0001.jpg (file attached)\n"
    omitted = "13/03/2024, 09:17 - Jordan: <Media omitted>\n"
    rows = ingest(tmp_path, {
        "WhatsApp Chat with Jordan.zip": {"WhatsApp Chat with Jordan.txt": "".join(JORDAN) + media,
                                          "IMG-20240313-WA0001.jpg": b"\xff\xd8\xff\xe0 fictional"},
        "jordan-march.txt": "".join(JORDAN) + omitted})
    # the media message is written differently by the two exports, and keyed as media by both: one event
    assert summary(rows[:2]) == [("wa:Jordan", "we need to talk", 2), ("wa:Sam", "please stop messaging me", 2)]
    assert len(rows) == 3 and len(rows[2]["occurrences"]) == 2
    assert sorted(o["locator"] for o in rows[2]["occurrences"]) == ["line 3", "line 3"]
    assert rows[2]["body"] in ("<Media omitted>", "IMG-20240313-WA0001.jpg (file attached)")


def test_an_ios_zip_and_its_renamed_copy(tmp_path):
    lrm = "\u200e"
    chat = (f"[13/03/2024, 09:00:05] Jordan: {lrm}{NOTICE}\n"
            "[13/03/2024, 09:15:31] Jordan: we need to talk\n"
            "[13/03/2024, 09:16:02] Sam: please stop messaging me\n")
    rows = ingest(tmp_path, {"WhatsApp Chat - Jordan.zip": {"_chat.txt": chat},
                             "backup/old-phone.zip": {"_chat.txt": chat + "[13/03/2024, 22:40:10] Jordan: later\n"}})
    assert summary(rows) == [("", lrm + NOTICE, 2), ("wa:Jordan", "we need to talk", 2),
                             ("wa:Sam", "please stop messaging me", 2), ("wa:Jordan", "later", 1)]


GROUP = [f"10/03/2024, 20:00 - {NOTICE}\n",
         '10/03/2024, 20:00 - Jordan created group "Book club"\n',
         "10/03/2024, 20:00 - Jordan added you\n",
         "13/03/2024, 09:15 - Jordan: we need to talk\n",
         "13/03/2024, 09:20 - Alex: leave her alone\n",
         "13/03/2024, 09:21 - Sam: please stop messaging me\n"]


def test_a_group_exported_twice_under_other_names(tmp_path):
    rows = ingest(tmp_path, {"WhatsApp Chat with Book club.txt": "".join(GROUP),
                             "evidence/group.txt": "".join(GROUP) + LATER})
    assert summary(rows) == [("", NOTICE, 2), ("", 'Jordan created group "Book club"', 2),
                             ("", "Jordan added you", 2), ("wa:Jordan", "we need to talk", 2),
                             ("wa:Alex", "leave her alone", 2), ("wa:Sam", "please stop messaging me", 2),
                             ("wa:Jordan", "you can't ignore me forever", 1)]
    assert len({json.loads(r["extra"])["chat"] for r in rows}) == 1 and rows[0]["extra"].startswith('{"chat":"group:')


def test_different_chats_with_the_same_lines_stay_apart(tmp_path):
    # Sam answers Jordan and Chris with the same word in the same minute, both files renamed alike;
    # Jordan writes the same words in the 1:1 chat and in a group where only Jordan writes.
    ok = "13/03/2024, 09:30 - Sam: ok\n"
    group = "".join(GROUP[:3]) + "13/03/2024, 09:15 - Jordan: we need to talk\n"
    rows = ingest(tmp_path, {"jordan/chat.txt": "".join(JORDAN) + ok,
                             "chris/chat.txt": "13/03/2024, 09:29 - Chris: are you alright?\n" + ok,
                             "club/chat.txt": group})
    assert sorted(summary(rows)) == sorted([
        ("", NOTICE, 1), ("", 'Jordan created group "Book club"', 1), ("", "Jordan added you", 1),
        ("wa:Jordan", "we need to talk", 1), ("wa:Jordan", "we need to talk", 1),
        ("wa:Sam", "please stop messaging me", 1), ("wa:Chris", "are you alright?", 1),
        ("wa:Sam", "ok", 1), ("wa:Sam", "ok", 1)])
    oks = [r for r in rows if r["body"] == "ok"]     # linked, not merged
    assert json.loads(oks[0]["extra"])["near_duplicates"] == [oks[1]["event_id"]]
    assert json.loads(oks[1]["extra"])["near_duplicates"] == [oks[0]["event_id"]]


def test_chats_where_only_the_owner_writes(tmp_path):
    only_sam = "13/03/2024, 09:16 - Sam: please stop messaging me\n"
    rows = ingest(tmp_path, {"WhatsApp Chat with Jordan.txt": "".join(JORDAN),
                             "WhatsApp Chat with Jordan (2).txt": only_sam + "13/03/2024, 09:50 - Sam: stop\n",
                             "a/notes.txt": only_sam + "13/03/2024, 09:51 - Sam: bye\n",
                             "b/notes.txt": only_sam + "13/03/2024, 09:52 - Sam: bye\n"})
    # WhatsApp's own file name says who the chat is with; renamed files with no other side stand alone
    assert sorted(summary(rows)) == sorted([
        ("wa:Jordan", "we need to talk", 1), ("wa:Sam", "please stop messaging me", 2),
        ("wa:Sam", "stop", 1), ("wa:Sam", "please stop messaging me", 1), ("wa:Sam", "bye", 1),
        ("wa:Sam", "please stop messaging me", 1), ("wa:Sam", "bye", 1)])


def test_a_message_missing_from_a_renamed_later_export_is_possibly_deleted(tmp_path):
    later = JORDAN[0] + LATER
    ingest(tmp_path, {"WhatsApp Chat with Jordan.txt": "".join(JORDAN), "jordan-later.txt": later})
    gone = read_possibly_deleted(Case(tmp_path / "case")).to_pylist()
    assert [(Path(g["earlier_path"]).name, Path(g["later_path"]).name) for g in gone] == [
        ("WhatsApp Chat with Jordan.txt", "jordan-later.txt")]
    master = {r["event_id"]: r["body"] for r in read_master(Case(tmp_path / "case")).to_pylist()}
    assert master[gone[0]["event_id"]] == "please stop messaging me"


NAMES = st.sampled_from(["WhatsApp Chat with Jordan.txt", "WhatsApp Chat with Jordan (1).txt", "jordan.txt",
                         "export 2024.txt", "WhatsApp Chat with Chris.txt", "_chat.txt", "chat.txt"])
CHATS = ["".join(JORDAN), "".join(JORDAN) + LATER, "13/03/2024, 09:29 - Chris: are you alright?\n", "".join(GROUP)]
BASELINE: list[str] = []     # the event ids with WhatsApp's own file names, computed once


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=4, max_size=4))
def test_renaming_files_never_changes_the_event_ids(tmp_path_factory, names):
    if not BASELINE:
        files = {f"{i}/WhatsApp Chat {i}.txt": chat for i, chat in enumerate(CHATS)}
        BASELINE.extend(sorted(r["event_id"] for r in ingest(tmp_path_factory.mktemp("case"), files)))
    renamed = {f"{i}/{name}": chat for i, (name, chat) in enumerate(zip(names, CHATS))}
    assert sorted(r["event_id"] for r in ingest(tmp_path_factory.mktemp("case"), renamed)) == BASELINE
    assert len(BASELINE) == 2 + 1 + 1 + len(GROUP)
