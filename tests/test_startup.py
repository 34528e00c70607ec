"""Start-up: each command imports only what it uses (issue 19). Not timed: each command runs in a
fresh interpreter, and the test checks which heavy modules it left in ``sys.modules``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import commtrail

ROOT = Path(commtrail.__file__).resolve().parent.parent
HEAVY = ("pandas", "numpy", "pyarrow", "matplotlib", "duckdb", "fpdf", "openpyxl", "dateparser", "lxml",
         "rich", "phonenumbers", "PIL", "uharfbuzz")
PROBE = """
import json, sys
from commtrail.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
print(json.dumps({"status": status, "modules": sorted(m for m in sys.modules
                  if m.split(".")[0] in {HEAVY} or m.startswith("commtrail."))}))
""".replace("{HEAVY}", repr(set(HEAVY)))

CHAT = ("01/03/2024, 09:00 - Jordan K: hello\n"
        "01/03/2024, 09:05 - Sam: who is this?\n"
        "02/03/2024, 21:30 - Jordan K: you know who\nsecond line\n")


def run_cli(*args: str) -> tuple[int, list[str], str]:
    """Run the command in a fresh interpreter: (exit status, modules it imported, its output)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    *output, last = proc.stdout.strip().splitlines()
    result = json.loads(last)
    return result["status"], result["modules"], "\n".join(output)


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(names))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[Path, list[str]]:
    """A small case with one WhatsApp chat ingested; the modules the ingest imported."""
    base = tmp_path_factory.mktemp("startup")
    chat = base / "WhatsApp Chat with Jordan K.txt"
    chat.write_text(CHAT, encoding="utf-8")
    case = base / "case"
    assert run_cli("init", str(case))[0] == 0
    status, modules, output = run_cli("ingest", str(case), str(chat), "--date-order", "DMY")
    assert status == 0, output
    assert "master.parquet: 3 events." in output
    return case, modules


def test_version_imports_nothing_heavy():
    status, modules, output = run_cli("--version")
    assert status == 0
    assert output == f"commtrail {commtrail.__version__}"
    assert loaded(modules, HEAVY) == []
    assert modules == ["commtrail.cli", "commtrail.errors", "commtrail.terminal"]   # terminal: no rich yet


def test_ingest_of_a_chat_imports_neither_pandas_nor_output_libraries(ingested):
    _, modules = ingested
    assert loaded(modules, ("pandas", "matplotlib", "fpdf", "openpyxl", "dateparser", "uharfbuzz", "PIL")) == []
    assert "duckdb" in modules                      # the master build deduplicates
    assert not [m for m in modules if m.startswith("commtrail.outputs.") and m != "commtrail.outputs.manifest"]


def test_stats_imports_neither_parsers_nor_dedup_nor_charts(ingested):
    case, _ = ingested
    status, modules, output = run_cli("stats", str(case))
    assert status == 0
    assert "Events in the master file" in output
    assert loaded(modules, ("pandas", "matplotlib", "duckdb", "fpdf", "openpyxl", "dateparser", "lxml", "uharfbuzz",
                            "PIL")) == []
    assert not [m for m in modules if m.startswith(("commtrail.parsers", "commtrail.ingest", "commtrail.timeline.dedup",
                                                    "commtrail.outputs.charts", "commtrail.outputs.report"))]


def test_version_is_the_package_version():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert commtrail.__version__ == project["version"]
