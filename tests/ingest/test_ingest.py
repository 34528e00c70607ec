"""Ingest end to end with a tiny test-only format: discovery, staging, inventory, skipping, errors."""

import io
import zipfile

import pytest

from commtrail.cli import main
from commtrail.ingest.discover import discover
from commtrail.inventory import read_inventory
from commtrail.parsers import registry
from commtrail.parsers.base import Reject
from commtrail.timeline.identity import normalise_many
from commtrail.timeline.master import read_master
from commtrail.timeline.schema import make_batch

from conftest import CASE_TOML, new_case


def _sniff(head, name):
    return head.startswith(b"#testfmt")


def _parse(stream, ctx):
    lines = stream.read().decode().splitlines()
    cols = {k: [] for k in ("ts_utc", "channel", "kind", "direction", "sender", "body", "locator")}
    for number, line in enumerate(lines[1:], 2):
        parts = line.split("|")
        if len(parts) != 3:
            yield Reject(f"line {number}", "not three fields", line)
            continue
        cols["ts_utc"].append(int(parts[0]) * 1_000_000)
        cols["sender"].append(normalise_many([parts[1]], ctx.phone_region)[0])
        cols["body"].append(parts[2])
        cols["locator"].append(f"line {number}")
    n = len(cols["body"])
    cols.update(channel=["sms"] * n, kind=["message"] * n, direction=["incoming"] * n)
    if "boom" in cols["body"]:
        raise RuntimeError("parser bug")
    yield make_batch({**cols, "source_sha256": [ctx.source_sha256] * n, "source_path": [ctx.source_path] * n,
                      "parser": [ctx.parser_label] * n})


if "testfmt" not in {p.name for p in registry.all_parsers()}:
    registry.register(registry.Parser("testfmt", "1", "test format", _sniff, _parse, priority=99))


@pytest.fixture
def case_dir(tmp_path):
    root = new_case(tmp_path / "case")
    return root


def write_inputs(tmp_path):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    (inputs / "a.txt").write_text("#testfmt\n1709283600|07700 900123|hello\nbroken line\n")
    (inputs / "sub" / "b.txt").write_text("#testfmt\n1709283600|+447700900123|hello\n1709287200|07700900456|again\n")
    (inputs / "junk.bin").write_bytes(b"\x00\x01")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("export/c.txt", "#testfmt\n1709290800|07700 900123|zipped\n")
        z.writestr("__MACOSX/export/._c.txt", "resource fork")
    (tmp_path / "archive.zip").write_bytes(buf.getvalue())
    return inputs


def test_discover_recurses_folders_and_reads_zips_in_place(tmp_path):
    inputs = write_inputs(tmp_path)
    found = discover([str(inputs), str(tmp_path / "archive.zip"), str(tmp_path / "nope")])
    assert [i.label for i in found.items] == [str(inputs / "a.txt"), str(inputs / "junk.bin"),
                                              str(inputs / "sub" / "b.txt"), f"{tmp_path}/archive.zip!export/c.txt"]
    assert sorted(found.items[0].siblings) == ["junk.bin"]
    assert [e.render() for e in found.errors] == [
        f"{tmp_path}/nope: this file or folder does not exist. Check the path (quote it if it has spaces)."]
    with found.items[3].open() as stream:
        assert stream.read().startswith(b"#testfmt")


