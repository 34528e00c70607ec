"""E-mail text decoding (commtrail.parsers.email.mime) through the eml parser: charsets with the
windows-1252 fallback, encoded words holding raw 8-bit bytes and UTF-7, broken header lines,
overlong header fields, uuencoded attachments and folded boundaries."""

from __future__ import annotations

import hashlib
import json

import pytest

from commtrail.parsers import registry
from tests.conftest import make_ctx, run_parser

HEAD = b"From: Jordan K <jordan.k@example.com>\nTo: sam@example.org\nDate: Mon, 01 Jan 2024 09:30:00 +0000\n"
FROGS = "Die Hasen und die Frösche"


def _one(tmp_path, data: bytes, **kwargs):
    """The one record of a message file (no rejects), with its extra read, and the report."""
    assert registry.sniff(data[:65536], "message.eml").name == "eml"
    table, rejects, report = run_parser("eml", data, make_ctx(tmp_path, **kwargs))
    assert (table.num_rows, rejects) == (1, [])
    row = table.to_pylist()[0]
    row["extra"] = json.loads(row["extra"])
    return row, report


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- 8-bit text in the wrong or no charset ------------------------------------------------

def test_latin1_header_and_body_without_charset(tmp_path):
    data = HEAD + b"Subject: Die Hasen und die Fr\xf6sche\n\nDie Hasen und die Fr\xf6sche \x80 20\n"
    row, report = _one(tmp_path, data)
    assert (row["subject"], row["body"]) == (FROGS, FROGS + " € 20\n")
    assert row["flags"] == ["charset_fallback"]
    assert row["extra"]["charset_fallback"] == [
        {"part": "header subject", "charset": None, "raw_sha256": _sha(b"Die Hasen und die Fr\xf6sche")},
        {"part": "body", "charset": None, "raw_sha256": _sha(b"Die Hasen und die Fr\xf6sche \x80 20\n")}]
    assert row["extra"]["subject_raw"] == FROGS
    assert report.repairs == 2
    assert report.warnings == [
        "1 message(s) had text that is not in its declared character set (or, undeclared, not UTF-8); "
        "read as windows-1252 and flagged charset_fallback (first at byte 0+163)"]


def test_declared_utf8_holding_latin1(tmp_path):
    data = HEAD + b"Subject: s\nContent-Type: text/plain; charset=\"UTF-8\"\n\nFr\xf6sche\n"
    row, report = _one(tmp_path, data)
    assert "\ufffd" not in row["body"]
    assert (row["body"], row["flags"], report.repairs) == ("Frösche\n", ["charset_fallback"], 1)
    assert row["extra"]["charset_fallback"] == [
        {"part": "body", "charset": "utf-8", "raw_sha256": _sha(b"Fr\xf6sche\n")}]  # as get_content_charset gives it


def test_text_in_its_declared_charset_is_not_a_repair(tmp_path):
    data = HEAD + b"Subject: s\nContent-Type: text/plain; charset=iso-8859-1\n\nFr\xf6sche\n"
    row, report = _one(tmp_path, data)
    assert (row["body"], row["flags"], report.repairs, report.warnings) == ("Frösche\n", [], 0, [])


# --- encoded words ------------------------------------------------------------------------

@pytest.mark.parametrize("subject", [
    b"=?iso-8859-1?Q?Die_Hasen_und_die_Fr\xf6sche?=",  # Eudora: a raw 8-bit byte in a Q word
    b"=?unicode-1-1-utf-7?Q?Die_Hasen_und_die_Fr+APY-sche?=",
    b"=?UTF-7?Q?Die_Hasen_und_die_Fr+APY-sche?=",
    b"=?x-unicode-2-0-utf-7?Q?Die_Hasen_und_die_Fr+APY-sche?=",
])
def test_encoded_words_decode(tmp_path, subject):
    row, report = _one(tmp_path, HEAD + b"Subject: " + subject + b"\n\nx\n")
    assert (row["subject"], row["flags"], report.repairs) == (FROGS, [], 0)


