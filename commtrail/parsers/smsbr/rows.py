"""SMS Backup & Restore: ``<sms>``, ``<mms>`` and ``<call>`` elements -> record batches and rejects.

A phone backup holds millions of ``<sms>`` and ``<call>`` elements. Per element the parser only
keeps the attribute dict libxml2 hands over (and its record number); everything else is done a
chunk at a time, with C-level loops (``map``, ``str`` methods) and Arrow kernels: the layout
check, dates, directions, address normalisation (on distinct values), flags, the ``extra`` JSON,
locators and local times. ``<mms>`` elements are rarer and richer (parts, media, addresses):
:mod:`commtrail.parsers.smsbr.mms` turns each into a row as soon as it ends, so that its media
go to the blob store at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from commtrail.parsers._arrowtext import wrap
from commtrail.parsers.base import ParseContext, Reject
from commtrail.timeline.identity import PAYPHONE, UNKNOWN, WITHHELD, normalise_many, split_addresses
from commtrail.timeline.schema import ATTACHMENT, RECORD_SCHEMA, make_batch
from commtrail.timeline.utclocal import local_iso

NULL = "null"
UNKNOWN_CONTACT = "(Unknown)"
OWNER_TOKEN = "insert-address-token"
OWNER_LITERAL = "owner"

# Dates outside this range (epoch ms) are not believable: 1970-01-01 (exclusive) .. 2200-01-01.
MIN_MS = 1
MAX_MS = 7_258_118_400_000
DATE_PATTERN = r"^[0-9]{1,16}$"

# <sms type>: direction and state flag (Android Telephony.TextBasedSmsColumns).
SMS_TYPES = {"1": ("incoming", None), "2": ("outgoing", None), "3": ("outgoing", "draft"),
             "4": ("outgoing", "outbox"), "5": ("outgoing", "failed"), "6": ("outgoing", "queued")}
# <call type> (Android CallLog.Calls) and <call presentation>; legacy values of `number`.
CALL_KINDS = {"1": "incoming", "2": "outgoing", "3": "missed", "4": "voicemail", "5": "rejected",
              "6": "blocked", "7": "answered_elsewhere"}
PRESENTATION_CLASS = {"2": WITHHELD, "3": UNKNOWN, "4": PAYPHONE}
LEGACY_NUMBER_CLASS = {"": WITHHELD, NULL: WITHHELD, "-1": UNKNOWN, "-2": WITHHELD, "-3": PAYPHONE}

# Attributes whose value is kept verbatim in a column; every other attribute goes to `extra`.
COLUMN_ATTRS = {"sms": ("date", "body"), "mms": ("date", "sub"), "call": ("date",)}
# The attributes an <sms> / <call> row reads into columns, in this order.
FIELDS = {"sms": ("date", "type", "address", "body"),
          "call": ("date", "type", "number", "presentation", "duration")}

LIST = pa.list_(pa.string())
ATTACHMENTS = pa.list_(ATTACHMENT)
CHUNK = 5_000  # rows turned into Arrow (and yielded as a batch) at a time: bounds the memory held

# The columns each kind of row provides (the rest are filled per chunk).
ROW_COLUMNS = {
    "ts_ms": pa.int64(), "channel": pa.string(), "kind": pa.string(), "direction": pa.string(),
    "sender": pa.string(), "sender_raw": pa.string(), "recipients": LIST, "conversation": pa.string(),
    "subject": pa.string(), "body": pa.string(), "duration_s": pa.int32(), "attachments": ATTACHMENTS,
    "flags": LIST, "extra": pa.string(),
}

# With entity substitution off, libxml2 hands a SAX target every `&` of an attribute value as the
# reference `&#38;` (so that a tree builder could tell it from an entity reference); every `&`
# in the source (`&amp;`, `&#38;`) comes as exactly that, so turning each `&#38;` back into `&`
# gives the value as written.
AMP = "&#38;"

# Flags, in the order they are listed.
FLAG_ORDER = ("draft", "outbox", "failed", "queued", "unknown_type", "null_text", "repaired_chars")


def unescape(attrib) -> dict[str, str]:
    """Attribute values as written (see AMP)."""
    return {k: v.replace(AMP, "&") if "&" in v else v for k, v in attrib.items()}


def json_value(key: str, value: str) -> str:
    """One attribute value as JSON: the literal ``null`` (and the ``(Unknown)`` contact label) is null."""
    if value == NULL or (key == "contact_name" and value == UNKNOWN_CONTACT):
        return "null"
    return encode_basestring(value)


def extra_dict(attrs: dict[str, str], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Source attributes for `extra`, ``null`` and ``(Unknown)`` as None (same rule as json_value)."""
    return {k: None if json_value(k, v) == "null" else v for k, v in attrs.items() if k not in skip}


