"""The WhatsApp export parser, on the project's own fixtures (tests/fixtures/whatsapp/)."""

from __future__ import annotations

import hashlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commtrail.errors import DateOrderAmbiguous
from commtrail.parsers import registry
from commtrail.parsers.base import Owner
from commtrail.parsers.whatsapp import scan as ws
from tests.conftest import FIXTURES, make_ctx, run_parser

WA = FIXTURES / "whatsapp"
LRM = "\u200e"


def parse(tmp_path, name, **kwargs):
    kwargs.setdefault("timezone", "Europe/London")
    kwargs.setdefault("source_path", name)
    ctx = make_ctx(tmp_path, **kwargs)
    table, rejects, report = run_parser("whatsapp", (WA / name).read_bytes(), ctx)
    return table.to_pylist(), rejects, report, ctx


def iso(row):
    return row["ts_utc"].isoformat()


def brief(row):
    return (iso(row), row["ts_local"], row["sender"], row["body"])


# --- registration and sniff --------------------------------------------------------------------

def test_registered_once():
    parser = registry.get("whatsapp")
    assert parser.label == "whatsapp/1.2"


@pytest.mark.parametrize("name", ["android_dmy_24h.txt", "ios_dmy_seconds.txt", "bom.txt",
                                  "android_ko_period_first.txt", "ios_lrm_marks.txt", "crlf.txt"])
def test_sniff_positive(name):
    assert registry.get("whatsapp").sniff((WA / name).read_bytes(), name)


@pytest.mark.parametrize("head", [
    b"", b"\xef\xbb\xbf", b'<?xml version="1.0"?><smses count="1"></smses>',
    b"From sam@example.org Mon Jan  1 00:00:00 2024\nSubject: hi\n\nbody\n",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"just some notes\n12 apples\n",
    b"2024-01-01 10:00:00,123 INFO starting\n2024-01-01 10:00:01,000 INFO done\n",
])
def test_sniff_negative(head):
    assert not registry.get("whatsapp").sniff(head, "x.txt")


# --- one record in full per main shape ---------------------------------------------------------

def test_android_dmy_24h(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "android_dmy_24h.txt",
                                     source_path="chats/WhatsApp Chat with Jordan Blake.txt",
                                     owner=Owner(whatsapp_names=frozenset({"Sam Carter"})))
    assert (len(rows), len(rejects), report.warnings, report.repairs) == (4, 0, [], 0)
    assert [r["kind"] for r in rows] == ["system", "message", "message", "message"]
    system = rows[0]
    assert (system["sender"], system["sender_raw"], system["direction"]) == (None, None, "unknown")
    assert system["body"].startswith("Messages and calls are end-to-end encrypted.")
    row = rows[3]
    assert iso(row) == "2024-01-13T22:47:00+00:00"
    assert {k: row[k] for k in ("ts_local", "ts_precision", "tz_source", "channel", "kind", "direction",
                                 "sender", "sender_raw", "recipients", "party", "conversation", "body",
                                 "attachments", "flags", "source_sha256", "source_path", "locator",
                                 "parser", "event_id")} == {
        "ts_local": "13/01/2024, 22:47", "ts_precision": "min", "tz_source": "case",
        "channel": "whatsapp", "kind": "message", "direction": "incoming",
        "sender": "wa:Jordan Blake", "sender_raw": "Jordan Blake", "recipients": None, "party": None,
        "conversation": "Jordan Blake", "body": "I saw your car outside", "attachments": None,
        "flags": [], "source_sha256": "0" * 64, "source_path": "chats/WhatsApp Chat with Jordan Blake.txt",
        "locator": "line 4", "parser": "whatsapp/1.2", "event_id": None}
    assert rows[2]["direction"] == "outgoing" and rows[2]["sender"] == "wa:Sam Carter"


def test_ios_dmy_seconds_with_lrm(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "ios_dmy_seconds.txt",
                                     source_path="WhatsApp Chat - Jordan Blake.zip!_chat.txt",
                                     owner=Owner(whatsapp_names=frozenset({"Sam Carter"})))
    assert (len(rows), len(rejects), report.warnings) == (4, 0, [])
    assert [r["kind"] for r in rows] == ["system", "message", "message", "message"]
    assert rows[0]["sender_raw"] == "Jordan Blake" and rows[0]["sender"] is None
    assert rows[0]["body"].startswith(LRM + "Messages and calls")
    media = rows[2]
    assert brief(media) == ("2023-12-25T21:05:02+00:00", "25/12/2023, 21:05:02", "wa:Sam Carter",
                            LRM + "image omitted")
    assert (media["ts_precision"], media["direction"], media["flags"], media["locator"],
            media["conversation"]) == ("s", "outgoing", ["media_omitted"], "line 3", "Jordan Blake")


# --- every header shape -------------------------------------------------------------------------

