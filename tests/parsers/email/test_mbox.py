"""The mbox parser: splitting rules, Gmail / Thunderbird / mboxcl2 variants, dates, bodies,
attachments, zip streams, the worker pool, and sniffing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commtrail.parsers import registry
from commtrail.parsers.base import Owner, Reject, collect
from commtrail.parsers.email import builder
from commtrail.parsers.email.mbox import MboxSplitter, sniff
from tests.conftest import FIXTURES, make_ctx, run_parser

EMAIL = FIXTURES / "email"
SAM = Owner(name="Sam", emails=frozenset({"sam@example.org"}))
NOTE_SHA = "023953845fc2da7cc07527f525d8748672ef13e1908f383f8c60b2e2a3356edc"
PNG_SHA = "e7f0893138aeb54e20f94006b6522ba8331876b1dd2313f77d6c1861cd7b8472"


def _ctx(tmp_path: Path, **kwargs):
    kwargs.setdefault("owner", SAM)
    kwargs.setdefault("timezone", "Europe/London")
    return make_ctx(tmp_path, **kwargs)


def _rows(table):
    rows = table.to_pylist()
    for row in rows:
        row["ts_utc"] = row["ts_utc"].isoformat() if row["ts_utc"] else None
        row["extra"] = json.loads(row["extra"]) if row["extra"] else None
    return rows


def _parse(tmp_path, data: bytes, **kwargs):
    return run_parser("mbox", data, _ctx(tmp_path, **kwargs))


class NonSeekable(io.RawIOBase):
    """A stream that can only be read forward, like a member of a zip being inflated."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        data = self.inner.read(min(len(buffer), 1000))
        buffer[:len(data)] = data
        return len(data)


# --- Gmail Takeout style ------------------------------------------------------------------

def test_gmail_counts_and_warnings(tmp_path):
    table, rejects, report = _parse(tmp_path, (EMAIL / "gmail.mbox").read_bytes())
    assert table.num_rows == 5
    assert rejects == []
    assert report.repairs == 0
    assert report.warnings == [
        "1 message(s) had no usable Date: header; dated by the newest Received: header (first at byte 3020+361)",
        "1 message(s) had no usable Date: or Received: date; dated by the mbox separator line "
        "(first at byte 3442+236)",
        "1 message(s) had a date without a time zone (none, -0000 or an unknown name); read in the case "
        "time zone (first at byte 775+467)",
    ]


def test_gmail_first_message_in_full(tmp_path):
    data = (EMAIL / "gmail.mbox").read_bytes()
    table, _, _ = _parse(tmp_path, data)
    row = _rows(table)[0]
    assert row == {
        "event_id": None,
        "ts_utc": "2024-01-01T09:15:00+00:00",
        "ts_local": "Mon, 1 Jan 2024 10:15:00 +0100",
        "ts_precision": "s",
        "tz_source": "source",
        "channel": "email",
        "kind": "message",
        "direction": "incoming",
        "sender": "jordan.k@example.com",
        "sender_raw": "=?UTF-8?B?Sm9yZGFuIEvDtmhsZXI=?= <Jordan.K@example.com>",
        "recipients": ["sam@example.org", "alex.doe@example.org"],
        "party": None,
        "conversation": "1787654321098765432",
        "subject": "Wir müssen reden 🙂",
        "body": "I saw you outside the café today.\n\nFrom the kitchen window I could see your car.\n",
        "duration_s": None,
        "attachments": [],
        "flags": [],
        "source_sha256": "0" * 64,
        "source_path": "input",
        "locator": "byte 60+654",
        "parser": "mbox/2",
        "extra": {
            "body_charset": "utf-8",
            "body_mime": "text/plain",
            "date_header": "Mon, 1 Jan 2024 10:15:00 +0100",
            "date_source": "date",
            "gm_thrid": "1787654321098765432",
            "gmail_labels": ["Inbox", "Family, close", "Opened"],
            "mbox_from_line": "From 1787654321098765432@xxx Mon Jan 01 09:15:00 +0000 2024",
            "mbox_unquoted_lines": 1,
            "message_id": "<thread-root-1@mail.example.com>",
            "names": {"alex.doe@example.org": "Doe, Alex", "jordan.k@example.com": "Jordan Köhler",
                      "sam@example.org": "Sam Taylor"},
            "raw_sha256": "bcd186f6a4ea15f318356fd66afbb8566d7e7029c0fd062eb74de4721d3af412",
            "subject_raw": "=?UTF-8?B?V2lyIG3DvHNzZW4gcmVkZW4g8J+Zgg==?=",
        },
    }
    # The locator cuts exactly the raw bytes whose hash is kept; the >From quote is still there.
    raw = data[60:60 + 654]
    assert hashlib.sha256(raw).hexdigest() == row["extra"]["raw_sha256"]
    assert b"\n>From the kitchen window" in raw


