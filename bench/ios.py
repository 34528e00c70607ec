"""Benchmark of the Apple Messages reader (``apple-messages``, the code an iPhone backup's sms.db
goes through) and of the call history reader.

Generates, in a work directory (never committed), with the real iOS 16 layout
(``commtrail/parsers/ios/layouts.py``):

* ``sms.db``: 1,000,000 messages at scale 1 among 300 handles and 240 chats (a fifth of them
  groups); a third with their text only in ``attributedBody`` (as iOS 16 and later write it),
  3 % tapbacks, 1 % edited, 1 % with an attachment (absent: flagged);
* ``CallHistory.storedata``: 200,000 calls at scale 1.

and measures, each in a fresh child process (peak PSS of its process tree: ours reads a large
database with a second, fetching process, see ``commtrail/sqlitefeed.py``), three times in turn
(the run of median time of each counts, see ``bench._phone_db.paired``):

* baseline: a bare ``sqlite3`` ``SELECT`` of the same columns of the same tables (those the readers
  read, :data:`MESSAGE_TABLES`, :data:`CALL_TABLES`), every row fetched (``fetchmany``);
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
CALLS = 200_000
SEED = 20240301
COCOA_2023 = 694_224_000  # 2023-01-01 in Cocoa seconds
# What the readers read, table by table (the columns of the bench's layout): every message column
# ``message_query`` names, the chat of each message, the small tables read whole and the attachments.
MESSAGE_TABLES = (
    ("message", "ROWID, guid, text, attributedBody, handle_id, service, date, is_from_me, associated_message_type, "
                "associated_message_guid, date_edited, date_retracted, item_type, "
                "group_action_type, other_handle, group_title, error, balloon_bundle_id, expressive_send_style_id, "
                "reply_to_guid, thread_originator_guid, message_summary_info, cache_has_attachments, subject, "
                "destination_caller_id, account, date_read, date_delivered"),
    ("chat_message_join", "chat_id, message_id"), ("handle", "ROWID, id"),
    ("chat", "ROWID, guid, chat_identifier, display_name, service_name, style"),
    ("chat_handle_join", "chat_id, handle_id"), ("message_attachment_join", "message_id, attachment_id"),
    ("attachment", "ROWID, filename, mime_type, transfer_name, total_bytes"))
CALL_TABLES = (("ZCALLRECORD", "Z_PK, ZDATE, ZDURATION, ZORIGINATED, ZANSWERED, ZCALLTYPE, ZADDRESS, ZSERVICE_PROVIDER, "
                                "ZUNIQUE_ID, ZISO_COUNTRY_CODE, ZLOCATION, ZNAME, ZDISCONNECTED_CAUSE, ZREAD, "
                                "ZJUNKCONFIDENCE"),)


def generate_messages(path: Path, n: int) -> int:
    from commtrail.demo_ios import typedstream
    from commtrail.parsers.ios.layouts import LAYOUTS, MESSAGES_OTHER_TABLES

    rng = random.Random(SEED)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.executescript(f"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; CREATE TABLE message ({LAYOUTS['ios16']});"
                      + MESSAGES_OTHER_TABLES)
    handles = [(i, f"+4477009{i:05d}" if i % 4 else f"person{i}@example.com", "iMessage" if i % 3 else "SMS")
               for i in range(1, 301)]
    con.executemany("INSERT INTO handle (ROWID, id, service) VALUES (?, ?, ?)", handles)
    chats, chat_members = [], {}
    for c in range(1, 241):
        group = c % 5 == 0
        chats.append((c, f"chat-{c}", 43 if group else 45, f"chat{c}" if group else handles[c % 300][1],
                      "iMessage" if group or c % 3 else "SMS", f"Group {c}" if group else None))
        members = rng.sample(range(1, 301), 4) if group else [c % 300 + 1]
        chat_members[c] = members
        con.executemany("INSERT INTO chat_handle_join VALUES (?, ?)", [(c, h) for h in members])
    con.executemany("INSERT INTO chat (ROWID, guid, style, chat_identifier, service_name, display_name) "
                    "VALUES (?, ?, ?, ?, ?, ?)", chats)
    date = COCOA_2023 * 10**9
    batch, joins, attachments = [], [], []
    for rowid in range(1, n + 1):
        date += rng.randint(1, 120) * 10**9 + rng.randint(0, 10**9)
        chat = rng.randint(1, 240)
        from_me = rng.random() < 0.4
        text = random_text(rng)
        body, assoc_type, assoc_guid, edited, summary, has_att = None, 0, None, 0, None, 0
        roll = rng.random()
        if roll < 0.33:
            text, body = None, typedstream(text)
        elif roll < 0.36:
            assoc_type, assoc_guid = 2000 + rng.randint(0, 5), f"p:0/G{max(1, rowid - 3)}"
        elif roll < 0.37:
            edited = date + 60 * 10**9
        elif roll < 0.38:
            has_att = 1
            attachments.append((rowid, f"A{rowid}", f"~/Library/SMS/Attachments/00/00/A{rowid}/IMG.jpeg",
                                "image/jpeg", "IMG.jpeg", 123456))
        service = "iMessage" if chats[chat - 1][4] == "iMessage" else "SMS"
        batch.append((rowid, f"G{rowid}", text, body, 0 if from_me else rng.choice(chat_members[chat]), service, date,
                      int(from_me), assoc_type, assoc_guid, edited or None, summary, has_att, "+447700900999",
                      "p:+447700900999", date + 5 * 10**9))
        joins.append((chat, rowid, date))
        if len(batch) == 50_000:
            _flush(con, batch, joins, attachments)
    _flush(con, batch, joins, attachments)
    con.commit()
    con.close()
    return n


def _flush(con, batch, joins, attachments) -> None:
    con.executemany("INSERT INTO message (ROWID, guid, text, attributedBody, handle_id, service, date, is_from_me, "
                    "associated_message_type, associated_message_guid, date_edited, message_summary_info, "
                    "cache_has_attachments, destination_caller_id, account, date_delivered) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
    con.executemany("INSERT INTO chat_message_join VALUES (?, ?, ?)", joins)
    con.executemany("INSERT INTO attachment (ROWID, guid, filename, mime_type, transfer_name, total_bytes) "
                    "VALUES (?, ?, ?, ?, ?, ?)", attachments)
    con.executemany("INSERT INTO message_attachment_join VALUES (?, ?)", [(a[0], a[0]) for a in attachments])
    for part in (batch, joins, attachments):
        part.clear()


def generate_calls(path: Path, n: int) -> int:
    from commtrail.parsers.ios.layouts import CALL_HISTORY

    rng = random.Random(SEED + 1)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute(CALL_HISTORY)
    date = float(COCOA_2023)
    rows = []
    for pk in range(1, n + 1):
        date += rng.randint(10, 3600) + rng.random()
        call_type = rng.choice((1, 1, 1, 8, 16))
        rows.append((pk, 2, 1, rng.randint(0, 1), call_type, rng.randint(0, 1), date, rng.random() * 600,
                     f"+4477009{rng.randint(1, 300):05d}", "com.apple.Telephony" if call_type == 1 else
                     "com.apple.FaceTime", f"C{pk}"))
    con.executemany("INSERT INTO ZCALLRECORD (Z_PK, Z_ENT, Z_OPT, ZANSWERED, ZCALLTYPE, ZORIGINATED, ZDATE, ZDURATION, "
                    "ZADDRESS, ZSERVICE_PROVIDER, ZUNIQUE_ID) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return n


def _child_baseline(path: str, kind: str) -> dict:
    return bare_select(path, MESSAGE_TABLES if kind == "messages" else CALL_TABLES)


def _child_ours(path: str, kind: str, out_dir: str) -> dict:
    from commtrail.nopandas import arrow_without_pandas
    arrow_without_pandas()  # as `commtrail ingest` does (this module imports no commtrail code at its top for it)
    from commtrail.blobs import DirBlobStore
    from commtrail.ingest.staging import write_staging
    from commtrail.parsers import registry
    from commtrail.parsers.base import Owner, ParseContext
    from commtrail.parsers.ios.calls import read_calls
    from commtrail.parsers.ios.contacts import ContactHints
    from commtrail.parsers._sqlite import open_read_only, private_copy, private_folder

    out = Path(out_dir)
    parser = registry.get("apple-messages")
    ctx = ParseContext(source_sha256="0" * 64, source_path=path, timezone="Europe/London",
                       owner=Owner(name="Sam", phones=frozenset({"+447700900999"})),
                       blobs=DirBlobStore(out / "blobs"), parser_label=parser.label, work_dir=out / "tmp")
    start, cpu = time.perf_counter(), time.process_time()
    if kind == "messages":
        with open(path, "rb") as f:
            records, rejected = write_staging(parser.parse(f, ctx), out / "staging.parquet")
    else:
        def calls():
            opener = lambda suffix: open(path + suffix, "rb")  # noqa: E731
            with private_folder(ctx) as folder:
                copy = private_copy(opener, folder, "calls.db", ctx)
                con = open_read_only(copy, path)
                yield from read_calls(con, ctx, "CallHistory.storedata", ContactHints(), path)
                con.close()
        records, rejected = write_staging(calls(), out / "staging-calls.parquet")
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "records": records,
            "rejects": len(rejected), "warnings": len(ctx.report.warnings)}


def run(workdir: Path, scale: float = 1.0) -> Result:
    """Generate the databases at ``scale`` (1.0: 1,000,000 messages, 200,000 calls) and measure."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sms, calls, out = workdir / "sms.db", workdir / "CallHistory.storedata", workdir / "out"
    started = time.perf_counter()
    n_messages = generate_messages(sms, int(MESSAGES * scale))
    n_calls = generate_calls(calls, int(CALLS * scale))
    results = [f"ios: generated in {time.perf_counter() - started:.0f} s: {n_messages:,} messages "
               f"({sms.stat().st_size / 1e6:,.0f} MB), {n_calls:,} calls"]
    out.mkdir(exist_ok=True)
    rows = []
    for name, path, kind in (("sms.db", sms, "messages"), ("CallHistory.storedata", calls, "calls")):
        line, row = outcome(f"ios {name}", *paired("ios", [str(path), kind], [str(path), kind, str(out)], out))
        results.append(line)
        rows.append(row)
    for path in (sms, calls):
        path.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    return Result(results, rows)


if __name__ == "__main__":
    standalone(__doc__, run, Path("bench/out/ios"))
