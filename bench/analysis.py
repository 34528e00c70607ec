"""Benchmark: build a 2,000,000-event master, then time every analysis figure and chart on it.

A generator writes staging Parquet files of realistic fictional records (SMS backups that overlap,
a call log, one WhatsApp export per chat, a mailbox) for three parties and unlisted senders over
two years, plus the source inventory, into a case folder under ``--workdir``. Then, each in its own
child process (so that peak memory is measured per step):

1. ``build_master`` (the dedup into master.parquet), timed;
2. ``analyse_and_chart`` (every figure of every party, and every chart as PNG and SVG, drawn in
   this process and one chart worker) plus the sentences, timed.

The goal: step 2 under a tenth of step 1. Both wall-clock and CPU seconds are reported (the
machine is shared, and other programs' load changes wall-clock times a lot), with the load average.

    python -m bench.analysis --workdir /tmp/ct-bench [--scale 1.0] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

from bench._table import Result, within

# pyarrow is imported where it is used, so that the chart worker process (which imports this
# module as its __main__) starts quickly
EVENTS = 2_000_000
T0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
DAYS = 730
EVENT_DAY = 424          # 2024-02-29 + 1: the no-contact request
BLOCK_DAY = 455          # the block, a month later

CASE_TOML = """
[case]
title = "Benchmark case (fictional)"
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
whatsapp_names = ["Jordan"]

[[party]]
name = "Alex"
phones = ["07700 900200"]
emails = ["alex.r@example.org"]
whatsapp_names = ["Alex"]

[[party]]
name = "Casey"
phones = ["+1 202 555 0142"]
emails = ["casey@example.com"]
whatsapp_names = ["Casey"]

[[event]]
date = "2024-03-01T18:30"
kind = "no_contact_request"
note = "Asked by text for no further contact"

[[event]]
date = "2024-04-01T09:00"
kind = "blocked"
note = "Blocked Jordan's numbers"

