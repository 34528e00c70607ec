"""WhatsApp "Export chat" text files (Android and iOS, every locale shape FORMATS.md lists).

The header shape (date order aside) is found from a sample of lines; then the whole file is parsed
vectorised (see ``scan``): one RE2 pattern per header shape over the lines, numpy for
offsets, dates and times, ``timeline.localtime`` for the time zone. A chat whose header lines come
in more than one shape (a phone's locale changed) reads each line in its own shape when that
shape stands alone (``headers.stands_alone``); other shapes stay message text. Day/month order is decided per
shape from the whole file before anything is yielded: what the lines prove (the year first, a field
above 12) wins, and a date order the user gave (``ctx.date_order``) applies only where they cannot
tell; else chronology (a field that goes backwards within a year is not the month), else the file
is refused with :class:`DateOrderAmbiguous`.

Wording (digits, day-period words, system notices, media / deleted / edited markers, file-name
prefixes) lives in ``commtrail/data/whatsapp_markers.toml``.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import mimetypes
import re
import sys
from collections.abc import Iterator
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.errors import DateOrderAmbiguous
from commtrail.parsers._arrowtext import wrap
from commtrail.parsers.base import ParseContext, Reject, read_full
from commtrail.parsers.registry import Parser, register
from commtrail.parsers.whatsapp import chat as wc
from commtrail.parsers.whatsapp import headers as wf
from commtrail.parsers.whatsapp import scan as ws
from commtrail.timeline.localtime import TZ_SOURCE_LABELS, to_utc
from commtrail.timeline.schema import ATTACHMENT, EXTRA_CHAT, TS_UTC, dumps_extra, make_batch

NAME = "whatsapp"
VERSION = "1.2"

FLAG_NAMES = ("attachment_missing", "deleted", "edited", "header_like_body", "media_omitted",
              "repaired_chars", "time_out_of_order")
(F_MISSING, F_DELETED, F_EDITED, F_HEADERLIKE, F_MEDIA, F_REPAIRED, F_ORDER) = range(len(FLAG_NAMES))

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
_cached = functools.lru_cache(maxsize=4)


def sniff(head: bytes, filename: str) -> bool:
    """A WhatsApp export has header lines (date, time, name) from its first line on."""
    if head.startswith(ws.BOM):
        head = head[len(ws.BOM):]
    if head[:1] in (b"<", b"{") or head.startswith(b"From "):
        return False
    return wf.looks_like_export(head.decode("utf-8", "replace"))


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[pa.RecordBatch | Reject]:
    """Parse one exported chat text; see the module docstring."""
    first, detection = ws.read_sample(stream)
    if detection.fmt is None:
        yield from _no_header(first, stream, ctx)
        return
    store = ws.TextStore(ctx.work_dir)
    try:
        yield from _parse_scanned(ws.Scanner([detection.fmt] + detection.others, store).run(stream, first),
                                  detection, ctx)
    finally:
        store.close()


def _parse_scanned(scan: ws.Scan, detection: wf.Detection,
                   ctx: ParseContext) -> Iterator[pa.RecordBatch | Reject]:
    _note_shapes(detection, scan.formats, ctx)
    _release_memory()
    ctx.report.repairs += scan.repairs
    if scan.repairs:
        ctx.report.warn(f"{scan.repairs} invalid UTF-8 sequence(s) replaced with U+FFFD "
                        f"(line {_some(scan.repaired_lines)}).")
    built = _Build(scan, ctx) if scan.chunks else None   # may refuse the file: before any output
    for line_no, text in scan.pre_header:
        yield Reject(f"line {line_no}", "text before the first message header", text)
    if built is not None:
        yield from built.rejects
        yield from built.batches()


# --- building the records ----------------------------------------------------------------------

class _Build:
    """Whole-file decisions (date order, names, flags) as numpy columns over all messages; the
    text columns stay in the per-chunk arrays of the scan, which the batches slice without copying.
    """

    def __init__(self, scan: ws.Scan, ctx: ParseContext) -> None:
        self.ctx, self.formats, self.w = ctx, scan.formats, wf.wording()
        self.rejects: list[Reject] = []
        self.overrides: dict[int, str] = {}
        chunks = scan.chunks
        fmt_idx = np.concatenate([c.fmt_idx for c in chunks])
        order = [self._date_order(chunks, fi, fmt_idx == fi) for fi in range(len(self.formats))]
        parts = [self._local_times(chunk, order) for chunk in chunks]     # chunk by chunk: small temporaries
        local_us, valid, reason, seconds = (np.concatenate([p[i] for p in parts]) for i in range(4))
        del parts
        for chunk in chunks:
            chunk.fields = chunk.flen = chunk.nfields = None
        if not valid.all():
            chunks = self._reject_rows(chunks, valid, reason, order)
            local_us, seconds = local_us[valid], seconds[valid]
        for chunk in chunks:
            chunk.prefix = None          # only needed for rejects
        self.chunks = chunks
        self.n = n = sum(len(c) for c in chunks)
        if n == 0:
            return
        self.conversation, chat_name = _conversation(ctx.source_path, self.w)

        # Names: one global table of distinct names as written; rows hold indexes into it.
        lookup: dict[str, int] = {}
        parts = []
        for chunk in chunks:
            remap = np.array([lookup.setdefault(nm, len(lookup)) for nm in chunk.author_names] or [0],
                             dtype=np.int32)
            parts.append(remap[chunk.author_idx])
        names_raw = list(lookup)
        author = np.concatenate(parts)
        seplen = np.concatenate([c.seplen for c in chunks])
        system = np.zeros(n, dtype=bool)
        self._fix_names(author, seplen, names_raw, lookup)
        has_author = seplen > 0
        names = [_strip_marks(nm, self.w) for nm in names_raw]
        notice = self._notices()
        hits = np.flatnonzero(notice & has_author)
        chat_author = chat_name or (names[author[hits[0]]] if len(hits) else None)
        system |= ~has_author | notice
        system |= self._attributed_notices(author, has_author, names, chat_author)
        message = ~system

        flags = np.zeros((n, len(FLAG_NAMES)), dtype=bool)
        self.attachment_rows = np.zeros(0, dtype=np.int64)
        self.attachments = self._markers(flags)
        backwards = np.zeros(n, dtype=bool)
        backwards[1:] = local_us[1:] < local_us[:-1]
        flags[:, F_ORDER] = backwards
        pasted = self._pasted_runs(chunks, backwards, message)
        line = np.concatenate([c.line for c in chunks])
        nlines = np.concatenate([c.nlines for c in chunks])
        for chunk in chunks:
            chunk.line = chunk.nlines = chunk.seplen = chunk.author_idx = None
            chunk.is_pm = chunk.period_ok = chunk.ends_gt = chunk.attach_hint = None
        flags[:, F_REPAIRED] = _rows_with_lines(line, nlines, scan.repaired_lines)
        headerlike_cont = _rows_with_lines(line, nlines, scan.headerlike_lines)
        if scan.headerlike_lines:
            ctx.report.warn(f"{len(scan.headerlike_lines)} line(s) inside messages look like a header of "
                            f"another date/time shape (line {_some(scan.headerlike_lines)}); they were "
                            "kept as message text and flagged header_like_body.")

        owner_names = {_strip_marks(x, self.w) for x in ctx.owner.whatsapp_names}
        is_owner = np.array([nm in owner_names for nm in names], dtype=bool)
        # "An author not otherwise seen": one message only, in a chat where at least two other
        # people wrote more than once (in a two-person chat both are expected), neither the owner
        # nor the chat's own name, and not named by a system line (someone added, who joined).
        counts = np.bincount(author[message], minlength=len(names))
        regulars = int((counts >= 2).sum())
        unexpected = np.array([counts[i] == 1 and regulars >= 2 and not is_owner[i]
                               and names[i] != chat_author for i in range(len(names))], dtype=bool)
        self._drop_named_in_system_lines(unexpected, names, system)
        flags[:, F_HEADERLIKE] = (unexpected[author] | backwards | headerlike_cont | pasted) & message

        self.ts_utc = np.empty(n, dtype=np.int64)
        self.tz_codes = np.empty(n, dtype=np.int8)
        for lo in range(0, n, _SLICE):
            self.ts_utc[lo:lo + _SLICE], self.tz_codes[lo:lo + _SLICE] = to_utc(local_us[lo:lo + _SLICE], ctx.timezone)
        del local_us
        _release_memory()
        self.seconds = seconds
        self.kind = system
        self.direction = np.where(system, 2, is_owner[author]).astype(np.int8)
        self.flags = flags
        self.line = line
        self.sender_idx = pa.array(author, mask=system)
        self.raw_idx = pa.array(author, mask=~has_author)
        ids = wc.sender_ids(names, ctx.phone_region)
        self.senders = pa.array(ids, pa.string())
        self.names_raw = pa.array(names_raw, pa.string())
        named = names[author[hits[0]]] if len(hits) else chat_name
        identity = self._chat(ids, author, message, is_owner | unexpected, named)
        self.extra = dumps_extra({EXTRA_CHAT: identity, wc.CHAT_NAME: named} if named and wc.is_group(identity)
                                 else {EXTRA_CHAT: identity})

    # -- day/month order ---------------------------------------------------------------------

    def _date_order(self, chunks: list[ws.Chunk], fi: int, rows: np.ndarray) -> str:
        """Day/month order of the header lines of shape ``fi`` (``rows``: mask over all messages).

        What the lines prove wins over ``ctx.date_order``: the year written first, or a field above
        12 in one position and never in the other. The given order applies only where the lines
        cannot tell; else chronology, else the file is refused."""
        ctx, fmt = self.ctx, self.formats[fi]
        user = (ctx.date_order or "").strip().upper() or None
        if not rows.any():
            return "DMY"       # a shape whose lines all matched an earlier one: nothing to read
        lines = np.concatenate([c.line for c in chunks])[rows]
        dts = _RowText(chunks, rows)
        if fmt.years == "first4":
            if user and user != "YMD":
                ctx.report.warn(f"date_order {user} was given, but this file writes the year first (4 digits: "
                                f"line {lines[0]} reads {dts[0]!r}); it was read as YMD.")
            return "YMD"
        if user == "YMD" and fmt.years == "last4":
            ctx.report.warn(f"date_order YMD was given, but this file writes a 4-digit year last (line {lines[0]} "
                            f"reads {dts[0]!r}); day/month order was decided from the file instead.")
            user = None
        a = np.concatenate([c.fields[0] for c in chunks])[rows]
        b = np.concatenate([c.fields[1] for c in chunks])[rows]
        over_a, over_b = a > 12, b > 12
        n_a, n_b = int(over_a.sum()), int(over_b.sum())
        if n_a != 0 and n_b == 0 or n_b != 0 and n_a == 0:
            proven, over = ("DMY", over_a) if n_a else ("MDY", over_b)
            if user and user != proven:
                i = int(np.argmax(over))
                what = "first" if proven == "DMY" else "second"
                ctx.report.warn(f"date_order {user} was given, but line {lines[i]} reads {dts[i]!r}: its {what} "
                                f"number is above 12, so it is the day, not the month; the file was read as "
                                f"{proven} (by its content, not by the order given).")
            return proven
        if n_a and n_b:
            if user in ("DMY", "MDY"):
                order = user
                why = "as given (date_order)"
            else:
                order = "DMY" if n_a >= n_b else "MDY"
                why = "the majority"
            ctx.report.warn(f"day/month order: {n_a} line(s) have a first field above 12 and {n_b} "
                            f"a second field above 12; read as {order} ({why}); the others are "
                            "rejected as impossible dates.")
            return order
        if user in ("DMY", "MDY", "YMD"):
            return user
        if (a == b).all():
            return "DMY"   # day equals month on every line: both readings give the same dates
        year = np.concatenate([c.fields[2] for c in chunks])[rows].astype(np.int64)
        year = np.where(np.concatenate([c.flen[2] for c in chunks])[rows] <= 2, year + 2000, year)
        key_dmy = year * 10000 + b.astype(np.int64) * 100 + a
        key_mdy = year * 10000 + a.astype(np.int64) * 100 + b
        back_dmy = int((np.diff(key_dmy) < 0).sum())
        back_mdy = int((np.diff(key_mdy) < 0).sum())
        if back_dmy == 0 and back_mdy > 0:
            order, other, back = "DMY", "MDY", back_mdy
        elif back_mdy == 0 and back_dmy > 0:
            order, other, back = "MDY", "DMY", back_dmy
        else:
            why = ("both readings keep every message in date order" if back_dmy == back_mdy == 0 else
                   f"both readings put messages out of date order (DMY: {back_dmy}, MDY: {back_mdy})")
            raise DateOrderAmbiguous(
                f"cannot tell whether dates are day/month or month/day: no day or month is above 12 "
                f"in its {len(a)} message(s), and {why}.",
                file=ctx.source_path,
                hint="Say which it is: re-run with --date-order DMY or --date-order MDY, or set "
                     'date_order = "DMY" (or "MDY") in case.toml.')
        ctx.report.warn(f"day/month order {order} inferred from chronology (no day above 12; reading "
                        f"{other} would put {back} message(s) before the one above them). If this is "
                        "wrong, set date_order (--date-order).")
        return order

    def _local_times(self, chunk: ws.Chunk, order: list[str]):
        """(local µs, valid, reason code, has seconds) of one chunk's rows (``order``: per shape)."""
        f, flen, nfields = chunk.fields.astype(np.int32), chunk.flen, chunk.nfields
        code = np.array([_ORDERS.index(o) for o in order], dtype=np.int8)[chunk.fmt_idx]
        dmy, mdy = code == 0, code == 1
        day = np.where(dmy, f[0], np.where(mdy, f[1], f[2]))
        month = np.where(dmy, f[1], np.where(mdy, f[0], f[1]))
        year = np.where(dmy | mdy, f[2], f[0])
        ylen = np.where(dmy | mdy, flen[2], flen[0])
        year = year + np.where(ylen <= 2, 2000, 0).astype(np.int32)
        hour, minute, second = f[3], f[4], f[5]
        ok_count = (nfields == 5) | (nfields == 6)
        ok_month = (month >= 1) & (month <= 12)
        ok_year = (year >= 1900) & (year < 2200)
        m = np.where(ok_month, month, 1)
        y = np.where(ok_year, year, 2000)
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        ok_date = ok_year & ok_month & (day >= 1) & (day <= _DAYS_IN_MONTH[m] + (leap & (m == 2)))
        ok_minsec = (minute >= 0) & (minute <= 59) & (second <= 59)
        ok_hour = (hour >= 0) & (hour <= 23)
        if chunk.is_pm is not None:
            twelve = np.array([bool(fmt.period) for fmt in self.formats])[chunk.fmt_idx]
            ok_hour = np.where(twelve, chunk.period_ok & (hour >= 0) & (hour <= 12), ok_hour)
            hour = np.where(twelve, hour % 12 + 12 * chunk.is_pm, hour)
        valid = ok_count & ok_date & ok_hour & ok_minsec
        days = (_DAYS_BEFORE_YEAR[y - 1900] + _DAYS_BEFORE_MONTH[leap.astype(np.int8), m]
                + np.where(ok_date, day, 1) - 1)
        local_us = days.astype(np.int64) * 86400 + (hour * 3600 + minute * 60 + np.maximum(second, 0))
        local_us *= 1_000_000
        reason = np.where(~ok_date, 1, np.where(~ok_hour, 2, np.where(~ok_minsec, 3, 0))).astype(np.int8)
        return local_us, valid, reason, f[5] >= 0

    def _reject_rows(self, chunks, valid, reason, order) -> list[ws.Chunk]:
        why = {2: "impossible hour", 3: "impossible minute or second", 0: "unreadable date/time"}
        kept, start = [], 0
        for chunk in chunks:
            stop = start + len(chunk)
            ok = valid[start:stop]
            if not ok.all():
                bad = np.flatnonzero(~ok)
                take = ws._idx(bad)
                dts, bodies = chunk.dt.take(take).to_pylist(), chunk.body.take(take).to_pylist()
                marked_rows, marked_text = chunk.prefix
                prefixes = dict(zip(marked_rows.tolist(), marked_text.to_pylist())) if len(marked_rows) else {}
                for j, r in enumerate(bad.tolist()):
                    sep = {2: ": ", 1: ":", 0: ""}[int(chunk.seplen[r])]
                    name = chunk.author_names[chunk.author_idx[r]] + sep if sep else ""
                    fi = int(chunk.fmt_idx[r])
                    fmt = self.formats[fi]
                    raw = prefixes.get(r, "[" if fmt.bracket else "") + dts[j] + fmt.end + name + bodies[j]
                    code = int(reason[start + r])
                    text = f"impossible date (read as {order[fi]})" if code == 1 else why[code]
                    self.rejects.append(Reject(f"line {int(chunk.line[r])}", f"{text}: {dts[j]!r}", raw))
                chunk = _filter_chunk(chunk, ok)
            kept.append(chunk)
            start = stop
        return [c for c in kept if len(c)]

    def _drop_named_in_system_lines(self, unexpected: np.ndarray, names: list[str], system: np.ndarray) -> None:
        """Clear ``unexpected`` for names that a system line of the chat mentions."""
        cand = [i for i in np.flatnonzero(unexpected).tolist() if names[i]]
        start = 0
        for chunk in self.chunks:
            if not cand:
                return
            rows = np.flatnonzero(system[start:start + len(chunk)])
            start += len(chunk)
            if not len(rows):
                continue
            texts = chunk.body.take(ws._idx(rows))
            named = [i for i in cand if pc.any(pc.match_substring(texts, names[i])).as_py()]
            unexpected[named] = False
            cand = [i for i in cand if i not in named]

    def _pasted_runs(self, chunks: list[ws.Chunk], backwards: np.ndarray, message: np.ndarray) -> np.ndarray:
        """Rows in a run of header lines of another shape that starts back in time: a chat pasted
        into a message, not a phone's locale change (after which the times go on). Flagged, and said."""
        if len(self.formats) == 1:
            return np.zeros(len(backwards), dtype=bool)
        shape = np.concatenate([c.fmt_idx for c in chunks])
        change = np.ones(len(shape), dtype=bool)
        change[1:] = shape[1:] != shape[:-1]
        starts = np.flatnonzero(change)
        suspect = backwards[starts] & (starts > 0)
        rows = suspect[np.cumsum(change) - 1] & message
        if rows.any():
            lines = np.concatenate([c.line for c in chunks])[starts[suspect]].tolist()
            self.ctx.report.warn(f"{int(rows.sum())} message(s) in a run of header lines of another shape that "
                                 f"starts back in time (line {_some(lines)}) may be a chat pasted into a "
                                 "message; they were read as messages and flagged header_like_body.")
        return rows

    # -- names and system lines ---------------------------------------------------------------

    def _fix_names(self, author, seplen, names_raw, lookup) -> None:
        """``Name:text`` (no space after a name seen elsewhere in the file) is read by the scan as a
        line without a name; fix those rows (they are rare). The corrected texts go to
        ``self.overrides`` (row -> text), applied when the batches are cut."""
        used = np.bincount(author[seplen > 0], minlength=len(names_raw)) > 0
        known = sorted({nm for i, nm in enumerate(names_raw) if nm and used[i]}, key=len, reverse=True)
        start = 0
        for chunk in self.chunks:
            stop = start + len(chunk)
            rows_noname = np.flatnonzero(seplen[start:stop] == 0)
            if len(rows_noname) and known:
                texts = chunk.body.take(ws._idx(rows_noname))
                colon = np.asarray(pc.find_substring(texts, ":")) > 0
                rows_noname = rows_noname[colon]
                for r, text in zip(rows_noname.tolist(), texts.filter(pa.array(colon)).to_pylist()):
                    for nm in known:
                        if text.startswith(nm + ":") and not text.startswith(nm + ": "):
                            self.overrides[start + r] = text[len(nm) + 1:]
                            author[start + r] = lookup[nm]
                            seplen[start + r] = 1
                            break
            start = stop
        names_raw[:] = list(lookup)

    def _notices(self) -> np.ndarray:
        """Rows whose text starts with a notice only WhatsApp writes (end-to-end encryption...)."""
        pattern = _notices_regex(self.w)
        return np.concatenate([_bools(pc.match_substring_regex(c.body, pattern)) for c in self.chunks])

    def _attributed_notices(self, author, has_author, names, chat_author) -> np.ndarray:
        """Rows that name an author but are WhatsApp's own words, as iOS writes them: the text starts
        with an invisible mark and is a notice about the contact (security code, business account,
        blocked; any author), or a group event with the chat's own name as author."""
        out = np.zeros(len(author), dtype=bool)
        chat_ids = [i for i, nm in enumerate(names) if chat_author and nm == chat_author]
        marked_start = "^" + wf.re2_class(self.w.marks)
        notices, events = wf.contact_notices_re2(), wf.events_re2()
        start = 0
        for chunk in self.chunks:
            stop = start + len(chunk)
            rows = np.flatnonzero(has_author[start:stop])
            if len(rows):
                rows = rows[_bools(pc.match_substring_regex(chunk.body.take(ws._idx(rows)), marked_start))]
            if len(rows):
                texts = chunk.body.take(ws._idx(rows))
                hit = _bools(pc.match_substring_regex(texts, notices))
                if chat_ids:
                    by_chat = np.isin(author[start + rows], chat_ids)
                    hit |= by_chat & _bools(pc.match_substring_regex(texts, events))
                out[start + rows[hit]] = True
            start = stop
        return out

    def _chat(self, ids: list[str], author: np.ndarray, message: np.ndarray, not_other: np.ndarray,
              named: str | None) -> str:
        """This export's conversation identity, from its content (see ``chat``); the
        owner and authors flagged as not otherwise seen (``not_other``) do not count as the other side."""
        writers = np.unique(author[message]).tolist()
        others = sorted({ids[i] for i in writers if not not_other[i]})
        system_rows = np.flatnonzero(self.kind)
        opening, group_event = None, False
        if len(system_rows):
            texts = self._texts(system_rows)
            opening = (int(self.ts_utc[system_rows[0]] // 60_000_000), _lstrip_marks(texts[0].as_py(), self.w))
            group_event = bool(_bools(pc.match_substring_regex(texts, wc.group_events_re2())).any())
        return wc.chat_identity(others=others, group_event=group_event, opening=opening,
                                named=wc.sender_ids([named], self.ctx.phone_region)[0] if named else None,
                                source_sha256=self.ctx.source_sha256)

    def _texts(self, rows: np.ndarray) -> pa.Array:
        """The texts of these rows (sorted indexes over all chunks)."""
        parts, start = [], 0
        for chunk in self.chunks:
            stop = start + len(chunk)
            lo, hi = np.searchsorted(rows, [start, stop])
            if hi > lo:
                parts.append(chunk.body.take(ws._idx(rows[lo:hi] - start)))
            start = stop
        return pa.concat_arrays(parts)

    # -- markers and attachments --------------------------------------------------------------

    def _markers(self, flags) -> pa.StructArray | None:
        """Media, deleted and edited flags; attachments as (sorted rows, struct array)."""
        pats = _marker_regexes(self.w)
        rows_parts, name_parts = [], []
        start = 0
        for chunk in self.chunks:
            cand = np.flatnonzero(_bools(pc.match_substring_regex(chunk.body, pats["any"])))
            if len(cand):
                sub = chunk.body.take(ws._idx(cand))
                for key, col in (("media", F_MEDIA), ("deleted", F_DELETED)):
                    flags[start + cand[_bools(pc.match_substring_regex(sub, pats[key]))], col] = True
            hint = np.flatnonzero(chunk.attach_hint)
            if len(hint):
                sub = chunk.body.take(ws._idx(hint))
                att = _bools(pc.match_substring_regex(sub, pats["attached"]))
                if att.any():
                    found = pc.extract_regex(sub.filter(pa.array(att)), pats["attached_name"])
                    names = pc.binary_join_element_wise(*(found.field(f) for f in ("n1", "n2", "n3")), "")
                    rows_parts.append(start + hint[att])
                    name_parts.append(names)
            ends = np.flatnonzero(chunk.ends_gt)
            if len(ends):
                hit = _bools(pc.match_substring_regex(chunk.body.take(ws._idx(ends)), pats["edited"]))
                flags[start + ends[hit], F_EDITED] = True
            start += len(chunk)
        if not rows_parts:
            return None
        rows = np.concatenate(rows_parts)
        names = pc.utf8_trim_whitespace(pc.replace_substring_regex(
            pa.concat_arrays(name_parts), wf.re2_class(self.w.marks), ""))
        enc = names.dictionary_encode()
        distinct = enc.dictionary.to_pylist()
        if self.ctx.siblings:
            stored = [self._store_sibling(nm) if nm else (None, None) for nm in distinct]
        else:                                      # a bare .txt: no media files beside it
            stored = [(None, None)] * len(distinct)
        idx = enc.indices
        keep = _bools(pc.not_equal(names, ""))
        sha = pa.array([x[0] for x in stored], pa.string()).take(idx)
        flags[rows[keep & ~_bools(sha.is_valid())], F_MISSING] = True
        ext = pc.utf8_lower(pc.extract_regex(names, r"(?P<e>\.[^./\\]*)$").field("e")).dictionary_encode()
        mimes = pa.array([_mime_of_extension(e) for e in ext.dictionary.to_pylist()] or [None], pa.string())
        struct = pa.StructArray.from_arrays(
            [names, pc.if_else(pc.is_valid(ext.indices), mimes.take(ext.indices), pa.scalar(None, pa.string())),
             pa.array([x[1] for x in stored], pa.int64()).take(idx), sha],
            fields=list(ATTACHMENT))
        self.attachment_rows = rows[keep]
        return struct.filter(pa.array(keep))

    def _store_sibling(self, name: str) -> tuple[str | None, int | None]:
        opener = self.ctx.siblings.get(name)
        if opener is None:
            return None, None
        with opener() as stream:
            if self.ctx.blobs is not None:
                sha, size = self.ctx.blobs.put_stream(stream)
            else:
                digest, size = hashlib.sha256(), 0
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                sha = digest.hexdigest()
        self.ctx.report.used_siblings.add(name)
        return sha, size

    # -- output -------------------------------------------------------------------------------

    def _body(self, body: pa.Array, a: int, b: int) -> pa.Array:
        rows = [r for r in self.overrides if a <= r < b] if self.overrides else []
        if not rows:
            return body
        rows.sort()
        mask = np.zeros(b - a, dtype=bool)
        mask[np.array(rows) - a] = True
        return pc.replace_with_mask(body, pa.array(mask), pa.array([self.overrides[r] for r in rows], pa.string()))

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Batches of ``ctx.batch_size`` rows (whatever the chunks of the scan)."""
        if self.n == 0:
            return
        ctx = self.ctx
        size = max(1, ctx.batch_size)
        longest = min(size, self.n)
        const = {
            "channel": _dict_array(np.zeros(longest, dtype=np.int32), ["whatsapp"]),
            "conversation": _const_string(self.conversation, longest),
            "extra": _const_string(self.extra, longest),
            "source_sha256": _const_string(ctx.source_sha256, longest),
            "source_path": _const_string(ctx.source_path, longest),
            "parser": _const_string(ctx.parser_label, longest),
        }
        ts = pa.Array.from_buffers(TS_UTC, self.n, [None, pa.py_buffer(self.ts_utc)])   # no copy
        att_rows = self.attachment_rows
        for a, dt, body in self._texts_by(size):
            m = len(dt)
            b = a + m
            cols = {name: arr.slice(0, m) for name, arr in const.items()}
            cols.update({
                "ts_utc": ts.slice(a, m),
                "ts_local": dt,
                "ts_precision": _dict_array(self.seconds[a:b], ["min", "s"]),
                "tz_source": _dict_array(self.tz_codes[a:b], list(TZ_SOURCE_LABELS)),
                "kind": _dict_array(self.kind[a:b], ["message", "system"]),
                "direction": _dict_array(self.direction[a:b], ["incoming", "outgoing", "unknown"]),
                "sender": self.senders.take(self.sender_idx.slice(a, m)),
                "sender_raw": self.names_raw.take(self.raw_idx.slice(a, m)),
                "body": self._body(body, a, b),
                "flags": _flag_lists(self.flags[a:b]),
                "locator": wrap("line ", pa.array(self.line[a:b]).cast(pa.string())),
            })
            lo_att, hi_att = np.searchsorted(att_rows, [a, b])
            if hi_att > lo_att:
                cols["attachments"] = _attachment_column(
                    att_rows[lo_att:hi_att] - a, m, self.attachments.slice(lo_att, hi_att - lo_att))
            yield make_batch(cols)

    def _texts_by(self, size: int) -> Iterator[tuple[int, pa.Array, pa.Array]]:
        """(first row, date/time texts, message texts) of consecutive runs of ``size`` rows over the
        chunks; each chunk is let go once its rows are out."""
        first, dts, bodies, filled = 0, [], [], 0
        for ci, chunk in enumerate(self.chunks):
            dt, body = chunk.dt, chunk.body
            self.chunks[ci] = None
            lo = 0
            while lo < len(dt):
                take = min(size - filled, len(dt) - lo)
                dts.append(dt.slice(lo, take))
                bodies.append(body.slice(lo, take))
                lo += take
                filled += take
                if filled == size:
                    yield first, _joined(dts), _joined(bodies)
                    first, dts, bodies, filled = first + size, [], [], 0
        if filled:
            yield first, _joined(dts), _joined(bodies)


def _joined(pieces: list[pa.Array]) -> pa.Array:
    return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)


_SLICE = 1 << 17


def _release_memory() -> None:
    """Give memory freed by the temporaries of a large parse back to the system (Arrow's pool and,
    on glibc, the C heap), so that the peak stays near what the records hold."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


_DAYS_BEFORE_YEAR = np.array([(np.datetime64(f"{y}-01-01") - np.datetime64("1970-01-01")).astype(np.int64)
                              for y in range(1900, 2201)], dtype=np.int32)
_DAYS_BEFORE_MONTH = np.array([[0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334],
                               [0, 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335]], dtype=np.int32)


def _filter_chunk(chunk: ws.Chunk, keep: np.ndarray) -> ws.Chunk:
    mask = pa.array(keep)
    return ws.Chunk(
        prefix=None, fmt_idx=chunk.fmt_idx[keep], store=chunk.store,
        where=chunk.store.put(chunk.dt.filter(mask), chunk.body.filter(mask)), author_idx=chunk.author_idx[keep],
        author_names=chunk.author_names, seplen=chunk.seplen[keep],
        line=chunk.line[keep], nlines=chunk.nlines[keep], fields=None, flen=None, nfields=None,
        is_pm=None if chunk.is_pm is None else chunk.is_pm[keep],
        period_ok=None if chunk.period_ok is None else chunk.period_ok[keep], ends_gt=chunk.ends_gt[keep],
        attach_hint=chunk.attach_hint[keep])


def _attachment_column(rows: np.ndarray, n: int, items: pa.StructArray) -> pa.Array:
    """A list<struct> column of ``n`` rows, null except at ``rows`` (sorted, batch-relative), which
    hold one attachment each."""
    counts = np.zeros(n, dtype=np.int32)
    counts[rows] = 1
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    mask = np.ones(n, dtype=bool)
    mask[rows] = False
    return pa.ListArray.from_arrays(pa.array(offsets), items, mask=pa.array(mask))


def _bools(array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _some(lines: list[int]) -> str:
    return ", ".join(str(x) for x in lines[:5]) + (", ..." if len(lines) > 5 else "")


@functools.lru_cache(maxsize=256)
def _mime_of_extension(ext: str) -> str | None:
    return mimetypes.guess_type("x" + ext)[0] if ext else None


# --- helpers -----------------------------------------------------------------------------------

def _dict_array(indices: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32, copy=False)),
                                          pa.array(values, pa.string()))


def _const_string(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    raw = value.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int64) * len(raw)
    if offsets[-1] >= 2**31:
        return pa.array([value] * n, pa.string())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(raw * n))


