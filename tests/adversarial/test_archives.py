"""Hostile archives through the real `commtrail ingest`: zip slip, links, encryption, nesting,
bombs, duplicate and hostile member names, damaged archives. Each is refused by name or read in
place; nothing is ever written outside the case."""

from __future__ import annotations

import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from bench import fuzz
from commtrail.cli import main
from commtrail.inventory import read_inventory
from commtrail.outputs.manifest import verify
from commtrail.case import Case

from conftest import CASE_TOML, new_case

# The smallest input some parser of the package claims: archives carry copies of it.
SEED = min((s for s in fuzz.load_seeds() if s.parser and not s.data.startswith(b"PK")),
           key=lambda s: (len(s.data), s.label))
# Names the tool gives the files of a case.
TOOL_NAMES = re.compile(r"^(case\.toml|sources\.parquet|master\.parquet|possibly_deleted\.parquet|manifest\.sha256|"
                        r"\.lock|originals/[0-9a-f]{64}|staging/[0-9a-f]{64}(\.rejects)?\.parquet|blobs/[0-9a-f]{64}|"
                        r"keys/[0-9a-f]{64}\.parquet|keys/master\.json|"
                        r"report/.+)$")


def content(k: int) -> bytes:
    """A distinct input of a known format (the seed with k trailing line breaks)."""
    return SEED.data + b"\n" * k