[[event]]
date = "2024-06-15T10:00"
kind = "police_report"
note = "Reported to the police"
"""

OWNER = {"phone": "+447700900999", "email": "sam@example.org", "wa": "wa:Sam"}
PARTIES = {
    "Jordan": {"phones": ["+447700900123", "+447700900456"], "email": "jordan.k@example.com", "wa": "wa:Jordan"},
    "Alex": {"phones": ["+447700900200"], "email": "alex.r@example.org", "wa": "wa:Alex"},
    "Casey": {"phones": ["+12025550142"], "email": "casey@example.com", "wa": "wa:Casey"},
}
NEUTRAL = [
    "Are you home tonight?", "Can we talk?", "Pick up the phone", "Why aren't you answering",
    "I just want to talk", "Call me back", "Where are you?", "Who were you with?", "Answer me",
    "I'm sorry about earlier", "Please just reply", "You can't ignore me forever", "ok", "Fine.",
    "I saw your post", "We need to sort out the car", "Your stuff is still here", "Happy birthday",
    "Miss you", "Can I come round?", "It's about the keys", "Don't do this", "I'm not angry",
    "Just one coffee", "Your mum called me", "Is that your new car?", "Reply!!!", "Hello?", "??",
    "I know you read this", "Stop playing games", "Thanks", "See you Thursday", "Running late",
    "The parcel came for you", "Did you get my letter", "I'll be at the station at 6", "Night",
    "Good morning 🙂", "Can you send me the bank details", "I paid the bill", "Let's meet halfway",
]
FLAGGED = [
    "I know where you live", "I'm watching you", "You'll regret this", "I'm outside",
    "I will hurt you if you don't answer", "Nice dress today", "I'll kill myself if you leave",
    "Saw you at the gym", "You can't hide from me",
]
WORDS = """
today tomorrow now later tonight please again seriously honestly really maybe then soon already still
just also anyway though babe mate sam love x xx xxx lol ok fine sure whatever right yes no never always
work home town shop car bus train park gym pub cafe school office kitchen garden door window phone
monday tuesday wednesday thursday friday saturday sunday morning evening night weekend
""".strip()
SUBJECTS = ["Re: us", "Please read", "The flat", "Money", "Important", "Re: Re: talk", "Your things"]
CALL_IN_KINDS = np.array(["incoming", "missed", "rejected", "blocked", "voicemail"])


def _choice(rng: np.random.Generator, values, n: int, p=None) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)]


def _strings(parts: list):
    """Element-wise concatenation of string scalars/arrays."""
    import pyarrow as pa
    import pyarrow.compute as pc
    arrays = [pa.array(p, type=pa.string()) if isinstance(p, np.ndarray) else p for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def generate(case_dir: pathlib.Path, scale: float = 1.0, seed: int = 20240301) -> dict:
    """Write case.toml, staging files and the inventory for a ~2M-event case; returns counts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from commtrail.case import Case
    from commtrail.inventory import generated_sha256, stage_generated, write_inventory
    from commtrail.timeline.schema import RECORD_SCHEMA, make_batch

    rng = np.random.default_rng(seed)
    n = int(EVENTS * scale)
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    (case_dir / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    case = Case(case_dir)
    case.ensure_dirs()

    # who: three parties and unlisted senders
    who = rng.choice(4, size=n, p=[0.5, 0.2, 0.15, 0.15])      # 0 Jordan, 1 Alex, 2 Casey, 3 unknown
    channel = rng.choice(4, size=n, p=[0.35, 0.35, 0.15, 0.15])  # sms, whatsapp, call, email
    channel[(who == 3) & (channel == 1)] = 0                     # unlisted senders: no WhatsApp chat
    incoming = rng.random(n) < 0.72
    # when: a daily intensity that rises after the no-contact request, with evening peaks
    day_weight = np.ones(DAYS)
    day_weight[EVENT_DAY:] = 2.5
    day_weight[BLOCK_DAY:] = 1.8
    day_weight *= 1 + 0.5 * np.sin(np.arange(DAYS) / 9.0)
    day = rng.choice(DAYS, size=n, p=day_weight / day_weight.sum())
    hour_weight = np.array([3, 2, 1, 1, 1, 1, 2, 4, 6, 6, 5, 5, 6, 5, 5, 5, 6, 7, 8, 9, 10, 10, 8, 5], float)
    hour = rng.choice(24, size=n, p=hour_weight / hour_weight.sum())
    seconds = day * 86400 + hour * 3600 + rng.integers(0, 3600, size=n)
    # 5% of events follow the one before them (in time) within seconds to minutes: bursts
    order = np.argsort(seconds, kind="stable")
    burst = rng.random(n) < 0.05
    burst[0] = False
    prev = np.empty(n, dtype=seconds.dtype)
    prev[order[1:]] = seconds[order[:-1]]
    seconds = np.where(burst, prev + rng.integers(5, 300, size=n), seconds)
    day = seconds // 86400
    ts_us = int(T0.timestamp()) * 1_000_000 + seconds.astype(np.int64) * 1_000_000
    ts_us[channel == 1] -= ts_us[channel == 1] % 60_000_000    # WhatsApp exports: minutes only

    # identifiers
    phone = np.empty(n, dtype=object)
    for i, name in enumerate(["Jordan", "Alex", "Casey"]):
        sel = who == i
        phones = PARTIES[name]["phones"]
        phone[sel] = np.asarray(phones, dtype=object)[rng.integers(0, len(phones), size=sel.sum())]
    unk = who == 3
    unknown_phones = np.array([f"+447700900{k}" for k in range(500, 1000) if k != 789]
                              + [f"+121255501{k:02d}" for k in range(100)] + ["withheld"], dtype=object)
    phone[unk] = unknown_phones[rng.integers(0, len(unknown_phones), size=unk.sum())]
    # Jordan uses a new, unlisted number after the block
    late_jordan = (who == 0) & (day >= BLOCK_DAY + 3) & (rng.random(n) < 0.3)
    phone[late_jordan] = "+447700900789"
    email = np.empty(n, dtype=object)
    for i, name in enumerate(["Jordan", "Alex", "Casey"]):
        email[who == i] = PARTIES[name]["email"]
    email[unk] = np.array([f"someone{k}@example.com" for k in range(40)], dtype=object)[
        rng.integers(0, 40, size=unk.sum())]
    wa = np.array(["wa:Jordan", "wa:Alex", "wa:Casey", "wa:?"], dtype=object)[who]

    # bodies: a phrase and two words from a small vocabulary, so that most texts differ (as real ones do)
    words = np.array(WORDS.split(), dtype=object)
    body = pc.binary_join_element_wise(
        pa.array(_choice(rng, NEUTRAL, n), pa.string()), pa.array(_choice(rng, words, n), pa.string()),
        pa.array(_choice(rng, words, n), pa.string()), " ").to_numpy(zero_copy_only=False).astype(object)
    flagged = rng.random(n) < 0.004
    body[flagged] = _choice(rng, FLAGGED, int(flagged.sum()))

    counts = {"staged": 0, "sources": 0}
    inventory = []

    def write_source(name: str, fmt: str, sel: np.ndarray, columns: dict) -> None:
        sha = generated_sha256(name)
        m = int(sel.sum()) if sel.dtype == bool else len(sel)
        columns = {k: v for k, v in columns.items()}
        columns.update({
            "source_sha256": pa.array([sha] * 1, pa.string()).take(np.zeros(m, dtype=np.int64)),
            "source_path": pa.array([name]).take(np.zeros(m, dtype=np.int64)),
            "parser": pa.array([f"{fmt}/1"]).take(np.zeros(m, dtype=np.int64)),
            "locator": _strings([pa.scalar(f"{fmt} #"), pa.array(np.arange(1, m + 1)).cast(pa.string())]),
        })
        batch = make_batch(columns)
        table = pa.Table.from_batches([batch], schema=RECORD_SCHEMA)
        inventory.append(stage_generated(case.staging, name, table, fmt, f"{fmt}/1",
                                         datetime(2026, 1, 1, tzinfo=timezone.utc)))
        counts["staged"] += m
        counts["sources"] += 1

    def ts_array(sel):
        return pa.array(ts_us[sel], pa.int64()).cast(pa.timestamp("us", tz="UTC"))

    def local_strings(sel):
        return pc.strftime(ts_array(sel), format="%Y-%m-%dT%H:%M:%S", locale="C")

    def directional(sel, ident, own):
        inc = incoming[sel]
        sender = np.where(inc, ident[sel], own)
        other = np.where(inc, own, ident[sel])
        recipients = pa.ListArray.from_arrays(np.arange(0, len(other) + 1, dtype=np.int32),
                                              pa.array(other, pa.string()))
        return sender, recipients

    # SMS: two full backups, the second repeating the last months of the first
    sms = np.flatnonzero(channel == 0)
    for name, lo, hi in (("sms-2024-06-30.xml", 0, 547), ("sms-2024-12-31.xml", 360, DAYS)):
        sel = sms[(day[sms] >= lo) & (day[sms] < hi)]
        sender, recipients = directional(sel, phone, OWNER["phone"])
        write_source(name, "smsbr-sms", sel, {
            "ts_utc": ts_array(sel), "ts_local": local_strings(sel), "ts_precision": ["ms"] * len(sel),
            "tz_source": ["source"] * len(sel), "channel": ["sms"] * len(sel), "kind": ["message"] * len(sel),
            "direction": np.where(incoming[sel], "incoming", "outgoing").tolist(),
            "sender": pa.array(sender, pa.string()), "sender_raw": pa.array(sender, pa.string()),
            "recipients": recipients, "body": pa.array(body[sel], pa.string())})

    # calls: one log
    sel = np.flatnonzero(channel == 2)
    inc = incoming[sel]
    kinds = np.where(inc, CALL_IN_KINDS[rng.choice(5, size=len(sel), p=[0.3, 0.35, 0.15, 0.15, 0.05])],
                     "outgoing")
    duration = np.where((kinds == "incoming") | ((kinds == "outgoing") & (rng.random(len(sel)) < 0.6)),
                        rng.integers(5, 1800, size=len(sel)), 0).astype(np.int32)
    sender, recipients = directional(sel, phone, OWNER["phone"])
    write_source("calls-2024-12-31.xml", "smsbr-calls", sel, {
        "ts_utc": ts_array(sel), "ts_local": local_strings(sel), "ts_precision": ["ms"] * len(sel),
        "tz_source": ["source"] * len(sel), "channel": ["call"] * len(sel), "kind": kinds.tolist(),
        "direction": np.where(inc, "incoming", "outgoing").tolist(),
        "sender": pa.array(sender, pa.string()), "sender_raw": pa.array(sender, pa.string()),
        "recipients": recipients, "duration_s": pa.array(duration)})

    # WhatsApp: one export per chat (the other side's name is the chat name; no recipients)
    for i, name in enumerate(["Jordan", "Alex", "Casey"]):
        sel = np.flatnonzero((channel == 1) & (who == i))
        inc = incoming[sel]
        sender = np.where(inc, wa[sel], OWNER["wa"])
        m = len(sel)
        write_source(f"WhatsApp Chat with {name}.txt", "whatsapp", sel, {
            "ts_utc": ts_array(sel), "ts_local": local_strings(sel), "ts_precision": ["min"] * m,
            "tz_source": ["case"] * m, "channel": ["whatsapp"] * m, "kind": ["message"] * m,
            "direction": np.where(inc, "incoming", "outgoing").tolist(),
            "sender": pa.array(sender, pa.string()), "sender_raw": pa.array([s[3:] for s in sender], pa.string()),
            "conversation": [name] * m, "body": pa.array(body[sel], pa.string())})

    # e-mail: one mailbox
    sel = np.flatnonzero(channel == 3)
    sender, recipients = directional(sel, email, OWNER["email"])
    m = len(sel)
    message_ids = _strings([pa.scalar("<"), pa.array(sel).cast(pa.string()), pa.scalar("@mail.example.com>")])
    extra = _strings([pa.scalar('{"message_id":"'), message_ids, pa.scalar('"}')])
    write_source("All mail.mbox", "mbox", sel, {
        "ts_utc": ts_array(sel), "ts_local": local_strings(sel), "ts_precision": ["s"] * m,
        "tz_source": ["source"] * m, "channel": ["email"] * m, "kind": ["message"] * m,
        "direction": np.where(incoming[sel], "incoming", "outgoing").tolist(),
        "sender": pa.array(sender, pa.string()), "sender_raw": pa.array(sender, pa.string()),
        "recipients": recipients, "subject": pa.array(_choice(rng, SUBJECTS, m), pa.string()),
        "body": pa.array(body[sel], pa.string()), "extra": extra})

    write_inventory(case.sources_file, inventory)
    counts["events"] = n
    return counts


def _child_master(case_dir: pathlib.Path) -> dict:
    from commtrail.case import Case
    from commtrail.timeline.master import build_master
    t, cpu = time.perf_counter(), time.process_time()
    rows = build_master(Case(case_dir))
    return {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - cpu, "rows": rows}


def _child_analysis(case_dir: pathlib.Path) -> dict:
    """Every figure, sentence and chart of every party, as ``commtrail chart`` and the report do it."""
    from commtrail.case import Case
    from commtrail.outputs.analysis import analyse, sentences
    from commtrail.outputs.charts import analyse_and_chart
    case = Case(case_dir)
    import resource
    t, cpu = time.perf_counter(), time.process_time()
    analysis, paths = analyse_and_chart(case)
    lines = sentences(analysis)
    total = time.perf_counter() - t
    worker = resource.getrusage(resource.RUSAGE_CHILDREN)       # the chart worker, reaped by now
    cpu = time.process_time() - cpu + worker.ru_utime + worker.ru_stime
    t = time.perf_counter()
    analyse(case)                           # the figures alone, for the breakdown (not in the total)
    t_analysis = time.perf_counter() - t
    t = time.perf_counter()
    analysis.to_dict(exhibits=False)        # JSON form, timed on its own (the report uses the objects)
    t_json = time.perf_counter() - t
    hits = sum(len(p.red_flags.hits) for p in analysis.parties)
    return {"seconds": total, "cpu_seconds": cpu, "analysis_seconds": t_analysis, "charts": len(paths), "sentences": len(lines),
            "json_seconds": t_json, "parties": [p.name for p in analysis.parties], "red_flag_hits": hits}


def _in_child(step: str, case_dir: pathlib.Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.analysis", "--child", step, "--workdir", str(case_dir)],
                         check=True, capture_output=True, text=True, cwd=pathlib.Path(__file__).resolve().parent.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(workdir: pathlib.Path, scale: float = 1.0, reuse: bool = False) -> Result:
    """Generate the case, time the master build and the analysis + charts; result lines.

    ``reuse``: keep the case and the master timing of an earlier run in ``workdir`` (for re-timing
    the analysis alone)."""
    workdir = pathlib.Path(workdir)
    case_dir = workdir / "analysis-case"
    saved = workdir / "analysis-master.json"
    load = [os.getloadavg()[0]]
    if reuse and saved.exists():
        counts, gen_s, master = json.loads(saved.read_text())
    else:
        t = time.perf_counter()
        counts = generate(case_dir, scale)
        gen_s = time.perf_counter() - t
        load = [os.getloadavg()[0]]
        master = _in_child("master", case_dir)
        saved.write_text(json.dumps([counts, gen_s, master]))
    load.append(os.getloadavg()[0])
    analysis = _in_child("analysis", case_dir)
    load.append(os.getloadavg()[0])
    ratio = analysis["seconds"] / master["seconds"]
    cpu_ratio = analysis["cpu_seconds"] / master["cpu_seconds"]
    return Result([
        f"analysis bench (scale {scale}): generated {counts['events']:,} events as {counts['staged']:,} staged "
        f"records in {counts['sources']} sources in {gen_s:.1f} s",
        f"  build_master: {master['rows']:,} master rows in {master['seconds']:.2f} s "
        f"({master['cpu_seconds']:.1f} CPU s), peak RSS {master['maxrss_mb']:.0f} MB",
        f"  analyse + sentences + charts: {analysis['seconds']:.2f} s ({analysis['cpu_seconds']:.1f} CPU s; "
        f"the figures alone: {analysis['analysis_seconds']:.2f} s; "
        f"{analysis['charts']} chart files for {len(analysis['parties'])} parties, "
        f"{analysis['red_flag_hits']:,} red-flag hits), peak RSS {analysis['maxrss_mb']:.0f} MB "
        f"(+ chart worker {analysis['worker_maxrss_mb']:.0f} MB)",
        f"  to_dict() (JSON form, not in the total): {analysis['json_seconds']:.2f} s; {analysis['sentences']} sentences",
        f"  ratio analysis+charts / master build = {ratio:.3f} (goal < 0.100: {'met' if ratio < 0.1 else 'NOT met'}); "
        f"1-minute load average before/between/after: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"on {os.cpu_count()} cores",
        f"  CPU-time ratio (less sensitive to other programs' load) = {cpu_ratio:.3f}",
    ], [within(f"analysis+charts {master['rows']:,} events", analysis["seconds"], "build_master", master["seconds"],
               0.1, peak_mb=max(analysis["maxrss_mb"], analysis["worker_maxrss_mb"]))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=pathlib.Path, required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the case and master timing of an earlier run in --workdir")
    parser.add_argument("--child", choices=["master", "analysis"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import resource
        result = (_child_master if args.child == "master" else _child_analysis)(args.workdir)
        own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        result["maxrss_mb"] = own.ru_maxrss / 1024
        # chart-drawing worker processes (reaped when the pool shut down)
        result["worker_maxrss_mb"] = workers.ru_maxrss / 1024
        print(json.dumps(result))
        return
    result = run(args.workdir, args.scale, args.reuse)
    print(result.text())


if __name__ == "__main__":
    main()