SHAPES = {
    "android_mdy_12h_nnbsp.txt": [  # U+202F before AM/PM; 12:03 AM is just after midnight
        ("2023-12-24T23:58:00+00:00", "12/24/23, 11:58\u202fPM", "wa:Jordan Blake", "almost midnight"),
        ("2023-12-25T00:03:00+00:00", "12/25/23, 12:03\u202fAM", "wa:Jordan Blake", "just after midnight"),
        ("2023-12-25T12:30:00+00:00", "12/25/23, 12:30\u202fPM", "wa:Sam Carter", "lunch time"),
        ("2023-12-25T21:04:00+00:00", "12/25/23, 9:04\u202fPM", "wa:Jordan Blake", "answer me")],
    "android_ymd_dash.txt": [
        ("2024-01-13T18:30:00+00:00", "2024-01-13, 18:30", "wa:Jordan Blake", "first"),
        ("2024-01-14T07:05:00+00:00", "2024-01-14, 07:05", "wa:Sam Carter", "second"),
        ("2024-02-01T23:59:00+00:00", "2024-02-01, 23:59", "wa:Jordan Blake", "third")],
    "android_dots_2digit_year.txt": [  # June: British Summer Time, UTC+1
        ("2018-06-13T20:25:00+00:00", "13.06.18, 21:25", "wa:Jordan Blake", "summer evening"),
        ("2018-06-14T05:01:00+00:00", "14.06.18, 06:01", "wa:Sam Carter", "morning")],
    "android_spaced_dots.txt": [
        ("2018-06-13T20:25:00+00:00", "13. 6. 2018. 21:25", "wa:Jordan Blake", "Bok"),
        ("2018-07-01T07:00:00+00:00", "1. 7. 2018. 08:00", "wa:Sam Carter", "Stop")],
    "android_fr_word.txt": [
        ("2017-07-12T21:35:00+00:00", "12/07/2017 à 22:35", "wa:Jordan Blake", "Salut"),
        ("2017-07-13T08:12:00+00:00", "13/07/2017 à 09:12", "wa:Sam Carter", "Laisse-moi tranquille")],
    "android_fi_klo_dot_time.txt": [
        ("2018-06-13T20:25:00+00:00", "13.6.2018 klo 21.25", "wa:Jordan Blake", "moi"),
        ("2018-06-14T06:05:00+00:00", "14.6.2018 klo 7.05", "wa:Sam Carter", "lopeta")],
    "android_es_a_m_p_m.txt": [
        ("2018-06-03T12:55:00+00:00", "3/6/18, 1:55 p.\u00a0m.", "wa:Sam Carter", "adiós"),
        ("2018-06-25T09:02:00+00:00", "25/6/18, 10:02 a. m.", "wa:Jordan Blake", "hola"),
        ("2018-07-02T23:10:00+00:00", "3/7/18, 12:10 a. m.", "wa:Jordan Blake", "medianoche")],
    "android_de_vorm_nachm.txt": [
        ("2023-12-24T23:59:00+00:00", "24.12.23, 11:59 nachm.", "wa:Jordan Blake", "Frohe Weihnachten"),
        ("2023-12-25T00:01:00+00:00", "25.12.23, 12:01 vorm.", "wa:Jordan Blake", "Hallo?"),
        ("2023-12-25T12:15:00+00:00", "25.12.23, 12:15 nachm.", "wa:Sam Carter", "Lass mich")],
    "android_ko_period_first.txt": [  # Korean: year first, spaced dots, day period before the time
        ("2023-12-25T21:04:00+00:00", "2023. 12. 25. 오후 9:04", "wa:Jordan Blake", "안녕"),
        ("2023-12-26T00:30:00+00:00", "2023. 12. 26. 오전 12:30", "wa:Sam Carter", "그만해")],
    "ios_nbsp_pm.txt": [
        ("2023-12-25T21:04:37+00:00", "25/12/2023, 9:04:37\u00a0PM", "wa:Jordan Blake", "hello"),
        ("2023-12-26T00:00:01+00:00", "26/12/2023, 12:00:01\u00a0AM", "wa:Jordan Blake", "hello again")],
    "bom.txt": [
        ("2024-02-20T10:00:00+00:00", "20/02/2024, 10:00", "wa:Jordan Blake", "first line after a BOM"),
        ("2024-02-20T10:01:00+00:00", "20/02/2024, 10:01", "wa:Sam Carter", "second")],
    "crlf.txt": [  # CRLF inside a message is kept; the line terminator is not part of the text
        ("2024-02-15T20:00:00+00:00", "15/02/2024, 20:00", "wa:Jordan Blake", "first\r\nsecond line"),
        ("2024-02-15T20:05:00+00:00", "15/02/2024, 20:05", "wa:Sam Carter", "reply")],
    "space_end_seconds.txt": [  # nothing but a space between the time and the name
        ("2018-06-13T20:25:15+00:00", "13. 6. 2018. 21:25:15", "wa:Jordan Blake", "Bok"),
        ("2018-06-14T06:00:01+00:00", "14. 6. 2018. 07:00:01", "wa:Sam Carter", "Stop")],
    "colon_end_dot_time.txt": [  # "." between hours and minutes, ": " after the time
        ("2018-06-13T20:25:15+00:00", "13.06.18 21.25.15", "wa:Jordan Blake", "hei: kuka?"),
        ("2018-06-14T06:00:01+00:00", "14.06.18 07.00.01", "wa:Sam Carter", "lopeta")],
    "ios_lrm_marks.txt": [  # marks stripped from the header and the name, never from the text
        ("2024-02-21T10:00:00+00:00", "21/02/2024, 10:00:00", "wa:Jordan Blake",
         "\u200etext with a mark\u200e inside"),
        ("2024-02-21T10:00:05+00:00", "21/02/2024, 10:00:05", "wa:Sam Carter", "plain"),
        ("2024-02-22T11:11:11+00:00", "22/02/2024, 11:11:11", "wa:Jordan Blake", "third")],
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_header_shapes(tmp_path, name):
    rows, rejects, report, _ = parse(tmp_path, name)
    assert (len(rejects), report.warnings, report.repairs) == (0, [], 0)
    assert [brief(r) for r in rows] == SHAPES[name]
    assert {r["kind"] for r in rows} == {"message"}
    assert {r["flags"] == [] for r in rows} == {True}


def test_lrm_name_kept_raw(tmp_path):
    rows, *_ = parse(tmp_path, "ios_lrm_marks.txt")
    assert rows[1]["sender_raw"] == "\u200eSam Carter\u200e"
    assert [r["ts_precision"] for r in rows] == ["s", "s", "s"]


def test_multiline_and_blank_lines(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "multiline.txt")
    assert (len(rows), len(rejects), report.warnings) == (3, 0, [])
    assert rows[0]["body"] == "line one\nline two\n\nline four after a blank line"
    assert [r["locator"] for r in rows] == ["line 1", "line 5", "line 6"]
    assert rows[2]["body"] == "last\n"   # the file's final blank line belongs to the last message


# --- system lines ------------------------------------------------------------------------------

def test_android_system_lines(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "android_system_group.txt")
    assert (len(rows), len(rejects), report.warnings) == (7, 0, [])
    assert [r["kind"] for r in rows] == ["system"] * 4 + ["message"] * 2 + ["system"]
    subject = rows[3]  # ": " inside the quoted subject is not a name separator
    assert subject["body"] == 'Jordan Blake changed the subject from "Book club" to "Re: Book club"'
    assert (subject["sender"], subject["sender_raw"], subject["direction"]) == (None, None, "unknown")
    assert rows[6]["body"] == "Sam Carter left"


def test_ios_group_name_as_author(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "ios_system_group.txt")
    assert (len(rows), len(rejects), report.warnings) == (5, 0, [])
    assert [r["kind"] for r in rows] == ["system", "system", "system", "message", "message"]
    assert rows[2]["sender_raw"] == "Book club" and rows[2]["sender"] is None
    assert rows[2]["body"] == "\u200eJordan Blake added Sam Carter"
    # the same words typed by a person stay a message
    assert (rows[3]["sender"], rows[3]["body"]) == ("wa:Jordan Blake", "Sam Carter added Alex to the list")


# --- markers and attachments -------------------------------------------------------------------

def test_media_without_files(tmp_path):
    rows, rejects, report, ctx = parse(tmp_path, "android_media.txt")
    assert (len(rows), len(rejects), report.warnings) == (3, 0, [])
    assert rows[0]["body"] == "IMG-20240217-WA0001.jpg (file attached)\nlook at this"
    assert rows[0]["attachments"] == [{"name": "IMG-20240217-WA0001.jpg", "mime": "image/jpeg",
                                       "size": None, "sha256": None}]
    assert rows[0]["flags"] == ["attachment_missing"]
    assert (rows[1]["body"], rows[1]["flags"], rows[1]["attachments"]) == ("<Media omitted>", ["media_omitted"], None)
    assert rows[2]["body"] == LRM + "PTT-20240217-WA0002.opus (file attached)"
    assert rows[2]["attachments"][0]["name"] == "PTT-20240217-WA0002.opus"
    assert report.used_siblings == set()


def test_media_with_files(tmp_path):
    photo, voice = b"\xff\xd8\xff fake jpeg bytes", b"OggS fake opus"
    siblings = {"00000012-PHOTO-2024-02-17-10-00-00.jpg": lambda: io.BytesIO(photo),
                "00000013-AUDIO-2024-02-17-10-00-09.opus": lambda: io.BytesIO(voice),
                "unrelated.pdf": lambda: io.BytesIO(b"%PDF")}
    rows, rejects, report, ctx = parse(tmp_path, "ios_media.txt", siblings=siblings)
    assert (len(rows), len(rejects), report.warnings) == (3, 0, [])
    sha = hashlib.sha256(photo).hexdigest()
    assert rows[0]["attachments"] == [{"name": "00000012-PHOTO-2024-02-17-10-00-00.jpg",
                                       "mime": "image/jpeg", "size": len(photo), "sha256": sha}]
    assert rows[0]["flags"] == []
    assert rows[0]["body"] == LRM + "<attached: 00000012-PHOTO-2024-02-17-10-00-00.jpg>"
    assert (tmp_path / "blobs" / sha).read_bytes() == photo
    assert rows[1]["flags"] == ["media_omitted"] and rows[1]["attachments"] is None
    assert rows[2]["attachments"][0]["sha256"] == hashlib.sha256(voice).hexdigest()
    assert report.used_siblings == {"00000012-PHOTO-2024-02-17-10-00-00.jpg",
                                    "00000013-AUDIO-2024-02-17-10-00-09.opus"}


def test_android_attachment_with_file_and_caption(tmp_path):
    photo = b"\xff\xd8\xff another fake jpeg"
    rows, rejects, report, _ = parse(tmp_path, "android_media.txt",
                                     siblings={"IMG-20240217-WA0001.jpg": lambda: io.BytesIO(photo)})
    assert rows[0]["attachments"] == [{"name": "IMG-20240217-WA0001.jpg", "mime": "image/jpeg",
                                       "size": len(photo), "sha256": hashlib.sha256(photo).hexdigest()}]
    assert rows[0]["flags"] == [] and rows[0]["body"].endswith("\nlook at this")
    assert rows[2]["flags"] == ["attachment_missing"]
    assert report.used_siblings == {"IMG-20240217-WA0001.jpg"}


def test_media_and_attachment_markers_in_several_languages(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "markers_multilang.txt")
    assert (len(rows), len(rejects), report.warnings) == (10, 0, [])
    assert [r["flags"] for r in rows] == [["media_omitted"]] * 6 + [["attachment_missing"]] * 3 + [[]]
    assert [r["attachments"][0]["name"] for r in rows[6:9]] == [
        "PTT-20240321-WA0003.opus", "00000044-PHOTO-2024-03-21-08-07-00.jpg", "DOC-20240321-WA0004.pdf"]
    assert rows[8]["attachments"][0]["mime"] == "application/pdf"
    assert rows[6]["body"] == "\u200ePTT-20240321-WA0003.opus (Datei angehängt)"


def test_mixed_shapes_are_reported(tmp_path):
    data = ("20/03/2024, 10:00 - Jordan Blake: one\n"
            "[20/03/2024, 10:01:00] Jordan Blake: pasted from an iPhone\n"
            "20/03/2024, 10:02 - Sam Carter: two\n"
            "20/03/2024, 10:03 - Jordan Blake: three\n").encode()
    table, rejects, report = run_parser("whatsapp", data, make_ctx(tmp_path))
    assert (table.num_rows, len(rejects), len(report.warnings)) == (3, 0, 2)
    assert "more than one date/time shape" in report.warnings[0]
    assert "line 2" in report.warnings[1]
    assert table.column("body")[0].as_py() == "one\n[20/03/2024, 10:01:00] Jordan Blake: pasted from an iPhone"
    assert table.column("flags")[0].as_py() == ["header_like_body"]


def test_deleted_and_edited_in_several_languages(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "deleted_edited_multilang.txt")
    assert (len(rows), len(rejects), report.warnings) == (12, 0, [])
    assert [r["flags"] for r in rows] == [["deleted"]] * 7 + [["edited"]] * 4 + [[]]
    assert rows[7]["body"] == "I never said that <This message was edited>"
    assert rows[2]["body"] == "Diese Nachricht wurde gelöscht."


# --- time ----------------------------------------------------------------------------------------

def test_out_of_order_kept_in_file_order(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "out_of_order.txt")
    assert (len(rows), len(rejects), report.warnings) == (4, 0, [])
    assert [r["body"][:5] for r in rows] == ["one", "two", "three", "four"]
    assert [r["flags"] for r in rows] == [[], [], ["header_like_body", "time_out_of_order"], []]
    assert iso(rows[2]) == "2024-02-19T10:03:00+00:00"


def test_ambiguous_order_is_refused(tmp_path):
    with pytest.raises(DateOrderAmbiguous) as err:
        parse(tmp_path, "ambiguous_order.txt")
    assert err.value.file == "ambiguous_order.txt"
    assert "--date-order DMY" in err.value.hint and "--date-order MDY" in err.value.hint
    assert "date_order" in err.value.hint and "case.toml" in err.value.hint


@pytest.mark.parametrize("order, first", [("DMY", "2024-04-03T09:00:00+00:00"),
                                          ("MDY", "2024-03-04T10:00:00+00:00")])
def test_date_order_setting_wins(tmp_path, order, first):
    rows, rejects, report, _ = parse(tmp_path, "ambiguous_order.txt", date_order=order)
    assert (len(rows), len(rejects), report.warnings) == (3, 0, [])
    assert iso(rows[0]) == first


def test_given_order_never_overrides_what_the_file_proves(tmp_path):
    # 13/01 cannot be a month: with MDY given, the file is still read as DMY, and a warning says why
    rows, rejects, report, _ = parse(tmp_path, "android_dmy_24h.txt", date_order="MDY")
    assert (len(rows), len(rejects)) == (4, 0)
    assert report.warnings == [
        "date_order MDY was given, but line 4 reads '13/01/2024, 22:47': its first number is above 12, so "
        "it is the day, not the month; the file was read as DMY (by its content, not by the order given)."]
    assert [iso(r) for r in rows[1:]] == ["2024-01-12T09:16:00+00:00", "2024-01-12T09:20:00+00:00",
                                          "2024-01-13T22:47:00+00:00"]


def test_given_dmy_on_a_file_that_proves_mdy(tmp_path):
    # issue 13.3: --date-order DMY on "12/25/2023" used to reject two lines and store 5 January as 1 May
    rows, rejects, report, _ = parse(tmp_path, "mdy_proven.txt", date_order="DMY")
    assert (len(rows), len(rejects), len(report.warnings)) == (4, 0, 1)
    assert "line 1 reads '12/24/2023, 21:00': its second number is above 12" in report.warnings[0]
    assert [(iso(r), r["ts_local"], r["kind"], r["flags"]) for r in rows] == [
        ("2023-12-24T21:00:00+00:00", "12/24/2023, 21:00", "message", []),
        ("2023-12-25T09:30:00+00:00", "12/25/2023, 09:30", "message", []),
        ("2023-12-25T09:45:00+00:00", "12/25/2023, 09:45", "message", []),
        ("2024-01-05T18:00:00+00:00", "01/05/2024, 18:00", "message", [])]


def test_given_order_that_agrees_with_the_file_is_silent(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "mdy_proven.txt", date_order="MDY")
    assert (len(rows), len(rejects), report.warnings) == (4, 0, [])
    assert iso(rows[3]) == "2024-01-05T18:00:00+00:00"


def test_order_from_chronology_is_a_warning(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "chronology_order.txt")
    assert (len(rows), len(rejects), len(report.warnings)) == (3, 0, 1)
    assert "DMY inferred from chronology" in report.warnings[0]
    assert [iso(r) for r in rows] == ["2024-01-10T09:00:00+00:00", "2024-01-11T09:00:00+00:00",
                                      "2024-02-02T09:00:00+00:00"]


def test_dst_gap_and_repeat(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "dst_london.txt")
    assert (len(rows), len(rejects), report.warnings) == (6, 0, [])
    assert [(iso(r), r["tz_source"]) for r in rows] == [
        ("2024-03-31T00:30:00+00:00", "case"),
        ("2024-03-31T01:30:00+00:00", "flag_nonexistent"),   # 01:30 never happened: read as GMT
        ("2024-03-31T01:30:00+00:00", "case"),               # 02:30 BST
        ("2024-10-26T23:30:00+00:00", "case"),
        ("2024-10-27T00:30:00+00:00", "flag_ambiguous"),     # 01:30 happened twice: the earlier (BST)
        ("2024-10-27T02:30:00+00:00", "case")]


def test_header_like_body(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "header_like_body.txt")
    assert (len(rows), len(rejects), report.warnings) == (6, 0, [])
    assert [r["flags"] for r in rows] == [[], ["header_like_body", "time_out_of_order"], [], [],
                                          ["header_like_body"], []]
    assert rows[1]["body"] == "I will meet you" and rows[4]["sender"] == "wa:Chris Unknown"


# --- what cannot be read -----------------------------------------------------------------------

def test_lines_before_first_header_and_impossible_dates(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "pre_header_and_impossible.txt")
    assert (len(rows), len(rejects), report.warnings) == (2, 3, [])
    assert [(r.locator, r.raw) for r in rejects] == [
        ("line 1", "Exported by a helper tool"), ("line 2", ""),
        ("line 4", "31/02/2024, 10:00 - Jordan Blake: no such day\ncontinued")]
    assert rejects[0].reason == "text before the first message header"
    assert rejects[2].reason == "impossible date (read as DMY): '31/02/2024, 10:00'"


def test_rejected_header_keeps_its_invisible_marks(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "ios_marked_impossible.txt")
    assert (len(rows), len(rejects), report.warnings) == (2, 1, [])
    assert rejects[0].raw == "\u200e[30/02/2024, 10:00:00] Jordan Blake: \u200eimage omitted"
    assert rejects[0].locator == "line 1"


@pytest.mark.parametrize("marks", [1, 8, 9, 40, 20_000])
def test_a_header_after_many_invisible_marks_is_read_whole(tmp_path, marks):
    """A header line may start with any number of invisible marks (here a right-to-left override,
    three bytes each), also past eight; the impossible date's reject keeps them all, whole
    characters (it failed on the ninth, cut inside it), and the message after it is read."""
    rlo = "\u202e" * marks
    chat = (f"[01/03/2024, 10:00:05] Sam Carter: ok\n{rlo}[30/02/2024, 10:00:00] Jordan Blake: no such day\n"
            f"{rlo}[02/03/2024, 09:12:44] Jordan Blake: hello\n")
    (tmp_path / "marks.txt").write_text(chat, encoding="utf-8")
    ctx = make_ctx(tmp_path, timezone="Europe/London", source_path="marks.txt")
    table, rejects, report = run_parser("whatsapp", chat.encode(), ctx)
    rows = table.to_pylist()
    assert [(r.locator, r.raw) for r in rejects] == [("line 2", f"{rlo}[30/02/2024, 10:00:00] Jordan Blake: no such day")]
    assert [(iso(r), r["sender"], r["body"]) for r in rows] == [
        ("2024-03-01T10:00:05+00:00", "wa:Sam Carter", "ok"), ("2024-03-02T09:12:44+00:00", "wa:Jordan Blake", "hello")]


def test_name_followed_by_colon_without_space(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "name_colon_no_space.txt")
    assert (len(rows), len(rejects), report.warnings) == (3, 0, [])
    assert (rows[1]["kind"], rows[1]["sender"], rows[1]["body"]) == ("message", "wa:Jordan Blake", ".")


def test_invalid_utf8_is_repaired_and_counted(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "invalid_utf8.txt")
    assert (len(rows), len(rejects), report.repairs, len(report.warnings)) == (2, 0, 2, 1)
    assert rows[0]["body"] == "broken \ufffd byte\nand \ufffd here"
    assert rows[0]["flags"] == ["repaired_chars"]
    assert (rows[1]["body"], rows[1]["flags"]) == ("fine \ufffd already", [])  # U+FFFD in the source


@pytest.mark.parametrize("name", ["empty.txt", "bom_only.txt"])
def test_empty_files(tmp_path, name):
    rows, rejects, report, _ = parse(tmp_path, name)
    assert (len(rows), len(rejects), report.warnings, report.repairs) == (0, 0, [], 0)


def test_no_header_at_all(tmp_path):
    ctx = make_ctx(tmp_path)
    table, rejects, report = run_parser("whatsapp", b"hello\nworld\n", ctx)
    assert table.num_rows == 0
    assert [(r.locator, r.raw) for r in rejects] == [("line 1", "hello"), ("line 2", "world")]


def test_impossible_hour_in_12h_file(tmp_path):
    data = "1/29/18, 11:59 PM - Bob: a\n1/29/18, 23:59 PM - Bob: b\n1/30/18, 00:04 AM - Bob: c\n".encode()
    table, rejects, report = run_parser("whatsapp", data, make_ctx(tmp_path))
    assert table.num_rows == 2 and [r.locator for r in rejects] == ["line 2"]
    assert rejects[0].reason == "impossible hour: '1/29/18, 23:59 PM'"
    assert table.column("ts_utc")[1].as_py().isoformat() == "2018-01-30T00:04:00+00:00"


@pytest.mark.parametrize("name", sorted(p.name for p in WA.iterdir() if p.name != "ambiguous_order.txt"))
def test_every_line_is_accounted_for(tmp_path, name):
    data = (WA / name).read_bytes().removeprefix(b"\xef\xbb\xbf")
    total = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    rows, rejects, _, _ = parse(tmp_path, name)
    lines = sum(r["body"].count("\n") + 1 for r in rows) + sum(r.raw.count("\n") + 1 for r in rejects)
    assert lines == total


# --- names, conversation, identifiers ----------------------------------------------------------

@pytest.mark.parametrize("path, conversation", [
    ("/home/sam/WhatsApp Chat with Jordan Blake.txt", "Jordan Blake"),
    ("C:\\Users\\sam\\WhatsApp Chat with Jordan Blake (1).txt", "Jordan Blake"),
    ("exports/WhatsApp Chat - Jordan Blake.zip!_chat.txt", "Jordan Blake"),
    ("WhatsApp Chat with Jordan.zip!WhatsApp Chat with Jordan.txt", "Jordan"),
    ("WhatsApp-Chat mit Jordan.txt", "Jordan"),
    ("Chat de WhatsApp con Jordan.txt", "Jordan"),
    ("Discussion WhatsApp avec Jordan.txt", "Jordan"),
    ("Conversa do WhatsApp com Jordan.txt", "Jordan"),
    ("Chat WhatsApp con Jordan.txt", "Jordan"),
    ("backup.zip!_chat.txt", "backup"),
    ("notes/export.txt", "export"),
])
def test_conversation_from_file_name(tmp_path, path, conversation):
    rows, *_ = parse(tmp_path, "android_ymd_dash.txt", source_path=path)
    assert {r["conversation"] for r in rows} == {conversation}


def test_phone_number_author_is_e164(tmp_path):
    data = ("01/03/2024, 10:00 - +44 7700 900123: who is this\n"
            "13/03/2024, 10:01 - \u202a+44\u00a07700\u00a0900123\u202c: me\n").encode()
    table, rejects, report = run_parser("whatsapp", data, make_ctx(tmp_path))
    assert table.column("sender").to_pylist() == ["+447700900123", "+447700900123"]
    assert table.column("sender_raw").to_pylist()[0] == "+44 7700 900123"


def test_batches_follow_batch_size(tmp_path):
    ctx = make_ctx(tmp_path, batch_size=5, timezone="Europe/London")
    parser = registry.get("whatsapp")
    ctx.parser_label = parser.label
    out = list(parser.parse(io.BytesIO((WA / "deleted_edited_multilang.txt").read_bytes()), ctx))
    assert [b.num_rows for b in out] == [5, 5, 2]


# --- chunking cannot change the result ----------------------------------------------------------

_names = st.sampled_from(["Jordan Blake", "Sam Carter", "Alex 🙂", "+44 7700 900123"])
_text = st.text(alphabet=st.sampled_from(list("abc xyz:-é😀\u200e")), max_size=30)


@st.composite
def _exports(draw):
    n = draw(st.integers(1, 25))
    lines, minute = [], 0
    for _ in range(n):
        minute += draw(st.integers(0, 300))
        day, hm = 13 + minute // 1440, minute % 1440
        header = f"{day:02d}/01/2024, {hm // 60:02d}:{hm % 60:02d} - "
        if draw(st.booleans()):
            header += draw(_names) + ": "
        body = draw(_text)
        extra = draw(st.lists(_text, max_size=3))
        lines.append(header + "\n".join([body] + extra))
    crlf = draw(st.booleans())
    return ("\r\n" if crlf else "\n").join(lines).encode() + (b"\r\n" if crlf else b"\n") * draw(st.integers(0, 1))


@settings(max_examples=60, deadline=None)
@given(data=_exports(), chunk=st.integers(8, 200), batch=st.integers(1, 30))
def test_chunk_size_does_not_matter(tmp_path_factory, data, chunk, batch):
    """Nor the batch size, nor whether the scanned texts wait on disk (in a work folder made for them)."""
    tmp = tmp_path_factory.mktemp("wa")
    whole = run_parser("whatsapp", data, make_ctx(tmp))[0].drop(["ts_utc"]).to_pylist()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(ws, "CHUNK", chunk)
        m.setattr(ws, "SAMPLE_BYTES", chunk)
        m.setattr(ws.TextStore, "SPOOL", 1)
        small = run_parser("whatsapp", data, make_ctx(tmp, batch_size=batch, work_dir=tmp / "case" / ".tmp"))
    assert small[0].drop(["ts_utc"]).to_pylist() == whole
    assert len(small[1]) == 0
    assert list((tmp / "case" / ".tmp").iterdir()) == []   # the texts' file is anonymous, gone with the parse


# --- other digits, right-to-left marks (issue 21.7) -------------------------------------------

RLM = "\u200f"


@pytest.mark.parametrize("name", ["android_ar_indic_digits.txt", "android_fa_persian_digits.txt",
                                  "android_mr_devanagari_digits.txt", "ios_ar_rlm_marks.txt"])
def test_sniff_other_digits_and_rtl(name):
    assert registry.get("whatsapp").sniff((WA / name).read_bytes(), name)


def test_arabic_indic_digits_android(tmp_path):
    # "٢٤‏/٤‏/٢٠٢٢، ٢:٠٧ م": Arabic-Indic digits, RLM after day and month, Arabic comma, ص/م
    rows, rejects, report, _ = parse(tmp_path, "android_ar_indic_digits.txt")
    assert (len(rows), len(rejects), report.warnings, report.repairs) == (4, 0, [], 0)
    assert [(iso(r), r["ts_local"], r["sender"], r["kind"], r["flags"]) for r in rows] == [
        ("2022-04-24T13:07:00+00:00", f"٢٤{RLM}/٤{RLM}/٢٠٢٢، ٢:٠٧ م", "wa:Jordan Blake", "message", []),
        ("2022-04-24T22:59:00+00:00", f"٢٤{RLM}/٤{RLM}/٢٠٢٢، ١١:٥٩\u00a0م", "wa:Sam Carter", "message", []),
        ("2022-04-24T23:03:00+00:00", f"٢٥{RLM}/٤{RLM}/٢٠٢٢، ١٢:٠٣ ص", "wa:Jordan Blake", "message",
         ["media_omitted"]),
        ("2022-04-25T08:15:00+00:00", f"٢٥{RLM}/٤{RLM}/٢٠٢٢، ٩:١٥ ص", "wa:Jordan Blake", "message", [])]
    # the text is byte-exact: a digit run in a continuation line is text, not a header
    assert rows[3]["body"] == "سطر أول\nسطر ثان ١٢:٠٠"
    assert (rows[0]["body"], rows[0]["ts_precision"], rows[0]["locator"]) == ("مرحبا", "min", "line 1")


def test_persian_digits_and_a_solar_hijri_year(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "android_fa_persian_digits.txt")
    assert (len(rows), len(rejects), report.warnings) == (2, 1, [])
    assert [(iso(r), r["ts_local"]) for r in rows] == [
        ("2023-05-13T20:04:00+00:00", "۲۰۲۳/۰۵/۱۳، ۲۱:۰۴"), ("2023-05-14T06:30:00+00:00", "۲۰۲۳/۰۵/۱۴، ۰۷:۳۰")]
    # a year 1402 is never stored as a Gregorian date: the line is a reject with its raw text
    assert (rejects[0].locator, rejects[0].reason) == ("line 3", "impossible date (read as YMD): '۱۴۰۲/۰۲/۲۴، ۰۸:۰۰'")
    assert rejects[0].raw.startswith("۱۴۰۲/۰۲/۲۴، ۰۸:۰۰ - Jordan Blake: a Solar Hijri")


def test_devanagari_digits_and_marathi_day_periods(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "android_mr_devanagari_digits.txt")
    assert (len(rows), len(rejects), report.warnings) == (2, 0, [])
    assert [brief(r) for r in rows] == [
        ("2023-12-25T21:04:00+00:00", "२५/१२/२३, ९:०४ म.उ.", "wa:Jordan Blake", "नमस्कार"),
        ("2023-12-26T00:30:00+00:00", "२६/१२/२३, १२:३० म.पू.", "wa:Sam Carter", "थांबा")]


def test_ios_arabic_rlm_inside_the_date(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "ios_ar_rlm_marks.txt", source_path="_chat.txt")
    assert (len(rows), len(rejects), report.warnings) == (4, 0, [])
    assert [(iso(r), r["ts_local"], r["kind"], r["sender_raw"], r["flags"]) for r in rows] == [
        ("2022-03-18T14:56:01+00:00", f"18{RLM}/3{RLM}/2022، 14:56:01", "system", "Jordan Blake", []),
        ("2022-03-27T20:41:35+00:00", f"27{RLM}/3{RLM}/2022، 21:41:35", "message", "Sam Carter", []),
        ("2022-03-27T20:41:55+00:00", f"27{RLM}/3{RLM}/2022، 21:41:55", "message", "Jordan Blake",
         ["media_omitted"]),
        ("2022-04-28T19:17:30+00:00", f"28{RLM}/4{RLM}/2022، 20:17:30", "system", "Jordan Blake", [])]
    assert rows[3]["body"] == f"{RLM}{RLM}تغيّر رمز أمانك المُستخدَم مع Jordan. {RLM}انقر هنا لمعرفة المزيد."
    assert rows[3]["sender"] is None and rows[3]["direction"] == "unknown"


# --- iOS notices written as if the contact sent them (issue 21.8) -------------------------------

def test_ios_notices_attributed_to_a_contact_are_system(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "ios_contact_notices.txt", source_path="_chat.txt")
    assert (len(rows), len(rejects), report.warnings) == (11, 0, [])
    assert [r["kind"] for r in rows] == ["system"] + ["message"] * 6 + ["system"] * 3 + ["message"]
    notices = rows[7:10]
    assert [(r["sender_raw"], r["sender"], r["direction"], r["flags"]) for r in notices] == [
        ("Chris Unknown", None, "unknown", []), ("Acme Deliveries", None, "unknown", []),
        ("Jordan Blake", None, "unknown", [])]
    assert iso(notices[0]) == "2024-03-13T09:00:00+00:00"
    # the same words typed by a person (no mark before them) stay a message; a one-off author in a
    # group chat is what looks like a forged header, so only that line carries the flag
    assert (rows[10]["sender"], rows[10]["flags"]) == ("wa:Pat Visitor", ["header_like_body"])
    assert [r["flags"] for r in rows[:10]] == [[]] * 10


# --- media, attachment and deleted markers in more languages (issue 21.9) -----------------------

def test_markers_in_eight_more_languages(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "markers_more_languages.txt")
    assert (len(rows), len(rejects), report.warnings) == (19, 0, [])
    assert [r["flags"] for r in rows] == ([["media_omitted"]] * 12 + [["attachment_missing"]] * 4
                                          + [["deleted"]] * 2 + [[]])
    assert [r["body"] for r in rows[:8]] == [
        "<メディアなし>", "<省略多媒体文件>", "<미디어 파일 제외됨>", "<Без медиафайлов>", "<Medya dahil edilmedi>",
        "<تم استبعاد الوسائط>", "<मीडिया के बिना>", "<Media tidak disertakan>"]
    assert [r["attachments"][0]["name"] for r in rows[12:16]] == [
        "IMG-20240401-WA0001.jpg", "00000012-PHOTO-2024-04-01-10-13-00.jpg",
        "00000013-PHOTO-2024-04-01-10-14-00.jpg", "DOC-20240401-WA0002.pdf"]
    assert iso(rows[0]) == "2024-04-13T09:00:00+00:00" and rows[0]["kind"] == "message"


# --- two header shapes in one chat (issue 21.10) ------------------------------------------------

LOCALE_CHANGE = [
    ("2023-12-20T21:04:00+00:00", "20/12/2023, 21:04", "wa:Jordan Blake", "first, from the UK settings"),
    ("2023-12-21T08:10:00+00:00", "21/12/2023, 08:10", "wa:Sam Carter", "please stop"),
    ("2023-12-22T23:59:00+00:00", "22/12/2023, 23:59", "wa:Jordan Blake", "why"),
    ("2023-12-24T21:04:00+00:00", "12/24/23, 9:04 PM", "wa:Jordan Blake", "new phone settings"),
    ("2023-12-25T00:03:00+00:00", "12/25/23, 12:03 AM", "wa:Jordan Blake", "merry christmas"),
    ("2023-12-25T10:30:00+00:00", "12/25/23, 10:30 AM", "wa:Sam Carter", "stop"),
    ("2024-01-02T19:15:00+00:00", "1/2/24, 7:15 PM", "wa:Jordan Blake", "happy new year")]


def test_locale_change_reads_each_line_in_its_own_shape(tmp_path):
    rows, rejects, report, _ = parse(tmp_path, "locale_change.txt")
    assert (len(rows), len(rejects)) == (7, 0)
    assert [brief(r) for r in rows] == LOCALE_CHANGE
    assert [(r["kind"], r["flags"], r["locator"]) for r in rows] == [
        ("message", [], f"line {i}") for i in range(1, 8)]
    assert report.warnings == [
        "header lines in more than one date/time shape (a phone's locale changed?); each line was read in its "
        "own shape: NN/NN/YY, HH:MM[:SS] AM/PM - Name:; NN/NN/YYYY, HH:MM[:SS] - Name:."]


def test_second_shape_found_after_the_sample(tmp_path, monkeypatch):
    # the sample sees only the UK lines; the US lines are found while scanning, in small chunks
    monkeypatch.setattr(ws, "SAMPLE_LINES", 3)
    monkeypatch.setattr(ws, "CHUNK", 64)
    monkeypatch.setattr(ws, "SAMPLE_BYTES", 64)
    rows, rejects, report, _ = parse(tmp_path, "locale_change.txt")
    assert (len(rows), len(rejects)) == (7, 0)
    assert [brief(r) for r in rows] == LOCALE_CHANGE
    assert report.warnings == [
        "header lines in more than one date/time shape (a phone's locale changed?); each line was read in its "
        "own shape: NN/NN/YYYY, HH:MM[:SS] - Name:; NN/NN/YY, HH:MM[:SS] AM/PM - Name:."]


def test_second_shape_that_cannot_settle_its_order_stays_text(tmp_path):
    # two US-style lines whose numbers are all 12 or below: their own lines cannot tell 1/2 from 2/1
    data = ("20/03/2024, 10:00 - Jordan Blake: one\n"
            "1/2/24, 7:15 PM - Jordan Blake: pasted\n"
            "1/3/24, 7:16 PM - Sam Carter: pasted too\n"
            "21/03/2024, 10:03 - Sam Carter: two\n"
            "22/03/2024, 10:04 - Jordan Blake: three\n").encode()
    table, rejects, report = run_parser("whatsapp", data, make_ctx(tmp_path, timezone="Europe/London"))
    assert (table.num_rows, len(rejects)) == (3, 0)
    assert table.column("body")[0].as_py() == ("one\n1/2/24, 7:15 PM - Jordan Blake: pasted\n"
                                               "1/3/24, 7:16 PM - Sam Carter: pasted too")
    assert table.column("flags")[0].as_py() == ["header_like_body"]
    assert "do not settle their own day/month order" in report.warnings[0]


def test_a_run_of_another_shape_back_in_time_is_flagged(tmp_path):
    # a locale change goes on in time; a block of another shape that starts in the past is a paste
    rows, rejects, report, _ = parse(tmp_path, "pasted_other_shape.txt")
    assert (len(rows), len(rejects), len(report.warnings)) == (5, 0, 2)
    assert [(iso(r), r["sender"], r["flags"]) for r in rows] == [
        ("2024-01-13T22:20:00+00:00", "wa:Jordan Blake", []),
        ("2024-01-13T22:22:00+00:00", "wa:Jordan Blake", []),
        ("2023-12-19T08:00:00+00:00", "wa:Alex Doe", ["header_like_body", "time_out_of_order"]),
        ("2023-12-19T08:01:00+00:00", "wa:Sam Carter", ["header_like_body"]),
        ("2024-01-13T22:30:00+00:00", "wa:Sam Carter", [])]
    assert report.warnings[1] == (
        "2 message(s) in a run of header lines of another shape that starts back in time (line 3) may be a "
        "chat pasted into a message; they were read as messages and flagged header_like_body.")


@pytest.mark.parametrize("how", ["--date-order", "case.toml"])
def test_given_order_on_the_command_line_or_in_case_toml(tmp_path, capsys, how):
    from commtrail.case import Case
    from commtrail.cli import main
    from commtrail.timeline.master import read_master
    from tests.conftest import CASE_TOML

    case = tmp_path / "case"
    case.mkdir()
    toml = CASE_TOML if how == "--date-order" else CASE_TOML.replace(
        'phone_region = "GB"\n', 'phone_region = "GB"\ndate_order = "DMY"\n', 1)
    (case / "case.toml").write_text(toml, encoding="utf-8")
    chat = tmp_path / "WhatsApp Chat with Jordan.txt"
    chat.write_bytes((WA / "mdy_proven.txt").read_bytes())
    args = ["ingest", str(case), str(chat)] + (["--date-order", "DMY"] if how == "--date-order" else [])
    assert main(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (f"Warning: {chat}: date_order DMY was given, but line 1 reads '12/24/2023, 21:00': its second "
            "number is above 12, so it is the day, not the month; the file was read as MDY") in out
    master = read_master(Case(case)).to_pylist()
    assert sorted((m["ts_utc"].isoformat(), m["body"]) for m in master) == [
        ("2023-12-24T21:00:00+00:00", "Merry Christmas Eve"), ("2023-12-25T09:30:00+00:00", "Answer me"),
        ("2023-12-25T09:45:00+00:00", "Please stop."), ("2024-01-05T18:00:00+00:00", "Are you ignoring me?")]


def test_one_message_author_named_by_a_system_line_is_not_flagged(tmp_path):
    data = ("13/03/2024, 10:00 - Jordan Blake: hello all\n"
            "13/03/2024, 10:01 - Sam Carter: hi\n"
            "13/03/2024, 10:02 - Jordan Blake: meeting at 6\n"
            "13/03/2024, 10:03 - Sam Carter: ok\n"
            "13/03/2024, 10:04 - Jordan Blake added Pat Visitor\n"
            "13/03/2024, 10:05 - Pat Visitor: thanks for adding me\n"
            "13/03/2024, 10:06 - Chris Unknown: nobody added me\n").encode()
    table, rejects, report = run_parser("whatsapp", data, make_ctx(tmp_path, timezone="Europe/London"))
    assert (table.num_rows, len(rejects), report.warnings) == (7, 0, [])
    assert table.column("kind").to_pylist() == ["message"] * 4 + ["system", "message", "message"]
    assert table.column("flags").to_pylist() == [[]] * 6 + [["header_like_body"]]