def test_gmail_reply_iso_8859_1_subject_and_zone_minus_0000(tmp_path):
    table, _, _ = _parse(tmp_path, (EMAIL / "gmail.mbox").read_bytes())
    row = _rows(table)[1]
    assert row["subject"] == "Re: Café à midi"
    assert row["extra"]["subject_raw"] == "=?ISO-8859-1?Q?Re:_Caf=E9_=E0_midi?="
    assert row["direction"] == "outgoing"
    assert row["sender"] == "sam@example.org"
    assert row["recipients"] == ["jordan.k@example.com"]
    assert row["extra"]["names"]["jordan.k@example.com"] == "Jördan Köhler"
    assert row["body"] == "Please stop contacting me.\nMerci, ça suffit.\n"  # 8-bit ISO-8859-1 body
    assert (row["ts_utc"], row["tz_source"], row["ts_local"]) == \
        ("2024-01-01T11:02:10+00:00", "case", "Mon, 1 Jan 2024 11:02:10 -0000")
    assert row["extra"]["date_zone"] == "-0000"
    assert "message_id" not in row["extra"]  # none in the source
    assert row["conversation"] == "1787654321098765432"
    assert row["extra"]["in_reply_to"] == "<thread-root-1@mail.example.com>"
    assert row["extra"]["references"] == ["<thread-root-1@mail.example.com>"]


def test_html_only_body_and_two_attachments(tmp_path):
    ctx = _ctx(tmp_path)
    table, _, _ = run_parser("mbox", (EMAIL / "gmail.mbox").read_bytes(), ctx)
    row = _rows(table)[2]
    assert row["body"] == "Bonjour Sam,\nVoilà les photos.\nJordan\n"
    assert row["attachments"] == [
        {"name": "note.txt", "mime": "text/plain", "size": 14, "sha256": NOTE_SHA},
        {"name": "photo été.png", "mime": "image/png", "size": 520, "sha256": PNG_SHA},
    ]
    blobs = ctx.blobs.root
    assert (blobs / NOTE_SHA).read_bytes() == b"Meet me at 6.\n"
    assert hashlib.sha256((blobs / PNG_SHA).read_bytes()).hexdigest() == PNG_SHA
    html_sha = row["extra"]["body_html_sha256"]
    assert b"<p>Bonjour Sam,</p>" in (blobs / html_sha).read_bytes()  # the HTML itself is kept
    assert row["extra"]["body_reduced_from_html"] is True
    assert row["extra"]["body_mime"] == "text/html"
    assert sorted(p.name for p in blobs.iterdir()) == sorted([NOTE_SHA, PNG_SHA, html_sha])


def test_date_fallbacks_received_and_separator(tmp_path):
    table, _, _ = _parse(tmp_path, (EMAIL / "gmail.mbox").read_bytes())
    received, separator = _rows(table)[3:5]
    assert (received["ts_utc"], received["ts_local"], received["extra"]["date_source"]) == \
        ("2024-01-03T07:00:05+00:00", "Wed, 3 Jan 2024 07:00:05 +0000", "received")
    assert "date_header" not in received["extra"]
    assert (separator["ts_utc"], separator["ts_local"], separator["extra"]["date_source"]) == \
        ("2024-01-04T22:05:00+00:00", "Thu Jan 04 22:05:00 +0000 2024", "separator")
    assert separator["extra"]["date_header"] == "sometime last tuesday"
    assert separator["tz_source"] == "source"