def date_ms(value: str | None) -> tuple[int | None, str | None]:
    """(epoch ms, None), or (None, why the value cannot be a date)."""
    if value is None:
        return None, "no date attribute"
    if not (value.isascii() and value.isdigit()) or len(value) > 16:
        return None, f"date {value!r} is not a number of milliseconds"
    ms = int(value)
    if not MIN_MS <= ms <= MAX_MS:
        return None, f"date {value} is outside 1970-2200"
    return ms, None


def locator(tag: str, ordinal: int, line: int | None) -> str:
    return f"{tag} #{ordinal}, line {line}" if line else f"{tag} #{ordinal}"


def element_xml(tag: str, attrib: dict[str, str]) -> str:
    """An attribute-only element written back as XML. An attribute lxml refuses to write (a name
    such as ``duratio:``, a control character in a value), which the fast reader took as it came,
    is written as it came, escaped as lxml escapes."""
    attrib = unescape(attrib)
    el = etree.Element(tag)
    try:
        for key, value in attrib.items():
            el.set(key, value)
    except ValueError:
        return f"<{tag}" + "".join(f' {key}="{value.translate(_ATTRIBUTE_ESCAPES)}"'
                                   for key, value in attrib.items()) + "/>"
    return etree.tostring(el, encoding="unicode")


_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                                    "\r": "&#13;", "\t": "&#9;"})


class _Layout:
    """How to read one attribute layout (a set of attribute names) of one tag."""

    __slots__ = ("names", "size", "fields", "every", "order", "extra_keys", "pieces", "template", "values", "quotes")

    def __init__(self, tag: str, names) -> None:
        self.names = frozenset(names)
        self.size = len(self.names)
        wanted = FIELDS[tag]
        present = [name in self.names for name in wanted]
        if all(present):
            self.fields: Callable = itemgetter(*wanted)
        else:
            def fields(attrib, wanted=wanted, present=present):
                return tuple(attrib[n] if p else None for n, p in zip(wanted, present))
            self.fields = fields
        # Every value of a dict in one tuple (names sorted), for reading a chunk column-wise.
        self.order = sorted(self.names)
        self.every: Callable | None = itemgetter(*self.order) if self.size > 1 else None
        keys = sorted(k for k in self.names if k not in COLUMN_ATTRS[tag])
        self.extra_keys = keys
        # The text of `extra` between the values, for joining it column-wise (see _layout_extra).
        self.pieces = [("{" if i == 0 else '",') + encode_basestring(k) + ':"' for i, k in enumerate(keys)] + ['"}']
        # In a chunk of mixed layouts, `extra` is written row by row with this template
        # (``template % values(attrib)``), values in quotes as with `pieces`; `:"null"` becomes
        # `:null` afterwards. Rows whose values hold a quote, a backslash or a control character
        # are written value by value (_extra_text).
        self.template = ("{" + ",".join(f'{encode_basestring(k)}:"%s"' for k in keys) + "}") if keys else None
        if len(keys) > 1:
            self.values: Callable = itemgetter(*keys)
        elif keys:
            self.values = lambda attrib, get=itemgetter(keys[0]): (get(attrib),)
        else:
            self.values = lambda attrib: ()
        self.quotes = 4 * len(keys)


