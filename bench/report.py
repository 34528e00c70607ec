"""Benchmark: the evidence report (HTML + PDF) of a party with 20,000 events.

Builds a case in WORKDIR with fictional messages (short and long, multi-paragraph, emoji, some
right-to-left text), calls and an incident log, then runs ``commtrail report`` in a child process
and measures its wall time and peak memory (sampled, of the report process and its chart worker). Targets: under 60 s and under 1 GB.

    python -m bench.report --workdir /tmp/bench-report [--scale 1.0]
"""

from __future__ import annotations

import hashlib
import random
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench._measure import run_sampled
from bench._table import Result, standalone, within

EVENTS = 20_000
TARGET_S, TARGET_MB = 60.0, 1024.0

CASE_TOML = """
[case]
title = "Bench case \u2013 harassment log"
timezone = "Europe/London"
phone_region = "GB"

[owner]
name = "Sam"
phones = ["+44 7700 900999"]
emails = ["sam@example.org"]
whatsapp_names = ["Sam"]

[[party]]
name = "Jordan"
phones = ["07700 900123", "+44 7700 900456"]
emails = ["jordan.k@example.com"]
whatsapp_names = ["Jordan", "J \U0001f642"]

[[event]]
date = "2024-01-15T18:30"
kind = "no_contact_request"
note = "Asked by text for no further contact"

[[event]]
date = "2024-03-02T10:00"
kind = "blocked"
note = "Blocked the number"

[[event]]
date = "2024-04-20T09:15"
kind = "order_served"
note = "Non-molestation order served"
"""

SHORT = ["Where are you?", "Answer your phone.", "I saw your car outside the gym \U0001f697", "Why are you ignoring me?",
         "We need to talk tonight", "Pick up!!!", "I know you read this \U0001f440", "You can't just block me",
         "I'm not going anywhere", "Call me back \U0001f4de", "ok", "?", "Good morning \u2600\ufe0f",
         "I miss you \u2764\ufe0f", "This is your fault \U0001f621", "Fine. \U0001f44d", "Who was that man?",
         "I'll be at the station at 6", "You owe me an explanation", "\U0001f62d\U0001f62d\U0001f62d",
         "\u05d0\u05e0\u05d9 \u05e6\u05e8\u05d9\u05da \u05dc\u05d3\u05d1\u05e8 \u05d0\u05d9\u05ea\u05da",
         "\u0623\u064a\u0646 \u0623\u0646\u062a\u061f", "Happy birthday \U0001f382\U0001f389"]
SENTENCES = ["I don't understand why you're doing this to me after everything we've been through together.",
             "Your sister told me you were out on Saturday, so don't pretend you were at home.",
             "If you would just answer one message none of this would be necessary.",
             "I drove past the flat twice and the lights were on, so I know you were in.",
             "Everyone says I should move on but they don't know what you did.",
             "I'm going to keep writing until you reply, you can't hide forever.",
             "Remember the holiday in Cornwall? I still have all the photos \U0001f4f7.",
             "I'm sorry about the last message, I didn't mean it, please let me explain properly.",
             "Your new friends won't be around forever, I will."]


