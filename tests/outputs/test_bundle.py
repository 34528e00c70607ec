"""The court bundle: a valid BagIt bag, hashdeep manifest, transcript, templates, verify, same bytes."""

import hashlib
import io
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from commtrail.case import Case
from commtrail.cli import main
from commtrail.inventory import read_inventory
from commtrail.outputs import bundle
from commtrail.outputs.bundle import safe_name, unique_names, write_bundle
from commtrail.pipeline import ingest_and_build

bagit = pytest.importorskip("bagit")
pypdf = pytest.importorskip("pypdf")

CASE = """[case]
title = "Bundle test"
timezone = "Europe/London"
phone_region = "GB"

[owner]
name = "Sam"
phones = ["+44 7700 900999"]
whatsapp_names = ["Sam"]

[[party]]
name = "Jordan"
phones = ["07700 900123"]
whatsapp_names = ["Jordan"]

[[party]]
name = "Chris"
phones = ["07700 900555"]
"""

CHAT = """15/03/2024, 08:40 - Jordan: Why aren't you answering?
15/03/2024, 08:41 - Jordan: This message was deleted
15/03/2024, 08:45 - Sam: Please stop.
16/03/2024, 09:00 - Jordan: IMG-20240316-WA0001.jpg (file attached)
"""
OTHER_CHAT = """21/04/2024, 10:00 - Jordan: I am outside
"""
SMS = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<smses count="3">
  <sms protocol="0" address="07700 900123" date="1710492012000" type="1" subject="null" body="Answer me" read="1" status="-1" locked="0" date_sent="0" contact_name="Jordan" />
  <sms protocol="0" address="07700 900123" date="1710495612000" type="3" subject="null" body="I will call the police" read="1" status="-1" locked="0" date_sent="0" contact_name="Jordan" />
  <sms protocol="0" address="07700 900555" date="1710496000000" type="1" subject="null" body="Is Sam ok?" read="1" status="-1" locked="0" date_sent="0" contact_name="Chris" />
