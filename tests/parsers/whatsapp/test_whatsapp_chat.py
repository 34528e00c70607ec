"""The conversation identity the WhatsApp parser tells from an export's content (``extra["chat"]``)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest

from commtrail.parsers.base import Owner
from commtrail.parsers.whatsapp.chat import chat_identity
from tests.conftest import FIXTURES, make_ctx, run_parser

SAM = Owner(whatsapp_names=frozenset({"Sam Carter", "Sam"}))
SHA = "ab" * 32


def chat_of(tmp_path, data: str | bytes, path: str = "export.txt") -> str:
    raw = data.encode() if isinstance(data, str) else data
    ctx = make_ctx(tmp_path, source_path=path, source_sha256=SHA, timezone="Europe/London", owner=SAM)
    table, rejects, report = run_parser("whatsapp", raw, ctx)
    assert rejects == []
    chats = {json.loads(x)["chat"] for x in table.column("extra").to_pylist()}
    assert len(chats) == 1                         # every record of the export carries it
    return chats.pop()


def opening(when: datetime, text: str) -> str:
    minute = int(when.timestamp()) // 60
    return "group:" + hashlib.md5(f"{minute}\x1f{text}".encode()).hexdigest()


@pytest.mark.parametrize("name, path", [
    ("android_dmy_24h.txt", "WhatsApp Chat with Jordan Blake.txt"),
    ("android_dmy_24h.txt", "renamed.txt"),
    ("ios_dmy_seconds.txt", "WhatsApp Chat - Jordan Blake.zip!_chat.txt"),
    ("ios_dmy_seconds.txt", "old phone.zip!_chat.txt"),
    ("ios_dmy_seconds.txt", "WhatsApp Chat - Somebody Else.zip!_chat.txt"),  # the file name cannot override it
])
def test_a_one_to_one_chat_is_the_other_person(tmp_path, name, path):
    assert chat_of(tmp_path, (FIXTURES / "whatsapp" / name).read_bytes(), path) == "one-to-one:wa:Jordan Blake"


def test_a_contact_without_a_name_is_the_phone_number(tmp_path):
    data = "13/03/2024, 10:00 - +44 7700 900123: who is this\n13/03/2024, 10:01 - Sam: Sam\n"
    assert chat_of(tmp_path, data, "WhatsApp Chat with +44 7700 900123.txt") == "one-to-one:+447700900123"


def test_groups_by_their_first_system_line(tmp_path):
    android = (FIXTURES / "whatsapp" / "android_system_group.txt").read_bytes()
    first = android.decode().splitlines()[0].split(" - ", 1)[1]
    when = datetime(2024, 2, 16, 12, 0, tzinfo=timezone.utc)   # London is on UTC in February
    assert first.startswith("Messages and calls are end-to-end encrypted")
    assert chat_of(tmp_path, android, "WhatsApp Chat with Book club.txt") == opening(when, first)
    ios = (FIXTURES / "whatsapp" / "ios_system_group.txt").read_bytes()
    lines = ios.decode().splitlines()
    text = lines[0].split(": ", 1)[1].lstrip("\u200e")   # after the group name and its invisible mark
    assert chat_of(tmp_path, ios, "x.zip!_chat.txt") == opening(
        datetime.strptime(lines[0][1:18], "%d/%m/%Y, %H:%M").replace(tzinfo=timezone.utc), text)


def test_a_group_where_one_person_writes_is_still_a_group(tmp_path):
    data = ("13/03/2024, 09:00 - Jordan added you\n"
            "13/03/2024, 09:15 - Jordan: we need to talk\n")
    when = datetime(2024, 3, 13, 9, 0, tzinfo=timezone.utc)
    assert chat_of(tmp_path, data, "WhatsApp Chat with Jordan.txt") == opening(when, "Jordan added you")


def test_a_group_without_system_lines_is_its_people(tmp_path):
    data = ("13/03/2024, 09:15 - Jordan: we need to talk\n13/03/2024, 09:20 - Alex: leave her alone\n"
            "13/03/2024, 09:21 - Sam: please stop\n")
    assert chat_of(tmp_path, data) == "group-of:wa:Alex~wa:Jordan"


def test_a_pasted_header_does_not_make_a_group(tmp_path):
    data = ("13/03/2024, 09:15 - Jordan: we need to talk\n13/03/2024, 09:16 - Sam: no\n"
            "13/03/2024, 09:17 - Jordan: answer\n13/03/2024, 09:18 - Sam: stop\n"
            "13/03/2024, 09:19 - Chris: a line Jordan pasted\n")
    assert chat_of(tmp_path, data) == "one-to-one:wa:Jordan"


def test_only_the_owner_writes(tmp_path):
    data = "13/03/2024, 09:16 - Sam: please stop messaging me\n"
    assert chat_of(tmp_path, data, "WhatsApp Chat with Jordan (1).txt") == "one-to-one:wa:Jordan"
    assert chat_of(tmp_path, data, "WhatsApp Chat - Jordan.zip!_chat.txt") == "one-to-one:wa:Jordan"
    assert chat_of(tmp_path, data, "jordan.txt") == f"file:{SHA}"
    ios = "[13/03/2024, 09:00:05] Jordan: \u200eMessages and calls are end-to-end encrypted.\n" \
          "[13/03/2024, 09:16:00] Sam: please stop messaging me\n"
    assert chat_of(tmp_path, ios, "renamed.zip!_chat.txt") == "one-to-one:wa:Jordan"


def test_chat_identity_rule():
    assert chat_identity(others=["wa:A", "wa:B"], group_event=False, opening=None, named="wa:X",
                         source_sha256=SHA) == "group-of:wa:A~wa:B"
    assert chat_identity(others=[], group_event=True, opening=(0, "x"), named=None, source_sha256=SHA) == \
        "group:" + hashlib.md5(b"0\x1fx").hexdigest()
    assert chat_identity(others=["wa:A"], group_event=False, opening=(0, "x"), named="wa:X",
                         source_sha256=SHA) == "one-to-one:wa:A"
    assert chat_identity(others=[], group_event=False, opening=None, named=None, source_sha256=SHA) == f"file:{SHA}"