class Kind:
    """The <sms> or <call> elements of the current chunk: attribute dicts and record numbers.
    The parser appends to ``dicts`` and ``ordinals`` directly."""

    __slots__ = ("tag", "dicts", "ordinals", "layouts", "last")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.layouts: dict[frozenset[str], _Layout] = {}
        self.last: _Layout | None = None
        self.dicts: list[dict[str, str]] = []
        self.ordinals: list[int] = []

    def layout(self, attrib) -> _Layout:
        names = frozenset(attrib)
        found = self.layouts.get(names)
        if found is None:
            found = self.layouts[names] = _Layout(self.tag, names)
        return found

    def columns(self, dicts: list[dict[str, str]]) -> tuple[list[pa.Array], pa.Array]:
        """The column fields of the dicts (one string array per name of FIELDS, values as libxml2
        hands them: see AMP) and their `extra`; column-wise in Arrow when every dict has the last
        layout (the usual case: an app writes every element of a kind alike)."""
        last = self.last
        if last is None:
            last = self.last = self.layout(dicts[0])
        n = len(dicts)
        if last.every is not None and set(map(len, dicts)) == {last.size}:
            try:  # the same size and every name present: the same layout
                flat = pa.array(list(chain.from_iterable(map(last.every, dicts))), pa.string())
            except KeyError:
                flat = None
            if flat is not None:
                step = last.size
                arrays = {name: flat.take(pa.array(np.arange(i, n * step, step)))
                          for i, name in enumerate(last.order)}
                fields = [arrays[name] if name in arrays else pa.nulls(n, pa.string()) for name in FIELDS[self.tag]]
                extra = _layout_extra(last, arrays, n)
                return fields, extra if extra is not None else extra_column([last] * n, dicts)
        layouts = [self.layout(attrib) for attrib in dicts]
        rows = [layout.fields(attrib) for layout, attrib in zip(layouts, dicts)]
        self.last = layouts[-1]
        return [pa.array(list(column), pa.string()) for column in zip(*rows)], extra_column(layouts, dicts)


