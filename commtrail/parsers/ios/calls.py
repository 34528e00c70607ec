"""An iPhone's call history (``CallHistory.storedata``, Core Data table ``ZCALLRECORD``) -> records.

``ZDATE`` is Cocoa seconds (a float), ``ZDURATION`` seconds, ``ZORIGINATED`` 1 for a call the
owner made, ``ZANSWERED`` 1 for one that was answered, ``ZCALLTYPE`` 1 for a phone call, 8 for a
FaceTime video and 16 for a FaceTime audio call (anything else: channel ``app-call``, the app in
``extra.service_provider``), ``ZADDRESS`` the other side (text or UTF-8 bytes).
Kind: ``outgoing``, ``incoming`` (answered) or ``missed``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers._smsbr_rows import local_times
from commtrail.parsers.base import ParseContext
from commtrail.parsers.ios.contacts import ContactHints
from commtrail.parsers.ios.database import COCOA_EPOCH_US, optional, require
from commtrail.timeline.identity import WITHHELD, normalise_one
from commtrail.timeline.schema import TS_UTC, dumps_extra, make_batch

CHUNK = 20_000
CALL_TYPES = {1: "call", 8: "facetime", 16: "facetime"}
FACETIME_KIND = {8: "video", 16: "audio"}
REQUIRED = ("Z_PK", "ZDATE", "ZDURATION", "ZORIGINATED", "ZANSWERED", "ZCALLTYPE", "ZADDRESS")
EXTRA_COLUMNS = ("ZSERVICE_PROVIDER", "ZUNIQUE_ID", "ZISO_COUNTRY_CODE", "ZLOCATION", "ZNAME",
                 "ZDISCONNECTED_CAUSE", "ZREAD", "ZJUNKCONFIDENCE")


def read_calls(con: sqlite3.Connection, ctx: ParseContext, label: str,
               hints: ContactHints, file_label: str) -> Iterator[pa.RecordBatch]:
    """Every row of ZCALLRECORD as a record, in Z_PK order, a chunk at a time (``label`` names the
    database in locators, ``file_label`` in errors)."""
    have = require(con, file_label, {"ZCALLRECORD": REQUIRED})["ZCALLRECORD"]
    extra_sql = ", ".join(optional(have, "r", name) for name in EXTRA_COLUMNS)
    cursor = con.execute(f"SELECT r.Z_PK, r.ZDATE, r.ZDURATION, r.ZORIGINATED, r.ZANSWERED, r.ZCALLTYPE, "
                         f"r.ZADDRESS, {extra_sql} FROM ZCALLRECORD r ORDER BY r.Z_PK")
    phones = sorted(ctx.owner.phones)
    owner = phones[0] if phones else None
    while rows := cursor.fetchmany(max(1, min(ctx.batch_size, CHUNK))):
        yield _batch(rows, ctx, label, owner, hints)


def _address(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def _batch(rows: list[tuple], ctx: ParseContext, label: str, owner: str | None,
           hints: ContactHints) -> pa.RecordBatch:
    n = len(rows)
    cols = list(zip(*rows))
    dates = np.array([d if d is not None else np.nan for d in cols[1]], dtype=np.float64)
    undated = np.isnan(dates) | (dates == 0)
    us = np.where(undated, 0, np.round(np.nan_to_num(dates) * 1_000_000)).astype(np.int64) + COCOA_EPOCH_US
    channel, kind, direction, sender, sender_raw, recipients, extras, duration, other = ([] for _ in range(9))
    for row in rows:
        pk, _, seconds, originated, answered, call_type, address, *more = row
        raw = _address(address)
        who = normalise_one(raw, ctx.phone_region) if raw and raw.strip() else WITHHELD
        other.append(who)
        channel.append(CALL_TYPES.get(call_type, "app-call"))
        out = bool(originated)
        kind.append("outgoing" if out else "incoming" if answered else "missed")
        direction.append("outgoing" if out else "incoming")
        sender.append(owner if out else who)
        sender_raw.append(None if out else raw)
        recipients.append([who] if out else ([owner] if owner else None))
        duration.append(None if seconds is None else int(round(seconds)))
        fields = {name.lower()[1:]: value for name, value in zip(EXTRA_COLUMNS, more) if value not in (None, "")}
        fields.update({"call_type": call_type, "duration_raw": seconds, "answered": answered})
        if call_type in FACETIME_KIND:
            fields["facetime"] = FACETIME_KIND[call_type]
        names = hints.names_for([who])
        if names:
            fields["contact_names"] = names
        extras.append(dumps_extra(fields))
    ids = pa.array(cols[0], pa.int64())
    return make_batch({
        "ts_utc": pa.array(us, pa.int64(), mask=undated).cast(TS_UTC),
        "ts_local": pc.if_else(pa.array(undated), pa.scalar(None, pa.string()),
                               local_times(us // 1000, ctx.timezone)),
        "ts_precision": [None if u else "ms" for u in undated.tolist()],
        "tz_source": [None if u else "source" for u in undated.tolist()],
        "channel": channel, "kind": kind, "direction": direction, "sender": sender, "sender_raw": sender_raw,
        "recipients": recipients, "conversation": other,
        "duration_s": duration,
        "flags": [["undated"] if u else None for u in undated.tolist()],
        "source_sha256": [ctx.source_sha256] * n, "source_path": [ctx.source_path] * n,
        "locator": pc.binary_join_element_wise(f"{label} ZCALLRECORD Z_PK ", pc.cast(ids, pa.string()), ""),
        "parser": [ctx.parser_label] * n,
        "extra": extras,
    })
