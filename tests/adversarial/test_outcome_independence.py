"""Issue 13.7: a file's outcome never depends on its neighbours or on the order of runs. A file a
chat or an incident log names is its attachment; a media file nothing names is an evidence item
of its own (or, in a format no parser reads, an unreferenced attachment with a warning); anything
else is unknown (a failure) -- on every run."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from commtrail.case import Case
from commtrail.ingest.media import media_kind
from commtrail.ingest.runner import ingest

from conftest import new_case

PNG = b"\x89PNG\r\n\x1a\n fictional picture"
JPEG = b"\xff\xd8\xff\xe0 fictional photo"
GIF = b"GIF89a fictional animation"
VCARD = b"BEGIN:VCARD\nFN:Alex\nEND:VCARD\n"
CHAT = (b"13/03/2024, 18:30 - Jordan: IMG-1.jpg (file attached)\n"
        b"13/03/2024, 18:31 - Jordan: Alex.vcf (file attached)\n"
        b"13/03/2024, 18:32 - Sam: stop\n")


@pytest.fixture
def case(tmp_path):
    root = new_case(tmp_path / "case")
    return Case(root)


def outcomes(case, *paths):
    result = ingest(case, [str(p) for p in paths])
    return {o.label.rsplit("/", 1)[-1]: (o.status, o.format) for o in result.outcomes}


def folder(tmp_path, name, files):
    path = tmp_path / name
    path.mkdir()
    for fname, data in files.items():
        (path / fname).write_bytes(data)
    return path


def test_unknown_file_fails_alone_beside_a_chat_and_on_a_rerun(tmp_path, case):
    chat = folder(tmp_path, "chat", {"chat.txt": CHAT, "IMG-1.jpg": JPEG, "Alex.vcf": VCARD,
                                     "notes.bin": b"\x00\x01 private format"})
    alone = folder(tmp_path, "alone", {"notes.bin": b"\x00\x01 private format, alone"})
    first = outcomes(case, chat)
    assert first == {"chat.txt": ("ingested", "whatsapp"), "IMG-1.jpg": ("media", "attachment"),
                     "Alex.vcf": ("media", "attachment"), "notes.bin": ("failed", "")}
    again = outcomes(case, chat)
    assert again == {"chat.txt": ("skipped", "whatsapp"), "IMG-1.jpg": ("media", "attachment"),
                     "Alex.vcf": ("media", "attachment"), "notes.bin": ("failed", "")}
    assert outcomes(case, alone) == {"notes.bin": ("failed", "")}
    # the attachment given on its own, in a later run, is still the chat's attachment
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(chat / "Alex.vcf", loose / "Alex.vcf")
    assert outcomes(case, loose) == {"Alex.vcf": ("media", "attachment")}


def test_unreferenced_media_is_the_same_alone_beside_a_chat_and_on_a_rerun(tmp_path, case):
    # A PNG nothing names is an evidence item of its own (the evidence parser); a GIF, which no
    # parser reads, is an unreferenced attachment with a warning -- alone, beside a chat, on a re-run.
    beside = folder(tmp_path, "beside", {"chat.txt": CHAT, "IMG-1.jpg": JPEG, "Alex.vcf": VCARD,
                                         "screenshot.png": PNG, "anim.gif": GIF})
    alone = folder(tmp_path, "alone", {"other.png": PNG + b" 2", "other.gif": GIF + b" 2"})
    sha1, sha2 = (hashlib.sha256(d).hexdigest() for d in (GIF, GIF + b" 2"))
    gifs = {"anim.gif": ("media", "unreferenced", [
                f"no chat or incident log names this image file; it is kept as an unreferenced attachment of its "
                f"folder (blobs/{sha1[:12]}...), not as an event of the timeline."]),
            "other.gif": ("media", "unreferenced", [
                f"no chat or incident log names this image file; it is kept as an unreferenced attachment of its "
                f"folder (blobs/{sha2[:12]}...), not as an event of the timeline."])}
    for status in ("ingested", "skipped"):
        result = ingest(case, [str(beside), str(alone)])
        got = {o.label.rsplit("/", 1)[-1]: (o.status, o.format, o.warnings) for o in result.outcomes
               if o.label.endswith((".png", ".gif"))}
        assert {k: v for k, v in got.items() if k.endswith(".gif")} == gifs
        assert {k: v[:2] for k, v in got.items() if k.endswith(".png")} == {
            "screenshot.png": (status, "evidence"), "other.png": (status, "evidence")}
        assert not result.failed
        assert (case.blobs / sha1).exists() and (case.blobs / sha2).exists()


def test_media_is_told_by_content_not_name():
    assert media_kind(JPEG) == "image" and media_kind(PNG) == "image"
    assert media_kind(b"\x00\x00\x00\x18ftypheic") == "image"
    assert media_kind(b"\x00\x00\x00\x18ftypmp42") == "video"
    assert media_kind(b"\x00\x00\x00\x1cftypM4A ") == "audio"
    assert media_kind(b"OggS\x00\x02") == "audio" and media_kind(b"ID3\x04") == "audio"
    assert media_kind(b"%PDF-1.7\n") == "PDF"
    assert media_kind(VCARD) is None and media_kind(b"") is None and media_kind(b"plain text") is None
