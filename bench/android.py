"""Benchmark of the Android message database reader (``android-sms``, ``mmssms.db``).

Generates, in a work directory (never committed), with the real layout
(``commtrail/parsers/android/layouts.py``) a ``mmssms.db`` of 1,000,000 messages at scale 1:
99 % SMS among 300 numbers (inbox, sent, a few drafts and failed), 1 % MMS with a from and a to
address, a text part and a picture part whose file is absent (flagged).

and measures, each in a fresh child process (peak PSS of its process tree: ours reads a large
database with a second, fetching process, see ``commtrail/sqlitefeed.py``), three times in turn
(the run of median time of each counts, see ``bench._phone_db.paired``):

* baseline: a bare ``sqlite3`` ``SELECT`` of the same columns (the sms columns read, and the pdu,
  addr and part rows), every row fetched (``fetchmany``);
* ours: the parser drained into a staging Parquet file (what ingest does), including its private
  copy of the database, in a process started as ``commtrail ingest`` starts (pyarrow told pandas
  is absent, so that its first array does not import pandas).

The speed ratio is baseline time / our time (1.0: as fast as the bare SELECT; the goal is >= 0.5).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import time
from pathlib import Path

from bench._phone_db import bare_select, outcome, paired, random_text
from bench._table import Result, standalone

MESSAGES = 1_000_000
MMS_SHARE = 0.01
SEED = 20240301
MS_2023 = 1_672_531_200_000   # 2023-01-01 in epoch milliseconds
BASELINE = (("sms", "_id, date, type, address, body, thread_id, read, date_sent, status, subject, service_center, "
                    "person, protocol, locked, sub_id, error_code, seen, creator, reply_path_present"),
            ("pdu", "*"), ("addr", "msg_id, address, type, charset"),
            ("part", "mid, seq, ct, name, chset, cd, fn, cid, cl, ctt_s, ctt_t, _data, text"))


def generate(path: Path, n: int) -> int:
    """``path``: a mmssms.db of ``n`` messages (SMS and MMS in time order)."""
    from commtrail.parsers.android.layouts import MMSSMS

    rng = random.Random(SEED)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + MMSSMS)
    numbers = [f"+4477009{i:05d}" if i % 3 else f"07700 9{i:05d}" for i in range(1, 301)]
    date = MS_2023
    sms, pdu, addr, part = [], [], [], []
    for i in range(1, n + 1):
        date += rng.randint(1, 120_000)
        number = rng.randrange(300)
        if rng.random() < MMS_SHARE:
            box = rng.choice((1, 1, 2))
            mid = len(pdu) + 1 + i
            pdu.append((mid, number + 1, date // 1000, box, 132 if box == 1 else 128, 1))
            addr += [(mid, numbers[number] if box == 1 else "insert-address-token", 137),
                     (mid, "+447700900999" if box == 1 else numbers[number], 151)]
            part += [(mid, 0, "text/plain", None, random_text(rng)),
                     (mid, 0, "image/jpeg", f"/data/user_de/0/com.android.providers.telephony/app_parts/PART_{mid}",
                      None)]
        else:
            kind = rng.choices((1, 2, 3, 5), (60, 38, 1, 1))[0]
            sms.append((i, number + 1, numbers[number], date, kind, random_text(rng), 1, date - 2000))
        if len(sms) >= 50_000:
            _flush(con, sms, pdu, addr, part)
    _flush(con, sms, pdu, addr, part)
    con.commit()
    con.close()
    return n


def _flush(con, sms, pdu, addr, part) -> None:
    con.executemany("INSERT INTO sms (_id, thread_id, address, date, type, body, read, date_sent) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", sms)
    con.executemany("INSERT INTO pdu (_id, thread_id, date, msg_box, m_type, read) VALUES (?, ?, ?, ?, ?, ?)", pdu)
    con.executemany("INSERT INTO addr (msg_id, address, type) VALUES (?, ?, ?)", addr)
    con.executemany("INSERT INTO part (mid, seq, ct, _data, text) VALUES (?, ?, ?, ?, ?)", part)
    for rows in (sms, pdu, addr, part):
        rows.clear()


def _child_baseline(path: str) -> dict:
    return bare_select(path, BASELINE)


def _child_ours(path: str, out_dir: str) -> dict:
    from commtrail.nopandas import arrow_without_pandas
    arrow_without_pandas()  # as `commtrail ingest` does (this module imports no commtrail code at its top for it)
    from commtrail.blobs import DirBlobStore
    from commtrail.ingest.staging import write_staging
    from commtrail.parsers import registry
    from commtrail.parsers.base import Owner, ParseContext

    out = Path(out_dir)
    parser = registry.get("android-sms")
    ctx = ParseContext(source_sha256="0" * 64, source_path=path, timezone="Europe/London",
                       owner=Owner(name="Sam", phones=frozenset({"+447700900999"})),
                       blobs=DirBlobStore(out / "blobs"), parser_label=parser.label, work_dir=out / "tmp")
    start, cpu = time.perf_counter(), time.process_time()
    with open(path, "rb") as f:
        records, rejected = write_staging(parser.parse(f, ctx), out / "staging.parquet")
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "records": records,
            "rejects": len(rejected), "warnings": len(ctx.report.warnings)}


def run(workdir: Path, scale: float = 1.0) -> Result:
    """Generate the database at ``scale`` (1.0: 1,000,000 messages) and measure."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db, out = workdir / "mmssms.db", workdir / "out"
    started = time.perf_counter()
    n = generate(db, int(MESSAGES * scale))
    lines = [f"android: generated in {time.perf_counter() - started:.0f} s: {n:,} messages "
             f"({db.stat().st_size / 1e6:,.0f} MB)"]
    out.mkdir(exist_ok=True)
    line, row = outcome("android mmssms.db", *paired("android", [str(db)], [str(db), str(out)], out))
    lines.append(line)
    db.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    return Result(lines, [row])


if __name__ == "__main__":
    standalone(__doc__, run, Path("bench/out/android"))
