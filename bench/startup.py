"""Benchmark: start-up time of ``commtrail --version`` and ``commtrail stats`` on a small case.

Builds a small case (a fictional WhatsApp chat of 200 messages, ingested), then runs each command
as a whole process ``--repeat`` times and keeps the fastest (the machine may be shared). Goal
(issue 19): each under 0.5 s. Python's own start-up (``python -c pass``) is shown beside it.

    python -m bench.startup --workdir /tmp/startup-bench [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from bench._measure import run_command
from bench._table import Result, within

BUDGET_S = 0.5
ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "commtrail.cli"]


def chat(messages: int) -> str:
    """An Android WhatsApp export of ``messages`` fictional messages, one a minute."""
    lines = []
    for i in range(messages):
        hour, minute = divmod(i, 60)
        who = "Jordan K" if i % 3 else "Sam"
        lines.append(f"{1 + hour // 24:02d}/03/2024, {hour % 24:02d}:{minute:02d} - {who}: message {i}")
    return "\n".join(lines) + "\n"


def best(command: list[str], repeat: int) -> tuple[float, float]:
    """Fastest wall seconds of ``repeat`` runs, and the peak RSS (MB) of that run."""
    runs = []
    for _ in range(repeat):
        seconds, peak_mb, status, _, err = run_command(command, cwd=str(ROOT))
        if status != 0:
            raise RuntimeError(f"{' '.join(command)} failed with exit code {status}: {err.strip()[-2000:]}")
        runs.append((seconds, peak_mb))
    return min(runs)


def run(workdir: Path, scale: float = 1.0, repeat: int = 5) -> Result:
    """Build the small case (its size does not follow ``scale``), time the commands; lines and rows."""
    workdir = Path(workdir)
    case = workdir / "startup-case"
    shutil.rmtree(case, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "WhatsApp Chat with Jordan K.txt"
    source.write_text(chat(200), encoding="utf-8")
    for args in (["init", str(case)], ["ingest", str(case), str(source), "--date-order", "DMY"]):
        best(CLI + args, 1)
    load = os.getloadavg()[0]
    python_s, _ = best([sys.executable, "-c", "pass"], repeat)
    lines = [f"startup: python -c pass {python_s:.3f} s (best of {repeat}); 1-minute load average {load:.1f} "
             f"on {os.cpu_count()} cores"]
    rows = []
    for name, args in (("--version", ["--version"]), ("stats (200 messages)", ["stats", str(case)])):
        seconds, peak_mb = best(CLI + args, repeat)
        lines.append(f"startup: commtrail {name} {seconds:.3f} s (best of {repeat}), peak RSS {peak_mb:.0f} MB")
        rows.append(within(f"start-up: {name}", seconds, "budget", BUDGET_S, 1, peak_mb=peak_mb))
    return Result(lines, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/startup"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = run(args.workdir, repeat=args.repeat)
    print(result.text())


if __name__ == "__main__":
    main()
