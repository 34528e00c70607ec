"""Evidence files through ingest: named by a chat -> its attachment; named by nothing -> an item of its own."""

import hashlib
import io
import json
import os
import zipfile

from conftest import new_case
from evidence_media import image, wav

from commtrail.case import Case
from commtrail.cli import main
from commtrail.ingest.runner import ingest
from commtrail.inventory import read_inventory
from commtrail.timeline.master import read_master

CHAT = ("15/03/2024, 08:30 - Jordan: IMG-20240315-WA0007.jpg (file attached)\n"
        "15/03/2024, 08:31 - Jordan: answer me\n")


def _case(tmp_path, name="case"):
    root = new_case(tmp_path / name)
    return root


def _evidence(case_dir):
    return [(m["kind"], m["ts_utc"].isoformat() if m["ts_utc"] else None, m["tz_source"], m["flags"],
             json.loads(m["extra"]).get("app"), m["attachments"][0]["sha256"], m["source_path"])
            for m in read_master(Case(case_dir)).to_pylist() if m["channel"] == "evidence"]


def test_named_media_is_the_chats_attachment_and_unnamed_media_an_item(tmp_path, capsys):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "WhatsApp Chat with Jordan.txt").write_text(CHAT, encoding="utf-8")
    photo = image("JPEG")
    shot = image("PNG")
    (folder / "IMG-20240315-WA0007.jpg").write_bytes(photo)
    (folder / "Screenshot_20240315-084012_WhatsApp.png").write_bytes(shot)
    case_dir = _case(tmp_path)
    assert main(["ingest", str(case_dir), str(folder)]) == 0, capsys.readouterr().err
    master = read_master(Case(case_dir)).to_pylist()
    assert [(m["channel"], m["kind"]) for m in master] == [("whatsapp", "message"), ("whatsapp", "message"),
                                                           ("evidence", "screenshot")]
    assert master[0]["attachments"][0]["sha256"] == hashlib.sha256(photo).hexdigest()
    shot_sha = hashlib.sha256(shot).hexdigest()
    expected = [("screenshot", "2024-03-15T08:40:12+00:00", "case", None, "WhatsApp", shot_sha,
                 str(folder / "Screenshot_20240315-084012_WhatsApp.png"))]
    assert _evidence(case_dir) == expected
    assert (case_dir / "blobs" / shot_sha).exists()
    assert sorted(r["format"] for r in read_inventory(case_dir / "sources.parquet")) == ["evidence", "whatsapp"]

    # the same screenshot given alone to another case: the same item
    alone = _case(tmp_path, "alone")
    assert main(["ingest", str(alone), str(folder / "Screenshot_20240315-084012_WhatsApp.png")]) == 0
    assert _evidence(alone) == expected


def test_zip_member_time_and_disk_mtime(tmp_path, capsys):
    sound = wav()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("notes/voice.wav", date_time=(2024, 7, 1, 10, 0, 0)), sound)
        z.writestr(zipfile.ZipInfo("notes/scan.pdf", date_time=(1980, 1, 1, 0, 0, 0)), b"%PDF-1.7\n")  # no time
    (tmp_path / "notes.zip").write_bytes(buf.getvalue())
    pdf_path = tmp_path / "letter.pdf"
    pdf_path.write_bytes(b"%PDF-1.4\n%%EOF\n")
    stamp = 1710491400   # 2024-03-15T08:30:00Z
    os.utime(pdf_path, (stamp, stamp))
    case_dir = _case(tmp_path)
    assert main(["ingest", str(case_dir), str(tmp_path / "notes.zip"), str(pdf_path)]) == 0, capsys.readouterr().err
    assert _evidence(case_dir) == [
        ("document", "2024-03-15T08:30:00+00:00", "source", ["time_from_mtime"], None,
         hashlib.sha256(b"%PDF-1.4\n%%EOF\n").hexdigest(), str(pdf_path)),
        ("audio", "2024-07-01T09:00:00+00:00", "case", ["time_from_mtime"], None, hashlib.sha256(sound).hexdigest(),
         f"{tmp_path}/notes.zip!notes/voice.wav"),
        ("document", None, None, ["undated"], None, hashlib.sha256(b"%PDF-1.7\n").hexdigest(),
         f"{tmp_path}/notes.zip!notes/scan.pdf")]


def test_one_note_for_the_run_when_tesseract_is_missing(tmp_path, monkeypatch, capsys):
    from commtrail.parsers import evidence
    from commtrail.parsers.evidence._ocr import Engine
    monkeypatch.setattr(evidence, "engine", lambda: Engine(None, frozenset(), "Tesseract is not installed or "
                                                           "cannot run (probe)"))
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "Screenshot_20240315-084012.png").write_bytes(image("PNG"))
    (folder / "Screenshot_20240316-090000.png").write_bytes(image("PNG", size=(5, 3)))
    case_dir = _case(tmp_path)
    assert main(["ingest", str(case_dir), str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.count("Note: OCR was not run") == 1
    assert [k for k, *_ in _evidence(case_dir)] == ["screenshot", "screenshot"]


def test_a_chats_attachment_stays_one_on_a_rerun_and_given_alone(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    chat = folder / "WhatsApp Chat with Jordan.txt"
    chat.write_text(CHAT, encoding="utf-8")
    (folder / "IMG-20240315-WA0007.jpg").write_bytes(image("JPEG"))
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "IMG-20240315-WA0007.jpg").write_bytes(image("JPEG"))
    case_dir = _case(tmp_path)
    # the rerun skips the chat (already ingested), so only the attachments of the case tell
    for given, chat_status in ((folder, "ingested"), (folder, "skipped"), (loose, None)):
        result = ingest(Case(case_dir), [str(given)])
        got = {o.label.rsplit("/", 1)[-1]: (o.status, o.format) for o in result.outcomes}
        assert got.pop("IMG-20240315-WA0007.jpg") == ("media", "attachment")
        assert got == ({chat.name: (chat_status, "whatsapp")} if chat_status else {})
    assert [p.name for p in (case_dir / "originals").iterdir()] == [hashlib.sha256(chat.read_bytes()).hexdigest()]
