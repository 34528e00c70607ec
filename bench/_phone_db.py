"""What the phone-database benchmarks (``ios``, ``android``) share: the words of the messages they
generate, the baseline (a bare ``sqlite3`` ``SELECT``, every row fetched) and their line and row."""

from __future__ import annotations

import random
import shutil
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from bench._measure import in_child
from bench._table import Row, speedup

GOAL, PEAK_LIMIT_MB = 0.5, 300.0
ROUNDS = 3
WORDS = ("i you the to and a it is that of in me my for be on have not this so do what just know no with your "
         "at can was but are we if all get like don't up go out about want time now see one come back there "
         "think when then call why been how tell did really still need going please stop leave alone again "
         "told said never ever answer phone home tonight café “fine” 🙂 😡").split()


def random_text(rng: random.Random) -> str:
    """A message of 1 to 25 words."""
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 25)))


def bare_select(path: str, queries: Sequence[tuple[str, str]]) -> dict:
    """The baseline: ``SELECT columns FROM table`` for each (table, columns), every row fetched."""
    start, cpu = time.perf_counter(), time.process_time()
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = 0
    for table, columns in queries:
        cursor = con.execute(f"SELECT {columns} FROM {table}")
        while chunk := cursor.fetchmany(20_000):
            rows += len(chunk)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "rows": rows}


def paired(module: str, base_args: Sequence[str], ours_args: Sequence[str], out: Path) -> tuple[dict, dict]:
    """The baseline and ours of ``bench.<module>``, each run :data:`ROUNDS` times in fresh processes, in
    turn (baseline, ours, baseline, ...; ``out``, where ours writes, emptied before each of its runs):
    of each, the run of median time, with the highest peak memory of its runs. One run of a few
    seconds moves by 10-20 % with the machine; the median of runs taken in turn does much less."""
    bases, ours = [], []
    for _ in range(ROUNDS):
        bases.append(in_child(module, "baseline", *base_args))
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        ours.append(in_child(module, "ours", *ours_args))
    return _median(bases), _median(ours)


def _median(runs: list[dict]) -> dict:
    middle = dict(sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2])
    for key in ("peak_mb", "part_peak_mb", "tree_pss_mb", "tree_rss_mb"):
        middle[key] = max(r[key] for r in runs)
    middle["runs"] = [round(r["seconds"], 2) for r in runs]
    return middle


def outcome(label: str, base: dict, ours: dict) -> tuple[str, Row]:
    """The detail line and the table row of one database: the baseline against ours (the run of
    median time of each, see :func:`paired`; every run's time in brackets)."""
    line = (f"{label}: {ours['records']:,} records, {ours['rejects']} rejects; median of {len(ours['runs'])} runs in "
            f"turn (baseline {base['runs']} s, ours {ours['runs']} s). "
            f"Bare sqlite3 SELECT {base['seconds']:.1f} s (cpu {base['cpu']:.1f}, peak RSS {base['peak_mb']:.0f} MB); "
            f"ours copy+read+Parquet {ours['seconds']:.1f} s (cpu {ours['cpu']:.1f} in the reading process, "
            f"{ours['part_cpu']:.1f} in the fetching process; peak "
            f"{ours['tree_pss_mb']:.0f} MB PSS of the process tree, goal < {PEAK_LIMIT_MB:.0f}; peak RSS "
            f"{ours['peak_mb']:.0f} MB the reading process): "
            f"speed ratio "
            f"{base['seconds'] / ours['seconds']:.2f} (goal >= {GOAL})")
    row = speedup(f"{label} {ours['records']:,} records", ours["seconds"], "bare sqlite3 SELECT", base["seconds"],
                  GOAL, peak_mb=ours["tree_pss_mb"], peak_limit_mb=PEAK_LIMIT_MB)
    return line, row
