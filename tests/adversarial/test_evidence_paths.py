"""Issue 14.1: evidence files named in an incident log (and media named in a chat) are read only
from the log's own folder, or from inside the same archive; anything else is refused on its row,
by name, and never opened."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile

import pyarrow.parquet as pq
import pytest

from commtrail.cli import main

from conftest import new_case

HEADER = "Date,Time,Location,Description,Evidence files\n"
SECRET = b"secret bytes that must never be copied\n"


@pytest.fixture
def case_dir(tmp_path):
    root = new_case(tmp_path / "case")
    return root


def _staged(case_dir):
    [path] = [p for p in (case_dir / "staging").glob("*.parquet") if not p.name.endswith(".rejects.parquet")]
    return pq.read_table(path).to_pylist()


def _blobs(case_dir):
    return sorted(p.name for p in (case_dir / "blobs").iterdir() if not p.name.startswith("."))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_incident_log_on_disk_reads_only_its_own_folder(tmp_path, case_dir, capsys):
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    log = tmp_path / "log"
    (log / "sub").mkdir(parents=True)
    (log / "photo.jpg").write_bytes(b"jpeg beside")
    (log / "sub" / "scan.png").write_bytes(b"png below")
    os.symlink(outside, log / "linked")
    os.symlink(outside / "secret.txt", log / "alias.jpg")
    os.mkfifo(log / "pipe.jpg")
    rows = [f"{outside}/secret.txt", "../private/secret.txt", "linked/secret.txt", "alias.jpg", "pipe.jpg",
            "/proc/self/environ", "photo.jpg", "sub/scan.png", f"{log}/sub/scan.png", "sub/../photo.jpg"]
    csv = HEADER + "".join(f"2024-05-{i + 1:02d},08:00,Park,Row {i + 2},{name}\n" for i, name in enumerate(rows))
    (log / "incidents.csv").write_text(csv, encoding="utf-8")
    code = main(["ingest", str(case_dir), str(log / "incidents.csv")])
    out, err = capsys.readouterr()
    assert code == 0, err
    staged = _staged(case_dir)
    flags = [r["flags"] for r in staged]
    assert flags == [["attachment_refused"]] * 6 + [None] * 4
    assert [a["sha256"] for r in staged for a in r["attachments"]] == [None] * 6 + [
        sha(b"jpeg beside"), sha(b"png below"), sha(b"png below"), sha(b"jpeg beside")]
    assert _blobs(case_dir) == sorted({sha(b"jpeg beside"), sha(b"png below")})
    flat = " ".join(out.split())
    for row, (name, why) in enumerate(zip(rows, [
            "an absolute path that leads outside its folder", "a path that climbs out of its folder with ..",
            "a link, which is not followed", "a link, which is not followed", "a pipe (FIFO), not a file",
            "an absolute path that leads outside its folder"]), 2):
        assert (f"row {row}: evidence file '{name}' was refused ({why}): only files in the incident log's own "
                "folder (or below it, or in the same archive) are read.") in flat


def test_incident_log_inside_a_zip_never_reads_the_local_disk(tmp_path, case_dir, capsys):
    (tmp_path / "secret.txt").write_bytes(SECRET)
    rows = [f"{tmp_path}/secret.txt", "../secret.txt", "../../secret.txt", "C:\\Users\\sam\\secret.txt",
            "shot.png", "../shared/clip.m4a"]
    csv = HEADER + "".join(f"2024-05-{i + 1:02d},08:00,Park,Row {i + 2},{name}\n" for i, name in enumerate(rows))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("logs/incidents.csv", csv)
        z.writestr("logs/shot.png", b"png in zip")
        z.writestr("shared/clip.m4a", b"audio in zip")
        link = zipfile.ZipInfo("logs/secret.txt")
        link.external_attr = 0o120777 << 16
        z.writestr(link, "../../secret.txt")
    (tmp_path / "sent.zip").write_bytes(buf.getvalue())
    code = main(["ingest", str(case_dir), str(tmp_path / "sent.zip")])
    out, err = capsys.readouterr()
    assert code == 1   # the link member itself is refused by name
    assert "sent.zip!logs/secret.txt: this archive member is a link" in err
    staged = _staged(case_dir)
    assert [r["flags"] for r in staged] == [["attachment_refused"], ["attachment_missing"],
                                            ["attachment_refused"], ["attachment_refused"], None, None]
    assert _blobs(case_dir) == sorted({sha(b"png in zip"), sha(b"audio in zip")})
    flat = " ".join(out.split())
    assert ("row 4: evidence file '../../secret.txt' was refused (a path that climbs out of its archive with ..)"
            in flat)
    assert ("row 5: evidence file 'C:\\Users\\sam\\secret.txt' was refused (an absolute path that leads outside "
            "its folder)") in flat


def test_chat_media_links_never_leave_the_chat_folder(tmp_path, case_dir, capsys):
    (tmp_path / "secret.jpg").write_bytes(SECRET)
    chat = tmp_path / "chat"
    chat.mkdir()
    os.symlink(tmp_path / "secret.jpg", chat / "IMG-1.jpg")
    (chat / "chat.txt").write_bytes(b"13/03/2024, 18:30 - Jordan: IMG-1.jpg (file attached)\n"
                                    b"13/03/2024, 18:31 - Jordan: ../secret.jpg (file attached)\n")
    code = main(["ingest", str(case_dir), str(chat)])
    out, err = capsys.readouterr()
    assert code == 0, err
    staged = _staged(case_dir)
    assert [r["attachments"][0]["sha256"] for r in staged] == [None, None]
    assert all("attachment_missing" in r["flags"] for r in staged)
    assert not (case_dir / "blobs").exists() or _blobs(case_dir) == []
    assert json.dumps(staged, default=str).count(sha(SECRET)) == 0
