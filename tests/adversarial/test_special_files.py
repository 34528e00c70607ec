"""Issue 14.4 and 14.8: pipes, sockets and devices are never opened; a tree of any depth is
walked; one bad folder fails only itself; system files are passed over, but never in silence."""

from __future__ import annotations

import io
import os
import socket
import zipfile

import pytest

from commtrail.cli import main
from commtrail.ingest.discover import discover, skip_kind
from commtrail.inventory import read_inventory

from conftest import new_case

CHAT = b"13/03/2024, 18:30 - Jordan: hello\n13/03/2024, 18:31 - Sam: hi\n"


@pytest.fixture
def case_dir(tmp_path):
    root = new_case(tmp_path / "case")
    return root


def test_fifo_and_socket_in_a_folder_are_skipped_with_a_notice(tmp_path, case_dir, capsys):
    given = tmp_path / "in"
    given.mkdir()
    (given / "chat.txt").write_bytes(CHAT)
    os.mkfifo(given / "pipe.txt")   # opening it would wait forever for a writer
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(given / "sock"))
    try:
        code = main(["ingest", str(case_dir), str(given)])
    finally:
        sock.close()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"Warning: {given}/pipe.txt: a pipe (FIFO), not a file; not read" in out
    assert f"Warning: {given}/sock: a socket, not a file; not read" in out
    assert [r["path"] for r in read_inventory(case_dir / "sources.parquet")] == [f"{given}/chat.txt"]


def test_a_fifo_given_by_name_is_refused_without_waiting(tmp_path, case_dir, capsys):
    os.mkfifo(tmp_path / "pipe")
    code = main(["ingest", str(case_dir), str(tmp_path / "pipe")])
    _, err = capsys.readouterr()
    assert code == 1
    assert f"Error: {tmp_path}/pipe: this is a pipe (FIFO), not a regular file or folder; it was not read." in err


def test_a_deep_tree_is_walked_and_fails_nothing_else(tmp_path, case_dir, capsys):
    deep = tmp_path / "deep"
    here = deep
    deep.mkdir()
    for _ in range(1100):          # deeper than Python's recursion limit
        here = here / "d"
        os.mkdir(here)
    (here / "chat.txt").write_bytes(CHAT)
    other = tmp_path / "other.txt"
    other.write_bytes(CHAT.replace(b"hello", b"hello again"))
    try:
        code = main(["ingest", str(case_dir), str(deep), str(other)])
    finally:   # pytest's own clean-up of tmp_path recurses, so the deep tree goes here
        os.unlink(here / "chat.txt")
        while here != deep:
            os.rmdir(here)
            here = here.parent
    out, err = capsys.readouterr()
    assert code == 0, err
    paths = [r["path"] for r in read_inventory(case_dir / "sources.parquet")]
    assert paths == [str(deep) + "/d" * 1100 + "/chat.txt", str(other)]


def test_an_unreadable_folder_fails_alone(tmp_path, monkeypatch):
    given = tmp_path / "in"
    (given / "locked").mkdir(parents=True)
    (given / "open").mkdir()
    (given / "open" / "chat.txt").write_bytes(CHAT)
    real = os.scandir

    def scandir(path):   # as for a folder the user may not list (tests may run as root)
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)
    monkeypatch.setattr(os, "scandir", scandir)
    found = discover([str(given)])
    assert [i.label for i in found.items] == [f"{given}/open/chat.txt"]
    assert [e.render() for e in found.errors] == [
        f"{given}/locked: this folder cannot be read (Permission denied); nothing under it was read. "
        "Check that you may read the folder, or give the files inside it directly."]


def test_system_files_are_counted_by_kind(tmp_path, case_dir, capsys):
    given = tmp_path / "in"
    (given / "__MACOSX").mkdir(parents=True)
    (given / "chat.txt").write_bytes(CHAT)
    for name in (".DS_Store", "Thumbs.db", "desktop.ini", "._chat.txt", "__MACOSX/._chat.txt"):
        (given / name).write_bytes(b"\x00\x05\x16\x07 system")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("chat.txt", CHAT.replace(b"hello", b"zipped"))
        z.writestr("__MACOSX/._chat.txt", b"\x00\x05\x16\x07")
        z.writestr(".DS_Store", b"Bud1")
    (tmp_path / "export.zip").write_bytes(buf.getvalue())
    code = main(["ingest", str(case_dir), str(given), str(tmp_path / "export.zip")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert ("Passed over 7 system files that hold no messages: 2 macOS archive metadata (__MACOSX/), "
            "1 macOS resource forks (._*), 2 macOS folder settings (.DS_Store), "
            "1 Windows thumbnail caches (Thumbs.db), 1 Windows folder settings (desktop.ini).") in out
    assert len(read_inventory(case_dir / "sources.parquet")) == 2


def test_skip_kinds():
    assert skip_kind("a/b/.DS_Store") == "macOS folder settings (.DS_Store)"
    assert skip_kind("__MACOSX/x/._a.txt") == "macOS archive metadata (__MACOSX/)"
    assert skip_kind("THUMBS.DB") == "Windows thumbnail caches (Thumbs.db)"
    assert skip_kind("__MACOSX") is None and skip_kind("chat.txt") is None
