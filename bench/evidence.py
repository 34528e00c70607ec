"""Benchmark: screenshots ingested with OCR, against bare ``tesseract`` on the same images (issue 16).

Generates (once, cached in the work folder) 1,000 phone screenshots at scale 1: 720 x 1280 PNG,
chat bubbles of fictional text drawn with Pillow's bundled font, Android screenshot file names.
Then, in the same run:

* baseline: the bare ``tesseract IMAGE stdout -l eng tsv`` (the TSV that ``image_to_data`` reads)
  on every image, as fast as two cores allow: one image per process, ``OMP_THREAD_LIMIT=1``, as
  many processes at a time as there are cores;
* ours: ``commtrail ingest`` of the folder into a fresh case, as a whole process (hashing, blobs,
  EXIF, OCR, staging, the master build).

Goal: ours per image within 1.3x the bare call's (the rest of the pipeline costs under 30%).

    python -m bench.evidence [--workdir bench/out/evidence] [--scale 0.05]
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._measure import run_sampled
from bench._table import Result, standalone, within

SHOTS = 1000
SIZE = (720, 1280)
SEED = 20240315
GOAL = 1.3
ROOT = Path(__file__).resolve().parent.parent
WORDS = ("i you the to and it is that of in me my for be on have not this so do what just know no with your "
         "at can was but are we if all get like up go out about want time now see one come back there think "
         "when then call why been how tell did really still need going please stop leave alone again told "
         "said never answer phone home tonight tomorrow work later sorry where outside waiting message "
         "reply talk meet car door window school money keys police friend weekend morning evening night").split()


def generate(folder: Path, count: int, seed: int = SEED) -> list[Path]:
    """``count`` screenshots in ``folder`` (kept: made again only when the count differs)."""
    from PIL import Image, ImageDraw, ImageFont

    marker = folder.parent / f"{folder.name}.complete-{seed}"  # beside it: ingest would read a file inside
    paths = [folder / f"Screenshot_202403{1 + i // 400 % 28:02d}-{8 + i // 60 % 12:02d}{i % 60:02d}"
                      f"{i * 7 % 60:02d}_WhatsApp.png" for i in range(count)]
    if marker.exists():
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    marker.unlink(missing_ok=True)
    rng = random.Random(seed)
    font = ImageFont.load_default(size=26)
    small = ImageFont.load_default(size=20)
    for i, path in enumerate(paths):
        picture = Image.new("RGB", SIZE, (236, 229, 221))
        draw = ImageDraw.Draw(picture)
        draw.rectangle((0, 0, SIZE[0], 110), fill=(7, 94, 84))
        draw.text((30, 40), rng.choice(("Jordan K", "Alex Example", "Casey Sample")), fill="white", font=font)
        y = 140
        while y < SIZE[1] - 120:
            mine = rng.random() < 0.4
            lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(1, 3))]
            height = 36 * len(lines) + 40
            left = 260 if mine else 20
            draw.rounded_rectangle((left, y, left + 440, y + height), 12,
                                   fill=(220, 248, 198) if mine else (255, 255, 255))
            for j, line in enumerate(lines):
                draw.text((left + 16, y + 10 + 36 * j), line, fill="black", font=font)
            draw.text((left + 360, y + height - 26), f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
                      fill=(110, 110, 110), font=small)
            y += height + 18
        picture.save(path, "PNG")
    marker.touch()
    return paths


def _bare(path: Path) -> None:
    subprocess.run(["tesseract", str(path), "stdout", "-l", "eng", "tsv"], check=True, capture_output=True,
                   env={**os.environ, "OMP_THREAD_LIMIT": "1"})


def bare_tesseract(paths: list[Path], workers: int) -> tuple[float, float]:
    """Wall and CPU seconds (of the tesseract processes) of the bare call on every image."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(_bare, paths))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def ingest(folder: Path, case: Path) -> dict:
    """``commtrail init`` and ``commtrail ingest`` of the folder, the ingest sampled as a whole process."""
    shutil.rmtree(case, ignore_errors=True)
    cli = [sys.executable, "-m", "commtrail.cli"]
    subprocess.run(cli + ["init", str(case)], check=True, capture_output=True, cwd=ROOT)
    run = run_sampled(cli + ["ingest", str(case), str(folder)], cwd=str(ROOT))
    if run["returncode"] != 0:
        raise RuntimeError(f"commtrail ingest failed with exit code {run['returncode']}")
    return run


def _ocr_rows(case: Path) -> tuple[int, int]:
    """(screenshots in the master, how many of them have OCR text)."""
    import pyarrow.parquet as pq

    table = pq.read_table(case / "master.parquet", columns=["kind", "flags"]).to_pylist()
    shots = [r for r in table if r["kind"] == "screenshot"]
    return len(shots), sum(1 for r in shots if "ocr" in (r["flags"] or []))


def run(workdir: Path, scale: float = 1.0) -> Result:
    """Generate (or reuse) the screenshots, time the bare calls and the ingest; lines and the row."""
    workdir = Path(workdir)
    count = max(2, int(SHOTS * scale))
    started = time.perf_counter()
    paths = generate(workdir / f"screenshots-{count}", count)
    made = time.perf_counter() - started
    workers = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    base_wall, base_cpu = bare_tesseract(paths, workers)
    ours = ingest(workdir / f"screenshots-{count}", workdir / "case")
    shots, with_text = _ocr_rows(workdir / "case")
    per_base, per_ours = base_wall / count, ours["wall"] / count
    lines = [f"evidence: {count:,} screenshots {SIZE[0]}x{SIZE[1]} PNG (made or found in {made:.0f} s); "
             f"1-minute load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, {workers} cores",
             f"evidence: bare tesseract ({workers} at a time, OMP_THREAD_LIMIT=1) {base_wall:.1f} s "
             f"({per_base * 1000:.0f} ms an image; cpu {base_cpu:.1f} s); commtrail ingest {ours['wall']:.1f} s "
             f"({per_ours * 1000:.0f} ms an image; cpu {ours['cpu']:.1f} s, "
             f"peak PSS {ours['peak_pss'] / 2**20:.0f} MB, "
             f"{ours['processes']} processes at most): {per_ours / per_base:.2f}x the bare call (goal <= {GOAL}); "
             f"{shots:,} screenshots in the master, {with_text:,} with OCR text"]
    row = within(f"evidence: {count:,} screenshots OCR", per_ours, "bare tesseract", per_base, GOAL,
                 peak_mb=ours["peak_pss"] / 2**20, ok=shots == count and with_text == count)
    return Result(lines, [row])


if __name__ == "__main__":
    standalone(__doc__, run, Path("bench/out/evidence"))
