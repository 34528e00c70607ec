"""Evidence files: sniffed by content, one item each, kind and time from the best source."""

import hashlib
import json
from datetime import datetime, timezone

import pytest

from conftest import make_ctx, run_parser
from evidence_media import AMR, M4A, MP3, MP4, OPUS, amr, exif, image, ogg_opus, pdf, text_image, wav

from commtrail.parsers import registry


def parse_one(tmp_path, data: bytes, name: str, **kwargs):
    """The one record of ``data`` as a file called ``name`` (case zone Europe/London)."""
    ctx = make_ctx(tmp_path, source_path=f"phone/{name}", timezone="Europe/London", file_name=name, **kwargs)
    table, rejects, report = run_parser("evidence", data, ctx)
    assert rejects == [] and table.num_rows == 1
    row = table.to_pylist()[0]
    row["extra"] = json.loads(row["extra"])
    return row, report


def when(row):
    ts = row["ts_utc"]
    return (ts.isoformat() if ts else None, row["ts_local"], row["ts_precision"], row["tz_source"],
            row["extra"].get("time_from"), row["flags"])


def test_registered_and_sniffed_by_content_not_name():
    parser = registry.get("evidence")
    assert parser.after_siblings and parser.label == "evidence/2"
    for data in (image("PNG"), image("JPEG"), image("WEBP"), image("HEIF"), OPUS, AMR, MP3, M4A, MP4, wav(), pdf()):
        assert registry.sniff(data, "no-extension") is parser, data[:16]
    for data in (b"\xff\xd8 not a jpeg", b"#testfmt\n", b"PK\x03\x04", b"\xff\xfb\x90\x64" + b"\x00" * 20,
                 b"hello %PDF-1.4", b"RIFF\x00\x00\x00\x00AVI "):
        assert not parser.sniff(data, "photo.jpg"), data


def test_png_with_exif_time_and_offset_is_exact_and_an_ios_screenshot(tmp_path):
    data = image("PNG", exif(original="2024:03:15 08:40:12", offset="+01:00", software="iOS 17.3",
                             comment=b"ASCII\x00\x00\x00Screenshot"))
    row, report = parse_one(tmp_path, data, "Screenshot_20240315-084012_WhatsApp.png")
    assert when(row) == ("2024-03-15T07:40:12+00:00", "2024:03:15 08:40:12 +01:00", "s", "source",
                         "exif_original", None)
    sha = hashlib.sha256(data).hexdigest()
    assert (row["channel"], row["kind"], row["direction"], row["body"], row["locator"]) == (
        "evidence", "screenshot", "unknown", None, f"byte 0+{len(data)}")
    assert row["attachments"] == [{"name": "Screenshot_20240315-084012_WhatsApp.png", "mime": "image/png",
                                   "size": len(data), "sha256": sha}]
    assert (tmp_path / "blobs" / sha).read_bytes() == data
    assert row["extra"].pop("ocr_engine").startswith("tesseract ")
    assert row["extra"] == {
        "ocr_text": "", "ocr_confidence": None, "ocr_languages": "eng", "app": "WhatsApp", "file_name": "Screenshot_20240315-084012_WhatsApp.png", "format": "png",
        "width": 4, "height": 3, "kind_from": "exif_user_comment", "name_pattern": "Android screenshot",
        "time_from": "exif_original",
        "exif": {"DateTimeOriginal": "2024:03:15 08:40:12", "OffsetTimeOriginal": "+01:00",
                 "Software": "iOS 17.3", "UserComment": "Screenshot"}}
    assert report.warnings == []


def test_jpeg_camera_photo_exif_time_without_offset_is_case_local_with_milliseconds(tmp_path):
    data = image("JPEG", exif(original="2024:07:01 18:30:05", subsec="25", make="ExampleCam"))
    row, _ = parse_one(tmp_path, data, "holiday.jpg")
    assert when(row) == ("2024-07-01T17:30:05.250000+00:00", "2024:07:01 18:30:05.25", "ms", "case",
                         "exif_original", None)
    assert (row["kind"], row["extra"]["kind_from"]) == ("photo", "camera_exif")


