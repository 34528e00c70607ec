"""`kill -9` at random points of ingest, master build and report leaves the case consistent, and
running the same command again finishes the job; two commands on one case at once: the second
refuses. Real `commtrail` processes, a fixed seed."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from commtrail.case import Case
from commtrail.cli import main
from commtrail.outputs.manifest import verify

from conftest import new_case

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
# Where each step of an ingest shows itself in the case folder (its temporary files).
PHASES = {
    "copying an input": r"originals/\.incoming-\d+",
    "staging": r"staging/\..*\.tmp-\d+",
    "writing the inventory": r"\.sources\.parquet\.tmp-\d+",
    "dedup": r"\.duckdb-tmp",
    "writing the master": r"\.master\.parquet\.tmp-\d+",
    "writing the manifest": r"\.manifest\.sha256\.tmp-\d+",
}


def incident_log(rows: int, seed: int) -> bytes:
    """A fictional incident log, large enough that ingesting it takes a second or two."""
    rnd = random.Random(seed)
    places = ["Home", "Work", "Station", "Gym", "Car park", "Bus stop"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "time", "location", "description", "police called"])
    for i in range(rows):
        writer.writerow([f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", f"{i % 24:02d}:{i % 60:02d}", rnd.choice(places),
                         f"Log {seed}, incident {i}: Jordan was seen near the {rnd.choice(places).lower()} "
                         f"again ({rnd.random():.6f}).", rnd.choice(["yes", "no"])])
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "big.csv").write_bytes(incident_log(15_000, 1))
    import zipfile
    with zipfile.ZipFile(folder / "more.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("log/second.csv", incident_log(5_000, 2))
    (folder / "small.csv").write_bytes(incident_log(300, 3))
    return folder


def commtrail(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "commtrail.cli", *args], env=ENV, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def seen(case: Path, pattern: str) -> bool:
    regex = re.compile(pattern)
    for folder in (case, case / "staging", case / "originals", case / "report", case / "report" / "charts"):
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        rel = "" if folder == case else folder.relative_to(case).as_posix() + "/"
        if any(regex.fullmatch(rel + name) for name in names):
            return True
    return False


def kill_at(proc: subprocess.Popen, case: Path, rnd: random.Random, point: str, phases: dict[str, str],
            delay: tuple[float, float] = (0.3, 2.5)) -> str:
    """Kill the process with SIGKILL at ``point`` (a phase of ``phases`` or a random delay);
    returns what happened (the process may have finished before the point came)."""
    deadline = time.monotonic() + 60
    if point == "random delay":
        time.sleep(rnd.uniform(*delay))
    else:
        while proc.poll() is None and not seen(case, phases[point]) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rnd.choice((0, 0, rnd.uniform(0, 0.02))))
    if proc.poll() is not None:
        return "finished first"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return "killed"


def assert_consistent(case: Path) -> None:
    """What a killed command may leave: never a half file under a final name."""
    for name in ("master.parquet", "sources.parquet", "possibly_deleted.parquet"):
        if (case / name).exists():
            pq.read_table(case / name)   # a complete Parquet file, or this raises
    for path in (case / "staging").glob("*.parquet"):
        if not path.name.startswith("."):
            pq.read_table(path)
    for folder in ("originals", "blobs"):
        for path in (case / folder).glob("*"):
            if not path.name.startswith("."):
                assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, f"{folder}/{path.name} is cut"
    assert not Case(case).busy()   # the kernel released the killed command's lock


def assert_verifies(case: Path) -> None:
    result = verify(Case(case))
    assert result.ok, (result.missing, result.changed, result.extra, result.problems)
    assert main(["verify", str(case)]) == 0   # and the command says so


def test_kill_9_during_ingest_then_the_same_command_finishes_the_job(tmp_path, inputs):
    # A case that already holds one input (master and manifest written), to which an ingest adds
    # two more and is killed, twice, at random points; then the same command runs to its end.
    base = new_case(tmp_path / "base")
    code, out, err = finish(commtrail("ingest", str(base), str(inputs / "small.csv")))
    assert code == 0, err
    rnd = random.Random(20240301)
    args = [str(inputs / "big.csv"), str(inputs / "more.zip")]
    points = list(PHASES) + ["random delay", "random delay"]
    rnd.shuffle(points)
    log = []
    for round_ in range(4):
        case = tmp_path / f"case{round_}"
        shutil.copytree(base, case)
        for point in (points.pop(), points.pop()):
            outcome = kill_at(commtrail("ingest", str(case), *args), case, rnd, point, PHASES)
            log.append(f"round {round_}: {point}: {outcome}")
            assert_consistent(case)
        code, out, err = finish(commtrail("ingest", str(case), *args))
        assert code == 0, (log, out, err)
        assert "Traceback" not in err
        assert_verifies(case)
        master = pq.read_table(case / "master.parquet", columns=["source_path"])
        assert master.num_rows == 300 + 15_000 + 5_000, log
        assert len(list((case / "originals").iterdir())) == 3
    assert sum("killed" in line for line in log) >= 6, log


def test_kill_9_during_report_then_the_same_command_finishes_the_job(tmp_path, inputs):
    # The demo's sample inputs: every format, so the report has charts and every section.
    from commtrail.demo_data import write_inputs
    rnd = random.Random(7)
    case = new_case(tmp_path / "case")
    samples = write_inputs(tmp_path / "samples")
    code, out, err = finish(commtrail("ingest", str(case), *map(str, samples)))
    assert code == 0, err
    start = time.monotonic()
    code, out, err = finish(commtrail("report", str(case)))
    took = time.monotonic() - start
    assert code == 0, err
    log = []
    # Kill somewhere in the second half of a run (the first is mostly start-up), twice; on a machine
    # whose load changes, a later run may finish before its kill comes, so up to four more tries
    # come earlier in the run until one kill has landed.
    for attempt in range(6):
        window = (0.5 * took, 0.97 * took) if attempt < 2 else (0.2 * took, 0.6 * took)
        log.append(kill_at(commtrail("report", str(case)), case, rnd, "random delay", {}, window))
        assert_consistent(case)
        if attempt >= 1 and any("killed" in line for line in log):
            break
    code, out, err = finish(commtrail("report", str(case)))
    assert code == 0, (log, err)
    assert_verifies(case)
    from pypdf import PdfReader
    assert len(PdfReader(case / "report" / "report.pdf").pages) >= 1
    assert not [p for p in (case / "report").rglob(".*")], "temporary files left in report/"
    assert list((case / "report").rglob("*.png")), "the report has no charts to interrupt"
    assert sum("killed" in line for line in log) >= 1, log


def test_a_second_ingest_on_a_busy_case_refuses_and_a_killed_one_leaves_no_stale_lock(tmp_path, inputs):
    case = new_case(tmp_path / "case")
    first = commtrail("ingest", str(case), str(inputs / "big.csv"))
    deadline = time.monotonic() + 60
    while not Case(case).busy() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert first.poll() is None, "the first ingest finished before the second could start"
    first.send_signal(signal.SIGSTOP)   # hold it there, lock taken, whatever the machine's speed
    try:
        code, out, err = finish(commtrail("ingest", str(case), str(inputs / "small.csv")))
        verify_code, _, verify_err = finish(commtrail("verify", str(case)))
    finally:
        first.send_signal(signal.SIGCONT)
    assert code == 2
    assert re.fullmatch(rf"Error: {re.escape(str(case))}: another commtrail command \(pid {first.pid}\) is working on "
                        r"this case right now\. Wait for it to finish, then run this again\.\n", err), err
    assert verify_code == 2 and "is working on this case right now" in verify_err
    code, out, err = finish(first)
    assert code == 0, err
    assert_verifies(case)

    # A killed ingest leaves no lock behind: the next command runs.
    again = commtrail("ingest", str(case), str(inputs / "more.zip"))
    kill_at(again, case, random.Random(1), "staging", PHASES)
    code, out, err = finish(commtrail("ingest", str(case), str(inputs / "more.zip"), str(inputs / "small.csv")))
    assert code == 0, err
    assert_verifies(case)