def test_no_date_anywhere_is_an_undated_record(tmp_path):
    data = (b"From sam@example.org\nFrom: jordan.k@example.com\nTo: sam@example.org\n"
            b"Date: the day after\nSubject: when?\n\nbody\n\n"
            b"From sam@example.org\nFrom: jordan.k@example.com\nSubject: none at all\n\nbody\n")
    table, rejects, report = _parse(tmp_path, data)
    assert rejects == []
    rows = _rows(table)
    assert [(r["subject"], r["ts_utc"], r["ts_local"], r["tz_source"], r["ts_precision"], r["flags"], r["locator"])
            for r in rows] == [("when?", None, None, None, None, ["undated"], "byte 21+88"),
                               ("none at all", None, None, None, None, ["undated"], "byte 131+54")]
    assert [r["extra"]["undated_reason"] for r in rows] == [
        "Date: header unparseable, and no Received:, separator or Maildir file name time to fall back on",
        "no Date: header, and no Received:, separator or Maildir file name time to fall back on"]
    assert rows[0]["extra"]["date_header"] == "the day after"
    assert report.warnings == ["2 message(s) had no date at all (no usable Date:, Received:, separator line or "
                               "Maildir file name); kept as undated records (flag undated) (first at byte 21+88)"]


def test_a_gmail_draft_is_flagged_draft(tmp_path):
    """A message Gmail labels Drafts was never sent (issue 13.4: never a contact)."""
    data = (b"From 1790000000000000001@xxx Mon Mar 04 09:00:00 +0000 2024\nX-Gmail-Labels: Drafts,Opened\n"
            b"From: sam@example.org\nTo: jordan.k@example.com\nDate: Mon, 04 Mar 2024 09:00:00 +0000\n"
            b"Subject: unsent\n\nI will not send this\n\n"
            b"From 1790000000000000002@xxx Mon Mar 04 09:05:00 +0000 2024\nX-Gmail-Labels: Sent,\"Drafts folder\"\n"
            b"From: sam@example.org\nTo: jordan.k@example.com\nDate: Mon, 04 Mar 2024 09:05:00 +0000\n"
            b"Subject: sent\n\nPlease stop\n")
    table, rejects, _ = _parse(tmp_path, data)
    assert rejects == []
    assert [(r["subject"], r["flags"], r["extra"]["gmail_labels"]) for r in _rows(table)] == [
        ("unsent", ["draft"], ["Drafts", "Opened"]), ("sent", [], ["Sent", "Drafts folder"])]


# --- Thunderbird --------------------------------------------------------------------------

def test_thunderbird_from_my_phone_deleted_and_case_zone(tmp_path):
    table, rejects, report = _parse(tmp_path, (EMAIL / "thunderbird.mbox").read_bytes())
    assert (table.num_rows, len(rejects), report.repairs) == (3, 0, 0)
    assert report.warnings == ["1 message(s) had a date without a time zone (none, -0000 or an unknown "
                               "name); read in the case time zone (first at byte 305+245)"]
    first, deleted, third = _rows(table)
    # "From my phone" after a blank line has no date and no header after it: not a separator.
    assert first["body"] == "Are you home?\n\nFrom my phone\nSent at 8am\n"
    assert first["extra"]["mbox_from_line"] == "From - Mon Jan  1 08:00:00 2024"
    assert first["flags"] == []
    assert deleted["flags"] == ["deleted"]
    assert deleted["extra"]["mozilla_status"] == "0009"
    # No zone in the Date header: read in Europe/London (summer time, UTC+1).
    assert (deleted["ts_utc"], deleted["tz_source"], deleted["ts_local"]) == \
        ("2024-07-01T11:30:00+00:00", "case", "Mon, 01 Jul 2024 12:30:00")
    assert deleted["extra"]["date_zone"] == "none"
    # Missing Message-ID: no thread; the owner only in Cc still makes it incoming.
    assert third["conversation"] is None
    assert "message_id" not in third["extra"]
    assert third["recipients"] == ["alex.doe@example.org", "sam@example.org"]
    assert third["extra"]["cc"] == ["sam@example.org"]
    assert third["direction"] == "incoming"
    assert third["locator"] == "byte 583+186"


def test_crlf_gives_the_same_records(tmp_path):
    lf = (EMAIL / "thunderbird.mbox").read_bytes()
    crlf = lf.replace(b"\n", b"\r\n")
    a, _, _ = _parse(tmp_path / "a", lf)
    b, rejects, report = _parse(tmp_path / "b", crlf)
    assert (b.num_rows, rejects) == (3, [])
    for x, y in zip(_rows(a), _rows(b)):
        assert y["body"] == x["body"].replace("\n", "\r\n")
        for key in ("ts_utc", "sender", "recipients", "subject", "flags", "conversation", "direction"):
            assert x[key] == y[key]
    assert [r["locator"] for r in _rows(b)] == ["byte 33+252", "byte 320+254", "byte 609+194"]