def test_heic_exif_read(tmp_path):
    data = image("HEIF", exif(original="2024:03:15 08:40:12", offset="-05:00", make="ExampleCam"))
    assert data[4:12] == b"ftypheic"
    row, report = parse_one(tmp_path, data, "IMG_0042.HEIC")
    assert when(row) == ("2024-03-15T13:40:12+00:00", "2024:03:15 08:40:12 -05:00", "s", "source",
                         "exif_original", None)
    assert (row["kind"], row["attachments"][0]["mime"], row["extra"]["width"]) == ("photo", "image/heic", 4)
    assert report.warnings == []


@pytest.mark.parametrize(("name", "expected", "app"), [
    ("Screenshot_20240315-084012_WhatsApp.png", ("2024-03-15T08:40:12+00:00", "20240315-084012", "s", "case"), "WhatsApp"),
    ("Screenshot_2024-07-02-21-05-09-123_com.whatsapp.jpg",
     ("2024-07-02T20:05:09.123000+00:00", "2024-07-02-21-05-09-123", "ms", "case"), "com.whatsapp"),
    ("Screenshot 2024-07-02 at 21.05.09.png", ("2024-07-02T20:05:09+00:00", "2024-07-02 at 21.05.09", "s", "case"), None),
    # 01:30 on 2024-03-31 never happened in London: read with the offset before the change
    ("Screen Shot 2024-03-31 at 1.30.00\u202fAM.png",
     ("2024-03-31T01:30:00+00:00", "2024-03-31 at 1.30.00\u202fAM", "s", "flag_nonexistent"), None),
    # 01:30 on 2024-10-27 happened twice: the earlier instant
    ("Screenshot_20241027-013000.png", ("2024-10-27T00:30:00+00:00", "20241027-013000", "s", "flag_ambiguous"), None),
    ("Screen Shot 2024-03-15 at 12.05.00 PM.png",
     ("2024-03-15T12:05:00+00:00", "2024-03-15 at 12.05.00 PM", "s", "case"), None),
])
def test_screenshot_names_give_local_time_of_the_case(tmp_path, name, expected, app):
    data = image("JPEG" if name.endswith(".jpg") else "PNG")
    row, report = parse_one(tmp_path, data, name)
    assert when(row) == (*expected, "file_name", None)
    assert (row["kind"], row["extra"].get("app")) == ("screenshot", app)
    assert row["extra"]["kind_from"] == "file_name"
    assert report.warnings == []


def test_whatsapp_media_names_give_the_day(tmp_path):
    photo, _ = parse_one(tmp_path, image("JPEG"), "IMG-20240315-WA0007.jpg")
    assert when(photo) == ("2024-03-15T00:00:00+00:00", "20240315", "day", "case", "file_name", None)
    assert (photo["kind"], photo["extra"]["kind_from"], photo["extra"]["name_pattern"]) == (
        "photo", "default", "WhatsApp media")
    voice, _ = parse_one(tmp_path, OPUS, "PTT-20240715-WA0003.opus")
    assert when(voice) == ("2024-07-14T23:00:00+00:00", "20240715", "day", "case", "file_name", None)
    assert (voice["kind"], voice["attachments"][0]["mime"], voice["extra"]["format"]) == ("audio", "audio/ogg", "opus")
    assert "kind_from" not in voice["extra"]


def test_modification_time_is_weak_and_flagged(tmp_path):
    row, _ = parse_one(tmp_path, wav(), "recording.wav", modified=datetime(2024, 7, 1, 9, 0, 0, 500, timezone.utc))
    assert when(row) == ("2024-07-01T09:00:00+00:00", "2024-07-01T10:00:00", "s", "source", "mtime",
                         ["time_from_mtime"])
    assert (row["kind"], row["attachments"][0]["mime"]) == ("audio", "audio/wav")
    # a zip member's time is local wall-clock time: the case's zone
    row, _ = parse_one(tmp_path, MP4, "clip.mp4", modified=datetime(2024, 7, 1, 10, 0, 0))
    assert when(row) == ("2024-07-01T09:00:00+00:00", "2024-07-01T10:00:00", "s", "case", "mtime",
                         ["time_from_mtime"])
    assert (row["kind"], row["attachments"][0]["mime"]) == ("video", "video/mp4")


