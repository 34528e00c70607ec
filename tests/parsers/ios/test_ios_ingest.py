"""iPhone backups through ingest: one input per backup folder (or zip), and dedup across backups."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import datetime

from commtrail.demo_ios import backup_folder, cocoa
from scenario import MESSAGES, iphone_backup

from commtrail.case import Case
from commtrail.cli import main
from commtrail.ingest.discover import discover
from commtrail.inventory import read_inventory
from commtrail.timeline.master import read_master, read_possibly_deleted

from conftest import new_case

NEW = {"ROWID": 13, "guid": "GUID-0013", "text": "Answer me", "handle_id": 1, "service": "iMessage",
       "date": cocoa("2024-03-05T20:00:00Z"), "chat": 1}


def _zip(folder, target):
    with zipfile.ZipFile(target, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, f"Backup/{folder.name}/{path.relative_to(folder)}")
    return target


def test_a_backup_folder_and_its_zip_are_one_input_each(tmp_path):
    folder = iphone_backup(tmp_path / "in" / "00008030-000A1B2C3D4E5F60", tmp_path / "build")
    (tmp_path / "in" / "notes.txt").write_text("beside the backup")
    archive = _zip(folder, tmp_path / "backup.zip")
    found = discover([str(tmp_path / "in"), str(archive)])
    assert [i.label for i in found.items] == [
        f"{tmp_path}/in/notes.txt", f"{folder}/Manifest.db",
        f"{archive}!Backup/00008030-000A1B2C3D4E5F60/Manifest.db"]
    assert found.errors == []


def test_two_backups_of_one_phone_share_their_events(tmp_path, capsys):
    first = iphone_backup(tmp_path / "first", tmp_path / "b1")
    later = iphone_backup(tmp_path / "later", tmp_path / "b2", messages=MESSAGES + [NEW],
                          taken=datetime(2024, 3, 10))
    case = new_case(tmp_path / "case")
    code = main(["ingest", str(case), str(first), str(_zip(later, tmp_path / "later.zip"))])
    out = capsys.readouterr().out
    assert code == 0, out
    inventory = sorted(read_inventory(case / "sources.parquet"), key=lambda r: r["path"])
    assert [(r["path"].replace(str(tmp_path), ""), r["format"], r["records"], r["rejects"]) for r in inventory] == [
        ("/first/Manifest.db", "ios-backup", 15, 1),
        ("/later.zip!Backup/later/Manifest.db", "ios-backup", 16, 1)]
    master = read_master(Case(case)).to_pylist()
    assert len(master) == 16
    by_body = {m["body"]: m for m in master if m["channel"] == "imessage"}
    assert len(by_body["Are you home?"]["occurrences"]) == 2
    assert by_body["Are you home?"]["party"] == "Jordan"
    assert len(by_body["Answer me"]["occurrences"]) == 1
    assert sorted(o["locator"] for o in by_body["Please stop messaging me."]["occurrences"]) == [
        "sms.db message ROWID 2", "sms.db message ROWID 2"]
    calls = [m for m in master if m["channel"] in ("call", "facetime")]
    assert [(c["kind"], len(c["occurrences"])) for c in calls] == [
        ("outgoing", 2), ("incoming", 2), ("missed", 2), ("incoming", 2)]
    assert read_possibly_deleted(Case(case)).num_rows == 0
    assert main(["verify", str(case)]) == 0


def test_a_message_a_later_backup_lacks_is_possibly_deleted(tmp_path, capsys):
    first = iphone_backup(tmp_path / "first", tmp_path / "b1")
    later = iphone_backup(tmp_path / "later", tmp_path / "b2", messages=[m for m in MESSAGES if m["ROWID"] != 6] + [NEW],
                          taken=datetime(2024, 3, 10))
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(first), str(later)]) == 0
    capsys.readouterr()
    gone = read_possibly_deleted(Case(case)).to_pylist()
    master = {m["event_id"]: m for m in read_master(Case(case)).to_pylist()}
    assert [(master[g["event_id"]]["body"], g["earlier_path"], g["later_path"]) for g in gone] == [
        ("Call me back", f"{first}/Manifest.db", f"{later}/Manifest.db")]


def test_an_encrypted_backup_is_refused_with_exit_1(tmp_path, capsys):
    folder = backup_folder(tmp_path / "backup", {}, encrypted=True)
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"{folder}/Manifest.db (Manifest.plist): this iPhone backup is encrypted (IsEncrypted) and no " \
           "password was given. Give the backup's password in a file with --password-file FILE" in err
    assert "Traceback" not in err
    assert read_inventory(case / "sources.parquet") == []


def _texts(*dated: tuple[str, str]) -> list[dict]:
    """Messages like NEW with these (time, text) pairs."""
    return [dict(NEW, ROWID=i, guid=f"GUID-{i:04d}", text=text, date=cocoa(iso))
            for i, (iso, text) in enumerate(dated, 1)]


def test_backups_of_two_phones_are_not_compared_nor_one_naming_no_phone(tmp_path, capsys):
    """Sam's backup and later ones of another phone, and of a phone not named, holding other
    messages over the same days: no message of one is possibly deleted from another."""
    first = iphone_backup(tmp_path / "first", tmp_path / "b1")
    other = iphone_backup(tmp_path / "other", tmp_path / "b2", calls=False, taken=datetime(2024, 3, 10),
                          udid="00008110-0001A2B3C4D5E6F7",
                          messages=_texts(("2024-03-01T00:00:00Z", "Other phone 1"),
                                          ("2024-03-05T00:00:00Z", "Other phone 2")))
    unnamed = iphone_backup(tmp_path / "unnamed", tmp_path / "b3", calls=False, taken=datetime(2024, 3, 11),
                            udid=None, messages=_texts(("2024-03-01T00:00:00Z", "No name 1"),
                                                       ("2024-03-06T00:00:00Z", "No name 2")))
    case = new_case(tmp_path / "case")
    assert main(["ingest", str(case), str(first), str(other), str(unnamed)]) == 0
    capsys.readouterr()
    master = read_master(Case(case)).to_pylist()
    assert len(master) == 19
    assert sorted((json.loads(m["extra"]).get("device") or "", m["body"]) for m in master
                  if m["body"] and ("phone" in m["body"] or "name" in m["body"])) == [
        ("", "No name 1"), ("", "No name 2"),
        ("00008110-0001A2B3C4D5E6F7", "Other phone 1"), ("00008110-0001A2B3C4D5E6F7", "Other phone 2")]
    assert read_possibly_deleted(Case(case)).num_rows == 0
    for plist in (other / "Info.plist", other / "Manifest.plist"):   # what named the phone is kept
        assert (case / "blobs" / hashlib.sha256(plist.read_bytes()).hexdigest()).is_file()


def test_a_backup_ingested_into_a_case_named_by_a_relative_path(tmp_path, monkeypatch, capsys):
    """`commtrail ingest case backup` from the folder holding both, as the README shows it: every
    message and call is read (the databases' private copies lie under the relative case path; on
    2591c40's parent the whole backup failed with "relative path can't be expressed as a file URI")."""
    iphone_backup(tmp_path / "backup", tmp_path / "build")
    new_case(tmp_path / "case")
    monkeypatch.chdir(tmp_path)
    assert main(["ingest", "case", "backup"]) == 0
    assert read_master(Case(tmp_path / "case")).num_rows == 15
