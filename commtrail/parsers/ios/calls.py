"""An iPhone's call history (``CallHistory.storedata``, Core Data table ``ZCALLRECORD``) -> records.

``ZDATE`` is Cocoa seconds (a float), ``ZDURATION`` seconds, ``ZORIGINATED`` 1 for a call the
owner made, ``ZANSWERED`` 1 for one that was answered, ``ZCALLTYPE`` 1 for a phone call, 8 for a
FaceTime video and 16 for a FaceTime audio call (anything else: channel ``app-call``, the app in
``extra.service_provider``), ``ZADDRESS`` the other side (text or UTF-8 bytes).
Kind: ``outgoing``, ``incoming`` (answered) or ``missed``. SQLite writes each row's ``extra``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers._smsbr_rows import local_times
from commtrail.parsers.base import ParseContext
from commtrail.parsers.ios.contacts import ContactHints
from commtrail.parsers.ios.database import (COCOA_EPOCH_US, LenientText, as_input_error, as_text_sql, damaged,
                                            json_field, object_sql, optional, require, splice_json)
from commtrail.timeline.identity import WITHHELD, normalise_one
from commtrail.timeline.schema import TS_UTC, make_batch

CHUNK = 20_000
CALL_TYPES = {1: "call", 8: "facetime", 16: "facetime"}
REQUIRED = ("Z_PK", "ZDATE", "ZDURATION", "ZORIGINATED", "ZANSWERED", "ZCALLTYPE", "ZADDRESS")
EXTRA_COLUMNS = ("ZSERVICE_PROVIDER", "ZUNIQUE_ID", "ZISO_COUNTRY_CODE", "ZLOCATION", "ZNAME",
                 "ZDISCONNECTED_CAUSE", "ZREAD", "ZJUNKCONFIDENCE")


def call_query(have: set[str]) -> str:
    fields = [json_field("answered", "r.ZANSWERED"), json_field("call_type", "r.ZCALLTYPE"),
              json_field("duration_raw", "r.ZDURATION"),
              json_field("facetime", "CASE r.ZCALLTYPE WHEN 8 THEN 'video' WHEN 16 THEN 'audio' END")]
    fields += [json_field(name.lower()[1:], f"NULLIF({as_text_sql(optional(have, 'r', name))}, '')")
               for name in EXTRA_COLUMNS]
    return (f"SELECT r.Z_PK, r.ZDATE, r.ZDURATION, r.ZORIGINATED, r.ZANSWERED, r.ZCALLTYPE, r.ZADDRESS, "
            f"{object_sql(fields)} FROM ZCALLRECORD r ORDER BY r.Z_PK")


def read_calls(con: sqlite3.Connection, ctx: ParseContext, label: str,
               hints: ContactHints, file_label: str) -> Iterator[pa.RecordBatch]:
    """Every row of ZCALLRECORD as a record, in Z_PK order, a chunk at a time (``label`` names the
    database in locators, ``file_label`` in errors)."""
    con.text_factory = text = LenientText()
    with as_input_error(file_label):
        have = require(con, file_label, {"ZCALLRECORD": REQUIRED})["ZCALLRECORD"]
        cursor = con.execute(call_query(have))
    phones = sorted(ctx.owner.phones)
    reader = _Calls(ctx, label, phones[0] if phones else None, hints)
    last = None
    try:
        while rows := cursor.fetchmany(max(1, min(ctx.batch_size, CHUNK))):
            yield reader.batch(rows)
            last = rows[-1][0]
    except sqlite3.DatabaseError as exc:
        ctx.report.warn(damaged(label, "ZCALLRECORD Z_PK", last, exc))
    text.report(ctx, label)


class _Calls:
    def __init__(self, ctx: ParseContext, label: str, owner: str | None, hints: ContactHints) -> None:
        self.ctx, self.label, self.owner, self.hints = ctx, label, owner, hints
        self._who: dict[object, tuple[str, str | None, str]] = {}

    def who(self, address: object) -> tuple[str, str | None, str]:
        """(normalised identifier, as written, contact-name fragment for `extra`) of an address."""
        found = self._who.get(address)
        if found is None:
            raw = address.decode("utf-8", "replace") if isinstance(address, bytes) else \
                None if address is None else str(address)
            ident = normalise_one(raw, self.ctx.phone_region) if raw and raw.strip() else WITHHELD
            names = self.hints.names_for([ident])
            fragment = ',"contact_names":' + json.dumps(names, ensure_ascii=False, sort_keys=True,
                                                        separators=(",", ":")) if names else ""
            found = self._who[address] = (ident, raw, fragment)
        return found

    def batch(self, rows: list[tuple]) -> pa.RecordBatch:
        ctx, n = self.ctx, len(rows)
        pk, dates, seconds, originated, answered, call_type, address, extra = zip(*rows)
        who = [self.who(a) for a in address]
        dates_f = np.array([d if d is not None else np.nan for d in dates], dtype=np.float64)
        undated = np.isnan(dates_f) | (dates_f == 0)
        us = np.where(undated, 0, np.round(np.nan_to_num(dates_f) * 1_000_000)).astype(np.int64) + COCOA_EPOCH_US
        out = np.array([bool(o) for o in originated])
        kind = np.where(out, "outgoing", np.where(np.array([bool(a) for a in answered]), "incoming", "missed"))
        others = [w[0] for w in who]
        owner_list = [self.owner] if self.owner else None
        ids = pa.array(pk, pa.int64())
        return make_batch({
            "ts_utc": pa.array(us, pa.int64(), mask=undated).cast(TS_UTC),
            "ts_local": pc.if_else(pa.array(undated), pa.scalar(None, pa.string()),
                                   local_times(us // 1000, ctx.timezone)),
            "ts_precision": pa.array(np.where(undated, None, "ms").tolist(), pa.string()),
            "tz_source": pa.array(np.where(undated, None, "source").tolist(), pa.string()),
            "channel": [CALL_TYPES.get(t, "app-call") for t in call_type],
            "kind": kind.tolist(),
            "direction": np.where(out, "outgoing", "incoming").tolist(),
            "sender": [self.owner if o else w for o, w in zip(out.tolist(), others)],
            "sender_raw": [None if o else w[1] for o, w in zip(out.tolist(), who)],
            "recipients": [[w] if o else owner_list for o, w in zip(out.tolist(), others)],
            "conversation": others,
            "duration_s": [None if s is None else int(round(s)) for s in seconds],
            "flags": [["undated"] if u else None for u in undated.tolist()],
            "source_sha256": [ctx.source_sha256] * n, "source_path": [ctx.source_path] * n,
            "locator": pc.binary_join_element_wise(f"{self.label} ZCALLRECORD Z_PK ", pc.cast(ids, pa.string()), ""),
            "parser": [ctx.parser_label] * n,
            "extra": [splice_json(e, w[2]) for e, w in zip(extra, who)],
        })
