"""Benchmark: the court bundle of a party with 100,000 events, against ``cp -r`` plus ``sha256sum``
of the same payload.

Builds the case of :mod:`bench.report` (100,000 events of one party), adds the blobs its events
name and one original file per source (the source's rows written out as text, so the bundle has
originals of a realistic size to copy and hash), then runs ``commtrail bundle`` in a child process
(wall time, CPU time, peak memory, and the time of each step: reuse, report, copies, transcripts,
exports, keep, documents, bag). Three bundles: the first bundle of a copy of the case, where
nothing was written before; a bundle of the case after ``commtrail report`` and ``commtrail
export`` (CSV, XLSX, JSONL) of the party, which takes the report and the exports (the production
it records changes nothing the report states while the numbering is in time order) and writes the
transcript; and a second bundle of that
case, which takes the report, transcripts and exports the one before kept (nothing changed in
between). The baseline copies the first bundle's finished ``data/`` folder with ``cp -r`` and
hashes every file with ``sha256sum``. Goal: within 3x of the baseline (one row for each bundle).

    python -m bench.bundle --workdir /tmp/bench-bundle [--scale 1.0]
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench._measure import run_sampled
from bench._table import Result, standalone, within
from bench.report import build_case

EVENTS = 100_000
GOAL = 3.0
BASELINE = "cp -r + sha256sum"


def add_files(case_dir: Path) -> int:
    """Blobs for the attachments the master names, and an original per source; total bytes added."""
    import pyarrow.parquet as pq

    from commtrail.inventory import read_inventory, write_inventory

    master = pq.read_table(case_dir / "master.parquet", columns=["attachments", "body", "ts_local", "source_path"])
    added = 0
    texts: dict[str, list[str]] = {}
    for row in master.to_pylist():
        for a in row["attachments"] or []:
            n = int(a["name"].rsplit("WA", 1)[1].split(".")[0])
            data = f"photo {n}".encode()
            assert hashlib.sha256(data).hexdigest() == a["sha256"]
            (case_dir / "blobs" / a["sha256"]).write_bytes(data)
            added += len(data)
        texts.setdefault(row["source_path"], []).append(f"{row['ts_local']} - {row['body'] or ''}")
    inventory = read_inventory(case_dir / "sources.parquet")
    for name, lines in sorted(texts.items()):
        data = ("\n".join(lines) + "\n").encode()
        sha = hashlib.sha256(data).hexdigest()
        (case_dir / "originals" / sha).write_bytes(data)
        added += len(data)
        inventory.append({**inventory[0], "sha256": sha, "path": f"original of {name}", "records": 0, "rejects": 0,
                          "size": len(data), "format": "bench-original", "copied": True})
    write_inventory(case_dir / "sources.parquet", inventory)
    return added


def baseline(payload: Path, target: Path) -> float:
    """Seconds for ``cp -r`` of the payload plus ``sha256sum`` of every file in the copy."""
    if target.exists():
        shutil.rmtree(target)
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(payload), str(target)], check=True)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    subprocess.run(["sha256sum", "--", *files], cwd=target, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(workdir: Path, scale: float = 1.0) -> Result:
    """Build the case, time ``commtrail bundle`` on it and the baseline on its payload."""
    workdir = Path(workdir)
    events = max(100, int(EVENTS * scale))
    case_dir = workdir / "bundle-case"
    t0 = time.perf_counter()
    build_case(case_dir, events)
    added = add_files(case_dir)
    build_s = time.perf_counter() - t0
    lines = [f"bundle: {events:,} events of one party (scale {scale}); case built in {build_s:.1f} s "
             f"({added / 1e6:.1f} MB of originals and blobs added)"]
    cold = workdir / "bundle-case-cold"
    if cold.exists():
        shutil.rmtree(cold)
    shutil.copytree(case_dir, cold)
    t0 = time.perf_counter()
    for command in (["report", str(case_dir), "--party", "Jordan"],
                    *(["export", str(case_dir), "--format", fmt, "--party", "Jordan"] for fmt in ("csv", "xlsx", "jsonl"))):
        subprocess.run([sys.executable, "-m", "commtrail.cli", *command], check=True, stdout=subprocess.DEVNULL,
                       cwd=Path(__file__).resolve().parent.parent)
    lines.append(f"bundle: commtrail report and export (CSV, XLSX, JSONL) of the party took {time.perf_counter() - t0:.1f} s "
                 "(not counted in the bundles)")
    rows = []
    runs = []
    for name, case, out in (("first bundle", cold, workdir / "bundle-out"),
                            ("bundle after report+export", case_dir, workdir / "bundle-out-1"),
                            ("second bundle", case_dir, workdir / "bundle-out-2")):
        done = _bundle(case, out)
        workload = f"{name} {events:,} events"
        if done["returncode"] != 0:
            return Result(lines + [f"bundle: {name} FAILED (exit {done['returncode']})"],
                          rows + [within(workload, done["wall"], BASELINE, 0.0, GOAL, ok=False)])
        runs.append((name, workload, out, done, json.loads(done["stdout"].strip().splitlines()[-1])))
    out = runs[0][2]
    files = [p for p in (out / "data").rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    base = baseline(out / "data", workdir / "baseline-copy")
    lines.append(f"bundle: payload {len(files):,} files, {size / 1e6:.1f} MB; baseline cp -r + sha256sum of it "
                 f"{base:.2f} s")
    for name, workload, out, done, steps in runs:
        wall = done["wall"]
        lines += [f"bundle: {name}: wall time {wall:.1f} s (CPU {done['cpu']:.1f} s), ratio {wall / base:.1f}x "
                  f"(goal < {GOAL:.0f}x); peak memory {done['peak_pss'] / 2**20:,.0f} MB PSS "
                  f"({done['peak_rss'] / 2**20:,.0f} MB RSS summed)",
                  f"bundle: {name}: steps " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())]
        rows.append(within(workload, wall, BASELINE, base, GOAL, peak_mb=done["peak_rss"] / 2**20))
    return Result(lines, rows)


def _bundle(case_dir: Path, out: Path) -> dict:
    """``commtrail bundle`` of the party in a child process, measured (see run_sampled)."""
    if out.exists():
        shutil.rmtree(out)
    repo = Path(__file__).resolve().parent.parent
    script = ("import sys, json; from commtrail.nopandas import arrow_without_pandas; arrow_without_pandas(); "
              "from pathlib import Path; from commtrail.case import Case; "
              "from commtrail.outputs.bundle import write_bundle; "
              "print(json.dumps(write_bundle(Case(Path(sys.argv[1])), Path(sys.argv[2]), 'Jordan').seconds))")
    return run_sampled([sys.executable, "-c", script, str(case_dir), str(out)], cwd=str(repo), interval=0.1)


if __name__ == "__main__":
    standalone(__doc__, run, Path("bench/out"))