</smses>
"""
INCIDENTS = ("Date,Time,Location,Description,Witnesses (names and contacts),Police called,Report number,"
             "Officer and badge,How it affected you,Evidence files\n"
             "2024-03-17,07:45,Outside my flat,Jordan waited by my car.,,yes,CR/2024/0001,,Shaken,photo1.jpg\n")
PHOTO = b"\xff\xd8\xff\xe0 fictional jpeg bytes \xff\xd9"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    inputs = root / "inputs"
    for rel, data in (("a/WhatsApp Chat with Jordan.txt", CHAT), ("b/WhatsApp Chat with Jordan.txt", OTHER_CHAT),
                      ("sms-20240401.xml", SMS), ("log/incidents.csv", INCIDENTS)):
        (inputs / rel).parent.mkdir(parents=True, exist_ok=True)
        (inputs / rel).write_text(data, encoding="utf-8")
    (inputs / "log" / "photo1.jpg").write_bytes(PHOTO)
    (root / "case").mkdir()
    (root / "case" / "case.toml").write_text(CASE, encoding="utf-8")
    paths = [str(inputs / p) for p in ("a/WhatsApp Chat with Jordan.txt", "b/WhatsApp Chat with Jordan.txt",
                                       "sms-20240401.xml", "log")]
    assert ingest_and_build(root / "case", paths, Console(file=io.StringIO())) == 0
    return Case(root / "case")


@pytest.fixture(scope="module")
def bag(case, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "bundle"
    write_bundle(case, out)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_bag_validates_with_bagit_and_holds_the_payload(bag, case):
    b = bagit.Bag(str(bag))
    b.validate()
    assert b.is_valid()
    assert (bag / "bagit.txt").read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    names = set(_files(bag))
    chat_b = _sha(OTHER_CHAT.encode())
    assert {"bag-info.txt", "bagit.txt", "hashdeep.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt",
            "data/methodology.md", "data/report/report.html", "data/report/report.pdf",
            "data/transcripts/transcript-jordan.pdf", "data/transcripts/transcript-chris.pdf",
            "data/exports/master.csv", "data/exports/master.xlsx", "data/exports/master.jsonl",
            "data/case/master.parquet", "data/case/sources.parquet", "data/case/case.toml", "data/case/rejects.csv",
            "data/originals/WhatsApp Chat with Jordan.txt", f"data/originals/WhatsApp Chat with Jordan-{chat_b[:12]}.txt"
            if chat_b > _sha(CHAT.encode()) else f"data/originals/WhatsApp Chat with Jordan-{_sha(CHAT.encode())[:12]}.txt",
            "data/originals/sms-20240401.xml", "data/originals/incidents.csv",
            f"data/incident-log/evidence/{_sha(PHOTO)}.jpg",
            "data/certification/us-fre-902-14-certificate-TEMPLATE.md",
            "data/certification/uk-witness-statement-exhibit-list-TEMPLATE.md"} <= names
    # every original is the input's bytes, under its own name
    for row in read_inventory(case.sources_file):
        matches = [n for n in names if n.startswith("data/originals/")
                   and _sha((bag / n).read_bytes()) == row["sha256"]]
        assert len(matches) == 1
    assert (bag / "data/case/master.parquet").read_bytes() == case.master_file.read_bytes()
    info = (bag / "bag-info.txt").read_text()
    assert "Bag-Software-Agent: commtrail 0.1.0 (bagit.py " in info
    assert re.search(r"^Payload-Oxum: \d+\.%d$" % len([n for n in names if n.startswith("data/")]), info, re.M)


def test_hashdeep_manifest_matches_sha256sum_of_every_payload_file(bag):
    lines = (bag / "hashdeep.txt").read_text().splitlines()
    assert lines[:2] == ["%%%% HASHDEEP-1.0", "%%%% size,sha256,filename"]
    listed = {}
    for line in lines:
        if not line.startswith(("%%%%", "#")):
            size, digest, rel = line.split(",", 2)
            listed[rel] = (int(size), digest)
    payload = sorted(p.relative_to(bag).as_posix() for p in (bag / "data").rglob("*") if p.is_file())
    assert sorted(listed) == payload
    out = subprocess.run(["sha256sum", *payload], cwd=bag, capture_output=True, text=True, check=True).stdout
    stock = {line[66:]: line[:64] for line in out.splitlines()}
    assert {rel: d for rel, (_, d) in listed.items()} == stock
    assert all(size == (bag / rel).stat().st_size for rel, (size, _) in listed.items())
    # the BagIt manifests are in sha256sum's own format too
    check = subprocess.run(["sha256sum", "-c", "--quiet", "manifest-sha256.txt", "tagmanifest-sha256.txt"], cwd=bag)
    assert check.returncode == 0


def test_safe_and_unique_names():
    assert safe_name("/home/sam/WhatsApp Chat with Jordan, Sam.txt") == "WhatsApp Chat with Jordan_ Sam.txt"
    assert safe_name("backup.zip!folder/sms:1?.xml") == "sms_1_.xml"
    assert safe_name("..") == "source"
    assert safe_name("CON.txt") == "source_CON.txt"
    names = unique_names([{"path": "a/chat.txt", "sha256": "b" * 64}, {"path": "b/Chat.txt", "sha256": "a" * 64}])
    assert names == {"a" * 64: "Chat.txt", "b" * 64: "chat-bbbbbbbbbbbb.txt"}


def _transcript_text(path: Path) -> str:
    """The PDF's text, with line breaks and runs of spaces as one space (rows wrap)."""
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pypdf.PdfReader(path).pages))


