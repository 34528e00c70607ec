"""Encrypted iPhone backups: decrypted with the password (a file or a prompt) into the private folder.

The backups are encrypted by the test itself (commtrail.demo_ios._Encryption: the key bag, PBKDF2,
AES key wrap and AES-CBC of iOS, with tiny iteration counts); iphone_backup_decrypt's own
EncryptedBackup reads them too, which checks they have the real format."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import make_ctx, new_case, plain_rows, run_parser
from scenario import JPEG, PHOTO, SMS_DB, iphone_backup

from commtrail.case import Case
from commtrail.cli import main
from commtrail.errors import InputError, UsageError
from commtrail.ingest import password as password_module
from commtrail.ingest.password import password_source
from commtrail.inventory import read_inventory
from commtrail.parsers.base import Owner
from commtrail.timeline.master import read_master

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
PASSWORD = "correct horse battery"
SHARED = ("source_sha256", "source_path")


def parse(tmp_path, folder, password):
    ctx = make_ctx(tmp_path, source_path=str(folder / "Manifest.db"), owner=OWNER, timezone="Europe/London",
                   open_relative=lambda rel: open(folder / rel, "rb"), work_dir=tmp_path / "work",
                   password=(lambda: password))
    table, rejects, report = run_parser("ios-backup", (folder / "Manifest.db").read_bytes(), ctx)
    return [{k: v for k, v in r.items() if k not in SHARED} for r in plain_rows(table)], rejects, report


def test_the_fixture_is_a_real_encrypted_backup(tmp_path):
    from iphone_backup_decrypt import EncryptedBackup
    folder = iphone_backup(tmp_path / "backup", tmp_path / "build", password=PASSWORD)
    assert not (folder / "Manifest.db").read_bytes().startswith(b"SQLite format 3")
    backup = EncryptedBackup(backup_directory=str(folder), passphrase=PASSWORD)
    assert backup.extract_file_as_bytes(PHOTO[1], domain_like=PHOTO[0]) == JPEG
    assert backup.extract_file_as_bytes(SMS_DB[1], domain_like=SMS_DB[0]).startswith(b"SQLite format 3\x00")
    del backup   # its own temporary copy of the manifest goes with it


def test_decrypted_with_the_password_reads_as_the_plain_backup(tmp_path):
    plain = parse(tmp_path / "p", iphone_backup(tmp_path / "plain", tmp_path / "b1"), None)
    encrypted = parse(tmp_path / "e", iphone_backup(tmp_path / "enc", tmp_path / "b2", password=PASSWORD), PASSWORD)
    assert len(encrypted[0]) == 15 and len(encrypted[1]) == 1
    assert encrypted[0] == plain[0]
    assert encrypted[2].warnings == plain[2].warnings == []
    assert list((tmp_path / "e" / "work").iterdir()) == []      # nothing decrypted is left


def test_a_wrong_password_is_one_clear_error_and_leaves_nothing(tmp_path):
    folder = iphone_backup(tmp_path / "enc", tmp_path / "build", password=PASSWORD)
    with pytest.raises(InputError) as caught:
        parse(tmp_path, folder, "correct horse battery staple")
    assert caught.value.render() == (
        f"{folder}/Manifest.db (Manifest.plist BackupKeyBag): the password given does not open this encrypted "
        "iPhone backup. Check the password (the one chosen in Finder or iTunes for encrypted backups; the "
        "password file holds only it, a final line break is ignored).")
    assert list((tmp_path / "work").iterdir()) == []


def test_a_damaged_encrypted_manifest_is_a_clear_error(tmp_path):
    folder = iphone_backup(tmp_path / "enc", tmp_path / "build", password=PASSWORD)
    data = (folder / "Manifest.db").read_bytes()
    (folder / "Manifest.db").write_bytes(data[:-5])
    with pytest.raises(InputError) as caught:
        parse(tmp_path, folder, PASSWORD)
    assert "Manifest.db of this encrypted iPhone backup does not decrypt" in caught.value.render()
    assert list((tmp_path / "work").iterdir()) == []


def test_password_file_keeps_everything_but_the_line_break_and_a_bom(tmp_path):
    path = tmp_path / "pw.txt"
    path.write_text("\ufeff pass word \r\nsecond line", encoding="utf-8")
    assert password_source(str(path))() == " pass word "
    with pytest.raises(UsageError) as caught:
        password_source(str(tmp_path / "none.txt"))
    assert caught.value.render().startswith(f"{tmp_path / 'none.txt'}: the password file cannot be read (")


def test_the_prompt_is_asked_once_and_only_in_a_terminal(monkeypatch):
    asked = []
    monkeypatch.setattr(password_module.getpass, "getpass", lambda prompt: asked.append(prompt) or "typed")
    monkeypatch.setattr(password_module.sys.stdin, "isatty", lambda: True, raising=False)
    source = password_source(None)
    assert (source(), source()) == ("typed", "typed")
    assert asked == ["Password of the encrypted backup: "]
    monkeypatch.setattr(password_module.sys.stdin, "isatty", lambda: False, raising=False)
    assert password_source(None)() is None


def _case(tmp_path):
    case = new_case(tmp_path / "case")
    return case


def test_ingest_with_password_file_and_with_a_wrong_one(tmp_path, capsys):
    folder = iphone_backup(tmp_path / "enc", tmp_path / "build", password=PASSWORD)
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(PASSWORD + "\n", encoding="utf-8")
    bad.write_text("guess\n", encoding="utf-8")
    case = _case(tmp_path)
    assert main(["ingest", str(case), str(folder), "--password-file", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "the password given does not open this encrypted iPhone backup" in err and "Traceback" not in err
    assert read_inventory(case / "sources.parquet") == []
    assert main(["ingest", str(case), str(folder), "--password-file", str(good)]) == 0, capsys.readouterr()
    assert [(r["format"], r["records"], r["rejects"]) for r in read_inventory(case / "sources.parquet")] == [
        ("ios-backup", 15, 1)]
    master = read_master(Case(case)).to_pylist()
    assert "Are you home?" in {m["body"] for m in master}
    assert [p for p in (case / ".tmp").rglob("*") if p.is_file()] == []
    blob_dbs = [p for p in (case / "blobs").rglob("*") if p.is_file() and p.read_bytes()[:16] == b"SQLite format 3\x00"]
    assert any(sqlite3.connect(p).execute("SELECT count(*) FROM sqlite_master WHERE name = 'message'").fetchone()[0]
               for p in blob_dbs)   # the case keeps the decrypted sms.db it read
