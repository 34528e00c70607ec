"""A whole case after `commtrail demo`, `report` and `export` (real processes): every file and
folder is the user's alone, and `verify` catches any changed byte, any deleted file and any
added file, naming it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commtrail.case import CASE_FILE, Case, is_working_file
from commtrail.outputs.manifest import read_manifest, verify

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TAMPER = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow])


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "commtrail.cli", *args], env=ENV, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "demo"
    steps = [run("demo", str(folder)), run("report", str(folder / "case")),
             run("export", str(folder / "case"), "--format", "xlsx"),
             run("export", str(folder / "case"), "--format", "csv", "--party", "Jordan")]
    for step in steps:
        assert "Traceback" not in step.stderr, step.stderr
    assert steps[0].returncode in (0, 1) and "verify: OK" in steps[0].stdout, steps[0].stdout + steps[0].stderr
    assert [s.returncode for s in steps[1:]] == [0, 0, 0], [s.stderr for s in steps]
    return folder


@pytest.fixture(scope="module")
def case(demo):
    case = Case(demo / "case")
    result = verify(case)
    assert result.ok, (result.missing, result.changed, result.extra, result.problems)
    return case


def test_every_file_and_folder_of_the_case_is_the_users_alone(demo):
    paths = [demo / "case", *sorted((demo / "case").rglob("*"))]
    assert len(paths) > 15
    loose = [f"{oct(p.lstat().st_mode & 0o777)} {p.relative_to(demo)}" for p in paths if p.lstat().st_mode & 0o077]
    assert loose == []
    # The demo's sample inputs sit beside the case in a folder only the user can enter.
    assert stat.S_IMODE(demo.stat().st_mode) == 0o700
    assert {p.relative_to(demo / "case").as_posix() for p in paths[1:] if p.is_file()} >= {
        "case.toml", "manifest.sha256", "master.parquet", "sources.parquet", "report/report.pdf",
        "report/report.html", "report/exports/master.xlsx", "report/exports/master-jordan.csv"}


def _listed(case: Case) -> list[str]:
    return sorted(read_manifest(case)) + ["manifest.sha256"]


def _writable(path: Path):
    mode = path.stat().st_mode
    path.chmod(0o600)
    return mode


@TAMPER
@given(data=st.data())
def test_any_changed_byte_is_caught_and_the_file_named(case, data):
    rel = data.draw(st.sampled_from(_listed(case)), label="file")
    path = case.root / rel
    original = path.read_bytes()
    mode = _writable(path)
    if original:
        offset = data.draw(st.integers(0, len(original) - 1), label="offset")
        changed = bytearray(original)
        changed[offset] ^= data.draw(st.integers(1, 255), label="xor")
        changed = bytes(changed)
    else:
        changed = b"\0"
    try:
        path.write_bytes(changed)
        result = verify(case)
        if is_working_file(rel):   # the user's working files: an edit, not a failure
            assert result.ok and result.edited == [(rel, "changed")]
            return
        assert not result.ok
        if rel != "manifest.sha256":   # a changed manifest shows as the entries it no longer matches
            assert result.changed == [rel] or rel in result.changed
    finally:
        path.write_bytes(original)
        path.chmod(stat.S_IMODE(mode))
    assert verify(case).ok


@TAMPER
@given(data=st.data())
def test_a_deleted_file_is_caught_and_named(case, data):
    rel = data.draw(st.sampled_from(sorted(read_manifest(case))), label="file")
    path = case.root / rel
    original, mode = path.read_bytes(), path.stat().st_mode
    os.unlink(path)
    try:
        result = verify(case)
        if is_working_file(rel) and rel != CASE_FILE:
            assert result.ok and result.edited == [(rel, "removed")]
        else:
            assert rel in result.missing
    finally:
        path.write_bytes(original)
        path.chmod(stat.S_IMODE(mode))
    assert verify(case).ok


NAMES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=20),
    st.text("0123456789abcdef", min_size=64, max_size=64),
    st.sampled_from(["x.parquet", ".hidden", "notes.txt", "a.rejects.parquet", ".x.parquet.tmp-1", ".incoming-1",
                     ".tmp-abc", "manifest.sha256.bak", "report.pdf", ".pending"]),
)


@TAMPER
@given(folder=st.sampled_from(["", "originals", "staging", "blobs", "report", "report/exports", ".tmp", "new"]),
       name=NAMES, content=st.binary(max_size=64))
def test_an_added_file_is_caught_and_named(case, folder, name, content):
    if name in (".", "..", ".lock") or (folder == "" and name == "manifest.sha256"):
        return
    target = case.root / folder / name
    if target.exists():
        return
    made = not target.parent.exists()
    target.parent.mkdir(exist_ok=True)
    try:
        target.write_bytes(content)
        result = verify(case)
        assert not result.ok
        rel = target.relative_to(case.root).as_posix()
        assert rel in result.extra or (name == ".pending" and folder == "" and any(
            "interrupted" in p for p in result.problems)), (rel, result)
    finally:
        target.unlink()
        if made:
            target.parent.rmdir()
    assert verify(case).ok