def test_direction_unknown_when_owner_not_involved(tmp_path):
    table, _, _ = _parse(tmp_path, (EMAIL / "thunderbird.mbox").read_bytes(), owner=Owner())
    assert set(table.column("direction").to_pylist()) == {"unknown"}


# --- mboxcl2, quoting, splitting ----------------------------------------------------------

def test_mboxcl2_content_length_is_honoured(tmp_path):
    table, rejects, report = _parse(tmp_path, (EMAIL / "mboxcl2.mbox").read_bytes())
    assert (table.num_rows, rejects, report.warnings) == (2, [], [])
    first, second = _rows(table)
    # The body holds a From line with a date after a blank line: Content-Length says it is body.
    assert first["body"] == ("Look at this:\n\nFrom jordan.k@example.com Tue Jan  2 09:00:00 2024\n"
                             "Subject: old\n\n>From the archive.\n")  # mboxcl2 does not quote: kept
    assert first["extra"]["content_length_delimited"] is True
    assert "mbox_unquoted_lines" not in first["extra"]
    assert (first["locator"], second["locator"]) == ("byte 51+223", "byte 321+130")
    assert second["body"] == "ok\n"


def test_content_length_that_misses_a_boundary_is_ignored(tmp_path):
    data = (b"From a@example.com Tue Jan  2 10:00:00 2024\nFrom: a@example.com\nTo: sam@example.org\n"
            b"Date: Tue, 02 Jan 2024 10:00:00 +0000\nContent-Length: 5\n\nhello world\n\n"
            b"From b@example.com Tue Jan  2 11:00:00 2024\nFrom: b@example.com\nTo: sam@example.org\n"
            b"Date: Tue, 02 Jan 2024 11:00:00 +0000\n\nsecond\n")
    table, rejects, report = _parse(tmp_path, data)
    assert (table.num_rows, rejects) == (2, [])
    assert table.column("body").to_pylist() == ["hello world\n", "second\n"]
    assert report.warnings == ["1 message(s) carried a Content-Length that does not end on a message "
                               "boundary; split by separator lines (first at byte 44+109)"]


def test_mboxrd_quoting_is_removed_once_from_text_only(tmp_path):
    data = (b"From a@example.com Tue Jan  2 10:00:00 2024\nFrom: a@example.com\nTo: sam@example.org\n"
            b"Date: Tue, 02 Jan 2024 10:00:00 +0000\n\n>From here\n>>From there\n >From not at line start\n")
    table, _, _ = _parse(tmp_path, data)
    row = _rows(table)[0]
    assert row["body"] == "From here\n>From there\n >From not at line start\n"
    assert row["extra"]["mbox_unquoted_lines"] == 2


def test_text_before_the_first_separator_is_a_reject(tmp_path):
    data = (b"garbage line\n\nFrom a@example.com Tue Jan  2 10:00:00 2024\nFrom: a@example.com\n"
            b"Date: Tue, 02 Jan 2024 10:00:00 +0000\n\nhi\n")
    table, rejects, _ = _parse(tmp_path, data)
    assert table.num_rows == 1
    assert rejects == [Reject("byte 0+14", "text before the first message separator line (not part of any "
                              "message)", "garbage line\n\n")]


def test_oversized_message_is_rejected_and_skipped(tmp_path):
    big = b"x" * 5000 + b"\n"
    data = (b"From a@example.com Tue Jan  2 10:00:00 2024\nFrom: a@example.com\n"
            b"Date: Tue, 02 Jan 2024 10:00:00 +0000\n\n" + big * 20 +
            b"\nFrom b@example.com Tue Jan  2 11:00:00 2024\nFrom: b@example.com\n"
            b"Date: Tue, 02 Jan 2024 11:00:00 +0000\n\nsmall\n")
    items = list(MboxSplitter(io.BytesIO(data), block=4096, max_message=50_000))
    assert [type(i).__name__ for i in items] == ["Reject", "RawMessage"]
    assert items[0].locator == f"byte 44+{59 + 20 * 5001}"
    assert items[0].reason.startswith("message larger than 0 MiB")
    assert items[1].data.endswith(b"small\n")