class Rows:
    """Collects the rows of one source; :meth:`take_chunk` turns them into Arrow."""

    def __init__(self, ctx: ParseContext, lines: list[int], offsets: list[int]) -> None:
        self.ctx = ctx
        self.region = ctx.phone_region
        phones = sorted(ctx.owner.phones)
        self.owner = phones[0] if phones else None  # the owner's identifier, when known
        self.owner_token = self.owner or OWNER_LITERAL  # what `insert-address-token` stands for
        self.owner_ids = set(phones) | {self.owner_token}
        self.owner_list = [self.owner] if self.owner else None
        self.repairs_by_record: dict[int, int] = {}
        self.undecodable: list[str] = []
        self.media_without_store = 0
        self.records = 0
        self.rejected = 0  # records rejected
        # Rejects not yet given out, each with its place: (record number, 0 for the record itself or
        # 1 for what follows it), so that they go out in file order however the rows are chunked.
        self._rejects: list[tuple[tuple[int, int], Reject]] = []
        self.sms = Kind("sms")
        self.calls = Kind("call")
        self._mms = None  # built when the first <mms> comes: commtrail.parsers.smsbr.mms.MmsRows
        self._mms_rows: list[tuple[int, dict[str, Any]]] = []  # (record number, row)
        self._addresses: dict[str, list[str]] = {}
        # The line and the offset (in the repaired text) of each record start tag, from the reader:
        # lines[n - 1 - lines_base] is record n's.
        self._lines = lines
        self._offsets = offsets
        self._lines_base = 0

    def start_at(self, records_before: int) -> None:
        """Number from record ``records_before + 1`` on (a part of a file parsed on its own)."""
        self._lines_base = records_before

    @property
    def size(self) -> int:
        return len(self.sms.dicts) + len(self.calls.dicts) + len(self._mms_rows) + len(self._rejects)

    def reject(self, ordinal: int, reject: Reject, record: bool = True) -> None:
        """Keep a reject: of record ``ordinal`` (``record``), or of something after it."""
        self._rejects.append(((ordinal, 0 if record else 1), reject))
        if record:
            self.rejected += 1

    def line(self, ordinal: int) -> int | None:
        i = ordinal - 1 - self._lines_base
        return self._lines[i] if 0 <= i < len(self._lines) else None

    def offset(self, ordinal: int) -> int | None:
        i = ordinal - 1 - self._lines_base
        return self._offsets[i] if 0 <= i < len(self._offsets) else None

    def retract(self, tag: str) -> None:
        """Forget the last <sms> / <call> begun: it turned out damaged."""
        kind = self.sms if tag == "sms" else self.calls
        kind.dicts.pop()
        kind.ordinals.pop()

    def repaired(self, ordinal: int) -> int:
        return self.repairs_by_record.pop(ordinal, 0) if self.repairs_by_record else 0

    # -- <mms>, one at a time -------------------------------------------------------------------
    def _mms_rows_builder(self):
        if self._mms is None:
            from commtrail.parsers.smsbr.mms import MmsRows
            self._mms = MmsRows(self)
        return self._mms

    def mms_part(self, mms, attrib: dict[str, str], ordinal: int) -> None:
        """A ``<part>`` of the ``<mms>`` being read (its media are stored at once)."""
        self._mms_rows_builder().store_part(mms, attrib, ordinal)

    def mms(self, mms, ordinal: int) -> None:
        """An ``<mms>`` (a :class:`~commtrail.parsers.smsbr.mms.MmsElement`), complete."""
        row = self._mms_rows_builder().row(mms, ordinal, self.line(ordinal), self.repaired(ordinal))
        if isinstance(row, Reject):
            self.reject(ordinal, row)
        else:
            self._mms_rows.append((ordinal, row))

    def attach_other(self, tag: str, xml: str) -> bool:
        """Keep an unexpected element found inside the last <sms> / <call> in its `extra`."""
        kind = self.sms if tag == "sms" else self.calls if tag == "call" else None
        if kind is None or not kind.dicts:
            return False
        attrib = kind.dicts[-1]
        if not isinstance(attrib, dict):   # lxml hands an element without attributes a read-only mapping
            attrib = kind.dicts[-1] = dict(attrib)
        attrib["other_xml"] = attrib.get("other_xml", "") + xml
        return True

    # -- identifiers --------------------------------------------------------------------------------
    def addresses(self, raw: str | None) -> list[str]:
        """The normalised identifiers in an address attribute (cached per distinct value)."""
        if raw is None:
            return []
        found = self._addresses.get(raw)
        if found is None:
            parts = split_addresses(raw) if raw != NULL else []
            found = normalise_many(parts, self.region)
            if len(self._addresses) > 100_000:
                self._addresses.clear()
            self._addresses[raw] = found
        return found

    # -- chunks -------------------------------------------------------------------------------------
    def take_chunk(self) -> tuple[pa.Table | None, list[Reject]]:
        """The rows collected so far as a table of RECORD_SCHEMA in file order, and the rejects (in
        file order too)."""
        parts: list[tuple[np.ndarray, dict[str, pa.Array]]] = []
        ends = [kind.ordinals[-1] for kind in (self.sms, self.calls) if kind.ordinals]
        if self._mms_rows:
            ends.append(self._mms_rows[-1][0])
        if self._rejects:
            ends.append(max(key[0] for key, _ in self._rejects))
        last = max(ends, default=0)
        repaired = self._take_repairs(last)
        for kind, build in ((self.sms, self.sms_columns), (self.calls, self.call_columns)):
            if kind.dicts:
                built = self._kind_columns(kind, build, repaired)
                kind.dicts.clear()  # cleared, not replaced: the parser holds their append methods
                kind.ordinals.clear()
                if built is not None:
                    parts.append(built)
        if self._mms_rows:
            from commtrail.parsers.smsbr.mms import MmsRows
            parts.append(MmsRows.columns(self._mms_rows))
            self._mms_rows = []
        table = None
        if parts:
            tables = []
            for ordinals, columns in parts:
                tables.append((ordinals, self._table(columns, ordinals, self._line_array(ordinals))))
                self.records += len(ordinals)
            table = tables[0][1] if len(tables) == 1 else _interleave(tables)
        self._drop_lines(last)
        self._rejects.sort(key=itemgetter(0))
        rejects = [reject for _, reject in self._rejects]
        self._rejects.clear()
        return table, rejects

    def _take_repairs(self, last: int) -> dict[int, int]:
        """The repairs counted in records up to ``last`` (taken out of the reader's table)."""
        table = self.repairs_by_record
        if not table:
            return {}
        done = [k for k in table if k <= last]
        return {k: table.pop(k) for k in done}

    def _line_array(self, ordinals: np.ndarray) -> np.ndarray:
        index = ordinals - 1 - self._lines_base
        lines = np.asarray(self._lines, dtype=np.int64) if self._lines else np.zeros(0, dtype=np.int64)
        ok = (index >= 0) & (index < len(lines))
        out = np.zeros(len(ordinals), dtype=np.int64)
        out[ok] = lines[index[ok]]
        return out

    def _drop_lines(self, last: int) -> None:
        drop = min(max(last - self._lines_base, 0), len(self._lines))
        if drop:
            del self._lines[:drop]
            del self._offsets[:drop]
            self._lines_base += drop

    def _table(self, c: dict[str, pa.Array], ordinals: np.ndarray, lines: np.ndarray) -> pa.Table:
        ctx = self.ctx
        n = len(ordinals)
        ms = c["ts_ms"].to_numpy()
        number = pc.cast(pa.array(ordinals), pa.string())
        loc = pc.binary_join_element_wise(c["channel"], " #", number, ", line ",
                                          pc.cast(pa.array(lines), pa.string()), "")
        if not lines.all():
            short = pc.binary_join_element_wise(c["channel"], " #", number, "")
            loc = pc.if_else(pa.array(lines == 0), short, loc)
        batch = make_batch({
            "ts_utc": ms * 1000,
            "ts_local": local_iso(ms * 1000, ctx.timezone, "ms"),
            "ts_precision": repeat_dict("ms", n),
            "tz_source": repeat_dict("source", n),
            "channel": c["channel"],
            "kind": c["kind"],
            "direction": c["direction"],
            "sender": c["sender"],
            "sender_raw": c["sender_raw"],
            "recipients": c["recipients"],
            "conversation": c["conversation"],
            "subject": c["subject"],
            "body": c["body"],
            "duration_s": c["duration_s"],
            "attachments": c["attachments"],
            "flags": c["flags"],
            "source_sha256": repeat_str(ctx.source_sha256, n),
            "source_path": repeat_str(ctx.source_path, n),
            "locator": loc,
            "parser": repeat_str(ctx.parser_label, n),
            "extra": c["extra"],
        })
        return pa.Table.from_batches([batch], schema=RECORD_SCHEMA)

    # -- <sms> / <call> rows of a chunk, column-wise ----------------------------------------------------
    def _kind_columns(self, kind: Kind, build, repaired: dict[int, int]):
        dicts = kind.dicts
        fields, extra = kind.columns(dicts)
        ordinals = np.asarray(kind.ordinals, dtype=np.int64)
        dates = fields[0]
        digits = pc.fill_null(pc.match_substring_regex(dates, DATE_PATTERN), False)
        ms = pc.cast(pc.if_else(digits, dates, "0"), pa.int64())
        good = pc.and_(digits, pc.and_(pc.greater_equal(ms, MIN_MS), pc.less_equal(ms, MAX_MS)))
        good_np = good.to_numpy(zero_copy_only=False)
        if not good_np.all():
            keep = np.flatnonzero(good_np)
            for i in np.flatnonzero(~good_np).tolist():
                ordinal = int(ordinals[i])
                _, why = date_ms(dicts[i].get("date"))
                if repaired.get(ordinal):
                    why += f" (the raw text shows {repaired[ordinal]} repaired character references)"
                self.reject(ordinal, Reject(locator=locator(kind.tag, ordinal, self.line(ordinal)), reason=why,
                                            raw=element_xml(kind.tag, dicts[i])))
            if not len(keep):
                return None
            kept = pa.array(keep)
            fields, extra, ms = [column.take(kept) for column in fields], extra.take(kept), ms.take(kept)
            ordinals = ordinals[keep]
        m = len(ordinals)
        mask = np.zeros(m, dtype=bool)
        if repaired:
            mask |= np.isin(ordinals, np.fromiter(repaired, dtype=np.int64, count=len(repaired)))
        columns = build([text_column(values) for values in fields[1:]], m, mask)
        columns["ts_ms"] = ms
        columns["extra"] = extra
        for name in ("subject", "duration_s", "attachments", "body"):
            columns.setdefault(name, pa.nulls(m, ROW_COLUMNS[name]))
        return ordinals, columns

    def sms_columns(self, fields: list[pa.Array], m: int, repaired: np.ndarray) -> dict[str, pa.Array]:
        """The columns of ``m`` SMS from their ``type`` codes, addresses and bodies (string arrays;
        ``repaired``: rows with repaired characters). Shared with the Android ``mmssms.db`` reader."""
        codes, raw, body = fields
        known = pc.index_in(codes, value_set=pa.array(list(SMS_TYPES)))
        direction = pc.fill_null(pa.array([d for d, _ in SMS_TYPES.values()]).take(known), "unknown")
        incoming = pc.equal(direction, "incoming")
        outgoing = pc.equal(direction, "outgoing")
        encoded = pc.fill_null(raw, "").dictionary_encode()
        uniques = [self.addresses(text) for text in encoded.dictionary.to_pylist()]
        idx = encoded.indices
        first = pa.array([found[0] if found else None for found in uniques], pa.string()).take(idx)
        everyone = pa.array([found or None for found in uniques], LIST).take(idx)
        conversation = pa.array(["~".join(sorted(found)) if found else None for found in uniques],
                                pa.string()).take(idx)
        owner = pa.scalar(self.owner, pa.string())
        sender = pc.if_else(incoming, pc.fill_null(first, WITHHELD), pc.if_else(outgoing, owner, first))
        sender_raw = pc.if_else(outgoing, pa.scalar(None, pa.string()), raw)
        recipients = self._recipients(outgoing, incoming, everyone)
        # Flags as bits: 0 repaired_chars, 1 null_text, 2 unknown_type, 3.. the states of STATE_CODES.
        state = np.asarray(pc.fill_null(pc.index_in(codes, value_set=pa.array(STATE_CODES)), -1))
        bits = np.where(state >= 0, 1 << (state + 3), 0)
        bits |= np.where(np.asarray(pc.is_null(known)), 1 << 2, 0)
        bits |= np.where(np.asarray(pc.fill_null(pc.equal(body, NULL), False)), 1 << 1, 0)
        bits |= repaired.astype(np.int64)
        return {"channel": repeat_str("sms", m), "kind": repeat_str("message", m), "direction": direction,
                "sender": sender, "sender_raw": sender_raw, "recipients": recipients,
                "conversation": conversation, "body": body, "flags": flags_column(bits, SMS_FLAG_BITS)}

    def _recipients(self, outgoing: pa.Array, incoming: pa.Array, lists: pa.Array) -> pa.Array:
        """Per row: ``lists`` when outgoing, the owner (a list of one, or null when unknown) when
        incoming, else null. One ``take`` (a nested ``if_else`` on lists appends scalar by scalar)."""
        n = len(lists)
        index = np.where(outgoing.to_numpy(zero_copy_only=False), np.arange(n),
                         np.where(incoming.to_numpy(zero_copy_only=False), n, n + 1))
        choices = pa.concat_arrays([lists, pa.array([self.owner_list, None], LIST)])
        return choices.take(pa.array(index))

    def call_columns(self, fields: list[pa.Array], m: int, repaired: np.ndarray) -> dict[str, pa.Array]:
        """The columns of ``m`` calls from their ``type``, ``number``, ``presentation`` and
        ``duration`` (string arrays). Shared with the Android ``calllog.db`` reader."""
        codes, number, presentation, duration = fields
        known = pc.index_in(codes, value_set=pa.array(list(CALL_KINDS)))
        other = wrap("type_", pc.fill_null(codes, "missing"))
        kind = pc.if_else(pc.is_null(known), other, pa.array(list(CALL_KINDS.values())).take(known))
        direction = pc.if_else(pc.is_null(known), "unknown",
                               pc.if_else(pc.equal(codes, "2"), "outgoing", "incoming"))
        incoming = pc.equal(direction, "incoming")
        outgoing = pc.equal(direction, "outgoing")
        # Who: the presentation class, a legacy value of `number`, or the normalised number.
        key = pc.binary_join_element_wise(pc.fill_null(presentation, ""), pc.fill_null(number, ""), "\x00")
        encoded = key.dictionary_encode()
        who_u = []
        for text in encoded.dictionary.to_pylist():
            shown, raw = text.split("\x00", 1)
            who = PRESENTATION_CLASS.get(shown) or LEGACY_NUMBER_CLASS.get(raw.strip())
            if who is None:
                found = self.addresses(raw)
                who = found[0] if found else WITHHELD
            who_u.append(who)
        who = pa.array(who_u, pa.string()).take(encoded.indices)
        sender = pc.if_else(outgoing, pa.scalar(self.owner, pa.string()), who)
        sender_raw = pc.if_else(outgoing, pa.scalar(None, pa.string()), pc.fill_null(number, ""))
        recipients = self._recipients(outgoing, incoming, _single_lists(who))
        whole = pc.fill_null(pc.match_substring_regex(duration, r"^[0-9]{1,9}$"), False)
        duration_s = pc.if_else(whole, pc.cast(pc.if_else(whole, duration, "0"), pa.int32()),
                                pa.scalar(None, pa.int32()))
        return {"channel": repeat_str("call", m), "kind": kind, "direction": direction, "sender": sender,
                "sender_raw": sender_raw, "recipients": recipients, "conversation": who,
                "duration_s": duration_s, "flags": flags_column(repaired.astype(np.int64), ("repaired_chars",))}