def test_cli_ingest_end_to_end(tmp_path, case_dir, capsys):
    inputs = write_inputs(tmp_path)
    code = main(["ingest", str(case_dir), str(inputs), str(tmp_path / "archive.zip")])
    out, err = capsys.readouterr()
    assert code == 1   # junk.bin is not a known format; the others went in
    assert err.strip() == (f"Error: {inputs}/junk.bin: commtrail does not recognise the format of this file, "
                           "so nothing from it was added. It reads these formats: " +
                           ", ".join(p.name for p in registry.all_parsers()) +
                           ". If this is one of them, the file may be damaged or re-encoded; otherwise leave it out.")
    assert "master.parquet: 3 events." in out
    inventory = read_inventory(case_dir / "sources.parquet")
    assert sorted((r["path"].replace(str(tmp_path), ""), r["records"], r["rejects"]) for r in inventory) == [
        ("/archive.zip!export/c.txt", 1, 0), ("/in/a.txt", 1, 1), ("/in/sub/b.txt", 2, 0)]
    for row in inventory:
        original = case_dir / "originals" / row["sha256"]
        assert original.exists() and original.stat().st_mode & 0o777 == 0o400
        assert (case_dir / "staging" / f"{row['sha256']}.parquet").exists()
        assert (case_dir / "staging" / f"{row['sha256']}.rejects.parquet").exists()
    master = read_master(__import__("commtrail.case", fromlist=["Case"]).Case(case_dir)).to_pylist()
    assert [(m["body"], len(m["occurrences"]), m["party"]) for m in master] == [
        ("hello", 2, "Jordan"), ("again", 1, "Jordan"), ("zipped", 1, "Jordan")]
    assert master[2]["source_path"] == f"{tmp_path}/archive.zip!export/c.txt"

    # Second run: everything already in the case is skipped without being read, nothing is rebuilt.
    before = (case_dir / "master.parquet").stat().st_mtime_ns
    code = main(["ingest", str(case_dir), str(inputs / "a.txt"), str(inputs / "sub"), str(tmp_path / "archive.zip")])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.count("skipped") == 3
    assert (case_dir / "master.parquet").stat().st_mtime_ns == before
    assert main(["verify", str(case_dir)]) == 0


def test_a_parser_failure_is_reported_and_others_go_in(tmp_path, case_dir, capsys):
    (tmp_path / "bad.txt").write_text("#testfmt\n1709283600|07700 900123|boom\n")
    (tmp_path / "good.txt").write_text("#testfmt\n1709283600|07700 900123|fine\n")
    code = main(["ingest", str(case_dir), str(tmp_path / "bad.txt"), str(tmp_path / "good.txt")])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{tmp_path}/bad.txt: commtrail failed while reading this testfmt file (RuntimeError: parser bug)" in err
    assert [r["path"] for r in read_inventory(case_dir / "sources.parquet")] == [str(tmp_path / "good.txt")]
    assert list((case_dir / "originals").iterdir()) != [] and len(list((case_dir / "originals").iterdir())) == 1


def test_broken_case_toml_exits_2_without_traceback(tmp_path, capsys):
    root = tmp_path / "case"
    root.mkdir()
    (root / "case.toml").write_text(CASE_TOML.replace('"Europe/London"', '"Mars/Base"'))
    assert main(["ingest", str(root), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {root}/case.toml (line 4, [case] timezone): 'Mars/Base' is not a known time zone.")
    assert "Traceback" not in err


def test_missing_case_folder(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "none")]) == 2
    assert "this case folder does not exist" in capsys.readouterr().err


