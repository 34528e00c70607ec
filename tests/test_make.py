"""The Makefile tells a newcomer plainly when their Python is too old for commtrail."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _check(python: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "--no-print-directory", "-C", str(ROOT), "python-check", f"PY={python}"],
                          capture_output=True, text=True, timeout=60)


def test_python_too_old_is_said_plainly(tmp_path):
    old = tmp_path / "python3"
    old.write_text('#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Python 3.9.2"; exit 0; fi\nexit 1\n')
    old.chmod(0o755)
    result = _check(str(old))
    assert result.returncode != 0
    assert result.stdout.splitlines() == [
        f"commtrail needs Python 3.11 or newer, and '{old}' is Python 3.9.2.",
        "Install Python 3.11 or newer (e.g. sudo apt-get install python3.11 python3.11-venv), then run",
        "  make demo PY=python3.11"]


def test_this_python_passes():
    assert _check(sys.executable).returncode == 0