def test_empty_message_is_a_reject(tmp_path):
    data = (b"From a@example.com Tue Jan  2 10:00:00 2024\n\n"
            b"From b@example.com Tue Jan  2 11:00:00 2024\nFrom: b@example.com\n"
            b"Date: Tue, 02 Jan 2024 11:00:00 +0000\n\nsmall\n")
    table, rejects, _ = _parse(tmp_path, data)
    assert table.num_rows == 1
    assert [r.reason for r in rejects] == ["empty message (a separator line with nothing after it)"]


def test_undecodable_bytes_fall_back_to_windows_1252(tmp_path):
    data = (b"From a@example.com Tue Jan  2 10:00:00 2024\nFrom: a@example.com\nTo: sam@example.org\n"
            b"Subject: caf\xe9\nDate: Tue, 02 Jan 2024 10:00:00 +0000\n"
            b"Content-Type: text/plain; charset=utf-8\n\nbad \xff\xfe bytes \x81\n")
    table, _, report = _parse(tmp_path, data)
    row = _rows(table)[0]
    assert row["body"] == "bad \xff\xfe bytes \x81\n"  # 0x81, undefined in windows-1252: the C1 control
    assert row["subject"] == "café"  # raw 8-bit header, not UTF-8, no charset for it
    assert row["flags"] == ["charset_fallback"]
    assert row["extra"]["charset_fallback"] == [
        {"part": "header subject", "charset": "utf-8", "raw_sha256": hashlib.sha256(b"caf\xe9").hexdigest()},
        {"part": "body", "charset": "utf-8", "raw_sha256": hashlib.sha256(b"bad \xff\xfe bytes \x81\n").hexdigest()}]
    assert report.repairs == 2


def _messages(data: bytes, block: int):
    return [(i.offset, i.data, i.from_line) if isinstance(i, builder.RawMessage) else i
            for i in MboxSplitter(io.BytesIO(data), block=block)]


@pytest.mark.parametrize("name", ["gmail.mbox", "thunderbird.mbox", "mboxcl2.mbox"])
def test_block_size_does_not_change_the_split(name):
    data = (EMAIL / name).read_bytes()
    whole = _messages(data, 1 << 20)
    for block in (1, 2, 3, 5, 7, 64, 333):
        assert _messages(data, block) == whole
    assert _messages(data.replace(b"\n", b"\r\n"), 5) == _messages(data.replace(b"\n", b"\r\n"), 1 << 20)


_LINES = st.sampled_from([
    b"From a@example.com Tue Jan  2 10:00:00 2024", b"From my phone", b"From: x@example.com",
    b">From quoted", b"Subject: hi", b"", b"", b"body text", b"Content-Length: 3", b"ok",
    b"From - Mon Jan  1 00:00:00 2024",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINES, max_size=40), st.integers(min_value=1, max_value=50), st.booleans())
def test_split_is_lossless_and_block_independent(lines, block, crlf):
    eol = b"\r\n" if crlf else b"\n"
    data = b"From z@example.com Mon Jan  1 00:00:00 2024" + eol + eol.join(lines) + eol
    items = _messages(data, block)
    assert items == _messages(data, 1 << 20)
    # Every message's bytes are where its offset says, in order, not overlapping.
    last = 0
    for offset, body, from_line in (i for i in items if isinstance(i, tuple)):
        assert data[offset:offset + len(body)] == body
        assert data[offset - len(from_line):offset] == from_line
        assert offset - len(from_line) >= last
        last = offset + len(body)


# --- streams, pool, registry --------------------------------------------------------------

def test_mbox_inside_a_zip_member_stream(tmp_path):
    archive = tmp_path / "takeout.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("Takeout/Mail/All mail Including Spam and Trash.mbox", (EMAIL / "gmail.mbox").read_bytes())
    ctx = _ctx(tmp_path, source_path="takeout.zip!Takeout/Mail/All mail Including Spam and Trash.mbox")
    parser = registry.get("mbox")
    ctx.parser_label = parser.label
    with zipfile.ZipFile(archive) as z, z.open("Takeout/Mail/All mail Including Spam and Trash.mbox") as member:
        stream = io.BufferedReader(NonSeekable(member))
        assert not stream.seekable()
        table, rejects = collect(parser.parse(stream, ctx), ctx)
    direct, _, _ = _parse(tmp_path / "direct", (EMAIL / "gmail.mbox").read_bytes())
    assert (table.num_rows, rejects) == (5, [])
    assert table.column("locator").to_pylist() == direct.column("locator").to_pylist()
    assert table.column("body").to_pylist() == direct.column("body").to_pylist()
    assert set(table.column("source_path").to_pylist()) == \
        {"takeout.zip!Takeout/Mail/All mail Including Spam and Trash.mbox"}


