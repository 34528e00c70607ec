"""manifest.sha256 and verify: a changed byte, a deleted blob and an added file are all caught."""

from datetime import datetime, timezone

from conftest import make_case

from commtrail.outputs.manifest import read_manifest, verify, write_manifest


def _case(tmp_path):
    rec = {"ts_utc": datetime(2024, 3, 1, 9, tzinfo=timezone.utc), "channel": "sms", "kind": "message",
           "direction": "incoming", "sender": "+447700900123", "body": "hi"}
    case = make_case(tmp_path / "c", {"a.xml": [rec], "b.xml": [rec]})
    case.ensure_dirs()
    (case.blobs / ("ab" * 32)).write_bytes(b"not really")  # replaced below by a real blob
    (case.blobs / ("ab" * 32)).unlink()
    from commtrail.blobs import DirBlobStore
    DirBlobStore(case.blobs).put_bytes(b"photo bytes")
    write_manifest(case)
    return case


def test_fresh_case_verifies(tmp_path):
    case = _case(tmp_path)
    result = verify(case)
    assert result.ok, (result.missing, result.changed, result.extra, result.problems)
    assert result.checked == len(read_manifest(case)) == 12   # with the two sources' key files and keys/master.json
    assert sum(rel.startswith("keys/") for rel in read_manifest(case)) == 3


def test_changed_byte_deleted_blob_added_file(tmp_path):
    case = _case(tmp_path)
    staging = sorted(case.staging.glob("*.rejects.parquet"))[0]
    data = bytearray(staging.read_bytes())
    data[10] ^= 1
    staging.chmod(0o600)
    staging.write_bytes(bytes(data))
    blob = next(case.blobs.iterdir())
    blob.chmod(0o600)
    blob.unlink()
    (case.root / "notes.txt").write_text("added")
    result = verify(case)
    assert result.changed == [staging.relative_to(case.root).as_posix()]
    assert result.missing == [blob.relative_to(case.root).as_posix()]
    assert result.extra == ["notes.txt"]
    assert not result.ok


def test_a_step_rehashes_only_what_it_wrote(tmp_path):
    case = _case(tmp_path)
    (case.root / "sources.parquet").write_bytes(b"tampered")
    export = case.report_dir / "x.csv"
    export.write_text("a")
    write_manifest(case, [export])
    result = verify(case)
    assert result.changed == ["sources.parquet"]
    assert "report/x.csv" in read_manifest(case)


def test_master_occurrences_are_checked_against_staging(tmp_path):
    case = _case(tmp_path)
    staged = sorted(case.staging.glob("*[0-9a-f].parquet"))[0]
    staged.unlink()
    write_manifest(case)   # even with a manifest that agrees, the master no longer matches staging
    result = verify(case)
    assert result.problems == ["the master lists 2 copies but staging holds 1 records",
                               f"the master cites line 1 of source {staged.name[:12]}, which staging does not hold"]