def test_no_usable_time_is_undated(tmp_path):
    data = pdf()
    row, report = parse_one(tmp_path, data, "letter.pdf")
    assert when(row) == (None, None, None, None, None, ["undated"])
    assert (row["kind"], row["attachments"][0]["mime"], row["attachments"][0]["size"]) == (
        "document", "application/pdf", len(data))
    assert report.warnings == []


def test_unusable_exif_time_and_impossible_name_time_are_warned_and_skipped(tmp_path):
    data = image("PNG", exif(original="0000:00:00 00:00:00"))
    row, report = parse_one(tmp_path, data, "Screenshot_20240230-084012.png",
                            modified=datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc))
    assert when(row) == ("2024-03-01T12:00:00+00:00", "2024-03-01T12:00:00", "s", "source", "mtime",
                         ["time_from_mtime"])
    assert report.warnings == [
        "Screenshot_20240230-084012.png: the time in the file name (Screenshot_20240230-084012) is not a real "
        "date or time; it was not used.",
        "Screenshot_20240230-084012.png: EXIF DateTimeOriginal '0000:00:00 00:00:00' is not a date and time; "
        "it was not used."]


@pytest.mark.parametrize(("data", "name", "kind", "rule"), [
    (image("PNG"), "chat.png", "screenshot", "png_without_camera"),
    (image("PNG", exif(make="ExampleCam")), "chat.png", "photo", "camera_exif"),
    (image("JPEG", exif(software="Greenshot 1.2")), "capture.jpg", "screenshot", "exif_software"),
    (image("WEBP"), "sticker.webp", "photo", "default"),
])
def test_screenshot_or_photo_rule(tmp_path, data, name, kind, rule):
    row, _ = parse_one(tmp_path, data, name)
    assert (row["kind"], row["extra"]["kind_from"]) == (kind, rule)


@pytest.mark.parametrize(("data", "kind", "mime", "fmt"), [
    (AMR, "audio", "audio/amr", "amr"), (MP3, "audio", "audio/mpeg", "mp3"), (M4A, "audio", "audio/mp4", "m4a"),
    (MP4, "video", "video/mp4", "mp4"),
])
def test_audio_and_video_kinds(tmp_path, data, kind, mime, fmt):
    row, _ = parse_one(tmp_path, data, "x")
    assert (row["kind"], row["attachments"][0]["mime"], row["extra"]["format"], row["flags"]) == (
        kind, mime, fmt, ["undated"])


def test_a_damaged_image_still_goes_in_with_a_warning(tmp_path):
    data = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    row, report = parse_one(tmp_path, data, "IMG-20240315-WA0001.png")
    assert (row["kind"], row["extra"]["time_from"], row["extra"]["kind_from"]) == (
        "screenshot", "file_name", "png_without_camera")
    assert len(report.warnings) == 1 and report.warnings[0].startswith(
        "IMG-20240315-WA0001.png: the image's own data (size, EXIF) could not be read (")


LINES = ["Jordan: where are you tonight", "you saw my car outside", "answer me now"]


def test_ocr_reads_the_drawn_lines_of_a_screenshot_into_extra_not_body(tmp_path):
    row, report = parse_one(tmp_path, text_image(LINES), "Screenshot_20240315-084012_WhatsApp.png")
    extra = row["extra"]
    assert (row["body"], row["flags"], extra["ocr_text"]) == (None, ["ocr"], "\n".join(LINES))
    assert 80 < extra["ocr_confidence"] <= 100
    assert extra["ocr_engine"].startswith("tesseract ")
    assert report.warnings == [] and report.notices == set()


