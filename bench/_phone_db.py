"""What the phone-database benchmarks (``ios``, ``android``) share: the words of the messages they
generate, the baseline (a bare ``sqlite3`` ``SELECT``, every row fetched) and their line and row."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Sequence

from bench._table import Row, speedup

GOAL, PEAK_LIMIT_MB = 0.5, 300.0
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


def outcome(label: str, base: dict, ours: dict) -> tuple[str, Row]:
    """The detail line and the table row of one database: the baseline against ours."""
    line = (f"{label}: {ours['records']:,} records, {ours['rejects']} rejects. "
            f"Bare sqlite3 SELECT {base['seconds']:.1f} s (cpu {base['cpu']:.1f}, peak RSS {base['peak_mb']:.0f} MB); "
            f"ours copy+read+Parquet {ours['seconds']:.1f} s (cpu {ours['cpu']:.1f}, peak RSS "
            f"{ours['peak_mb']:.0f} MB, goal < {PEAK_LIMIT_MB:.0f}): speed ratio "
            f"{base['seconds'] / ours['seconds']:.2f} (goal >= {GOAL})")
    row = speedup(f"{label} {ours['records']:,} records", ours["seconds"], "bare sqlite3 SELECT", base["seconds"],
                  GOAL, peak_mb=ours["peak_mb"], peak_limit_mb=PEAK_LIMIT_MB)
    return line, row