def make_zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def make_tar(entries, mode="w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for name, data in entries:
            if isinstance(data, tarfile.TarInfo):
                t.addfile(data)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def case_dir(tmp_path):
    root = new_case(tmp_path / "case")
    return root


def ingest(case_dir: Path, capsys, *inputs) -> tuple[int, str, str]:
    code = main(["ingest", str(case_dir), *map(str, inputs)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "failed unexpectedly" not in err
    return code, out, err


def files_under(root: Path, skip: Path | None = None) -> set[str]:
    return {str(p) for p in root.rglob("*") if skip is None or skip not in p.parents}


def assert_case_holds_only_tool_files(case_dir: Path) -> None:
    odd = [p.relative_to(case_dir).as_posix() for p in case_dir.rglob("*") if p.is_file()
           and not TOOL_NAMES.match(p.relative_to(case_dir).as_posix())]
    assert odd == []
    result = verify(Case(case_dir))
    assert result.ok, (result.missing, result.changed, result.extra, result.problems)


HOSTILE_NAMES = ["../../escape1.csv", "/abs/escape2.csv", "..\\..\\escape3.csv", "a/../../../escape4.csv",
                 "./././escape5.csv"]


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_zip_slip_names_are_read_in_place_and_nothing_is_written_outside(tmp_path, case_dir, capsys, monkeypatch,
                                                                          kind):
    entries = [(name, content(k)) for k, name in enumerate(HOSTILE_NAMES, 1)]
    archive = tmp_path / f"slip.{kind}"
    archive.write_bytes(make_zip(entries) if kind == "zip" else make_tar(entries, "w:gz" if kind == "tar.gz" else "w"))
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = files_under(tmp_path, case_dir)
    code, out, err = ingest(case_dir, capsys, archive)
    assert code == 0, err
    assert files_under(tmp_path, case_dir) == before
    assert not any(Path(p).exists() for p in ("/abs/escape2.csv", "/escape1.csv", "/escape4.csv"))
    paths = sorted(r["path"] for r in read_inventory(case_dir / "sources.parquet"))
    expected = HOSTILE_NAMES if kind == "zip" else [n for n in HOSTILE_NAMES]
    assert paths == sorted(f"{archive}!{n}" for n in expected)
    assert_case_holds_only_tool_files(case_dir)


def test_links_are_refused_by_name_and_never_followed(tmp_path, case_dir, capsys):
    secret = tmp_path / "secret.csv"
    secret.write_bytes(content(9))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        link = zipfile.ZipInfo("link.csv")
        link.external_attr = 0o120777 << 16
        z.writestr(link, str(secret))
        z.writestr("real.csv", content(1))
    (tmp_path / "links.zip").write_bytes(buf.getvalue())
    sym = tarfile.TarInfo("sym.csv")
    sym.type, sym.linkname = tarfile.SYMTYPE, str(secret)
    hard = tarfile.TarInfo("hard.csv")
    hard.type, hard.linkname = tarfile.LNKTYPE, "real.csv"
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    (tmp_path / "links.tar").write_bytes(make_tar([("real.csv", content(2)), ("sym.csv", sym), ("hard.csv", hard),
                                                   ("pipe", fifo)]))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "given.csv").write_bytes(content(3))
    (folder / "to-secret.csv").symlink_to(secret)
    (folder / "to-dir").symlink_to(tmp_path, target_is_directory=True)
    code, out, err = ingest(case_dir, capsys, tmp_path / "links.zip", tmp_path / "links.tar", folder)
    assert code == 1
    for label in ("links.zip!link.csv", "links.tar!sym.csv", "links.tar!hard.csv"):
        assert f"Error: {tmp_path}/{label}: this archive member is a link, not a file; it was not read." in err
    assert f"Warning: {folder}/to-secret.csv: a link; not followed (give the file it points to instead)" in out
    assert f"Warning: {folder}/to-dir: a link to a folder; not followed" in out
    assert f"Warning: {tmp_path}/links.tar!pipe: a device, pipe or other special file, not a file; not read" in out
    records = sorted(r["path"] for r in read_inventory(case_dir / "sources.parquet"))
    assert records == [f"{folder}/given.csv", f"{tmp_path}/links.tar!real.csv", f"{tmp_path}/links.zip!real.csv"]
    import hashlib
    assert not (case_dir / "originals" / hashlib.sha256(content(9)).hexdigest()).exists()
    assert_case_holds_only_tool_files(case_dir)


def test_encrypted_members_are_refused_by_name(tmp_path, case_dir, capsys):
    data = bytearray(make_zip([("zipcrypto.csv", content(1)), ("aes.csv", content(2)), ("open.csv", content(3))],
                              zipfile.ZIP_STORED))
    # zipcrypto.csv: the "encrypted" flag; aes.csv: compression method 99 (WinZip AES)
    local = [m.start() for m in re.finditer(rb"PK\x03\x04", data)]
    central = [m.start() for m in re.finditer(rb"PK\x01\x02", data)]
    data[local[0] + 6] |= 1
    data[central[0] + 8] |= 1
    data[local[1] + 8:local[1] + 10] = (99).to_bytes(2, "little")
    data[central[1] + 10:central[1] + 12] = (99).to_bytes(2, "little")
    (tmp_path / "locked.zip").write_bytes(bytes(data))
    code, out, err = ingest(case_dir, capsys, tmp_path / "locked.zip")
    assert code == 1
    assert (f"Error: {tmp_path}/locked.zip!zipcrypto.csv: this archive member is encrypted, so it cannot be read."
            in err)
    assert (f"Error: {tmp_path}/locked.zip!aes.csv: this archive member is encrypted (AES) or compressed in a way "
            "commtrail cannot read (That compression method is not supported). Extract the archive with 7-Zip" in err)
    assert [r["path"] for r in read_inventory(case_dir / "sources.parquet")] == [f"{tmp_path}/locked.zip!open.csv"]
    assert_case_holds_only_tool_files(case_dir)


def test_nested_archives_are_read_to_a_depth_and_the_copies_removed(tmp_path, case_dir, capsys):
    level3 = make_zip([("l3.csv", content(4))])
    level2 = make_zip([("l2.csv", content(3)), ("l3.zip", level3)])
    level1 = make_zip([("l1.csv", content(2)), ("l2.zip", level2)])
    (tmp_path / "outer.zip").write_bytes(make_zip([("l0.csv", content(1)), ("l1.zip", level1),
                                                   ("sub/tar-inside.tar", make_tar([("t.csv", content(5))]))]))
    code, out, err = ingest(case_dir, capsys, tmp_path / "outer.zip")
    assert code == 1
    assert (f"Error: {tmp_path}/outer.zip!l1.zip!l2.zip!l3.zip: archives nested this deep are not opened. "
            "Extract the inner archive and give it on its own.") in err
    paths = sorted(r["path"].replace(f"{tmp_path}/", "") for r in read_inventory(case_dir / "sources.parquet"))
    assert paths == ["outer.zip!l0.csv", "outer.zip!l1.zip!l1.csv", "outer.zip!l1.zip!l2.zip!l2.csv"]
    # a tar inside a zip is not opened: it is one file of no known format
    assert f"Error: {tmp_path}/outer.zip!sub/tar-inside.tar: commtrail does not recognise the format" in err
    assert not (case_dir / ".tmp").exists() or not any((case_dir / ".tmp").rglob("*"))
    assert_case_holds_only_tool_files(case_dir)


def test_archive_bombs_are_refused_by_name_with_limits_from_case_toml(tmp_path, case_dir, capsys):
    zeros = b"\0" * (8 << 20)
    (tmp_path / "bomb.zip").write_bytes(make_zip([("bombs/zeros.csv", zeros), ("ok.csv", content(1))]))
    (tmp_path / "bomb.tar.gz").write_bytes(make_tar([("ok2.csv", content(2)), ("zeros.csv", zeros),
                                                     ("after.csv", content(3))], "w:gz"))
    code, out, err = ingest(case_dir, capsys, tmp_path / "bomb.zip", tmp_path / "bomb.tar.gz")
    assert code == 1
    assert re.search(rf"Error: {tmp_path}/bomb.zip!bombs/zeros.csv: this member expands \d+ times its compressed size, as "
                     r"archive bombs do; it was not read. Raise \[limits\] max_archive_ratio in case.toml", err)
    assert (f"Error: {tmp_path}/bomb.tar.gz!zeros.csv: this compressed archive expands more than 200 times its size, "
            "as archive bombs do; this member and the rest were not read.") in err
    paths = sorted(r["path"].replace(f"{tmp_path}/", "") for r in read_inventory(case_dir / "sources.parquet"))
    assert paths == ["bomb.tar.gz!ok2.csv", "bomb.zip!ok.csv"]

    # The limits are the case's to raise or lower.
    toml = case_dir / "case.toml"
    limit = len(zeros) + len(content(2)) + 10
    toml.write_text(CASE_TOML + f"\n[limits]\nmax_archive_ratio = 1000000\nmax_archive_total_bytes = {limit}\n")
    code, out, err = ingest(case_dir, capsys, tmp_path / "bomb.zip", tmp_path / "bomb.tar.gz")
    assert "as archive bombs do" not in err
    assert f"{tmp_path}/bomb.zip!bombs/zeros.csv: commtrail does not recognise the format" in err
    assert (f"Error: {tmp_path}/bomb.tar.gz!after.csv: the archive expands to more than {limit:,} bytes; this member "
            "and the rest of the archive were not read.") in err
    # the total counts every archive nested in the input too
    inner = make_zip([("a.csv", content(4) + b"\n" * 3000), ("b.csv", content(5) + b"\n" * 3000)])
    (tmp_path / "nested.zip").write_bytes(make_zip([("x.zip", inner), ("y.zip", inner)]))
    toml.write_text(CASE_TOML + "\n[limits]\nmax_archive_total_bytes = 12000\n")
    code, out, err = ingest(case_dir, capsys, tmp_path / "nested.zip")
    assert code == 1
    # each inner archive alone stays under the limit; together they do not
    assert re.search(rf"Error: {tmp_path}/nested.zip!y.zip![ab].csv: the archive expands to more than 12,000 bytes", err)
    assert_case_holds_only_tool_files(case_dir)


def test_members_sharing_a_name_are_each_read(tmp_path, case_dir, capsys):
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = make_zip([("dup.csv", content(1)), ("dup.csv", content(2))])
    (tmp_path / "dup.zip").write_bytes(data)
    (tmp_path / "dup.tar").write_bytes(make_tar([("dup.csv", content(3)), ("dup.csv", content(4))]))
    code, out, err = ingest(case_dir, capsys, tmp_path / "dup.zip", tmp_path / "dup.tar")
    assert code == 0, err
    import hashlib
    rows = read_inventory(case_dir / "sources.parquet")
    assert sorted(r["sha256"] for r in rows) == sorted(hashlib.sha256(content(k)).hexdigest() for k in (1, 2, 3, 4))
    assert len({r["disk_key"] for r in rows}) == 4
    code, out, err = ingest(case_dir, capsys, tmp_path / "dup.zip", tmp_path / "dup.tar")
    assert code == 0 and out.count("skipped") == 4


def test_hostile_member_names_are_shown_escaped_and_kept_exact(tmp_path, case_dir, capsys):
    evil = "evil\x1b]0;pwned\x07\x1b[2J\n\u202egpj.csv"
    (tmp_path / "names.zip").write_bytes(make_zip([(evil, content(1)), ("sub/" + evil + ".bin", b"\x00\x01unknown")]))
    code, out, err = ingest(case_dir, capsys, tmp_path / "names.zip")
    assert code == 1
    for bad in ("\x1b", "\x07", "\u202e"):
        assert bad not in out and bad not in err
    assert "names.zip!sub/evil\\x1b]0;pwned\\x07\\x1b[2J\\x0a\\u202egpj.csv.bin: commtrail does not recognise" in err
    assert [r["path"] for r in read_inventory(case_dir / "sources.parquet")] == [f"{tmp_path}/names.zip!{evil}"]


def test_damaged_archives_are_refused_by_name(tmp_path, case_dir, capsys):
    good = make_zip([("a.csv", content(1)), ("b.csv", content(2))], zipfile.ZIP_STORED)
    (tmp_path / "cut.zip").write_bytes(good[: len(good) // 2])
    crc = bytearray(good)
    at = crc.find(SEED.data[:16])
    crc[at + 5] ^= 0xFF
    (tmp_path / "crc.zip").write_bytes(bytes(crc))
    tgz = make_tar([("c.csv", content(3)), ("d.csv", content(4) * 200)], "w:gz")
    (tmp_path / "cut.tar.gz").write_bytes(tgz[: len(tgz) - 40])
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 not really a zip")
    code, out, err = ingest(case_dir, capsys, *(tmp_path / n for n in ("cut.zip", "crc.zip", "cut.tar.gz", "fake.zip")))
    assert code == 1
    assert f"Error: {tmp_path}/crc.zip!a.csv: cannot be read (BadZipFile: Bad CRC-32 for file 'a.csv')." in err
    assert f"Error: {tmp_path}/fake.zip: commtrail does not recognise the format of this file" in err
    assert f"Error: {tmp_path}/cut.tar.gz" in err
    for line in err.splitlines():
        assert line.startswith(f"Error: {tmp_path}/"), line
    paths = sorted(r["path"].replace(f"{tmp_path}/", "") for r in read_inventory(case_dir / "sources.parquet"))
    assert "crc.zip!b.csv" in paths
    assert_case_holds_only_tool_files(case_dir)


def test_names_that_are_not_utf8_and_the_case_folder_itself(tmp_path, case_dir, capsys):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / os.fsdecode(b"bad\xff name.csv")).write_bytes(content(1))
    # a zip whose member name claims UTF-8 (flag 0x800) but is not
    data = bytearray(make_zip([("latin.csv", content(2))]))
    for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = data.find(sig)
        data[at + flag_at + 1] |= 0x08
        data[at + name_at:at + name_at + 5] = b"l\xe4tin"
    (tmp_path / "flagged.zip").write_bytes(bytes(data))
    code, out, err = ingest(case_dir, capsys, folder, tmp_path / "flagged.zip", case_dir, case_dir / "case.toml",
                            tmp_path)
    assert code == 1
    assert [r["path"] for r in read_inventory(case_dir / "sources.parquet")] == [f"{folder}/bad\\xff name.csv"]
    assert f"Error: {tmp_path}/flagged.zip: cannot be read (" in err
    for given in (case_dir, case_dir / "case.toml"):
        assert (f"Error: {given}: this is the case folder or inside it; the case's own files are not inputs. Give the "
                "phone or mail backups themselves, from outside the case folder.") in err
    # the folder holding the case is walked without entering the case
    assert f"Warning: {case_dir}: the case folder; its own files are not inputs" in out
    assert_case_holds_only_tool_files(case_dir)


def test_an_input_that_changes_while_it_is_read_is_refused_with_no_copy(tmp_path, case_dir, capsys, monkeypatch):
    from commtrail.parsers import registry
    parser = registry.get(SEED.parser)
    target = tmp_path / "changing.csv"

    def parse_and_touch(stream, ctx):   # a writer changes the file while it is being read
        yield from parser.parse(stream, ctx)
        target.write_bytes(content(7))
    monkeypatch.setitem(registry._REGISTRY, parser.name, __import__("dataclasses").replace(parser, parse=parse_and_touch))
    target.write_bytes(content(6))
    code = main(["ingest", str(case_dir), "--no-copy", str(target)])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith(f"Error: {target}: this file changed while commtrail was reading it (its SHA-256 is no "
                          "longer the one it had when reading began), so nothing from it was added.")
    assert read_inventory(case_dir / "sources.parquet") == []
    assert list((case_dir / "staging").iterdir()) == []
    # Reading its own copy, commtrail is not disturbed by the writer.
    target.write_bytes(content(6))
    code, out, err = ingest(case_dir, capsys, target)
    assert code == 0, err
    assert_case_holds_only_tool_files(case_dir)


def test_a_sniff_that_raises_fails_its_input_only(tmp_path, case_dir, capsys, monkeypatch):
    from commtrail.parsers import registry
    parser = registry.get(SEED.parser)

    def broken(head, name):
        if b"BREAK" in head:
            raise ValueError("sniff bug")
        return parser.sniff(head, name)
    monkeypatch.setitem(registry._REGISTRY, parser.name, __import__("dataclasses").replace(parser, sniff=broken))
    (tmp_path / "bad.csv").write_bytes(b"BREAK" + content(1))
    (tmp_path / "good.csv").write_bytes(content(2))
    code, out, err = ingest(case_dir, capsys, tmp_path / "bad.csv", tmp_path / "good.csv")
    assert code == 1
    assert err == (f"Error: {tmp_path}/bad.csv: commtrail failed while recognising the format of this file "
                   "(ValueError: sniff bug). Nothing from it was added. Please report this problem; run with --debug "
                   "for details.\n")
    assert [r["path"] for r in read_inventory(case_dir / "sources.parquet")] == [str(tmp_path / "good.csv")]
