"""Benchmark: the Telegram and Messenger parsers against a bare ``json.load`` plus one pass.

Generates a fictional Telegram Desktop ``result.json`` of one chat and a fictional Messenger thread
(``message_1.json`` … split every 10,000 messages, newest first, with Meta's mojibake), each of
``scale`` million messages: texts with emoji, entity lists, edits, replies, photos, calls. Then, in
the same run and each in its own child process:

(a) ours: the registered parser drained into Arrow batches (what ingest writes);
(b) the floor: ``json.load`` of each file plus one pass reading each message's time and text.

Goal: ours at >= 0.5x the floor's speed (floor seconds / ours seconds >= 0.5).

Usage: python -m bench.platforms --workdir /tmp/pf-bench [--scale 0.1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from bench._measure import load, measure
from bench._table import Result, speedup

MESSAGES = 1_000_000
PER_FILE = 10_000
THREAD = "jordanexample_1234567890"
WORDS = ("hey ok yes no later tonight where are you why did you not answer I am at home please stop "
         "call me back this is not fine I told you already see you soon sorry café déjà vu").split()
EMOJI = ["😀", "😡", "❤️", "👍", "🙏", "🇬🇧"]


def _text(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.choice((1, 3, 5, 8, 12, 20)))
    if rng.random() < 0.25:
        words.append(rng.choice(EMOJI))
    return " ".join(words)


def _mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def generate(workdir: Path, scale: float) -> tuple[Path, Path]:
    """Write the Telegram export and the Messenger thread folder; return their paths."""
    n = max(10, int(MESSAGES * scale))
    workdir.mkdir(parents=True, exist_ok=True)
    tg = workdir / f"telegram-{n}" / "result.json"
    if not tg.exists():
        tg.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(1)
        when = 1_600_000_000
        with open(tg, "w", encoding="utf-8") as f:
            f.write('{\n "name": "Jordan Example",\n "type": "personal_chat",\n "id": 5550101,\n "messages": [\n')
            for i in range(n):
                when += rng.choice((3, 30, 120, 600, 3600))
                owner = rng.random() < 0.4
                m = {"id": i + 1, "type": "message", "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)),
                     "date_unixtime": str(when), "from": "Sam" if owner else "Jordan Example",
                     "from_id": "user5550199" if owner else "user5550101"}
                r = rng.random()
                if r < 0.01:
                    m = {**m, "type": "service", "actor": m.pop("from"), "actor_id": m.pop("from_id"),
                         "action": "phone_call", "duration_seconds": rng.randint(0, 900), "discard_reason": "hangup"}
                    m["text"] = ""
                elif r < 0.06:
                    m["text"] = ["see ", {"type": "link", "text": "https://example.org/x"}, " " + _text(rng)]
                else:
                    m["text"] = _text(rng)
                if 0.06 <= r < 0.08:
                    m["edited"], m["edited_unixtime"] = m["date"], str(when + 60)
                if 0.08 <= r < 0.1:
                    m["reply_to_message_id"] = max(1, i - 3)
                if 0.1 <= r < 0.12:
                    m["photo"] = "(File not included. Change data exporting settings to download.)"
                if isinstance(m["text"], str):
                    m["text_entities"] = [{"type": "plain", "text": m["text"]}]
                f.write("  " + json.dumps(m, ensure_ascii=False, indent=1).replace("\n", "\n  "))
                f.write(",\n" if i < n - 1 else "\n")
            f.write(" ]\n}\n")
    fb = workdir / f"messenger-{n}" / "messages" / "inbox" / THREAD
    if not (fb / "message_1.json").exists():
        fb.mkdir(parents=True, exist_ok=True)
        rng = random.Random(2)
        when = 1_600_000_000_000
        messages = []
        for i in range(n):
            when += rng.choice((3, 30, 120, 600, 3600)) * 1000 + rng.randint(0, 999)
            m = {"sender_name": "Sam Smith" if rng.random() < 0.4 else "Jordan Example", "timestamp_ms": when}
            r = rng.random()
            if r < 0.01:
                m.update(content="You called Jordan Example.", call_duration=rng.randint(0, 900), type="Call")
            elif r < 0.02:
                m["is_unsent"] = True
            else:
                m["content"] = _mojibake(_text(rng))
            if 0.02 <= r < 0.05:
                m["reactions"] = [{"reaction": _mojibake("😡"), "actor": "Sam Smith"}]
            m["is_geoblocked_for_viewer"] = False
            messages.append(m)
        messages.reverse()                      # newest first, as Meta writes them
        for k in range(0, n, PER_FILE):
            doc = {"participants": [{"name": "Jordan Example"}, {"name": "Sam Smith"}],
                   "messages": messages[k:k + PER_FILE], "title": "Jordan Example", "is_still_participant": True,
                   "thread_path": f"inbox/{THREAD}", "magic_words": []}
            (fb / f"message_{k // PER_FILE + 1}.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return tg, fb


def ours(parser_name: str, *paths: str) -> dict:
    """Child: the parser over each file, drained into Arrow batches."""
    from commtrail.parsers import registry
    from commtrail.parsers.base import Owner, ParseContext, Reject
    parser = registry.get(parser_name)
    owner = Owner(platform_ids=frozenset({"tg:user5550199", "fb:Sam Smith"}))
    records = rejects = 0
    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        ctx = ParseContext(source_sha256="0" * 64, source_path=path, owner=owner, parser_label=parser.label)
        with open(path, "rb") as stream:
            for item in parser.parse(stream, ctx):
                if isinstance(item, Reject):
                    rejects += 1
                else:
                    records += item.num_rows
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "records": records,
            "rejects": rejects}


def floor(parser_name: str, *paths: str) -> dict:
    """Child: ``json.load`` of each file and one pass over its messages (time and text)."""
    time_key, text_key = ("date_unixtime", "text") if parser_name == "telegram" else ("timestamp_ms", "content")
    count = 0
    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        with open(path, "rb") as f:
            doc = json.load(f)
        for m in doc["messages"]:
            if m.get(time_key) is not None and m.get(text_key) is not None:
                count += 1
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "records": count}


def run(workdir: Path, scale: float = 1.0) -> Result:
    """Generate both exports at ``scale`` (1.0: a million messages each), time ours and the floor."""
    workdir = Path(workdir)
    t0 = time.perf_counter()
    tg, fb = generate(workdir, scale)
    lines = [f"platforms bench: generated in {time.perf_counter() - t0:.1f} s (scale {scale})"]
    cases = {"telegram": [str(tg)], "meta": [str(p) for p in sorted(fb.glob("message_*.json"))]}
    labels = {"telegram": "Telegram", "meta": "Messenger"}
    rows = []
    for name, paths in cases.items():
        size = sum(Path(p).stat().st_size for p in paths) / 2**20
        f_sec, f_mb, f_out = measure("bench.platforms", "floor", name, *paths)
        o_sec, o_mb, o_out = measure("bench.platforms", "ours", name, *paths)
        fr, orr = load(f_out), load(o_out)
        lines.append(f"{name}: {len(paths)} file(s), {size:.1f} MiB, {orr['records']:,} records, {orr['rejects']} rejects")
        lines.append(f"  ours  {orr['seconds']:6.2f} s wall, {orr['cpu']:.2f} s CPU (peak RSS {o_mb:.0f} MiB); "
                     f"json.load + one pass {fr['seconds']:6.2f} s wall, {fr['cpu']:.2f} s CPU (peak RSS {f_mb:.0f} MiB)")
        lines.append(f"  speed ratio (floor time / ours): {fr['seconds'] / orr['seconds']:.2f} wall, "
                     f"{fr['cpu'] / orr['cpu']:.2f} CPU (goal >= 0.5; CPU is the fair one on a shared machine)")
        rows.append(speedup(f"{labels[name]} {orr['records']:,} records", orr["seconds"], "json.load + one pass",
                            fr["seconds"], 0.5, peak_mb=o_mb))
    return Result(lines, rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("bench/out/platforms"))
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args(argv)
    result = run(args.workdir, args.scale)
    print(result.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
