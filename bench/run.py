"""`make bench`: every benchmark, each measured against its baseline in the same run.

    python -m bench.run [--scale 1.0] [--only dedup,whatsapp] [--workdir bench/out]

Inputs are generated into the work folder (never committed). Each benchmark prints its detail lines
as it finishes; at the end one table gives each workload, ours, the baseline, the ratio, the goal,
peak memory and whether the goal is met. All of it is also written to ``<workdir>/results.txt``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from pathlib import Path

from bench._table import table

BENCHES = ["startup", "whatsapp", "ingest", "smsbr", "email", "email_headers", "platforms", "ios", "android",
           "evidence", "dedup", "analysis", "report", "bundle", "serve"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the sizes the issues name")
    parser.add_argument("--only", default="", help="comma-separated names from: " + ", ".join(BENCHES))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or BENCHES
    args.workdir.mkdir(parents=True, exist_ok=True)
    lines = [f"scale {args.scale}; 1-minute load average at the start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]
    print(lines[0], flush=True)
    rows = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        start = time.perf_counter()
        result = module.run(args.workdir / name, args.scale)
        result.lines.append(f"{name}: whole benchmark took {time.perf_counter() - start:.0f} s")
        print("\n".join(result.lines), flush=True)
        lines += result.lines
        rows += result.rows
    summary = ["", f"Summary (scale {args.scale}; load average at the end {os.getloadavg()[0]:.1f}):", table(rows)]
    print("\n".join(summary), flush=True)
    (args.workdir / "results.txt").write_text("\n".join(lines + summary) + "\n")


if __name__ == "__main__":
    main()
