"""Benchmark: the master build (dedup) over 10,000,000 staged records in 20 sources with 30% overlap,
against the same dedup written as one DuckDB SELECT ... GROUP BY over the staging files.

    python -m bench.dedup --workdir /tmp/bench --scale 1.0
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench._measure import measure
from bench._table import Result, speedup, standalone
from commtrail.inventory import read_inventory

CASE_TOML = """[case]
title = "Bench"
timezone = "Europe/London"
phone_region = "GB"
[owner]
phones = ["+447700900999"]
[[party]]
name = "Jordan"
phones = ["+447700900123", "+447700900456"]
whatsapp_names = ["Jordan"]
"""

WORDS = ("where are you why won't you answer me I know you are home pick up the phone we need to talk "
         "sorry please just one minute I saw your car outside I'm not going away call me back now").split()


def generate(workdir: Path, total: int, sources: int = 20, overlap: float = 0.3, seed: int = 7) -> Path:
    """A case folder whose staging holds ``total`` records in ``sources`` files, each sharing
    ``overlap`` of its records with the previous one (as consecutive full backups do)."""
    from commtrail.inventory import generated_sha256, stage_generated, write_inventory
    from commtrail.timeline.schema import make_batch

    case = workdir / "dedup-case"
    if case.exists():
        shutil.rmtree(case)
    (case / "staging").mkdir(parents=True)
    (case / "case.toml").write_text(CASE_TOML)
    rng = np.random.default_rng(seed)
    per_source = total // sources
    shared = int(per_source * overlap)
    unique_events = per_source + (sources - 1) * (per_source - shared)
    start = int(datetime(2023, 1, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)
    ts = np.sort(start + rng.integers(0, 730 * 86_400_000_000, unique_events))
    numbers = np.array([f"+4477009001{n:02d}" for n in range(100)] + ["+447700900123"] * 50 + ["+447700900456"] * 30)
    who = numbers[rng.integers(0, len(numbers), unique_events)]
    channel = np.array(["sms", "whatsapp", "call", "email"])[rng.choice(4, unique_events, p=[0.5, 0.3, 0.15, 0.05])]
    direction = np.where(rng.random(unique_events) < 0.8, "incoming", "outgoing")
    lengths = rng.integers(1, 25, unique_events)
    word_idx = rng.integers(0, len(WORDS), lengths.sum())
    words = np.array(WORDS)[word_idx]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    bodies = [" ".join(words[bounds[i]:bounds[i + 1]]) for i in range(unique_events)]
    inventory = []
    for s in range(sources):
        lo = s * (per_source - shared)
        idx = np.arange(lo, lo + per_source)
        name = f"backup-{s:02d}.xml"
        sha = generated_sha256(name)
        n = len(idx)
        ch = channel[idx]
        is_call = ch == "call"
        sender = np.where(direction[idx] == "incoming", who[idx], "+447700900999")
        recips = [[w] if d == "outgoing" else ["+447700900999"] for w, d in zip(who[idx], direction[idx])]
        batch = make_batch({
            "ts_utc": ts[idx], "ts_local": None, "ts_precision": np.where(ch == "whatsapp", "min", "ms"),
            "tz_source": ["source"] * n, "channel": ch, "kind": np.where(is_call, "missed", "message"),
            "direction": direction[idx], "sender": sender, "sender_raw": sender, "recipients": recips,
            "body": [None if c else bodies[i] for i, c in zip(idx, is_call)],
            "duration_s": np.where(is_call, 0, 0).astype("int32"),
            "source_sha256": [sha] * n, "source_path": [name] * n,
            "locator": [f"sms #{i + 1}" for i in range(n)], "parser": ["bench/1"] * n,
        })
        inventory.append(stage_generated(case / "staging", name, pa.Table.from_batches([batch]), "smsbr-sms",
                                         "bench/1", datetime(2026, 1, 1, tzinfo=timezone.utc)))
    write_inventory(case / "sources.parquet", inventory)
    return case


def generate_case(workdir: str, total: str) -> str:
    """generate() for a child process."""
    return str(generate(Path(workdir), int(total)))


def build(case_dir: str) -> int:
    from commtrail.case import Case
    from commtrail.timeline.master import build_master
    return build_master(Case(Path(case_dir)))


def duckdb_baseline(case_dir: str) -> int:
    """The same dedup as one SELECT ... GROUP BY: key per channel, rank within source, every copy listed."""
    from commtrail.timeline.dedup import KEY_SQL, connect
    from commtrail.timeline.schema import EXTRA_CHAT
    case = Path(case_dir)
    con = connect(case / ".duckdb-baseline", memory_limit="12GB")   # at 3 GB it runs out of memory at 10M
    files = sorted(str(p) for p in (case / "staging").glob("*[0-9a-f].parquet"))
    out = case / "baseline.parquet"
    con.execute(f"""COPY (
        SELECT md5(key_text || chr(31) || rnk::VARCHAR) AS event_id,
               min(ts_utc) AS ts_utc, any_value(channel) AS channel, any_value(body) AS body,
               list({{'source_sha256': source_sha256, 'source_path': source_path, 'locator': locator}}
                    ORDER BY source_sha256, file_row_number) AS occurrences
        FROM (SELECT *, {KEY_SQL} AS key_text,
                     row_number() OVER (PARTITION BY {KEY_SQL}, source_sha256 ORDER BY file_row_number) - 1 AS rnk
              FROM (SELECT *, coalesce(json_extract_string(extra, '$.{EXTRA_CHAT}'), 'name:' || conversation) AS conv_id
                    FROM read_parquet({files!r}, file_row_number = true)))
        GROUP BY key_text, rnk ORDER BY ts_utc, channel, event_id) TO '{out}' (FORMAT parquet)""")
    n = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    con.close()
    shutil.rmtree(case / ".duckdb-baseline", ignore_errors=True)
    return n


def run(workdir: Path, scale: float = 1.0) -> Result:
    """Generate, then time our build and the DuckDB baseline in the same run."""
    workdir.mkdir(parents=True, exist_ok=True)
    total = int(10_000_000 * scale)
    case = workdir / "dedup-case"
    if not (case / "sources.parquet").exists() or sum(
            r["records"] for r in read_inventory(case / "sources.parquet")) != total // 20 * 20:
        # In a child: the generator's gigabytes would otherwise stay in this process, and a child
        # forked from it starts with that resident size in its peak (Linux keeps it across exec).
        measure("bench.dedup", "generate_case", str(workdir), str(total))
    ours_s, ours_mb, ours_n = measure("bench.dedup", "build", str(case))
    print(f"dedup: commtrail build_master {ours_s:.1f} s, peak {ours_mb:.0f} MB", flush=True)
    base_s, base_mb, base_n = measure("bench.dedup", "duckdb_baseline", str(case))
    return Result([
        f"dedup: {total:,} staged records in 20 sources, 30% overlap -> {int(ours_n):,} events "
        f"(baseline {int(base_n):,})",
        f"dedup: commtrail build_master {ours_s:.1f} s, peak {ours_mb:.0f} MB (goal < 4096 MB)",
        f"dedup: DuckDB one GROUP BY     {base_s:.1f} s, peak {base_mb:.0f} MB",
        f"dedup: ratio baseline/ours = {base_s / ours_s:.2f} (goal >= 1.0)",
    ], [speedup(f"dedup {total:,} records", ours_s, "DuckDB GROUP BY", base_s, 1, peak_mb=ours_mb,
                peak_limit_mb=4096, ok=int(ours_n) == int(base_n))])


if __name__ == "__main__":
    standalone(__doc__, run, Path("bench/out"))
