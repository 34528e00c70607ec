"""`make bench`: every benchmark, each measured against its baseline in the same run.

    python -m bench.run [--scale 1.0] [--only dedup,whatsapp] [--workdir bench/out]

Inputs are generated into the work folder (never committed); results are printed and written to
``<workdir>/results.txt``.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

BENCHES = ["whatsapp", "smsbr", "email", "ios", "dedup", "analysis", "report"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the sizes the issues name")
    parser.add_argument("--only", default="", help="comma-separated names from: " + ", ".join(BENCHES))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or BENCHES
    args.workdir.mkdir(parents=True, exist_ok=True)
    lines = [f"scale {args.scale}"]
    print(lines[0], flush=True)
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        start = time.perf_counter()
        result = module.run(args.workdir / name, args.scale)
        result.append(f"{name}: whole benchmark took {time.perf_counter() - start:.0f} s")
        print("\n".join(result), flush=True)
        lines += result
    (args.workdir / "results.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
