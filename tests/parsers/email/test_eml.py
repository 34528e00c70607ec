"""The eml parser: one message file, Maildir messages and their flags, sniffing."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from commtrail.parsers import registry
from commtrail.parsers.base import Owner
from commtrail.parsers.email.eml import sniff
from tests.conftest import FIXTURES, make_ctx, run_parser

EMAIL = FIXTURES / "email"
SAM = Owner(name="Sam", emails=frozenset({"sam@example.org"}))


def _rows(table):
    rows = table.to_pylist()
    for row in rows:
        row["ts_utc"] = row["ts_utc"].isoformat() if row["ts_utc"] else None
        row["extra"] = json.loads(row["extra"]) if row["extra"] else None
    return rows


def test_eml_in_full(tmp_path):
    data = (EMAIL / "single.eml").read_bytes()
    ctx = make_ctx(tmp_path, owner=SAM, source_path="exports/Last warning.eml", source_sha256="ab" * 32)
    table, rejects, report = run_parser("eml", data, ctx)
    assert (table.num_rows, rejects, report.warnings, report.repairs) == (1, [], [], 0)
    assert _rows(table)[0] == {
        "event_id": None,
        "ts_utc": "2024-01-05T20:00:00+00:00",
        "ts_local": "Fri, 05 Jan 2024 20:00:00 +0000",
        "ts_precision": "s",
        "tz_source": "source",
        "channel": "email",
        "kind": "message",
        "direction": "incoming",
        "sender": "jordan.k@example.com",
        "sender_raw": '"Jordan K" <jordan.k@example.com>',
        "recipients": ["sam@example.org"],
        "party": None,
        "conversation": "<thread-root-1@mail.example.com>",  # the root of References
        "subject": "Last warning",
        "body": "You will regret this.",  # CRLF file; the line break before the boundary is the boundary's
        "duration_s": None,
        "attachments": [],
        "flags": [],
        "source_sha256": "ab" * 32,
        "source_path": "exports/Last warning.eml",
        "locator": "byte 0+684",
        "parser": "eml/2",
        "extra": {
            "body_charset": "utf-8",
            "body_mime": "text/plain",
            "date_header": "Fri, 05 Jan 2024 20:00:00 +0000",
            "date_source": "date",
            "html_alternative": True,
            "in_reply_to": "<photos-2@mail.example.com>",
            "message_id": "<eml-5@mail.example.com>",
            "names": {"jordan.k@example.com": "Jordan K"},
            "raw_sha256": hashlib.sha256(data).hexdigest(),
            "references": ["<thread-root-1@mail.example.com>", "<photos-2@mail.example.com>"],
            "subject_raw": "=?utf-8?q?Last_warning?=",
        },
    }


def test_maildir_folder_of_three(tmp_path):
    """Ingest walks the folder; each file reaches the parser with its own path."""
    maildir = tmp_path / "Maildir"
    names = {
        "maildir-1.eml": "cur/1704535200.M1P100.host,S=165:2,S",
        "maildir-2.eml": "cur/1704538800.M2P100.host,S=165:2,RST",
        "maildir-3.eml": "new/1704542400.M3P100.host",
    }
    for fixture, name in names.items():
        (maildir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EMAIL / "maildir" / fixture, maildir / name)
    rows, all_rejects = [], []
    for path in sorted(p for p in maildir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert registry.sniff(data[:65536], path.name).name == "eml"
        ctx = make_ctx(tmp_path / "case", owner=SAM, source_path=str(path.relative_to(tmp_path)))
        table, rejects, report = run_parser("eml", data, ctx)
        assert report.warnings == []
        rows += _rows(table)
        all_rejects += rejects
    assert (len(rows), all_rejects) == (3, [])
    assert [(r["subject"], r["ts_utc"], r["flags"], r["extra"].get("maildir_flags")) for r in rows] == [
        ("one", "2024-01-06T10:00:00+00:00", [], "S"),
        ("two", "2024-01-06T11:00:00+00:00", ["deleted"], "RST"),
        ("three", "2024-01-06T12:00:00+00:00", [], None),
    ]
    assert [r["locator"] for r in rows] == ["byte 0+165", "byte 0+165", "byte 0+169"]
    assert {r["direction"] for r in rows} == {"incoming"}


def test_maildir_draft_flag(tmp_path):
    ctx = make_ctx(tmp_path, source_path="mail.zip!Maildir/.Drafts/cur/1704535200.M9P1.host:2,DS")
    table, _, _ = run_parser("eml", (EMAIL / "maildir" / "maildir-1.eml").read_bytes(), ctx)
    assert table.column("flags").to_pylist() == [["draft"]]


def test_eml_with_a_from_line_and_no_date(tmp_path):
    data = b"From jordan.k@example.com Sat Jan  6 10:00:00 2024\nFrom: jordan.k@example.com\nSubject: s\n\nbody\n"
    table, rejects, report = run_parser("eml", data, make_ctx(tmp_path, timezone="Europe/London"))
    row = _rows(table)[0]
    assert (row["ts_utc"], row["extra"]["date_source"], row["locator"]) == \
        ("2024-01-06T10:00:00+00:00", "separator", "byte 51+44")
    assert rejects == []


def test_eml_without_any_date_is_undated(tmp_path):
    data = b"From: jordan.k@example.com\r\nDate: 31 Feb 2024 10:00 +0000\r\nSubject: s\r\n\r\nbody\r\n"
    table, rejects, report = run_parser("eml", data, make_ctx(tmp_path, source_path="mail/Sent/s.eml"))
    assert rejects == []
    row = _rows(table)[0]
    assert (row["ts_utc"], row["flags"], row["locator"], row["body"]) == (None, ["undated"], "byte 0+79", "body\r\n")
    assert row["extra"]["date_header"] == "31 Feb 2024 10:00 +0000"


def test_maildir_name_dates_a_message_without_date(tmp_path):
    data = b"From: jordan.k@example.com\nSubject: s\n\nbody\n"
    ctx = make_ctx(tmp_path, source_path="mail.zip!Maildir/new/1283599333.M511P2384.mx.example.com,S=44",
                   timezone="Europe/London")
    table, rejects, report = run_parser("eml", data, ctx)
    row = _rows(table)[0]
    assert (row["ts_utc"], row["ts_local"], row["tz_source"], row["ts_precision"], row["flags"]) == \
        ("2010-09-04T11:22:13+00:00", "2010-09-04T12:22:13", "source", "s", [])
    assert (row["extra"]["date_source"], row["extra"]["maildir_time"]) == ("maildir_name", "1283599333")
    assert report.warnings == ["1 message(s) had no usable Date:, Received: or separator date; dated by the "
                               "delivery time in the Maildir file name (first at byte 0+44)"]


@pytest.mark.parametrize("name", ["1283599333.eml", "1283599333.report.eml", "cur/12835.M1P2.host"])
def test_names_that_are_not_maildir_names_give_no_time(name):
    from commtrail.parsers.email.builder import maildir_time

    assert maildir_time(name) is None
    assert maildir_time("Maildir/cur/1283599333.12345_6.host:2,S") == "1283599333"
    assert maildir_time("Maildir/cur/1283599333.P123Q4.host") == "1283599333"


def test_iso_date_is_read_in_the_case_zone_and_flagged(tmp_path):
    data = b"From: jordan.k@example.com\nDate: 2012-12-08 00:48\nSubject: s\n\nbody\n"
    table, _, _ = run_parser("eml", data, make_ctx(tmp_path, timezone="America/New_York"))
    row = _rows(table)[0]
    assert (row["ts_utc"], row["ts_local"], row["tz_source"], row["ts_precision"], row["flags"]) == \
        ("2012-12-08T05:48:00+00:00", "2012-12-08 00:48", "case", "min", ["date_nonstandard"])
    assert row["extra"]["date_source"] == "date_nonstandard"


def test_attached_message_is_kept_byte_exact(tmp_path):
    inner = b"From: a@example.com\nSubject: inner\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\ninner body\n"
    data = (b"From: b@example.com\nTo: sam@example.org\nDate: Tue, 02 Jan 2024 00:00:00 +0000\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nsee attached\n"
            b"--b1\nContent-Type: message/rfc822\n\n" + inner + b"--b1--\n")
    ctx = make_ctx(tmp_path)
    table, _, _ = run_parser("eml", data, ctx)
    row = _rows(table)[0]
    assert row["body"] == "see attached"  # the line break before a boundary is the boundary's
    kept = inner[:-1]  # the last line break belongs to the boundary line after it
    sha = hashlib.sha256(kept).hexdigest()
    assert row["attachments"] == [{"name": None, "mime": "message/rfc822", "size": len(kept), "sha256": sha}]
    assert (ctx.blobs.root / sha).read_bytes() == kept


def test_unknown_charset_and_html_with_no_text(tmp_path):
    data = (b"From: b@example.com\nDate: Tue, 02 Jan 2024 00:00:00 +0000\n"
            b"Content-Type: text/html; charset=x-no-such-charset\n\n<p>caf\xc3\xa9</p><p>two</p>\n")
    table, _, report = run_parser("eml", data, make_ctx(tmp_path))
    assert table.column("body").to_pylist() == ["café\ntwo\n\n"]
    assert report.warnings == ["1 message(s) declared a character set Python does not know; decoded as "
                               "UTF-8 (or windows-1252) (first at byte 0+133)"]


def test_registered():
    assert registry.get("eml").label == "eml/2"


# --- sniff --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [EMAIL / "single.eml", *sorted((EMAIL / "maildir").iterdir())])
def test_sniff_positive(path):
    head = path.read_bytes()[:65536]
    assert sniff(head, path.name)
    assert sniff(head, "1704535200.M1P100.host:2,S")  # the name does not matter
    assert registry.sniff(head, path.name).name == "eml"


@pytest.mark.parametrize("head", [
    (EMAIL / "gmail.mbox").read_bytes(),  # an mbox: starts with a From_ line
    (EMAIL / "thunderbird.mbox").read_bytes(),
    b"25/12/2023, 21:04 - Jordan: From: me\n25/12/2023, 21:05 - Sam: Subject: you\n",
    b"\xe2\x80\x8e[25/12/2023, 21:04:37] Jordan: hi\n",
    b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"1\">\n",
    b"Subject: only one mail field\nX-Other: value\n\nbody\n",
    b"HTTP/1.1 200 OK\nDate: Mon, 01 Jan 2024 00:00:00 GMT\nContent-Type: text/html\n\n",
    b"",
])
def test_sniff_negative(head):
    assert not sniff(head, "x.eml")
