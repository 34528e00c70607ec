"""Android's call history ``calllog.db`` (``com.android.providers.contacts``; before Android 7 the
same ``calls`` table was in ``contacts2.db``) -> call records.

Recognised by its ``calls`` table, whatever the file is called; read from a private read-only copy
with its ``-wal``/``-shm`` files, a chunk at a time in ``_id`` order (the ROWID, which ``_id`` is in an
intact layout). ``number``, ``date`` in milliseconds, ``duration`` in seconds, ``type`` 1 incoming,
2 outgoing, 3 missed, 4 voicemail, 5 rejected, 6 blocked, 7 answered elsewhere (another code: kind
``type_N``), ``presentation`` 2-4 (withheld, unknown, payphone). The other columns (the contact name
the phone showed, its geocoded place, the SIM) go to ``extra``. Kind, direction and who come from the
SMS Backup & Restore code (:mod:`.rows`), so a call of this database and of that app's calls backup are one
event. A row whose date is no believable time is a reject with the row written out; a ``type`` or
``duration`` that is no usable number is left empty, kept in ``extra`` and counted in a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from commtrail.parsers._sqlite import (SQLITE_MAGIC, Columns, LenientText, as_input_error, base_name, columns_json,
                                       columns_of, head_tables, input_copy, keyed_chunks, optional, out_of_order,
                                       read_chunks, require)
from commtrail.parsers.android.rows import Unusable, codes, dated, extras, record_batch, row_text, utf8
from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.registry import Parser, register
from commtrail.parsers.smsbr.rows import Rows

VERSION = "1"
NAME = "calllog.db"   # taken by name too when its first 64 KiB do not show its tables
CHUNK = 20_000
REQUIRED = ("_id", "number", "date", "duration", "type")
EXTRA = ("name", "numbertype", "numberlabel", "countryiso", "geocoded_location", "post_dial_digits", "via_number",
         "features", "subscription_id", "subscription_component_name", "phone_account_address", "is_read", "new",
         "normalized_number", "formatted_number", "matched_number", "voicemail_uri", "transcription",
         "block_reason", "data_usage")
CALL_ROW = ("_id", "date", "type", "number", "presentation", "duration", "extra")


def sniff(head: bytes, filename: str) -> bool:
    tables = head_tables(head)
    return "calls" in tables and "sms" not in tables or head.startswith(SQLITE_MAGIC) and filename == NAME


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[pa.RecordBatch | Reject]:
    label = base_name(ctx)
    with input_copy(stream, ctx) as con:
        con.text_factory = text = LenientText()
        aside: list[tuple] = []   # rows a damaged table gave out of _id order (rejected)
        with as_input_error(ctx.source_path, "table calls"):
            have = require(con, ctx.source_path, {"calls": REQUIRED}, "Android")["calls"]
            def query(careful: bool) -> str:
                return (f"SELECT c.ROWID, c.date, c.type, CAST(c.number AS BLOB), "
                        f"{optional(have, 'c', 'presentation')}, c.duration, "
                        f"CAST({columns_json(have, 'c', ('presentation',) + EXTRA, careful)} AS BLOB) "
                        "FROM calls c WHERE c.ROWID > ? ORDER BY c.ROWID")
            chunks = keyed_chunks(con, query(False), ctx, CHUNK, text, aside, query(True))
        rows, unusable = Rows(ctx, [], []), Unusable(label, "calls")
        for chunk in read_chunks(chunks, ctx, label, "calls _id"):
            yield from _calls(chunk, ctx, label, rows, unusable, text)
        yield from out_of_order(aside, ctx, label, "calls", CALL_ROW)
        text.report(ctx, label)
        unusable.report(ctx, {"type": "whole number", "duration": "whole number of seconds (0 or more)"})


def _calls(chunk: list[tuple] | Columns, ctx: ParseContext, label: str, rows: Rows, unusable: Unusable,
           text: LenientText) -> Iterator[pa.RecordBatch | Reject]:
    """The rejects and the records of one chunk of ``calls`` rows. A ``type`` or ``duration`` that is no
    usable number is left empty and kept in ``extra`` (``presentation`` is there already)."""
    ids, dates, types, numbers, shown, seconds, extra = columns_of(chunk)
    ms, keep, rejects = dated(dates, chunk, label, "calls", row_text(CALL_ROW))
    yield from rejects
    if not len(keep):
        return
    take = keep.tolist()
    pick = (lambda values: [values[i] for i in take]) if len(take) < len(chunk) else (lambda values: values)
    types, seconds = pick(types), pick(seconds)
    (kinds, bad_kinds), (shown_codes, _), (durations, _) = codes(types), codes(pick(shown)), codes(seconds)
    columns = rows.call_columns([kinds, utf8(pick(numbers), text), shown_codes, durations], len(take),
                                np.zeros(len(take), dtype=bool))
    columns["extra"] = unusable.keep(unusable.keep(extras(pick(extra), text), "type", types, bad_kinds), "duration",
                                     seconds, _unread(columns["duration_s"], seconds))
    yield record_batch(ctx, columns, ms, pick(ids), label, "calls")


def _unread(durations: pa.Array, seconds: list) -> np.ndarray:
    """A mask of the durations left empty though the row has one (no whole number of seconds, or below
    0 or past 999,999,999, which SMS Backup & Restore's code does not read either)."""
    if not durations.null_count:
        return np.zeros(len(seconds), dtype=bool)
    return durations.is_null().to_numpy(zero_copy_only=False) & np.array([v is not None for v in seconds], dtype=bool)


register(Parser(name="android-calls", version=VERSION,
                description="Android call history (calllog.db, or the calls table of contacts2.db)",
                sniff=sniff, parse=parse, priority=20, uses_siblings=True))