def test_a_second_command_on_a_busy_case_is_refused(tmp_path, case_dir, capsys):
    from commtrail.case import Case
    (tmp_path / "good.txt").write_text("#testfmt\n1709283600|07700 900123|fine\n")
    with Case(case_dir).lock():
        assert main(["ingest", str(case_dir), str(tmp_path / "good.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {case_dir}: another commtrail command (pid ")
    assert "is working on this case right now. Wait for it to finish, then run this again." in err
    assert main(["ingest", str(case_dir), str(tmp_path / "good.txt")]) == 0


def test_an_encrypted_zip_member_is_refused_by_name(tmp_path, case_dir, capsys):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("secret.txt", "#testfmt\n1709283600|07700 900123|hidden\n")
        z.writestr("open.txt", "#testfmt\n1709283600|07700 900123|visible\n")
    data = bytearray(buf.getvalue())
    # set the "encrypted" flag bit of secret.txt in its local header and its central directory entry
    data[6] |= 1
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1
    (tmp_path / "locked.zip").write_bytes(bytes(data))
    assert main(["ingest", str(case_dir), str(tmp_path / "locked.zip")]) == 1
    err = capsys.readouterr().err
    assert (f"Error: {tmp_path}/locked.zip!secret.txt: this archive member is encrypted, so it cannot be read. "
            "Export it again without a password") in err
    assert [r["records"] for r in read_inventory(case_dir / "sources.parquet")] == [1]


def test_incident_log_in_a_zip_with_evidence_in_a_subfolder(tmp_path, case_dir, capsys):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("log/incidents.csv", "date,time,location,description,evidence files\n"
                                        "2024-03-08,07:45,Home,Waiting by my car,photos/car.jpg\n")
        z.writestr("log/photos/car.jpg", b"\xff\xd8 fictional jpeg")
        z.writestr("log/unrelated.jpg", b"\xff\xd8 other")
    (tmp_path / "log.zip").write_bytes(buf.getvalue())
    code = main(["ingest", str(case_dir), str(tmp_path / "log.zip")])
    out, err = capsys.readouterr()
    assert code == 0, err
    master = read_master(__import__("commtrail.case", fromlist=["Case"]).Case(case_dir)).to_pylist()
    assert [(m["channel"], m["body"], m["attachments"][0]["name"], m["attachments"][0]["size"]) for m in master] == [
        ("incident", "Waiting by my car", "photos/car.jpg", 17)]
    assert "media" in out
    inventory = read_inventory(case_dir / "sources.parquet")
    assert len(inventory) == 1 and inventory[0]["warnings"] == []
    blob = __import__("hashlib").sha256(b"\xff\xd8 other").hexdigest()
    assert (f"Warning: {tmp_path}/log.zip!log/unrelated.jpg: no chat or incident log names this image file; it is "
            f"kept as an unreferenced attachment of its folder (blobs/{blob[:12]}...), not as an event of the "
            "timeline.") in " ".join(out.split())
    assert (case_dir / "blobs" / blob).exists()


def test_an_empty_file_is_said_to_be_empty(tmp_path, case_dir, capsys):
    """A file of 0 bytes is named as empty, not as a format commtrail does not recognise (exit 1)."""
    (tmp_path / "empty.txt").write_bytes(b"")
    assert main(["ingest", str(case_dir), str(tmp_path / "empty.txt")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"Error: {tmp_path}/empty.txt: this file is empty (0 bytes), so there is nothing in it to add. If it should "
        "hold something, copy it again from the phone, the export or the mail account; otherwise leave it out.")


def test_a_missing_or_damaged_master_is_named_and_ingest_with_no_files_builds_it_again(tmp_path, case_dir, capsys):
    """Reading commands refuse a case whose master is missing although sources were staged (an empty
    timeline would say the case holds nothing) or cannot be read, saying how to build it again; ingest
    refuses to write over a damaged one; `ingest CASE` with no files builds the same bytes again."""
    inputs = write_inputs(tmp_path)
    assert main(["ingest", str(case_dir), str(inputs / "sub")]) == 0
    master = case_dir / "master.parquet"
    built = master.read_bytes()
    capsys.readouterr()
    master.unlink()
    assert main(["stats", str(case_dir)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"Error: {master}: master.parquet is missing, although sources were ingested into this case. Run "
        f"`commtrail ingest {case_dir}` with no files to build it again from the staged sources; "
        f"`commtrail verify {case_dir}` lists anything else that is missing.")
    assert main(["ingest", str(case_dir)]) == 0
    assert capsys.readouterr().out.strip() == "master.parquet: 2 events."
    assert master.read_bytes() == built
    assert main(["ingest", str(case_dir)]) == 0
    assert capsys.readouterr().out.strip() == "Nothing given to add, and master.parquet is up to date."
    master.write_bytes(built[:1000])
    for command in (["stats", str(case_dir)], ["report", str(case_dir)], ["ingest", str(case_dir), str(inputs)]):
        assert main(command) == 2
        assert capsys.readouterr().err.strip().startswith(
            f"Error: {master}: master.parquet cannot be read (Parquet magic bytes not found in footer. Either the "
            "file is corrupted or this is not a parquet file.): it is damaged, or it was changed outside commtrail. "
            f"`commtrail verify {case_dir}` lists what changed in the case. The master is made from the case's staged "
            "sources: move master.parquet out of the case folder")
        assert master.read_bytes() == built[:1000]
    master.unlink()
    assert main(["ingest", str(case_dir)]) == 0
    assert master.read_bytes() == built
    assert main(["verify", str(case_dir)]) == 0


def test_a_damaged_parquet_file_of_the_case_is_named_with_what_to_do(tmp_path, case_dir, capsys):
    """sources.parquet or a staging file cut short: the command stops (exit 2) naming the file and
    pointing at verify, instead of failing 'unexpectedly' and asking for a bug report."""
    inputs = write_inputs(tmp_path)
    assert main(["ingest", str(case_dir), str(inputs / "sub")]) == 0
    sources = case_dir / "sources.parquet"
    whole = sources.read_bytes()
    sources.write_bytes(whole[:100])
    capsys.readouterr()
    assert main(["stats", str(case_dir)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"Error: a Parquet file of the case cannot be read (Could not open Parquet input source '{sources}': Parquet "
        "magic bytes not found in footer. Either the file is corrupted or this is not a parquet file.). It is damaged, "
        f"or it was changed outside commtrail: `commtrail verify {case_dir}` names every file of the case that "
        "changed. Put back a copy of it (from a copy of the case folder, or from a court bundle's data/ folder), or "
        "make the case again from the originals.")
    sources.write_bytes(whole)
    staged = next(p for p in (case_dir / "staging").glob("*.parquet") if not p.name.endswith(".rejects.parquet"))
    staged.write_bytes(staged.read_bytes()[:100])
    (case_dir / "master.parquet").unlink()
    assert main(["ingest", str(case_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"Error: a Parquet file of the case cannot be read (") and str(staged) in err
    assert "\n" not in err   # one paragraph: the first line of DuckDB's message, not its SQL


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), RuntimeError("Query interrupted")])
def test_an_ingest_interrupted_before_the_master_is_built_says_so_and_is_finished_by_the_next(
        tmp_path, case_dir, capsys, monkeypatch, stop):
    """Ctrl-C (or DuckDB's error for it) after staging: the message does not claim the case is as it
    was; the reading commands refuse the case until an ingest finishes it; `ingest CASE` does."""
    import commtrail.pipeline as pipeline
    inputs = write_inputs(tmp_path)
    assert main(["ingest", str(case_dir), str(inputs / "sub")]) == 0
    built = pipeline.rebuild_master

    def interrupted(case):
        raise stop
    monkeypatch.setattr(pipeline, "rebuild_master", interrupted)
    capsys.readouterr()
    assert main(["ingest", str(case_dir), str(inputs / "a.txt")]) == 130
    assert capsys.readouterr().err.strip() == (
        "Interrupted before the master was built again. Run the same `commtrail ingest` again to finish it (what it "
        "had staged already is skipped, the rest read); until then the other commands refuse the case and `verify` "
        "reports it unfinished.")
    monkeypatch.setattr(pipeline, "rebuild_master", built)
    assert main(["stats", str(case_dir)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"Error: {case_dir}: an ingest of this case was interrupted before it built the master again: the master may "
        f"not hold what that ingest staged. Run that `commtrail ingest` again to finish it (or `commtrail ingest "
        f"{case_dir}` with no files to build the master from what was staged), then this again.")
    assert main(["verify", str(case_dir)]) == 1
    capsys.readouterr()
    assert main(["ingest", str(case_dir)]) == 0
    assert capsys.readouterr().out.strip() == "master.parquet: 2 events."   # a.txt's record is one of sub/b.txt's
    assert sorted(r["path"].replace(str(tmp_path), "") for r in read_inventory(case_dir / "sources.parquet")) == [
        "/in/a.txt", "/in/sub/b.txt"]
    assert main(["verify", str(case_dir)]) == 0
    assert main(["stats", str(case_dir)]) == 0
