"""An iPhone's call history (``CallHistory.storedata``, Core Data table ``ZCALLRECORD``) -> records.

``ZDATE`` is Cocoa seconds (a float), ``ZDURATION`` seconds, ``ZORIGINATED`` 1 for a call the
owner made, ``ZANSWERED`` 1 for one that was answered, ``ZCALLTYPE`` 1 for a phone call, 8 for a
FaceTime video and 16 for a FaceTime audio call (anything else: channel ``app-call``, the app in
``extra.service_provider``), ``ZADDRESS`` the other side (text or UTF-8 bytes).
Kind: ``outgoing``, ``incoming`` (answered) or ``missed``; ``call`` when ``ZORIGINATED`` (or, for a
call not made by the owner, ``ZANSWERED``) is no number (a TEXT or a BLOB; the value is kept in
``extra``, counted in a warning; an unknown ``ZORIGINATED`` also leaves the direction ``unknown``).
``extra`` is written column-wise (:mod:`.fragments`). Values of the wrong type: :mod:`.database`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.parsers._sqlite import (Columns, LenientText, as_input_error, columns_of, damaged, each_paused,
                                       keyed_chunks, optional, out_of_order, require, texts_read_by)
from commtrail.parsers._arrowtext import wrap
from commtrail.parsers._values import arrow
from commtrail.parsers.base import ParseContext, Reject, counted
from commtrail.parsers.ios import fragments as fr
from commtrail.parsers.ios.contacts import ContactHints
from commtrail.parsers.ios.database import (COCOA_EPOCH_US, MAX_COCOA_S, MIN_COCOA_S, Column, Unreadable, directions,
                                            reals)
from commtrail.timeline.identity import WITHHELD, normalise_one
from commtrail.timeline.schema import TS_UTC, make_batch
from commtrail.timeline.utclocal import local_iso

CHUNK = 20_000
LIST = pa.list_(pa.string())
CALL_TYPES = {1: "call", 8: "facetime", 16: "facetime"}
FACETIME = {8: "video", 16: "audio"}
REQUIRED = ("Z_PK", "ZDATE", "ZDURATION", "ZORIGINATED", "ZANSWERED", "ZCALLTYPE", "ZADDRESS")
# The warnings for values that cannot be read: what completes "<n> calls in <database> have ...".
KEPT_RAW = {
    "originated": "a ZORIGINATED that is no number: their direction is unknown (kind call, no sender or "
                  "recipients), the value is kept in extra.originated_raw",
    "answered": "a ZANSWERED that is no number: whether they were answered is unknown (kind call), the value is "
                "in extra.answered",
}
EXTRA_COLUMNS = ("ZSERVICE_PROVIDER", "ZUNIQUE_ID", "ZISO_COUNTRY_CODE", "ZLOCATION", "ZNAME",
                 "ZDISCONNECTED_CAUSE", "ZREAD", "ZJUNKCONFIDENCE")


def call_query(have: set[str]) -> str:
    """Every call after a ROWID, by its ROWID first (Core Data's Z_PK is the ROWID; keyed on the ROWID
    itself, no row is left out even where Z_PK were another column), with the columns of its
    `extra` as they are (a column the layout lacks is NULL)."""
    extra = ", ".join(optional(have, "r", name) for name in EXTRA_COLUMNS)
    return (f"SELECT r.ROWID, r.Z_PK, r.ZDATE, r.ZDURATION, r.ZORIGINATED, r.ZANSWERED, r.ZCALLTYPE, r.ZADDRESS, "
            f"{extra} FROM ZCALLRECORD r WHERE r.ROWID > ? ORDER BY r.ROWID")


def read_calls(con: sqlite3.Connection, ctx: ParseContext, label: str,
               hints: ContactHints, file_label: str) -> Iterator[pa.RecordBatch | Reject]:
    """Every row of ZCALLRECORD as a record, in Z_PK order, a chunk at a time (``label`` names the
    database in locators, ``file_label`` in errors). Text that is not UTF-8 is read as U+FFFD and
    counted. A call whose ZDATE is no number, or falls outside 1970-2200, is a reject with its row."""
    text = LenientText()
    with as_input_error(file_label):
        with texts_read_by(con, text):   # the names of the columns
            have = require(con, file_label, {"ZCALLRECORD": REQUIRED})["ZCALLRECORD"]
        # the rows: SQLite's own decoder, LenientText from the first value it refuses
        aside: list[tuple] = []   # rows a damaged table gave out of ROWID order (rejected)
        chunks = keyed_chunks(con, call_query(have), ctx, CHUNK, text, aside)
    phones = sorted(ctx.owner.phones)
    reader = _Calls(ctx, label, phones[0] if phones else None, hints)
    try:
        yield from each_paused(chunks, reader.batch)
    except sqlite3.DatabaseError as exc:
        ctx.report.warn(damaged(label, "ZCALLRECORD Z_PK", reader.last_pk, exc))
    yield from out_of_order(aside, ctx, label, "ZCALLRECORD", ("ROWID",) + REQUIRED + EXTRA_COLUMNS)
    text.report(ctx, label)
    reader.report()


class _Calls:
    def __init__(self, ctx: ParseContext, label: str, owner: str | None, hints: ContactHints) -> None:
        self.ctx, self.label, self.owner, self.hints = ctx, label, owner, hints
        self._index: dict[object, int] = {}
        self._who: list[tuple[str, str | None, str | None]] = []
        self.last_pk: object = None   # the Z_PK of the last row read
        self._durations_unreadable = 0
        self.unreadable = Unreadable()

    def who(self, address: object) -> int:
        """The index in ``self._who`` of an address's (normalised identifier, as written,
        contact-name fragment for `extra` or None), worked out once per distinct address."""
        found = self._index.get(address)
        if found is None:
            raw = address.decode("utf-8", "replace") if isinstance(address, bytes) else \
                None if address is None else str(address)
            ident = normalise_one(raw, self.ctx.phone_region) if raw and raw.strip() else WITHHELD
            names = self.hints.names_for([ident])
            fragment = ',"contact_names":' + json.dumps(names, ensure_ascii=False, sort_keys=True,
                                                        separators=(",", ":")) if names else None
            found = self._index[address] = len(self._who)
            self._who.append((ident, raw, fragment))
        return found

    def who_indexes(self, addresses: Sequence[object]) -> pa.Array:
        """:meth:`who` of each address; a column of texts or of blobs (as SQLite gives them) is
        grouped by Arrow first, so that each distinct address is looked up once."""
        try:
            array = pa.array(addresses)
        except (pa.ArrowInvalid, pa.ArrowTypeError):   # texts and blobs mixed, or a text Arrow refuses
            array = None
        if array is None or not (pa.types.is_string(array.type) or pa.types.is_binary(array.type)):
            return pa.array([self.who(a) for a in addresses], pa.int32())
        encoded = pc.dictionary_encode(array, null_encoding="encode")
        found = np.array([self.who(a) for a in encoded.dictionary.to_pylist()], dtype=np.int32)
        return pa.array(found[encoded.indices.to_numpy()])

    def batch(self, rows: list[tuple] | Columns) -> Iterator[pa.RecordBatch | Reject]:
        """The records of a chunk of rows, after the rejects of those whose ZDATE cannot be a date."""
        self.last_pk = rows[-1][1]
        columns = columns_of(rows)
        dates, unreadable = reals(columns[2])
        refused = unreadable | (~np.isnan(dates) & (dates != 0) & ~((dates >= MIN_COCOA_S) & (dates <= MAX_COCOA_S)))
        if refused.any():
            yield from (self._reject(rows[i], bool(unreadable[i])) for i in np.flatnonzero(refused))
            rows = [rows[i] for i in np.flatnonzero(~refused)]
            if not rows:
                return
            columns, dates = columns_of(rows), dates[~refused]
        yield self._records(columns, dates)

    def _reject(self, row: tuple, unreadable: bool) -> Reject:
        pk = f"Z_PK {row[1]}" if row[1] is not None else f"ROWID {row[0]}"
        why = (f"ZDATE {row[2]!r} is not a number of seconds" if unreadable else
               f"ZDATE {row[2]!r} is not a time between 1970 and 2200")
        return Reject(locator=f"{self.label} ZCALLRECORD {pk}", reason=why,
                      raw=" ".join(f"{name}={value!r}" for name, value in zip(("ROWID",) + REQUIRED + EXTRA_COLUMNS, row)))

    def _records(self, columns: list[tuple], dates_f: np.ndarray) -> pa.RecordBatch:
        ctx, n = self.ctx, len(columns[0])
        _, pk, _, seconds, originated, answered, call_type, address, *extra = columns
        seconds, answered, call_type = Column(seconds), Column(answered), Column(call_type)
        idx = self.who_indexes(address)
        ident, raw, fragment = (pa.array(column, pa.string()) for column in zip(*self._who))
        undated = np.isnan(dates_f) | (dates_f == 0)
        us = np.where(undated, 0, np.round(np.nan_to_num(dates_f) * 1_000_000)).astype(np.int64) + COCOA_EPOCH_US
        direction, originated_raw = directions(originated)
        answer, _ = directions(answered)
        out, unknown = direction == 1, direction == 2
        kind = np.where(unknown | (~out & (answer == 2)), 3, np.where(out, 0, np.where(answer == 1, 1, 2)))
        self.unreadable.add(KEPT_RAW["originated"], np.count_nonzero(unknown))
        self.unreadable.add(KEPT_RAW["answered"], np.count_nonzero(~unknown & ~out & (answer == 2)))
        others = ident.take(idx)
        outgoing = pa.array(out)
        owner = pa.scalar(self.owner, pa.string())
        owner_list = pa.array([[self.owner] if self.owner else None], LIST).take(pa.array(np.zeros(n, np.int32)))
        ids = arrow(pk, pa.int64())
        channel, facetime = _call_types(call_type)
        parties = {
            "sender": pc.if_else(outgoing, owner, others),
            "sender_raw": pc.if_else(outgoing, pa.scalar(None, pa.string()), raw.take(idx)),
            "recipients": pc.if_else(outgoing, pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)),
                                                                        others), owner_list),
        }
        if unknown.any():   # who called whom cannot be told
            parties = {name: pc.if_else(pa.array(unknown), pa.scalar(None, column.type), column)
                       for name, column in parties.items()}
        return make_batch({
            "ts_utc": pa.array(us, pa.int64(), mask=undated).cast(TS_UTC),
            "ts_local": pc.if_else(pa.array(undated), pa.scalar(None, pa.string()),
                                   local_iso(us, ctx.timezone, "ms")),
            "ts_precision": fr.categories(np.zeros(n, np.int8), ("ms",), undated),
            "tz_source": fr.categories(np.zeros(n, np.int8), ("source",), undated),
            "channel": channel,
            "kind": fr.categories(kind, ("outgoing", "incoming", "missed", "call")),
            "direction": fr.categories(direction, ("incoming", "outgoing", "unknown")),
            **parties,
            "conversation": others,
            "duration_s": self._whole_seconds(seconds),
            "flags": pc.if_else(pa.array(undated), pa.array([["undated"]], LIST).take(pa.array(np.zeros(n, np.int32))),
                                pa.nulls(n, LIST)),
            "source_sha256": fr.constant(ctx.source_sha256, n),
            "source_path": fr.constant(ctx.source_path, n),
            "locator": wrap(f"{self.label} ZCALLRECORD Z_PK ", pc.cast(ids, pa.string())),
            "parser": fr.constant(ctx.parser_label, n),
            "extra": fr.objects([
                fr.value("answered", answered), fr.value("call_type", call_type), fr.value("duration_raw", seconds),
                facetime, *(fr.value(name.lower()[1:], values) for name, values in zip(EXTRA_COLUMNS, extra)),
                fragment.take(idx), *([fr.value("originated_raw", originated_raw)] if originated_raw else [])]),
        })

    def _whole_seconds(self, column: Column) -> pa.Array:
        """ZDURATION rounded to whole seconds (half to even); null where it is NULL or no number,
        below 0 or past 2**31 seconds (those are counted; the value stays in ``extra.duration_raw``)."""
        array = column.array
        if array is not None and pa.types.is_floating(array.type):
            seconds, unreadable = array.to_numpy(zero_copy_only=False), np.zeros(len(array), bool)
        else:
            seconds, unreadable = reals(column.values)
        whole = np.round(seconds)
        usable = np.isfinite(whole) & (seconds >= 0) & (whole < 2.0**31)   # no call lasts less; duration_s is int32
        self._durations_unreadable += int(np.count_nonzero(unreadable | (~usable & ~np.isnan(seconds))))
        return pa.array(np.where(usable, whole, 0).astype(np.int64), pa.int64(), mask=~usable)

    def report(self) -> None:
        """Say how many durations, and directions or answers, could not be read."""
        self.unreadable.report(self.ctx, "call", self.label)
        if self._durations_unreadable:
            calls = counted(self._durations_unreadable, f"call in {self.label} has", f"calls in {self.label} have")
            self.ctx.report.warn(f"{calls} a ZDURATION that is no number of seconds (0 or more): their duration is "
                                 "left empty, the value is kept in extra.duration_raw")


def _call_types(column: Column) -> tuple[pa.Array, pa.Array]:
    """The ``channel`` column and the ``facetime`` fragments of a column of ZCALLTYPE values."""
    types, values = column.array, column.values
    if types is None or not (pa.types.is_integer(types.type) or pa.types.is_null(types.type)):
        return (pa.array([CALL_TYPES.get(t, "app-call") for t in values], pa.string()),
                fr.value("facetime", tuple(FACETIME.get(t) for t in values)))
    codes = pc.fill_null(types.cast(pa.int64()), 0).to_numpy()
    video, audio = codes == 8, codes == 16
    return (fr.categories(np.where(codes == 1, 0, np.where(video | audio, 1, 2)), ("call", "facetime", "app-call")),
            fr.labels(audio, (',"facetime":"video"', ',"facetime":"audio"'), ~(video | audio)))