def test_photos_are_not_read_by_ocr(tmp_path):
    row, _ = parse_one(tmp_path, text_image(LINES, "JPEG", exif(make="ExampleCam")), "photo.jpg")
    assert row["kind"] == "photo" and "ocr_text" not in row["extra"] and row["flags"] == ["undated"]


def test_without_tesseract_the_screenshot_goes_in_and_the_run_says_so(tmp_path, monkeypatch):
    from commtrail.parsers import evidence
    from commtrail.parsers.evidence._ocr import Engine
    monkeypatch.setattr(evidence, "engine", lambda: Engine(None, frozenset(), "Tesseract is not installed or "
                                                           "cannot run (probe)"))
    row, report = parse_one(tmp_path, text_image(LINES), "Screenshot_20240315-084012_WhatsApp.png")
    assert (row["kind"], row["flags"], "ocr_text" in row["extra"]) == ("screenshot", None, False)
    assert report.warnings == []
    assert report.notices == {
        "OCR was not run, so the text of screenshots was not read: Tesseract is not installed or cannot run "
        "(probe). Install Tesseract (Debian/Ubuntu: sudo apt-get install tesseract-ocr; macOS: brew install "
        "tesseract; Windows: the installer from github.com/UB-Mannheim/tesseract) and the pytesseract package "
        "(pip install pytesseract); screenshots ingested before then keep no OCR text."}


def test_ocr_languages_from_the_case_and_missing_packs_said_once(tmp_path):
    row, report = parse_one(tmp_path, text_image(LINES), "Screenshot_20240315-084012_WhatsApp.png",
                            ocr_languages=("eng", "xyz"))
    assert (row["extra"]["ocr_text"], row["extra"]["ocr_languages"], row["flags"]) == ("\n".join(LINES), "eng", ["ocr"])
    assert report.notices == {
        "the Tesseract language pack(s) xyz named in case.toml (ocr_languages) are not installed, so screenshots "
        "were read in eng only. Install them (Debian/Ubuntu: sudo apt-get install tesseract-ocr-xyz) to read those "
        "languages."}


def test_heic_without_pillow_heif_falls_back_to_the_name_and_says_so(tmp_path, monkeypatch):
    from commtrail.parsers.evidence import _image
    monkeypatch.setattr(_image, "_heif_opener", lambda: "pillow-heif is not installed (pip install pillow-heif)")
    data = image("HEIF", exif(original="2024:03:15 08:40:12", offset="-05:00"))
    row, report = parse_one(tmp_path, data, "IMG-20240315-WA0009.heic")
    assert when(row) == ("2024-03-15T00:00:00+00:00", "20240315", "day", "case", "file_name", None)
    assert (row["kind"], row["extra"]["kind_from"]) == ("photo", "default")
    assert report.warnings == [
        "IMG-20240315-WA0009.heic: the image's own data (size, EXIF) could not be read (pillow-heif is not "
        "installed (pip install pillow-heif)); its time comes from its name or its modification time."]


@pytest.mark.parametrize(("data", "name", "seconds", "exact"), [
    (ogg_opus(7.25), "PTT-20240315-WA0003.opus", 7, 7.25),     # the last granule less the pre-skip, at 48 kHz
    (amr(250), "AUD-20240315-WA0001.amr", 5, 5.0),             # 250 frames of 20 ms
    (wav(3.0), "voice.wav", 3, 3.0),
])
def test_a_voice_note_given_alone_has_its_length_read_from_the_file(tmp_path, data, name, seconds, exact):
    row, report = parse_one(tmp_path, data, name)
    assert (row["kind"], row["duration_s"], row["extra"]["duration"]) == ("audio", seconds, exact)
    assert report.warnings == []


def test_a_recording_whose_length_cannot_be_read_has_none(tmp_path):
    row, _ = parse_one(tmp_path, amr(250)[:-5], "cut.amr")   # the last frame is cut
    assert (row["kind"], row["duration_s"], "duration" in row["extra"]) == ("audio", None, False)
    row, _ = parse_one(tmp_path, OPUS, "head-only.opus")     # the first page alone: no length
    assert (row["duration_s"], "duration" in row["extra"]) == (None, False)
