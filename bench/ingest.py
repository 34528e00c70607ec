"""Benchmark: ``commtrail ingest`` of the 1,000,000-message WhatsApp chat into a fresh case, as a user
runs it (a whole process: start-up, parse, staging, master, manifest and summary), against whatstk's
``df_from_whatsapp`` of the same file, also a whole process, in the same run. Goal: at least 8x
faster, peak memory (the process and the parse process it forks) under 4x the file.

Then a second ``commtrail ingest`` adds a 1,000-message chat whose messages fall among the last
weeks of that case (the incremental master, timeline/keys.py). Goal: under 35% of the first ingest.

With ``--profile`` it also runs the ingest once under cProfile with a CPU clock and prints the CPU
seconds per step (wall time is meaningless on a shared, loaded machine); the parse runs in a forked
process, whose own CPU is given apart.

    python -m bench.ingest --workdir bench/out/ingest [--scale 1.0] [--profile]
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench._table import Result, speedup, within
from bench.whatsapp import MESSAGES, _messages, generate

ADDED = 1_000   # messages of the chat added to the ingested case

# The commtrail the children import: this checkout's (also their working folder, first on their path).
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

WHATSTK = ("import sys, warnings; warnings.simplefilter('ignore'); "
           "from whatstk.whatsapp.parser import df_from_whatsapp; "
           "print(len(df_from_whatsapp(sys.argv[1], max_size=None)))")

# Steps of a profiled ingest: label -> the functions whose cumulative time it is (summed).
STEPS = {
    "imports (all modules, wherever imported)": ["_find_and_load"],
    "hash and copy the input": ["_hash_and_copy"],
    "parse and staging (as this process waited for it)": ["run_capped", "_stage"],
    "inventory": ["write_inventory"],
    "master: DuckDB dedup and numbering": ["run_dedup", "index_representatives", "buckets_in_staging_order"],
    "master: of which key files written (keys/)": ["_write_keys"],
    "master: representatives spooled, DuckDB closed": ["spooled"],
    "master: screenshot links": ["write_links"],
    "master: all (dedup, assembly, Parquet writes)": ["build_master"],
    "manifest": ["write_manifest"],
    "summary": ["summary_table"],
}


def timed(command: list[str]) -> dict:
    """Run a command: wall seconds, CPU seconds (user + system) and peak RSS in MiB of it and the
    processes it waited for (the parse process ingest forks), and its standard output."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=ENV, cwd=ENV["PYTHONPATH"])
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(command[:5])} failed: {err.read()[-2000:]}")
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
                "stdout": out.read()}


def fresh_case(workdir: Path, name: str) -> Path:
    """An empty case folder (made with ``commtrail init``)."""
    case = workdir / name
    if case.exists():
        shutil.rmtree(case)
    subprocess.run([sys.executable, "-m", "commtrail.cli", "init", str(case), "--timezone", "Europe/London",
                    "--region", "GB"], check=True, capture_output=True, env=ENV)
    return case


# A profiled ingest in a child process: CPU seconds (all threads) per function, and the CPU of the
# parse process the ingest forks (which the profiler does not see).
PROFILED = """import cProfile, resource, runpy, sys, time
profiler = cProfile.Profile(time.process_time)
sys.argv = ["commtrail", "ingest", sys.argv[1], sys.argv[2]]
profiler.enable()
try:
    runpy.run_module("commtrail.cli", run_name="__main__")
except SystemExit:
    pass
profiler.disable()
profiler.dump_stats(OUT)
child = resource.getrusage(resource.RUSAGE_CHILDREN)
print(child.ru_utime + child.ru_stime)
"""


def profile(workdir: Path, chat: Path) -> list[str]:
    """One ingest under cProfile, timed in CPU seconds: the CPU per step."""
    case = fresh_case(workdir, "profiled-case")
    out = workdir / "ingest.prof"
    run = timed([sys.executable, "-c", PROFILED.replace("OUT", repr(str(out))), str(case), str(chat)])
    stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    lines = [f"ingest profile: CPU seconds per step (cProfile with a CPU clock; whole process {run['wall']:.2f} s "
             f"wall, {run['cpu']:.2f} s CPU with the profiler)",
             f"  {'parse and staging (the forked process, its own CPU)':52s} {float(run['stdout'].split()[-1]):6.2f} s"]
    for label, names in STEPS.items():
        seconds = sum(cum for (_, _, name), (_, _, _, cum, _) in stats.items() if name in names)
        lines.append(f"  {label:52s} {seconds:6.2f} s")
    return lines