def test_utf7_header_of_a_utf7_message(tmp_path):
    data = HEAD + b"Subject: Die Hasen und die Fr+APY-sche\nContent-Type: text/plain; charset=unicode-1-1-utf-7\n" \
        b"\nFr+APY-sche\n"
    row, _ = _one(tmp_path, data)
    assert (row["subject"], row["body"]) == (FROGS, "Frösche\n")
    assert row["extra"]["subject_raw"] == "Die Hasen und die Fr+APY-sche"


# --- one bad header line ------------------------------------------------------------------

@pytest.mark.parametrize(("data", "bad"), [
    (HEAD + b"References: <one@example.com>\n<two@example.com>\nSubject: s\nMessage-ID: <m1@example.com>\n",
     ["<two@example.com>"]),  # a References entry on a line of its own
    (HEAD + b"This line is not a header\nSubject: s\nMessage-ID: <m1@example.com>\n", ["This line is not a header"]),
    (b"  \n" + HEAD + b"Subject: s\nMessage-ID: <m1@example.com>\n", ["  "]),
    (b"\tcontinued from nowhere\n" + HEAD + b"Subject: s\nMessage-ID: <m1@example.com>\n", ["\tcontinued from nowhere"]),
    (b"From  : Jordan K <jordan.k@example.com>\n" + HEAD[HEAD.index(b"\n") + 1:]
     + b"Subject: s\nMessage-ID: <m1@example.com>\n", ["From  : Jordan K <jordan.k@example.com>"]),
])
def test_one_bad_header_line_keeps_the_message(tmp_path, data, bad):
    row, report = _one(tmp_path, data + b"\nbody\n")
    assert (row["sender"], row["subject"], row["body"]) == ("jordan.k@example.com", "s", "body\n")
    assert row["ts_utc"].isoformat() == "2024-01-01T09:30:00+00:00"
    assert row["extra"]["message_id"] == "<m1@example.com>"
    assert (row["flags"], row["extra"]["bad_header_lines"]) == (["bad_header_line"], bad)
    assert report.warnings == [
        "1 message(s) had a header line that is not a header field; kept raw in extra (bad_header_lines) "
        f"and flagged (first at byte 0+{len(data) + 6})"]


def test_obsolete_from_form_is_not_an_mbox():
    head = b"From  : jordan.k@example.com\nDate: Mon, 01 Jan 2024 09:30:00 +0000\nSubject: s\n\nx\n"
    assert registry.sniff(head, "x").name == "eml"


def test_a_line_without_colon_and_nothing_after_starts_the_body(tmp_path):
    row, _ = _one(tmp_path, HEAD + b"Message-ID: <m1@example.com>\nno blank line before this body\n")
    assert (row["body"], row["flags"]) == ("no blank line before this body\n", [])


def test_three_stray_lines_are_not_mail():
    assert not registry.get("eml").sniff(HEAD + b"one\ntwo\nthree\nSubject: s\n\nx\n", "x.eml")


# --- overlong header fields (parsed up to a cap, kept whole) ------------------------------

def test_overlong_to_is_capped_and_kept_whole(tmp_path):
    from commtrail.parsers.email.mime import HEADER_PARSE_MAX

    addresses = ",\n ".join(f"p{i:05d}@example.com" for i in range(5000))  # 5000 * 21 bytes
    data = b"From: jordan.k@example.com\nTo: " + addresses.encode() + b"\nDate: Mon, 01 Jan 2024 09:30:00 +0000\n\nx\n"
    row, report = _one(tmp_path, data)
    assert HEADER_PARSE_MAX == 32 << 10
    # the first 32 KiB of the field, cut at its last line break: whole addresses only
    assert row["recipients"] == [f"p{i:05d}@example.com" for i in range(1560)]
    assert row["flags"] == ["header_capped"]
    assert row["extra"]["headers_capped"] == {"to": ["To: " + addresses]}
    assert report.warnings == ["1 message(s) had a header field longer than 32 KiB; its start was parsed, "
                               f"the whole kept raw in extra (headers_capped) (first at byte 0+{len(data)})"]