def test_transcript_holds_every_exhibit_of_the_party_in_order(bag, case):
    import pyarrow.compute as pc

    from commtrail.timeline.master import read_master
    master = read_master(case, ["exhibit", "party", "channel"])
    jordan = master.filter(pc.and_(pc.equal(master["party"], "Jordan"), pc.not_equal(master["channel"], "incident")))
    expected = jordan["exhibit"].to_pylist()
    text = _transcript_text(bag / "data/transcripts/transcript-jordan.pdf")
    rows = re.findall(r"(CT-\d{6}) \[(\d{4})\]", text)
    assert rows == [(ex, f"{n:04d}") for n, ex in enumerate(expected, 1)]
    assert len(expected) == 7
    assert "[0001] 2024-03-15 08:40 GMT (+00:00) · WhatsApp · Jordan → Sam · Why aren't you answering?" in text
    assert "[0002] 2024-03-15 08:40:12 GMT (+00:00) · SMS · Jordan → Sam · Answer me" in text
    assert "[0004] 2024-03-15 08:45 GMT (+00:00) · WhatsApp · Sam → Jordan · Please stop." in text
    assert "[0007] 2024-04-21 10:00 BST (+01:00) · WhatsApp · Jordan → Sam · I am outside" in text
    assert "[0005] 2024-03-15 09:40:12 GMT (+00:00) · SMS · Sam → Jordan · I will call the police DRAFT (never sent)" in text
    assert "This message was deleted DELETED" in text
    assert "Attachment IMG-20240316-WA0001.jpg: not contained in the export" in text
    assert "messages: 7; calls: 0; media: 1; deleted: 1; possibly deleted: 0; edited: 0; drafts: 1; system notices: 0" \
        in text
    assert f'SHA-256 {_sha(SMS.encode())} sha256sum "data/originals/sms-20240401.xml"' in text
    assert "+44 7700 900123: first contact 2024-03-15 08:40:12 GMT (+00:00), last contact 2024-03-15 09:40:12 GMT" in text
    pages = len(pypdf.PdfReader(bag / "data/transcripts/transcript-jordan.pdf").pages)
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    chris = _transcript_text(bag / "data/transcripts/transcript-chris.pdf")
    assert re.findall(r"CT-\d{6} \[(\d{4})\]", chris) == ["0001"] and "Chris → Sam · Is Sam ok?" in chris


def test_certification_templates_are_filled_and_marked(bag, case):
    us = (bag / "data/certification/us-fre-902-14-certificate-TEMPLATE.md").read_text()
    uk = (bag / "data/certification/uk-witness-statement-exhibit-list-TEMPLATE.md").read_text()
    master_sha = _sha(case.master_file.read_bytes())
    for text in (us, uk):
        assert "TEMPLATE, NOT LEGAL ADVICE" in text and "________" in text and master_sha in text
    for data in (CHAT, OTHER_CHAT, SMS, INCIDENTS):
        assert _sha(data.encode()) in us
    assert "902(14)" in us and "28 U.S.C. § 1746" in us and "Signature: ____" in us
    assert "($records records in all" not in us and "(9 records in all; 0 pieces" in us
    transcript_sha = _sha((bag / "data/transcripts/transcript-jordan.pdf").read_bytes())
    assert f"| XX/1 | Transcript of communications with Jordan | `transcripts/transcript-jordan.pdf` | {transcript_sha} |" in uk
    assert f"| Evidence file of the incident log | `incident-log/evidence/{_sha(PHOTO)}.jpg` | {_sha(PHOTO)} |" in uk
    assert "Statement of truth" in uk


def test_a_bundle_marks_the_numbering_as_produced(bag, case):
    import json

    from commtrail.timeline.master import read_master
    lines = (case.root / "productions.jsonl").read_text().splitlines()
    assert (bag / "data/case/productions.jsonl").read_text().splitlines() == lines
    [record] = [json.loads(line) for line in lines]
    exhibits = read_master(case, ["event_id", "exhibit"]).to_pylist()
    assert (record["production"], record["by"], record["scope"], record["first"], record["last"]) == \
        (1, "bundle", "every party", 1, 9)
    assert record["event_ids"] == [r["event_id"] for r in exhibits] and exhibits[-1]["exhibit"] == "CT-000009"
    assert "Exhibit-Numbers-Produced: up to CT-000009 (production 1 of data/case/productions.jsonl); numbers once " \
        "produced never change" in (bag / "bag-info.txt").read_text()
    assert "## Exhibit numbers\n\nExhibit numbers are frozen: numbers once produced never change, and events added " \
        "later are numbered after them, in time order among themselves. Produced: CT-000001 to CT-000009 by bundle " \
        "(every party) (productions.jsonl, 1 production(s)).\n" in (bag / "data/methodology.md").read_text()