def test_worker_pool_gives_the_same_output_in_file_order(tmp_path, monkeypatch):
    data = b"".join((EMAIL / n).read_bytes() + b"\n" for n in ("gmail.mbox", "thunderbird.mbox")) * 3
    serial, serial_rejects, serial_report = _parse(tmp_path / "serial", data)
    monkeypatch.setattr(builder, "CHUNK_MESSAGES", 2)
    ctx = _ctx(tmp_path / "pool")
    parser = registry.get("mbox")
    ctx.parser_label = parser.label
    pooled, rejects = collect(builder.emit(MboxSplitter(io.BytesIO(data)), ctx, pool_min_bytes=0), ctx)
    assert serial.num_rows == 24
    assert pooled.equals(serial)
    assert (rejects, ctx.report.warnings, ctx.report.repairs) == \
        (serial_rejects, serial_report.warnings, serial_report.repairs)
    assert sorted(p.name for p in (tmp_path / "pool" / "blobs").iterdir()) == \
        sorted(p.name for p in (tmp_path / "serial" / "blobs").iterdir())


def test_small_batches_keep_order(tmp_path):
    table, _, _ = _parse(tmp_path, (EMAIL / "gmail.mbox").read_bytes(), batch_size=2)
    assert [r["subject"] for r in _rows(table)] == \
        ["Wir müssen reden 🙂", "Re: Café à midi", "photos", "no date here", "bad date"]


def test_registered():
    parser = registry.get("mbox")
    assert parser.label == "mbox/2"
    assert parser.sniff is sniff


# --- sniff --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gmail.mbox", "thunderbird.mbox", "mboxcl2.mbox"])
def test_sniff_positive(name):
    head = (EMAIL / name).read_bytes()[:65536]
    assert sniff(head, name)
    assert sniff(head.replace(b"\n", b"\r\n"), "no-extension")
    assert registry.sniff(head, name).name == "mbox"


@pytest.mark.parametrize("head", [
    (EMAIL / "single.eml").read_bytes(),
    b"From: jordan.k@example.com\nTo: sam@example.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nhi\n",
    b"From my phone\nSee you\n",
    b"25/12/2023, 21:04 - Jordan: From my phone\n25/12/2023, 21:05 - Sam: ok\n",
    b"\xe2\x80\x8e[25/12/2023, 21:04:37] Jordan: From Jan 1 10:00 2024\n",
    b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"1\">\n",
    b"",
])
def test_sniff_negative(head):
    assert not sniff(head, "x.mbox")


def test_broken_pool_falls_back_to_this_process(tmp_path, monkeypatch):
    class Broken:
        def submit(self, *args):
            raise RuntimeError("no processes here")

        def shutdown(self, **kwargs):
            pass

    monkeypatch.setattr(builder, "_start_pool", lambda env, root: Broken())
    monkeypatch.setattr(builder, "CHUNK_MESSAGES", 2)
    data = (EMAIL / "gmail.mbox").read_bytes()
    ctx = _ctx(tmp_path / "pool")
    ctx.parser_label = "mbox/2"
    table, rejects = collect(builder.emit(MboxSplitter(io.BytesIO(data)), ctx, pool_min_bytes=0), ctx)
    serial, _, _ = _parse(tmp_path / "serial", data)
    assert table.equals(serial)


def test_mbox_inside_a_streamed_tgz(tmp_path):
    import tarfile

    data = (EMAIL / "thunderbird.mbox").read_bytes()
    archive = tmp_path / "takeout.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("Takeout/Mail/Inbox.mbox")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    ctx = _ctx(tmp_path)
    ctx.parser_label = "mbox/2"
    with tarfile.open(archive, "r|gz") as tar:  # a pure stream: no seeking back
        member = next(iter(tar))
        table, rejects = collect(registry.get("mbox").parse(tar.extractfile(member), ctx), ctx)
    assert (table.num_rows, rejects) == (3, [])
    assert table.column("locator").to_pylist() == ["byte 32+240", "byte 305+245", "byte 583+186"]


