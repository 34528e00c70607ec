"""Discovery of inputs: nested archives, links, archive bombs, hostile member names."""

import io
import os
import zipfile

from commtrail.case import ArchiveLimits
from commtrail.ingest.discover import discover


def make_zip(entries, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries:
            if isinstance(data, zipfile.ZipInfo):
                continue
            z.writestr(name, data)
    return buf.getvalue()


def test_nested_zip_is_read_through_a_private_copy(tmp_path):
    inner = make_zip([("chat/_chat.txt", b"hello"), ("chat/IMG-1.jpg", b"jpeg")])
    (tmp_path / "outer.zip").write_bytes(make_zip([("export.zip", inner), ("note.txt", b"n")]))
    found = discover([str(tmp_path / "outer.zip")], spool_parent=tmp_path / "case" / ".tmp")
    try:
        labels = [i.label for i in found.items]
        assert labels == [f"{tmp_path}/outer.zip!export.zip!chat/_chat.txt",
                          f"{tmp_path}/outer.zip!export.zip!chat/IMG-1.jpg", f"{tmp_path}/outer.zip!note.txt"]
        assert sorted(found.items[0].siblings) == ["IMG-1.jpg"]
        with found.items[0].open() as stream:
            assert stream.read() == b"hello"
        assert str(found.spool).startswith(str(tmp_path / "case" / ".tmp"))
    finally:
        found.close()
    assert not found.spool.exists()


def test_archive_bomb_and_total_size_are_refused_by_name(tmp_path):
    (tmp_path / "bomb.zip").write_bytes(make_zip([("zeros.txt", b"\0" * (8 * 1024 * 1024)), ("ok.txt", b"fine")]))
    found = discover([str(tmp_path / "bomb.zip")])
    assert [i.name for i in found.items] == ["ok.txt"]
    assert len(found.errors) == 1
    assert found.errors[0].file == f"{tmp_path}/bomb.zip!zeros.txt"
    assert "as archive bombs do" in found.errors[0].message
    found = discover([str(tmp_path / "bomb.zip")], ArchiveLimits(max_ratio=1e9, max_total_bytes=1024))
    assert found.items == [] and "expands to more than 1,024 bytes" in found.errors[0].message


def test_hostile_names_only_label_and_links_are_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../etc/evil.txt", b"x")
        z.writestr("/abs/path.txt", b"y")
        link = zipfile.ZipInfo("link-to-passwd")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/passwd")
    (tmp_path / "evil.zip").write_bytes(buf.getvalue())
    before = set(os.listdir(tmp_path))
    found = discover([str(tmp_path / "evil.zip")])
    assert [i.label for i in found.items] == [f"{tmp_path}/evil.zip!../../etc/evil.txt",
                                              f"{tmp_path}/evil.zip!/abs/path.txt"]
    assert [e.render() for e in found.errors] == [
        f"{tmp_path}/evil.zip!link-to-passwd: this archive member is a link, not a file; it was not read."]
    assert set(os.listdir(tmp_path)) == before


def test_links_inside_folders_are_not_followed(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("s")
    (tmp_path / "in" / "link.txt").symlink_to(tmp_path / "secret.txt")
    found = discover([str(tmp_path / "in")])
    assert [i.name for i in found.items] == ["a.txt"]
    assert found.notices == [f"{tmp_path}/in/link.txt: a link; not followed (give the file it points to instead)"]


MAILDIR_CONTROL = ["dovecot-uidlist", "dovecot.index", "dovecot.index.cache", "dovecot.index.log",
                   "dovecot-keywords", ".noindex", ".noupdate", ".mu", "maildirfolder", "courierimapuiddb",
                   "courierimapkeywords/:list"]


def test_maildir_control_files_are_skipped_and_counted(tmp_path):
    mail = b"From: jordan.k@example.com\nDate: Mon, 01 Jan 2024 09:30:00 +0000\n\nx\n"
    maildir = tmp_path / "Maildir"
    (maildir / "cur").mkdir(parents=True)
    (maildir / "cur" / "1704101400.M1P2.host:2,S").write_bytes(mail)
    for name in MAILDIR_CONTROL:
        (maildir / name).parent.mkdir(parents=True, exist_ok=True)
        (maildir / name).write_bytes(b"\x00\x01 index")
    (maildir / "dovecot-notes.eml").write_bytes(mail)  # a dovecot* name is skipped whatever it holds
    (tmp_path / "mail.zip").write_bytes(make_zip([(f"Maildir/{n}", b"i") for n in MAILDIR_CONTROL]
                                                 + [("Maildir/cur/1704101400.M1P2.host:2,S", mail)]))
    found = discover([str(maildir), str(tmp_path / "mail.zip")])
    assert [i.label for i in found.items] == [f"{maildir}/cur/1704101400.M1P2.host:2,S",
                                              f"{tmp_path}/mail.zip!Maildir/cur/1704101400.M1P2.host:2,S"]
    assert found.errors == []
    assert found.notices == []
    assert found.skipped == {"Maildir control files (mail program indexes, UID lists, markers)": 12 + 11}