def test_methodology_names_versions_commands_and_counts(bag):
    text = (bag / "data/methodology.md").read_text()
    assert "## Time-zone policy" in text and "## Deduplication rules" in text and "## Rejects" in text
    assert "- this bundle: `commtrail bundle CASE OUT`" in text
    assert re.search(r"`commtrail ingest CASE .*sms-20240401.xml", text)
    sms = _sha(SMS.encode())
    assert f"| originals/sms-20240401.xml | {sms} | {len(SMS.encode()):,} | smsbr-sms / smsbr-sms/" in text
    assert re.search(re.escape(sms) + r" \| [\d,]+ \| smsbr-sms / \S+ \| 3 \| 0 \| 0 \| 3 \| 3 \|", text)
    assert "OUT" in text and str(bag) not in text


def test_verify_names_each_changed_removed_and_added_file(case, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["bundle", str(case.root), str(out), "--party", "Jordan"]) == 0
    assert "transcript-chris.pdf" not in str(list((out / "data/transcripts").iterdir()))
    capsys.readouterr()
    assert main(["verify", str(out)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    victim = out / "data/exports/master-jordan.csv"
    data = bytearray(victim.read_bytes())
    data[10] ^= 1
    victim.write_bytes(bytes(data))
    (out / "data/originals/sms-20240401.xml").unlink()
    (out / "data/report/notes.txt").write_text("added")
    assert main(["verify", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "changed: data/exports/master-jordan.csv" in printed
    assert "missing: data/originals/sms-20240401.xml" in printed
    assert "extra: data/report/notes.txt" in printed
    assert "FAILED: 1 missing, 1 changed, 1 extra" in printed


def test_two_bundles_of_one_case_are_byte_identical_but_for_the_bagging_date(case, bag, tmp_path, monkeypatch):
    class Later(date):
        @classmethod
        def today(cls):
            return date(2031, 1, 2)
    monkeypatch.setattr(bundle, "date", Later)
    second = tmp_path / "elsewhere" / "copy"
    write_bundle(case, second)
    one, two = _files(bag), _files(second)
    assert sorted(one) == sorted(two)
    differ = sorted(rel for rel in one if one[rel] != two[rel])
    assert differ == ["bag-info.txt", "tagmanifest-sha256.txt"]
    a, b = one["bag-info.txt"].decode().splitlines(), two["bag-info.txt"].decode().splitlines()
    assert [x for x, y in zip(a, b) if x != y] and all(x.startswith("Bagging-Date:") for x, y in zip(a, b) if x != y)
    assert "Bagging-Date: 2031-01-02" in b
    a, b = one["tagmanifest-sha256.txt"].decode().splitlines(), two["tagmanifest-sha256.txt"].decode().splitlines()
    assert [x.split()[1] for x, y in zip(a, b) if x != y] == ["bag-info.txt"]


def test_bundle_refuses_an_existing_out_and_an_unknown_party(case, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    assert main(["bundle", str(case.root), str(tmp_path / "taken")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["bundle", str(case.root), str(tmp_path / "x"), "--party", "Nobody"]) == 2
    assert "no party called 'Nobody'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_encrypted_bundle_opens_only_with_its_passphrase(case, tmp_path, capsys, monkeypatch):
    pyzipper = pytest.importorskip("pyzipper")
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse battery\n")
    assert main(["bundle", str(case.root), str(tmp_path / "sealed"), "--party", "Chris", "--encrypt",
                 "--passphrase-file", str(secret)]) == 0
    archive = tmp_path / "sealed.zip"
    assert "Wrote the bundle" in capsys.readouterr().out and archive.is_file()
    with pyzipper.AESZipFile(archive) as zf:
        info = zf.getinfo("sealed/data/transcripts/transcript-chris.pdf")
        aes = info.extra[info.extra.index(b"\x01\x99\x07\x00"):]     # the WinZip AES extra field
        assert info.flag_bits & 0x1 and aes[6:8] == b"AE" and aes[8] == 3  # encrypted, AES-256
        zf.setpassword(b"correct horse battery")
        assert zf.read("sealed/bagit.txt") == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    assert main(["verify", str(archive), "--passphrase-file", str(secret)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    assert main(["verify", str(archive), "--passphrase-file", str(wrong)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {archive}: the passphrase does not open this archive") and "Traceback" not in err
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "correct horse battery")
    assert main(["verify", str(archive)]) == 0


def test_encrypt_refuses_a_short_or_mistyped_passphrase(case, tmp_path, capsys, monkeypatch):
    answers = iter(["long enough phrase", "long enough phrasf"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["bundle", str(case.root), str(tmp_path / "s"), "--encrypt"]) == 2
    assert "the two passphrases differ" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("abc\n")
    assert main(["bundle", str(case.root), str(tmp_path / "s"), "--encrypt", "--passphrase-file", str(short)]) == 2
    assert "shorter than 8 characters" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.txt"]


def test_a_changed_byte_inside_the_encrypted_archive_is_named(case, tmp_path, capsys):
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse battery\n")
    assert main(["bundle", str(case.root), str(tmp_path / "sealed.zip"), "--encrypt", "--passphrase-file",
                 str(secret)]) == 0
    archive = tmp_path / "sealed.zip"
    import pyzipper
    with pyzipper.AESZipFile(archive) as zf:
        info = zf.getinfo("sealed/data/methodology.md")
    data = bytearray(archive.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 40] ^= 0xFF   # inside its encrypted data
    archive.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["verify", str(archive), "--passphrase-file", str(secret)]) == 1
    out = capsys.readouterr().out
    assert "changed: data/methodology.md" in out and "problem: data/methodology.md cannot be read" in out


def test_no_passphrase_is_asked_for_a_bundle_that_cannot_be_written(case, tmp_path, capsys, monkeypatch):
    def never(prompt=""):
        raise AssertionError("asked for a passphrase")
    monkeypatch.setattr("getpass.getpass", never)
    (tmp_path / "taken.zip").write_bytes(b"")
    assert main(["bundle", str(case.root), str(tmp_path / "taken"), "--encrypt"]) == 2
    assert f"{tmp_path / 'taken.zip'} already exists; a bundle is only written to a new file." in capsys.readouterr().err
    assert main(["bundle", str(case.root), str(tmp_path / "x"), "--passphrase-file", "p.txt"]) == 2
    assert "--passphrase-file is for --encrypt." in capsys.readouterr().err


def test_parties_whose_names_make_the_same_file_name_each_get_their_transcript(tmp_path):
    from datetime import datetime, timezone

    from conftest import CASE_TOML, make_case
    toml = CASE_TOML + ('\n[[party]]\nname = "Jordan K"\nphones = ["07700 900201"]\n'
                        '\n[[party]]\nname = "Jordan-K"\nphones = ["07700 900202"]\n')
    recs = [{"ts_utc": datetime(2024, 7, 1, 9, n, tzinfo=timezone.utc), "channel": "sms", "kind": "message",
             "direction": "incoming", "sender": sender, "body": f"text {n}"}
            for n, sender in enumerate(["+447700900201", "+447700900202"])]
    case = make_case(tmp_path / "k", {"sms.xml": recs}, toml=toml)
    bag = write_bundle(case, tmp_path / "out").path
    assert sorted(p.name for p in (bag / "data/transcripts").iterdir()) == [
        "transcript-jordan-k-48c6a35c.pdf", "transcript-jordan-k-d1f99205.pdf", "transcript-jordan.pdf"]
    texts = {p.name: "\n".join(page.extract_text() for page in pypdf.PdfReader(p).pages)
             for p in (bag / "data/transcripts").iterdir()}
    assert "text 0" in texts["transcript-jordan-k-48c6a35c.pdf"] and "text 1" not in texts["transcript-jordan-k-48c6a35c.pdf"]
    assert "text 1" in texts["transcript-jordan-k-d1f99205.pdf"]
    one = write_bundle(case, tmp_path / "one", "Jordan K").path
    assert sorted(p.name for p in (one / "data/exports").iterdir()) == [
        "master-jordan-k-48c6a35c.csv", "master-jordan-k-48c6a35c.jsonl", "master-jordan-k-48c6a35c.xlsx"]


def test_transcripts_written_beside_the_report_in_a_second_process_are_the_same(case, bag, tmp_path, monkeypatch):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(case.root, copy)
    shutil.rmtree(copy / "report")            # nothing kept to take: everything is written
    monkeypatch.setattr(bundle, "BESIDE_EVENTS", 0)
    beside = write_bundle(Case(copy), tmp_path / "beside").path
    one, two = _files(bag), _files(beside)
    assert {k: v for k, v in one.items() if k.startswith("data/")} == {k: v for k, v in two.items()
                                                                       if k.startswith("data/")}
    bagit.Bag(str(beside)).validate()