@pytest.mark.parametrize(("date", "utc", "tz_source"), [
    ("Sun, 27 Oct 2024 01:30:00", "2024-10-27T00:30:00+00:00", "flag_ambiguous"),  # the hour repeated
    ("Sun, 31 Mar 2024 01:30:00", "2024-03-31T01:30:00+00:00", "flag_nonexistent"),  # the hour skipped
    ("Sun, 31 Mar 2024 03:30:00 XYZ", "2024-03-31T02:30:00+00:00", "case"),
])
def test_dates_without_zone_in_a_daylight_saving_change(tmp_path, date, utc, tz_source):
    data = (b"From a@example.com Tue Jan  2 10:00:00 2024\nFrom: a@example.com\nDate: " + date.encode() +
            b"\n\nhi\n")
    table, _, report = _parse(tmp_path, data)
    row = _rows(table)[0]
    assert (row["ts_utc"], row["tz_source"], row["ts_local"]) == (utc, tz_source, date)
    assert row["extra"]["date_zone"] == ("unknown XYZ" if "XYZ" in date else "none")
    if tz_source != "case":
        assert "had a local time in a daylight-saving change" in " ".join(report.warnings)


def test_extra_is_serialised_as_the_schema_does():
    from commtrail.timeline.schema import dumps_extra

    sample = {"b": ["ü", 1], "a": {"z": None, "y": True}, "c": "\u200e"}
    assert builder.dumps_extra(sample) == dumps_extra(sample)
    assert builder.dumps_extra({}) == dumps_extra({}) is None


def test_leading_blank_lines_are_a_file_warning(tmp_path):
    data = b"\n\n" + (EMAIL / "thunderbird.mbox").read_bytes()
    table, rejects, report = _parse(tmp_path, data)
    assert (table.num_rows, rejects) == (3, [])
    assert report.warnings[0] == "The file begins with blank lines before its first separator line (byte 0+2)"


# --- helpers shared with eml (commtrail.parsers.email.mime) ------------------------------------

@pytest.mark.parametrize(("raw", "text"), [
    ("=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "éé"),  # white space between encoded words goes
    ("=?UTF-8?Q?=C3?=\r\n =?UTF-8?Q?=A9?=", "é"),  # a character split across two words
    ("Re: =?ISO-8859-1?Q?Caf=E9?= and =?utf-8?b?8J+Zgg==?= !", "Re: Café and 🙂 !"),
    ("=?utf-8*en?q?hello_world?=", "hello world"),  # RFC 2231 language tag
    ("plain =?not-closed", "plain =?not-closed"),
])
def test_decode_words(raw, text):
    from commtrail.parsers.email.mime import decode_words

    assert decode_words(raw) == text


def test_multipart_edge_cases(tmp_path):
    data = (b"From a@example.com Tue Jan  2 10:00:00 2024\nFrom: a@example.com\n"
            b"Date: Tue, 02 Jan 2024 10:00:00 +0000\nContent-Type: multipart/mixed; boundary=b\n\n"
            b"--b\nContent-Type: multipart/alternative; boundary=b-inner\n\n"
            b"--b-inner\nContent-Type: text/plain\n\nfirst\n--b-inner\nContent-Type: text/html\n\n<p>x</p>\n"
            b"--b-inner--\n--b\nContent-Type: application/octet-stream\n\nno closing delimiter\n")
    ctx = _ctx(tmp_path)
    table, rejects, _ = run_parser("mbox", data, ctx)
    row = _rows(table)[0]
    assert row["body"] == "first"
    assert row["extra"]["html_alternative"] is True
    sha = hashlib.sha256(b"no closing delimiter\n").hexdigest()
    assert row["attachments"] == [{"name": None, "mime": "application/octet-stream", "size": 21, "sha256": sha}]


def test_html_to_text_tables_and_scripts():
    from commtrail.parsers.email.mime import html_to_text

    html = ("<html><head><title>t</title></head><body><script>x()</script>"
            "<table><tr><td>a</td><td>b</td></tr></table>after<br>line\x11</body></html>")
    assert html_to_text(html) == "a\tb\t\n\nafter\nline\x11"


def test_obsolete_from_field_in_a_body_does_not_split(tmp_path):
    data = (b"From a@example.com Tue Jan  2 10:00:00 2024\nFrom: a@example.com\nDate: Tue, 02 Jan 2024 10:00:00 +0000\n"
            b"\nquoted below:\n\nFrom  : b@example.com\nSubject: old\n")
    table, rejects, _ = _parse(tmp_path, data)
    assert (table.num_rows, rejects) == (1, [])
    assert _rows(table)[0]["body"] == "quoted below:\n\nFrom  : b@example.com\nSubject: old\n"