def run(workdir: Path, scale: float = 1.0, with_profile: bool = False) -> Result:
    """Generate the chat, then time our whole-process ingest and whatstk's in the same run."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    chat = generate(workdir.parent / "whatsapp", scale)["android"]   # the file bench/whatsapp.py times
    size_mb = chat.stat().st_size / 2**20
    case = fresh_case(workdir, "case")
    ours = timed([sys.executable, "-m", "commtrail.cli", "ingest", str(case), str(chat)])
    theirs = timed([sys.executable, "-c", WHATSTK, str(chat)])
    events = ours["stdout"].strip().splitlines()[-1]
    lines = [f"ingest: {chat.name}, {size_mb:.1f} MiB; whatstk rows {theirs['stdout'].strip()}; ours: {events}",
             f"ingest: commtrail ingest (fresh case) {ours['wall']:.2f} s wall, {ours['cpu']:.2f} s CPU, "
             f"peak {ours['peak_mb']:.0f} MiB = {ours['peak_mb'] / size_mb:.2f}x file (goal < 4x)",
             f"ingest: whatstk df_from_whatsapp     {theirs['wall']:.2f} s wall, {theirs['cpu']:.2f} s CPU, "
             f"peak {theirs['peak_mb']:.0f} MiB",
             f"ingest: whatstk/ours = {theirs['wall'] / ours['wall']:.2f}x wall, "
             f"{theirs['cpu'] / ours['cpu']:.2f}x CPU (goal >= 8)"]
    added = timed([sys.executable, "-m", "commtrail.cli", "ingest", str(case), str(added_chat(workdir, chat))])
    lines.append(f"ingest: add a {ADDED:,}-message chat to that case {added['wall']:.2f} s wall, "
                 f"{added['cpu']:.2f} s CPU = {added['wall'] / ours['wall']:.2f}x the first ingest's wall, "
                 f"{added['cpu'] / ours['cpu']:.2f}x its CPU (goal < 0.35); "
                 f"{added['stdout'].strip().splitlines()[-1]}")
    if with_profile:
        lines += profile(workdir, chat)
    messages = max(10, int(MESSAGES * scale))
    return Result(lines, [speedup(f"whatsapp ingest {messages:,} msgs, whole process", ours["wall"],
                                  "whatstk df_from_whatsapp", theirs["wall"], 8, peak_mb=ours["peak_mb"],
                                  peak_limit_mb=4 * size_mb),
                          within(f"add a {ADDED:,}-msg chat to that case, whole process", added["wall"],
                                 "the first ingest", ours["wall"], 0.35, peak_mb=added["peak_mb"])])


def added_chat(workdir: Path, chat: Path) -> Path:
    """A chat of ADDED messages with another person, ending a day before ``chat`` ends (so its
    messages fall among the last weeks of the case)."""
    with open(chat, "rb") as f:
        f.seek(max(0, chat.stat().st_size - 4096))
        last = f.read().decode("utf-8", "replace").splitlines()
    end = max(datetime.strptime(line[:17], "%d/%m/%Y, %H:%M") for line in last if line[2:3] == "/"
              and line[17:20] == " - ")
    rows = list(_messages(ADDED, ios=False, seed=3))
    shift = end - timedelta(days=1) - rows[-1][0]
    out = workdir / f"WhatsApp Chat with Robin Hale ({ADDED}).txt"
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for when, author, text in rows:
            f.write(f"{when + shift:%d/%m/%Y, %H:%M} - " + (f"{author}: " if author else "") + text + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("bench/out/ingest"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--profile", action="store_true", help="also profile one ingest, step by step")
    args = ap.parse_args(argv)
    print(run(args.workdir, args.scale, args.profile).text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