STATE_CODES = ["3", "4", "5", "6"]
SMS_FLAG_BITS = ("repaired_chars", "null_text", "unknown_type") + tuple(SMS_TYPES[c][1] for c in STATE_CODES)


def _interleave(tables: list[tuple[np.ndarray, pa.Table]]) -> pa.Table:
    """Tables whose rows are each in record order, merged into record order (by slices: a chunk
    holds a few <mms> among many <sms>)."""
    ordinals = np.concatenate([o for o, _ in tables])
    source = np.concatenate([np.full(len(o), i) for i, (o, _) in enumerate(tables)])
    source = source[np.argsort(ordinals, kind="stable")]
    runs = np.flatnonzero(np.diff(source)) + 1
    starts = np.concatenate(([0], runs))
    ends = np.concatenate((runs, [len(source)]))
    cursor = [0] * len(tables)
    pieces = []
    for start, end in zip(starts.tolist(), ends.tolist()):
        i = int(source[start])
        pieces.append(tables[i][1].slice(cursor[i], end - start))
        cursor[i] += end - start
    return pa.concat_tables(pieces)


def text_column(array: pa.Array) -> pa.Array:
    """A string column of attribute values as written (see AMP)."""
    if (_data(array) == 38).any():  # an `&` somewhere
        array = pc.replace_substring(array, AMP, "&")
    return array