def _flag_lists(flags: np.ndarray) -> pa.Array:
    per_row = flags.sum(axis=1)
    offsets = np.zeros(len(flags) + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    _, col = np.nonzero(flags)
    values = pa.array(FLAG_NAMES, pa.string()).take(ws._idx(col))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _rows_with_lines(first_line: np.ndarray, nlines: np.ndarray, lines: list[int]) -> np.ndarray:
    hit = np.zeros(len(first_line), dtype=bool)
    if not lines:
        return hit
    where = np.searchsorted(first_line, np.asarray(lines), side="right") - 1
    ok = (where >= 0)
    ok[ok] &= np.asarray(lines)[ok] < first_line[where[ok]] + nlines[where[ok]]
    hit[where[ok]] = True
    return hit


def _strip_marks(text: str | None, w: wf.Wording) -> str:
    if not text:
        return text or ""
    return text.translate(_per_wording(w)["marks"])


_PER_WORDING: dict[int, dict] = {}


def _per_wording(w: wf.Wording) -> dict:
    """Tables and compiled patterns derived from one Wording (looked up by identity: hashing the
    dataclass on every call costs more than the work)."""
    got = _PER_WORDING.get(id(w))
    if got is None or got["w"] is not w:
        got = {"w": w, "marks": {ord(ch): None for ch in w.marks}}
        _PER_WORDING[id(w)] = got
    return got


def _lstrip_marks(text: str, w: wf.Wording) -> str:
    return text.lstrip("".join(w.marks))


def _conversation(source_path: str, w: wf.Wording) -> tuple[str, str | None]:
    """(conversation, chat name from a WhatsApp file name or None)."""
    path = source_path or ""
    outer, member = (path.rsplit("!", 1) if "!" in path else ("", path))

    def stem(p: str) -> str:
        name = PureWindowsPath(p).name if "\\" in p else PurePosixPath(p).name
        return name.rsplit(".", 1)[0] if "." in name else name

    def title(s: str) -> str | None:
        for prefix in sorted(w.title_prefixes, key=len, reverse=True):
            if s.lower().startswith(prefix.lower()) and len(s) > len(prefix):
                return re.sub(r" \(\d+\)$", "", s[len(prefix):]).strip() or None
        return None

    member_stem = stem(member)
    name = title(member_stem)
    if name is None and outer:
        name = title(stem(outer))
        if name is None and member_stem in ("_chat", "chat"):
            return stem(outer), None
    if name is not None:
        return name, name
    return member_stem, None


@_cached
def _marker_regexes(w: wf.Wording) -> dict[str, str]:
    mk = wf.re2_class(w.marks) + "*"
    sp = wf.re2_class(w.spaces)

    def alt(words):
        return "(?i:" + wf.words_alternation(words, sp) + ")"

    pats = {
        "media": rf"^{mk}{alt(w.media_omitted)}$",
        "deleted": rf"^{mk}{alt(w.deleted)}\.?$",
        "attached": (rf"^{mk}(?:<{mk}\s*{alt(w.attached_ios)}{mk}\s*[:\x{{ff1a}}]\s*[^<>\r\n]+>"
                     rf"|[^\r\n<>]+ <{mk}{alt(w.attached_ios_suffix)}>"
                     rf"|[^\r\n]+? \({alt(w.attached_android)}\))"),
    }
    pats["any"] = f"(?:{pats['media']})|(?:{pats['deleted']})"
    pats["edited"] = rf"<{mk}{alt(w.edited)}{mk}>$"
    pats["attached_name"] = (
        rf"^{mk}(?:<{mk}\s*{alt(w.attached_ios)}{mk}\s*[:\x{{ff1a}}]\s*(?P<n1>[^<>\r\n]+?)\s*>"
        rf"|(?P<n2>[^\r\n<>]+?) <{mk}{alt(w.attached_ios_suffix)}>"
        rf"|(?P<n3>[^\r\n]+?) \({alt(w.attached_android)}\))")
    return pats


@_cached
def _notices_regex(w: wf.Wording) -> str:
    mk = wf.re2_class(w.marks) + "*"
    return rf"^{mk}" + wf.words_alternation(w.notices, wf.re2_class(w.spaces))


def _note_shapes(detection: wf.Detection, formats: list[wf.HeaderFormat], ctx: ParseContext) -> None:
    """Say when header lines come in more than one shape: which were read, which stay text."""
    if len(formats) > 1:
        ctx.report.warn("header lines in more than one date/time shape (a phone's locale changed?); each "
                        "line was read in its own shape: " + "; ".join(f.describe() for f in formats) + ".")
    left = sum(n for sig, n in detection.shapes.items() if sig not in formats)
    if left:
        ctx.report.warn(f"header lines in more than one date/time shape; read as {formats[0].describe()} "
                        f"({detection.shapes[formats[0]]} of {detection.matched} sampled headers); lines of "
                        f"other shapes ({left} in the sample) cannot be read on their own (they do not settle "
                        "their own day/month order, name no author, or end in a bare space), so they stay "
                        "inside message text.")


class _RowText:
    """The date/time text of row ``i`` among the rows selected by a mask, fetched on demand."""

    def __init__(self, chunks: list[ws.Chunk], rows: np.ndarray) -> None:
        self.chunks, self.index = chunks, np.flatnonzero(rows)
        self.starts = np.cumsum([0] + [len(c) for c in chunks])

    def __getitem__(self, i: int) -> str:
        row = int(self.index[i])
        ci = int(np.searchsorted(self.starts, row, side="right") - 1)
        return self.chunks[ci].dt[row - int(self.starts[ci])].as_py()


_ORDERS = ("DMY", "MDY", "YMD")


def _no_header(first: bytes, stream: BinaryIO, ctx: ParseContext) -> Iterator[Reject]:
    data = first + read_full(stream, 1 << 62)
    if data.startswith(ws.BOM):
        data = data[len(ws.BOM):]
    if not data:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        repairs = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
        ctx.report.repairs += repairs
    ctx.report.warn("no WhatsApp message header found; every line was rejected.")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, start=1):
        yield Reject(f"line {i}", "no WhatsApp message header in this file", line.removesuffix("\r"))


register(Parser(NAME, VERSION, "WhatsApp chat export (.txt from Android or iOS)", sniff, parse,
                  uses_siblings=True))