def _text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.70:
        return rng.choice(SHORT)
    if roll < 0.95:
        return " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 4)))
    paragraphs = [" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 8))) for _ in range(rng.randint(2, 6))]
    return "\n\n".join(paragraphs)


def build_case(root: Path, events: int, seed: int = 7) -> None:
    """Write case.toml, one staging file per fictional source, the inventory, and build the master."""
    import pyarrow as pa

    from commtrail.case import Case
    from commtrail.inventory import generated_sha256, stage_generated, write_inventory
    from commtrail.timeline.master import build_master
    from commtrail.timeline.schema import rows_to_batch

    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    case = Case(root)
    case.ensure_dirs()
    start = datetime(2023, 9, 1, 7, tzinfo=timezone.utc)
    span = (datetime(2024, 6, 30, tzinfo=timezone.utc) - start).total_seconds()
    offsets = sorted(rng.random() * span for _ in range(events))
    sources: dict[str, list[dict]] = {"sms-20240630.xml": [], "calls-20240630.xml": [],
                                      "WhatsApp Chat with Jordan.txt": []}
    for n, off in enumerate(offsets):
        ts = start + timedelta(seconds=int(off))
        roll = rng.random()
        outgoing = rng.random() < 0.08
        if roll < 0.15:
            sources["calls-20240630.xml"].append({
                "ts_utc": ts, "channel": "call", "kind": "outgoing" if outgoing else rng.choice(
                    ["missed", "missed", "incoming", "rejected", "blocked"]),
                "direction": "outgoing" if outgoing else "incoming",
                "sender": None if outgoing else "+447700900123", "recipients": ["+447700900123"] if outgoing else None,
                "duration_s": rng.choice([0, 0, 0, 12, 95, 640])})
        elif roll < 0.55:
            sources["sms-20240630.xml"].append({
                "ts_utc": ts, "channel": "sms", "kind": "message", "direction": "outgoing" if outgoing else "incoming",
                "sender": None if outgoing else rng.choice(["+447700900123", "+447700900456"]),
                "sender_raw": None if outgoing else "07700 900123",
                "recipients": ["+447700900456"] if outgoing else ["+447700900999"],
                "body": "Please stop contacting me." if outgoing else _text(rng)})
        else:
            att = None
            if rng.random() < 0.05:
                data = f"photo {n}".encode()
                att = [{"name": f"IMG-{ts:%Y%m%d}-WA{n:04d}.jpg", "mime": "image/jpeg", "size": 150_000 + n,
                        "sha256": hashlib.sha256(data).hexdigest()}]
            sources["WhatsApp Chat with Jordan.txt"].append({
                "ts_utc": ts.replace(second=0), "ts_precision": "min", "tz_source": "case", "channel": "whatsapp",
                "kind": "message", "direction": "outgoing" if outgoing else "incoming",
                "sender": "wa:Sam" if outgoing else "wa:Jordan", "conversation": "Jordan",
                "body": "Leave me alone." if outgoing else _text(rng), "attachments": att,
                "flags": ["edited"] if rng.random() < 0.02 else None})
    sources["incidents.csv"] = [{
        "ts_utc": start + timedelta(days=d), "ts_local": f"{(start + timedelta(days=d)):%Y-%m-%d} 08:00",
        "ts_precision": "min", "tz_source": "case", "channel": "incident", "kind": "incident",
        "direction": "incoming", "body": rng.choice(SENTENCES),
        "extra": '{"location":"Outside work","police_called":"no"}'} for d in range(5, 300, 9)]
    inventory = []
    for name, records in sources.items():
        sha = generated_sha256(name)
        rows = [{"source_sha256": sha, "source_path": name, "locator": f"line {i}", "parser": "bench/1", **r}
                for i, r in enumerate(records, 1)]
        inventory.append(stage_generated(case.staging, name, pa.Table.from_batches([rows_to_batch(rows)]),
                                         "bench", "bench/1", datetime(2024, 7, 1, tzinfo=timezone.utc),
                                         size=1000 * len(rows)))
    write_inventory(case.sources_file, inventory)
    build_master(case)


def run(workdir: Path, scale: float = 1.0) -> Result:
    """Build the case and time ``commtrail report`` on it in a child process."""
    workdir = Path(workdir)
    events = max(100, int(EVENTS * scale))
    case_dir = workdir / "report-case"
    t0 = time.perf_counter()
    build_case(case_dir, events)
    build_s = time.perf_counter() - t0
    repo = Path(__file__).resolve().parent.parent
    # Peak memory of the report process and its chart worker, sampled: getrusage's peak of a child
    # starts from this process's size when it forks (and this process may have run other
    # benchmarks), so it overstates.
    done = run_sampled([sys.executable, "-c", "import sys; from commtrail.cli import main; sys.exit(main())",
                        "report", str(case_dir)], cwd=str(repo), interval=0.1)
    if done["returncode"] != 0:
        return Result([f"report: FAILED (exit {done['returncode']})"],
                      [within(f"report {events:,} events", done["wall"], "budget", TARGET_S, 1, ok=False)])
    wall, peak_mb, pss_mb = done["wall"], done["peak_rss"] / 2**20, done["peak_pss"] / 2**20
    pdf = case_dir / "report" / "report.pdf"
    html = case_dir / "report" / "report.html"
    pages = _pages(pdf)
    return Result([
        f"report: {events:,} events of one party (scale {scale}); case built in {build_s:.1f} s",
        f"report: wall time {wall:.1f} s (target < {TARGET_S:.0f} s, ratio {wall / TARGET_S:.2f} of the budget); "
        f"{events / wall:,.0f} events/s",
        f"report: peak memory {pss_mb:,.0f} MB PSS, {peak_mb:,.0f} MB RSS summed over its processes "
        f"(target < {TARGET_MB:.0f} MB, ratio {peak_mb / TARGET_MB:.2f} by the RSS sum)",
        f"report: PDF {pdf.stat().st_size / 1e6:.1f} MB, {pages} pages; HTML {html.stat().st_size / 1e6:.1f} MB",
    ], [within(f"report {events:,} events", wall, "budget", TARGET_S, 1, peak_mb=peak_mb, peak_limit_mb=TARGET_MB)])


def _pages(pdf: Path) -> str:
    try:
        from pypdf import PdfReader
        return f"{len(PdfReader(pdf).pages):,}"
    except Exception:  # pypdf is a test dependency only
        return "?"


if __name__ == "__main__":
    standalone(__doc__, run, Path("bench/out"))