def _data(array: pa.Array) -> np.ndarray:
    """The bytes of a string array's values (all of them, one after the other)."""
    offsets, data = array.buffers()[1:3]
    if data is None or not len(array):
        return np.zeros(0, dtype=np.uint8)
    ends = np.frombuffer(offsets, dtype=np.int32)[[array.offset, array.offset + len(array)]]
    return np.frombuffer(data, dtype=np.uint8)[ends[0]:ends[1]]


def _single_lists(values: pa.Array) -> pa.Array:
    """Each value as a one-element list."""
    offsets = pa.array(np.arange(len(values) + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def flags_column(bits: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    """A list<string> column from per-row bit sets (bit i set: the row has flag names[i])."""
    if not bits.any():
        return pa.nulls(len(bits), LIST)
    combos, inverse = np.unique(bits, return_inverse=True)
    lists = []
    for combo in combos.tolist():
        flags = [name for i, name in enumerate(names) if combo >> i & 1]
        lists.append(sorted(flags, key=FLAG_ORDER.index) or None)
    return pa.array(lists, LIST).take(pa.array(inverse.ravel().astype(np.int32)))


def _layout_extra(layout: _Layout, arrays: dict[str, pa.Array], n: int) -> pa.Array | None:
    """The `extra` JSON of ``n`` rows of one layout from their attribute values (one string array
    per name), joined column-wise: the text of the layout's template (see :func:`extra_column`);
    None when a value holds a quote, a backslash or a control character."""
    if layout.template is None:
        return pa.nulls(n, pa.string())
    parts: list = [layout.pieces[0]]
    for key, piece in zip(layout.extra_keys, layout.pieces[1:]):
        parts += [arrays[key], piece]
    return _json_nulls(pc.binary_join_element_wise(*parts, ""), layout.quotes * n)


def _json_nulls(texts: pa.Array, quotes: int) -> pa.Array | None:
    """Rows written with their layout's template (every value in quotes, as libxml2 hands it) as
    `extra`: `&` as written, the literal ``null`` and the ``(Unknown)`` contact label as JSON null.
    None when a value holds a quote, a backslash or a control character (told by counting quotes
    in the whole): only when none does can ``:"null"`` be nothing but a null value."""
    data = _data(texts)
    if (data == 38).any():  # `&`
        texts = pc.replace_substring(texts, AMP, "&")
        data = _data(texts)
    if np.count_nonzero(data == 34) != quotes or (data == 92).any() or (data < 32).any():  # `"`, `\\`
        return None
    for written, null in _NULLS:  # a pass that copies the text only when there is something to replace
        if re.search(re.escape(written.encode()), data):
            texts = pc.replace_substring(texts, written, null)
    return texts


# What becomes JSON null in `extra` (the literal ``null``, the ``(Unknown)`` contact label), as
# written with a template, and what it becomes.
_NULLS = ((':"null"', ":null"), ('"contact_name":"(Unknown)"', '"contact_name":null'))


def extra_column(layouts: list[_Layout], dicts: list[dict[str, str]]) -> pa.Array:
    """The `extra` JSON of rows (their attribute dicts, and the layout of each): the same text as
    ``dumps_extra`` (sorted keys, compact), with the literal ``null`` and the ``(Unknown)`` contact
    label as JSON null and values as written (see AMP). Each row is written with its layout's
    template; when a value holds a quote, a backslash or a control character, value by value."""
    if not any(layout.template is None for layout in layouts):
        texts = pa.array([layout.template % layout.values(attrib) for layout, attrib in zip(layouts, dicts)],
                         pa.string())
        done = _json_nulls(texts, sum(layout.quotes for layout in layouts))
        if done is not None:
            return done
    return pa.array([_extra_text(layout, attrib) for layout, attrib in zip(layouts, dicts)], pa.string())


def _extra_text(layout: _Layout, attrib: dict[str, str]) -> str | None:
    """One row's `extra`, value by value."""
    if layout.template is None:
        return None
    pairs = [f"{encode_basestring(k)}:{json_value(k, attrib[k].replace(AMP, '&'))}" for k in layout.extra_keys]
    return "{" + ",".join(pairs) + "}"


def repeat_str(value: str | None, n: int) -> pa.Array:
    """``value`` n times, as a string array."""
    if value is None:
        return pa.nulls(n, pa.string())
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, dtype=np.int32)))


def repeat_dict(value: str, n: int) -> pa.Array:
    """``value`` n times, dictionary-encoded."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value]))