def test_overlong_content_type_is_capped(tmp_path):
    params = "".join(f'; p{i:05d}="v{i:05d}"' for i in range(5000))
    data = HEAD + b"Content-Type: text/plain" + params.encode() + b"\n\nx\n"
    row, _ = _one(tmp_path, data)
    assert (row["body"], row["flags"]) == ("x\n", ["header_capped"])
    assert row["extra"]["headers_capped"] == {"content-type": ["Content-Type: text/plain" + params]}


def test_many_recipients_keep_their_order_once_each(tmp_path):
    to = ", ".join(f"p{i % 300}@example.com" for i in range(900))
    row, _ = _one(tmp_path, HEAD.replace(b"To: sam@example.org", b"To: " + to.encode()) + b"\nx\n")
    assert row["recipients"] == [f"p{i}@example.com" for i in range(300)]


# --- uuencoded attachments, folded boundaries ---------------------------------------------

def _uu(name: bytes, payload: bytes) -> bytes:
    import binascii

    lines = b"".join(binascii.b2a_uu(payload[i:i + 45]) for i in range(0, len(payload), 45))
    return b"begin 644 " + name + b"\n" + lines + b"`\nend\n"


def test_uuencoded_files_in_a_text_body(tmp_path):
    photo, notes = bytes(range(256)) * 3, b"Meet me at 6.\n"
    data = HEAD + b"Subject: s\n\nHere they are:\n\n" + _uu(b"frogs.jpg", photo) + b"\nand\n" \
        + _uu(b"notes.txt", notes).replace(b"\n", b"\r\n") + b"Bye\n"
    row, report = _one(tmp_path, data)
    assert row["body"] == "Here they are:\n\n\nand\nBye\n"
    assert row["attachments"] == [
        {"name": "frogs.jpg", "mime": "application/octet-stream", "size": 768, "sha256": _sha(photo)},
        {"name": "notes.txt", "mime": "application/octet-stream", "size": 14, "sha256": _sha(notes)}]
    assert _sha(photo) == "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363"
    assert (tmp_path / "blobs" / _sha(photo)).read_bytes() == photo
    assert row["extra"]["uuencoded_attachments"] == 2
    assert (row["flags"], report.warnings) == ([], [])


def test_text_that_only_looks_like_uuencode_stays(tmp_path):
    body = b"begin 644 plans\nwe talk {tomorrow}\nend\n"
    row, _ = _one(tmp_path, HEAD + b"Subject: s\n\n" + body)
    assert (row["body"], row["attachments"]) == (body.decode(), [])


@pytest.mark.parametrize(("fold", "delimiter"), [(b"\n ", b"=_a4b8 c2d3"), (b"\n\t", b"=_a4b8c2d3")])
def test_boundary_folded_over_two_header_lines(tmp_path, fold, delimiter):
    data = (HEAD + b"Content-Type: multipart/mixed; boundary=\"=_a4b8" + fold + b"c2d3\"\n\n--" + delimiter
            + b"\nContent-Type: text/plain\n\nhello\n--" + delimiter + b"\nContent-Type: application/pdf; "
            b"name=\"letter.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--" + delimiter + b"--\n")
    row, _ = _one(tmp_path, data)
    assert row["body"] == "hello"
    assert row["attachments"] == [{"name": "letter.pdf", "mime": "application/pdf", "size": 5,
                                   "sha256": _sha(b"%PDF-")}]


def test_body_without_blank_line_keeps_its_colon_lines(tmp_path):
    """A stray line followed only by fields that are not mail header fields starts the body."""
    row, _ = _one(tmp_path, HEAD + b"Subject: s\nHi Sam\nMeeting: 5pm\n\nrest\n")
    assert (row["body"], row["flags"]) == ("Hi Sam\nMeeting: 5pm\n\nrest\n", [])
