"""Benchmark: the WhatsApp export parser against whatstk and against the floor.

Generates large realistic fictional exports (Android ``WhatsApp Chat with NAME.txt`` and iOS
``_chat.txt``: multi-line messages, blank lines, emoji, media markers, attachments, deleted and
edited markers, system lines, phone-number senders), then for each file, in the same run and each
in its own child process (so peak RSS is the child's own):

(a) ours: ``parse()`` drained into a pyarrow table, written to Parquet (zstd, one row group per
    batch, as ingest does);
(b) whatstk 0.9.x: ``WhatsAppChat.from_source(path, max_size=None)`` on the same file;
(c) the floor: read the file, decode it, count header lines with one compiled regex.

Goal: ours >= 10x faster than whatstk, within 2.5x of the floor, peak RSS under 4x the file.

Usage: python -m bench.whatsapp --workdir /tmp/wa-bench [--scale 1.0] [--skip-whatstk]
(scale 1.0 = 1,000,000 messages per file). whatstk is a bench-only dependency
(``pip install 'whatstk>=0.9,<0.10'``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench._table import Result, speedup, within

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = 1_000_000

LRM = "\u200e"
PEOPLE = ["Sam Carter", "Jordan Blake", "Alex Morgan", "Priya Natarajan", "Tomás Ruiz", "Mia 🌸",
          "Kai Okafor", "+44 7700 900123", "+1 555-0142", "Lena Vogel"]
OWNER = "Sam Carter"
WORDS = ("hey hi ok okay yes no maybe later tonight tomorrow now where are you why did you not answer "
         "I am at home work the car outside please stop call me back can we talk about it this is "
         "not fine I told you already see you soon love sorry thanks what when how who "
         "café naïve über straße déjà vu").split()
EMOJI = ["😀", "😂", "❤️", "👍", "🙏", "😡", "😢", "🎉", "👩‍💻", "🇬🇧", "👍🏽", "🤷‍♀️"]


# --- generation ---------------------------------------------------------------------------------

def _text(rng: random.Random) -> str:
    n = rng.choice((1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 60))
    words = rng.choices(WORDS, k=n)
    if rng.random() < 0.25:
        words.insert(rng.randrange(len(words) + 1), rng.choice(EMOJI))
    text = " ".join(words)
    if rng.random() < 0.06:   # multi-line, sometimes with a blank line
        extra = [" ".join(rng.choices(WORDS, k=rng.randint(1, 12))) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            extra.insert(0, "")
        text += "\n" + "\n".join(extra)
    return text


def _messages(n: int, ios: bool, seed: int):
    """(local datetime, author or None, text) tuples."""
    rng = random.Random(seed)
    when = datetime(2021, 3, 1, 8, 0, 0)
    media = 0
    yield when, None, "Messages and calls are end-to-end encrypted. No one outside of this chat, " \
                      "not even WhatsApp, can read or listen to them." + ("" if ios else " Tap to learn more.")
    for i in range(1, n):
        when += timedelta(seconds=rng.choice((3, 10, 30, 60, 120, 600, 3600, 7200)) + rng.randint(0, 59))
        r = rng.random()
        if r < 0.005:
            a, b = rng.sample(PEOPLE, 2)
            yield when, None, rng.choice((f"{a} added {b}", f"{a} left", f"{a} removed {b}",
                                          f'{a} changed the subject from "Plans" to "Re: plans"'))
            continue
        author = OWNER if rng.random() < 0.4 else rng.choice(PEOPLE[1:])
        if r < 0.035:
            text = (LRM + rng.choice(("image omitted", "video omitted", "audio omitted", "sticker omitted"))
                    if ios else "<Media omitted>")
        elif r < 0.055:
            media += 1
            stamp = when.strftime("%Y%m%d")
            if ios:
                text = f"{LRM}<attached: {media:08d}-PHOTO-{when:%Y-%m-%d-%H-%M-%S}.jpg>"
            else:
                kind = rng.choice(("IMG", "VID", "PTT", "DOC"))
                ext = {"IMG": "jpg", "VID": "mp4", "PTT": "opus", "DOC": "pdf"}[kind]
                text = f"{kind}-{stamp}-WA{media % 10000:04d}.{ext} (file attached)"
                if rng.random() < 0.3:
                    text += "\n" + _text(rng)
        elif r < 0.065:
            text = rng.choice(("This message was deleted", "You deleted this message"))
        elif r < 0.075:
            text = _text(rng) + " <This message was edited>"
        else:
            text = _text(rng)
        yield when, author, text


def generate(workdir: Path, scale: float = 1.0) -> dict[str, Path]:
    """Write one Android and one iOS export of ``scale`` million messages; return their paths."""
    workdir.mkdir(parents=True, exist_ok=True)
    n = max(10, int(MESSAGES * scale))
    out = {}
    android = workdir / f"WhatsApp Chat with Jordan Blake ({n}).txt"
    if not android.exists():
        with open(android, "w", encoding="utf-8", newline="\n") as f:
            for when, author, text in _messages(n, ios=False, seed=1):
                head = f"{when:%d/%m/%Y, %H:%M} - "
                f.write(head + (f"{author}: " if author else "") + text + "\n")
    out["android"] = android
    ios_dir = workdir / f"WhatsApp Chat - Book club ({n})"
    ios_dir.mkdir(exist_ok=True)
    ios = ios_dir / "_chat.txt"
    if not ios.exists():
        with open(ios, "w", encoding="utf-8", newline="\n") as f:
            for when, author, text in _messages(n, ios=True, seed=2):
                mark = LRM if text.startswith(LRM) or author is None else ""
                head = f"{mark}[{when:%d/%m/%Y, %H:%M:%S}] "
                if author is None:
                    f.write(f"{head}Book club: {LRM}{text}\n")
                else:
                    f.write(f"{head}{author}: {text}\n")
    out["ios"] = ios
    return out


# --- the three measurements (each runs in a child process) -------------------------------------

def _child_ours(path: Path, out: Path) -> dict:
    import pyarrow.parquet as pq

    from commtrail.atomic import PARQUET_OPTIONS  # the options ingest writes staging files with
    from commtrail.blobs import DirBlobStore
    from commtrail.parsers import registry
    from commtrail.parsers.base import Owner, ParseContext, collect
    parser = registry.get("whatsapp")
    base = _rss_mb()
    cpu = time.process_time()
    start = time.perf_counter()
    ctx = ParseContext(source_sha256="0" * 64, source_path=str(path), timezone="Europe/London",
                       owner=Owner(whatsapp_names=frozenset({OWNER})), blobs=DirBlobStore(out.parent / "blobs"),
                       parser_label=parser.label)
    with open(path, "rb") as stream:
        table, rejects = collect(parser.parse(stream, ctx), ctx)
    parsed, parsed_cpu = time.perf_counter(), time.process_time()
    # ingest writes one row group per batch (ParquetWriter.write_batch); do the same
    pq.write_table(table, out, row_group_size=ctx.batch_size, **PARQUET_OPTIONS)
    done, done_cpu = time.perf_counter(), time.process_time()
    return {"seconds": done - start, "cpu": done_cpu - cpu, "parse_seconds": parsed - start,
            "parse_cpu": parsed_cpu - cpu, "parquet_seconds": done - parsed,
            "parquet_cpu": done_cpu - parsed_cpu,
            "records": table.num_rows, "rejects": len(rejects), "warnings": len(ctx.report.warnings),
            "baseline_mb": base}


def _child_whatstk(path: Path, out: Path) -> dict:
    import warnings

    from whatstk import WhatsAppChat
    base = _rss_mb()
    cpu = time.process_time()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chat = WhatsAppChat.from_source(str(path), max_size=None)
    done = time.perf_counter()
    return {"seconds": done - start, "cpu": time.process_time() - cpu, "records": len(chat.df), "baseline_mb": base}


def _child_floor(path: Path, out: Path) -> dict:
    import re
    header = re.compile(r"^\u200e?\[?\d{1,2}/\d{1,2}/\d{2,4}, \d{1,2}:\d{2}(?::\d{2})?(?:\] | - )", re.M)
    base = _rss_mb()
    cpu = time.process_time()
    start = time.perf_counter()
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    count = len(header.findall(text))
    done = time.perf_counter()
    return {"seconds": done - start, "cpu": time.process_time() - cpu, "records": count, "baseline_mb": base}


CHILDREN = {"ours": _child_ours, "whatstk": _child_whatstk, "floor": _child_floor}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(mode: str, path: Path, out: Path) -> dict:
    cmd = [sys.executable, "-m", "bench.whatsapp", "--child", mode, "--file", str(path), "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(workdir: Path, scale: float = 1.0, skip_whatstk: bool = False, repeat: int = 1) -> Result:
    """Generate the exports, run the three measurements on each, return result lines and rows."""
    workdir = Path(workdir)
    t0 = time.perf_counter()
    files = generate(workdir, scale)
    lines = [f"whatsapp bench: generated in {time.perf_counter() - t0:.1f} s (scale {scale})"]
    rows = []
    for label, path in files.items():
        size_mb = path.stat().st_size / 2**20
        results = {}
        for mode in ("floor", "ours") + (() if skip_whatstk else ("whatstk",)):
            runs = [_measure(mode, path, workdir / f"{label}.{mode}.parquet") for _ in range(repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            best["cpu"] = min(r["cpu"] for r in runs)
            for key in ("parse_cpu", "parquet_cpu"):
                if key in best:
                    best[key] = min(r[key] for r in runs)
            best["peak_mb"] = max(r["peak_mb"] for r in runs)
            results[mode] = best
        ours, floor = results["ours"], results["floor"]
        lines.append(f"{label}: {path.name}, {size_mb:.1f} MiB, {floor['records']:,} header lines (floor count), "
                     f"{ours['records']:,} records, {ours['rejects']} rejects, {ours['warnings']} warnings")
        lines.append(f"  ours    {ours['seconds']:6.2f} s wall, {ours['cpu']:.2f} s CPU (parse {ours['parse_seconds']:.2f} s wall / "
                     f"{ours['parse_cpu']:.2f} s CPU + Parquet {ours['parquet_seconds']:.2f} s), peak RSS {ours['peak_mb']:.0f} MiB = "
                     f"{ours['peak_mb'] / size_mb:.2f}x file ({(ours['peak_mb'] - ours['baseline_mb']) / size_mb:.2f}x "
                     f"above the {ours['baseline_mb']:.0f} MiB interpreter baseline)")
        lines.append(f"  floor   {floor['seconds']:6.2f} s wall, {floor['cpu']:.2f} s CPU, peak RSS {floor['peak_mb']:.0f} MiB; "
                     f"ours/floor = {ours['seconds'] / floor['seconds']:.2f} wall, "
                     f"{ours['cpu'] / floor['cpu']:.2f} CPU (goal <= 2.5)")
        rows.append(within(f"whatsapp {label} parse", ours["seconds"], "floor (regex count)", floor["seconds"], 2.5,
                           peak_mb=ours["peak_mb"]))
        if "whatstk" in results:
            wt = results["whatstk"]
            lines.append(f"  whatstk {wt['seconds']:6.2f} s wall, {wt['cpu']:.2f} s CPU, {wt['records']:,} rows, "
                         f"peak RSS {wt['peak_mb']:.0f} MiB; whatstk/ours = {wt['seconds'] / ours['seconds']:.1f}x wall, "
                         f"{wt['cpu'] / ours['cpu']:.1f}x CPU (goal >= 10)")
            rows.append(speedup(f"whatsapp {label} parse", ours["seconds"], "whatstk", wt["seconds"], 10,
                                peak_mb=ours["peak_mb"], peak_limit_mb=4 * size_mb))
    return Result(lines, rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("bench/out/whatsapp"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest is kept")
    ap.add_argument("--skip-whatstk", action="store_true")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        result = CHILDREN[args.child](args.file, args.out)
        result["peak_mb"] = _rss_mb()
        print(json.dumps(result))
        return 0
    result = run(args.workdir, args.scale, args.skip_whatstk, args.repeat)
    print(result.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
