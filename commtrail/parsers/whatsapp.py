"""WhatsApp "Export chat" text files (Android and iOS, every locale shape FORMATS.md lists).

The header shape (date order aside) is found from a sample of lines; then the whole file is parsed
vectorised (see ``_whatsapp_scan``): one RE2 pattern over the lines, numpy for offsets, dates and
times, pandas for the time zone. Day/month order is decided from the whole file before anything is
yielded: a field above 12 settles it, else chronology (a field that goes backwards within a year
is not the month), else the file is refused with :class:`DateOrderAmbiguous` unless
``ctx.date_order`` is set (it always wins).

Wording (day-period words, system notices, media / deleted / edited markers, file-name prefixes)
lives in ``commtrail/data/whatsapp_markers.toml``.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.errors import DateOrderAmbiguous
from commtrail.parsers import _whatsapp_format as wf
from commtrail.parsers import _whatsapp_scan as ws
from commtrail.parsers.base import ParseContext, Reject
from commtrail.parsers.registry import Parser, register
from commtrail.timeline.identity import normalise_many
from commtrail.timeline.localtime import TZ_SOURCE_LABELS, to_utc
from commtrail.timeline.schema import ATTACHMENT, DICT, TS_UTC, make_batch

NAME = "whatsapp"
VERSION = "1.0"

FLAG_NAMES = ("attachment_missing", "deleted", "edited", "header_like_body", "media_omitted",
              "repaired_chars", "time_out_of_order")
(F_MISSING, F_DELETED, F_EDITED, F_HEADERLIKE, F_MEDIA, F_REPAIRED, F_ORDER) = range(len(FLAG_NAMES))

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_PHONE_NAME = re.compile(r"^\+[0-9 ()\-\u00a0\u2011\u202f.]{6,}$")
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
    fmt = detection.fmt
    _note_mixed_shapes(detection, ctx)
    cols = ws.scan(stream, first, fmt)
    ctx.report.repairs += cols.repairs
    if cols.repairs:
        shown = ", ".join(str(n) for n in cols.repaired_lines[:5])
        ctx.report.warn(f"{cols.repairs} invalid UTF-8 sequence(s) replaced with U+FFFD "
                        f"(line {shown}{', ...' if len(cols.repaired_lines) > 5 else ''}).")
    built = _Build(cols, fmt, ctx) if cols.body else None   # may refuse the file: before any output
    for line_no, text in cols.pre_header:
        yield Reject(f"line {line_no}", "text before the first message header", text)
    if built is not None:
        yield from built.rejects
        yield from built.batches()


# --- building the records ----------------------------------------------------------------------

class _Build:
    """All records of one export as whole-file columns, cut into batches at the end."""

    def __init__(self, cols: ws.Columns, fmt: wf.HeaderFormat, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.fmt = fmt
        self.w = wf.wording()
        self.rejects: list[Reject] = []
        pre = pa.concat_arrays(cols.pre)
        dt = pa.concat_arrays(cols.dt)
        period = pa.concat_arrays(cols.period)
        author = pa.concat_arrays(cols.author)
        body = pa.concat_arrays(cols.body)
        seplen = np.concatenate(cols.seplen)
        line = np.concatenate(cols.line)
        nlines = np.concatenate(cols.nlines)
        fields = np.concatenate(cols.fields, axis=1)
        flen = np.concatenate(cols.flen, axis=1)
        nfields = np.concatenate(cols.nfields)

        order = self._date_order(fields, flen)
        local_us, valid, reason = self._local_times(fields, flen, nfields, period, order)
        if not valid.all():
            self._reject_rows(np.flatnonzero(~valid), pre, dt, author, seplen, body, line, reason, order)
            keep = pa.array(valid)
            dt, author, body = dt.filter(keep), author.filter(keep), body.filter(keep)
            seplen, line, nlines, fields, local_us = (seplen[valid], line[valid], nlines[valid],
                                                      fields[:, valid], local_us[valid])
        self.n = n = len(body)
        if n == 0:
            return
        self.conversation, chat_name = _conversation(ctx.source_path, self.w)
        author, body, seplen, forced_system = self._fix_authors(author, body, seplen)
        has_author = seplen > 0
        chat_author = chat_name or self._chat_author_from_notice(author, body, has_author)
        system = ~has_author | forced_system | self._system_lines(author, body, has_author, chat_author)
        message = ~system

        flags = np.zeros((n, len(FLAG_NAMES)), dtype=bool)
        attachments = self._markers(body, flags)
        backwards = np.zeros(n, dtype=bool)
        backwards[1:] = local_us[1:] < local_us[:-1]
        flags[:, F_ORDER] = backwards
        flags[:, F_REPAIRED] = _rows_with_lines(line, nlines, cols.repaired_lines)
        headerlike_cont = _rows_with_lines(line, nlines, cols.headerlike_lines)
        if cols.headerlike_lines:
            shown = ", ".join(str(x) for x in cols.headerlike_lines[:5])
            ctx.report.warn(f"{len(cols.headerlike_lines)} line(s) inside messages look like a header of "
                            f"another date/time shape (line {shown}"
                            f"{', ...' if len(cols.headerlike_lines) > 5 else ''}); they were kept "
                            f"as message text and flagged header_like_body.")

        enc = author.dictionary_encode()
        idx = np.asarray(enc.indices, dtype=np.int64)
        raw_names = enc.dictionary.to_pylist()
        names = [_strip_marks(a, self.w) for a in raw_names]
        owner_names = {_strip_marks(x, self.w) for x in ctx.owner.whatsapp_names}
        is_owner = np.array([nm in owner_names for nm in names], dtype=bool)
        senders = _sender_ids(names, ctx.phone_region)
        # "An author not otherwise seen": one message only, in a chat where at least two other
        # people wrote more than once (in a two-person chat both are expected), and neither the
        # owner nor the chat's own name.
        counts = np.bincount(idx[message], minlength=len(names))
        regulars = int((counts >= 2).sum())
        unexpected = np.array([counts[i] == 1 and regulars >= 2 and not is_owner[i]
                               and names[i] != chat_author for i in range(len(names))], dtype=bool)
        lonely = unexpected[idx] & message
        flags[:, F_HEADERLIKE] = (lonely | (backwards & message) | headerlike_cont) & message

        self.ts_utc, tz_codes = to_utc(local_us, ctx.timezone)
        self.columns = {
            "ts_local": dt,
            "ts_precision": _dict_array((fields[5] >= 0).astype(np.int32), ["min", "s"]),
            "tz_source": _dict_array(tz_codes.astype(np.int32), list(TZ_SOURCE_LABELS)),
            "kind": _dict_array(system.astype(np.int32), ["message", "system"]),
            "direction": _dict_array(np.where(system, 2, is_owner[idx].astype(np.int32)).astype(np.int32),
                                     ["incoming", "outgoing", "unknown"]),
            "sender": pc.if_else(pa.array(message), pa.array(senders, pa.string()).take(enc.indices),
                                 pa.scalar(None, pa.string())),
            "sender_raw": pc.if_else(pa.array(has_author), author, pa.scalar(None, pa.string())),
            "body": body,
            "flags": _flag_lists(flags),
            "locator": pc.binary_join_element_wise(pa.scalar("line "), pa.array(line).cast(pa.string()), ""),
        }
        self.attachments = attachments

    # -- day/month order ---------------------------------------------------------------------

    def _date_order(self, fields: np.ndarray, flen: np.ndarray) -> str:
        ctx, fmt = self.ctx, self.fmt
        user = (ctx.date_order or "").strip().upper() or None
        if fmt.years == "first4":
            if user and user != "YMD":
                ctx.report.warn(f"date_order {user} was set, but this file writes the year first "
                                "(4 digits); it was read as YMD.")
            return "YMD"
        if user == "YMD" and fmt.years == "last4":
            ctx.report.warn("date_order YMD was set, but this file writes a 4-digit year last; "
                            "day/month order was decided from the file instead.")
            user = None
        if user in ("DMY", "MDY", "YMD"):
            return user
        a, b = fields[0], fields[1]
        over_a, over_b = int((a > 12).sum()), int((b > 12).sum())
        if over_a and not over_b:
            return "DMY"
        if over_b and not over_a:
            return "MDY"
        if over_a and over_b:
            order = "DMY" if over_a >= over_b else "MDY"
            ctx.report.warn(f"day/month order: {over_a} line(s) have a first field above 12 and {over_b} "
                            f"a second field above 12; read as {order} (the majority); the others are "
                            "rejected as impossible dates.")
            return order
        if (a == b).all():
            return "DMY"   # day equals month on every line: both readings give the same dates
        year = fields[2].astype(np.int64)
        year = np.where(flen[2] <= 2, year + 2000, year)
        key_dmy = year * 10000 + b.astype(np.int64) * 100 + a
        key_mdy = year * 10000 + a.astype(np.int64) * 100 + b
        back_dmy = int((np.diff(key_dmy) < 0).sum())
        back_mdy = int((np.diff(key_mdy) < 0).sum())
        if back_dmy == 0 and back_mdy > 0:
            order, other, back = "DMY", "MDY", back_mdy
        elif back_mdy == 0 and back_dmy > 0:
            order, other, back = "MDY", "DMY", back_dmy
        else:
            n = len(a)
            why = ("both readings keep every message in date order" if back_dmy == back_mdy == 0 else
                   f"both readings put messages out of date order (DMY: {back_dmy}, MDY: {back_mdy})")
            raise DateOrderAmbiguous(
                f"cannot tell whether dates are day/month or month/day: no day or month is above 12 "
                f"in its {n} message(s), and {why}.",
                file=ctx.source_path,
                hint="Say which it is: re-run with --date-order DMY or --date-order MDY, or set "
                     'date_order = "DMY" (or "MDY") in case.toml.')
        ctx.report.warn(f"day/month order {order} inferred from chronology (no day above 12; reading "
                        f"{other} would put {back} message(s) before the one above them). If this is "
                        "wrong, set date_order (--date-order).")
        return order

    def _local_times(self, fields, flen, nfields, period, order):
        if order == "DMY":
            day, month, year = fields[0], fields[1], fields[2]
            ylen = flen[2]
        elif order == "MDY":
            month, day, year = fields[0], fields[1], fields[2]
            ylen = flen[2]
        else:
            year, month, day = fields[0], fields[1], fields[2]
            ylen = flen[0]
        year = np.where(ylen <= 2, year.astype(np.int64) + 2000, year.astype(np.int64))
        month = month.astype(np.int64)
        day = day.astype(np.int64)
        hour, minute, second = (fields[3].astype(np.int64), fields[4].astype(np.int64),
                                fields[5].astype(np.int64))
        ok_count = (nfields == 5) | (nfields == 6)
        ok_month = (month >= 1) & (month <= 12)
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        dim = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + (ok_month & (month == 2) & leap)
        ok_date = ok_month & (day >= 1) & (day <= dim)
        ok_minsec = (minute >= 0) & (minute <= 59) & (second <= 59)
        if self.fmt.period:
            enc = period.dictionary_encode()
            table = self.w.period_table
            words = [self.w.period_key(p) for p in enc.dictionary.to_pylist()]
            pm_of_word = np.array([1 if table.get(k) else 0 for k in words] or [0], dtype=np.int64)
            known = np.array([k in table for k in words] or [False], dtype=bool)
            pidx = np.asarray(enc.indices, dtype=np.int64)
            ok_hour = known[pidx] & (hour >= 0) & (hour <= 12)
            hour = hour % 12 + 12 * pm_of_word[pidx]
        else:
            ok_hour = (hour >= 0) & (hour <= 23)
        valid = ok_count & ok_date & ok_hour & ok_minsec
        days = _days_from_civil(year, np.where(ok_month, month, 1), np.where(ok_date, day, 1))
        local_us = ((days * 86400 + hour * 3600 + minute * 60 + np.maximum(second, 0)) * 1_000_000)
        reason = np.where(~ok_date, 1, np.where(~ok_hour, 2, np.where(~ok_minsec, 3, 0)))
        return local_us.astype(np.int64), valid, reason

    def _reject_rows(self, rows, pre, dt, author, seplen, body, line, reason, order):
        why = {1: f"impossible date (read as {order})", 2: "impossible hour", 3: "impossible minute or second",
               0: "unreadable date/time"}
        take = pa.array(rows)
        pres, dts = pre.take(take).to_pylist(), dt.take(take).to_pylist()
        authors, bodies = author.take(take).to_pylist(), body.take(take).to_pylist()
        for k, r in enumerate(rows.tolist()):
            sep = {2: ": ", 1: ":", 0: ""}[int(seplen[r])]
            raw = pres[k] + (authors[k] + sep if seplen[r] else "") + bodies[k]
            self.rejects.append(Reject(f"line {int(line[r])}", f"{why[int(reason[r])]}: {dts[k]!r}", raw))

    # -- authors and system lines -------------------------------------------------------------

    def _fix_authors(self, author, body, seplen):
        """Two shapes the header pattern reads wrongly, fixed row by row (they are rare):
        ``Name:text`` with no space (known name, read as a system line), and a system line whose
        quoted subject holds ": " (read as a name with an unbalanced quote)."""
        n = len(body)
        forced = np.zeros(n, dtype=bool)
        has_author = seplen > 0
        known = sorted({a for a in pc.unique(author.filter(pa.array(has_author))).to_pylist() if a},
                       key=len, reverse=True)
        new_author: dict[int, str] = {}
        new_body: dict[int, str] = {}
        new_sep: dict[int, int] = {}
        no_author = np.flatnonzero(~has_author)
        if len(no_author) and known:
            texts = body.take(pa.array(no_author)).to_pylist()
            for r, text in zip(no_author.tolist(), texts):
                for name in known:
                    if text.startswith(name + ":") and not text.startswith(name + ": "):
                        new_author[r], new_body[r], new_sep[r] = name, text[len(name) + 1:], 1
                        break
        quoted = np.asarray(pc.match_substring_regex(author, "[\"\u201c\u201d\u201e\u00ab\u00bb]"))
        quoted &= has_author
        if quoted.any():
            events = re.compile(_events_regex(self.w, python=True))
            rows = np.flatnonzero(quoted)
            names = author.take(pa.array(rows)).to_pylist()
            texts = body.take(pa.array(rows)).to_pylist()
            for r, name, text in zip(rows.tolist(), names, texts):
                if not _unbalanced(name):
                    continue
                full = name + (": " if seplen[r] == 2 else ":") + text
                if events.match(_lstrip_marks(full, self.w)):
                    new_author[r], new_body[r], new_sep[r] = "", full, 0
                    forced[r] = True
        if new_author:
            rows = sorted(new_author)
            mask = np.zeros(n, dtype=bool)
            mask[rows] = True
            author = pc.replace_with_mask(author, pa.array(mask), pa.array([new_author[r] for r in rows]))
            body = pc.replace_with_mask(body, pa.array(mask), pa.array([new_body[r] for r in rows]))
            seplen = seplen.copy()
            seplen[rows] = [new_sep[r] for r in rows]
        return author, body, seplen, forced

    def _chat_author_from_notice(self, author, body, has_author) -> str | None:
        if not has_author.any():
            return None
        notice = np.asarray(pc.match_substring_regex(body, _notices_regex(self.w))) & has_author
        if not notice.any():
            return None
        return _strip_marks(author[int(np.flatnonzero(notice)[0])].as_py(), self.w)

    def _system_lines(self, author, body, has_author, chat_author) -> np.ndarray:
        system = np.asarray(pc.match_substring_regex(body, _notices_regex(self.w))).copy()
        if chat_author:
            same = np.zeros(len(system), dtype=bool)
            uniq = pc.unique(author).to_pylist()
            hits = [u for u in uniq if u and _strip_marks(u, self.w) == chat_author]
            if hits:
                same = np.asarray(pc.is_in(author, pa.array(hits))) & has_author
            if same.any():
                rows = np.flatnonzero(same)
                ev = np.asarray(pc.match_substring_regex(body.take(pa.array(rows)), _events_regex(self.w)))
                system[rows[ev]] = True
        return system

    # -- markers and attachments --------------------------------------------------------------

    def _markers(self, body, flags) -> list | None:
        pats = _marker_regexes(self.w)
        candidates = np.flatnonzero(np.asarray(pc.match_substring_regex(body, pats["any"])))
        if len(candidates) == 0:
            return None
        sub = body.take(pa.array(candidates))
        for key, col in (("media", F_MEDIA), ("deleted", F_DELETED), ("edited", F_EDITED)):
            hit = np.asarray(pc.match_substring_regex(sub, pats[key]))
            flags[candidates[hit], col] = True
        att = np.asarray(pc.match_substring_regex(sub, pats["attached"]))
        if not att.any():
            return None
        rows = candidates[att]
        texts = sub.filter(pa.array(att)).to_pylist()
        found: dict[int, list[dict]] = {}
        cache: dict[str, tuple[str | None, int | None]] = {}
        for r, text in zip(rows.tolist(), texts):
            name = _attachment_name(text, self.w)
            if not name:
                continue
            if name not in cache:
                cache[name] = self._store_sibling(name)
            sha, size = cache[name]
            if sha is None:
                flags[r, F_MISSING] = True
            found[r] = [{"name": name, "mime": mimetypes.guess_type(name)[0], "size": size, "sha256": sha}]
        return found or None

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

    def batches(self) -> Iterator[pa.RecordBatch]:
        n = getattr(self, "n", 0)
        if n == 0:
            return
        ctx = self.ctx
        size = max(1, min(ctx.batch_size, n))
        const = {
            "channel": _dict_array(np.zeros(size, dtype=np.int32), ["whatsapp"]),
            "conversation": _const_string(self.conversation, size),
            "source_sha256": _const_string(ctx.source_sha256, size),
            "source_path": _const_string(ctx.source_path, size),
            "parser": _const_string(ctx.parser_label, size),
        }
        ts = pa.array(self.ts_utc, type=pa.int64()).cast(TS_UTC)
        for start in range(0, n, size):
            stop = min(start + size, n)
            cols = {name: arr.slice(start, stop - start) for name, arr in self.columns.items()}
            cols.update({name: arr.slice(0, stop - start) for name, arr in const.items()})
            cols["ts_utc"] = ts.slice(start, stop - start)
            if self.attachments and any(start <= r < stop for r in self.attachments):
                cols["attachments"] = pa.array([self.attachments.get(r) for r in range(start, stop)],
                                                type=pa.list_(ATTACHMENT))
            yield make_batch(cols)


# --- helpers -----------------------------------------------------------------------------------

def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm), vectorised."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = np.where(m > 2, m - 3, m + 9)
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _dict_array(indices: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices, type=pa.int32()), pa.array(values, pa.string())).cast(DICT)


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
    values = pa.array(FLAG_NAMES, pa.string()).take(pa.array(col.astype(np.int32)))
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
    return "".join(ch for ch in text if ch not in w.marks)


def _lstrip_marks(text: str, w: wf.Wording) -> str:
    return text.lstrip("".join(w.marks))


def _unbalanced(name: str) -> bool:
    return (name.count('"') % 2 == 1 or name.count("\u201c") != name.count("\u201d")
            or name.count("\u00ab") != name.count("\u00bb") or "\u201e" in name)


def _sender_ids(names: list[str], region: str) -> list[str]:
    phones = [nm for nm in names if _PHONE_NAME.match(nm)]
    mapped = dict(zip(phones, normalise_many(phones, region))) if phones else {}
    out = []
    for nm in names:
        ident = mapped.get(nm)
        out.append(ident if ident and ident.startswith("+") else f"wa:{nm}")
    return out


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
        "edited": rf"<{mk}{alt(w.edited)}{mk}>\s*$",
        "attached": (rf"^{mk}(?:<{mk}{alt(w.attached_ios)}{mk}\s*:\s*[^<>\r\n]+>"
                     rf"|[^\r\n<>]+ <{mk}{alt(w.attached_ios_suffix)}>"
                     rf"|[^\r\n]+? \({alt(w.attached_android)}\))"),
    }
    pats["any"] = "|".join(f"(?:{p})" for p in pats.values())
    return pats


@_cached
def _attachment_patterns(w: wf.Wording) -> list[re.Pattern[str]]:
    mk = wf.py_class(w.marks) + "*"
    sp = wf.py_class(w.spaces)

    def alt(words):
        return wf.words_alternation(words, sp)

    return [re.compile(p, re.IGNORECASE) for p in (
        rf"^{mk}<{mk}{alt(w.attached_ios)}{mk}\s*:\s*(?P<name>[^<>\r\n]+?)\s*>",
        rf"^{mk}(?P<name>[^\r\n<>]+?) <{mk}{alt(w.attached_ios_suffix)}>",
        rf"^{mk}(?P<name>[^\r\n]+?) \({alt(w.attached_android)}\)",
    )]


def _attachment_name(text: str, w: wf.Wording) -> str | None:
    for rx in _attachment_patterns(w):
        m = rx.match(text)
        if m:
            return _strip_marks(m["name"], w).strip() or None
    return None


@_cached
def _notices_regex(w: wf.Wording) -> str:
    mk = wf.re2_class(w.marks) + "*"
    return rf"^{mk}" + wf.words_alternation(w.notices, wf.re2_class(w.spaces))


@_cached
def _events_regex_cached(w: wf.Wording, python: bool) -> str:
    inner = []
    for p in w.events:
        p = p[1:] if p.startswith("^") else p
        p = p[:-1] if p.endswith("$") else p
        inner.append(f"(?:{p})")
    if python:
        mk = wf.py_class(w.marks) + "*"
        return rf"^{mk}(?:{'|'.join(inner)})$"
    mk = wf.re2_class(w.marks)
    return rf"^{mk}+(?:{'|'.join(inner)})$"


def _events_regex(w: wf.Wording, python: bool = False) -> str:
    return _events_regex_cached(w, python)


def _note_mixed_shapes(detection: wf.Detection, ctx: ParseContext) -> None:
    best = detection.fmt
    top = detection.shapes[best]
    if top < detection.matched:
        others = detection.matched - top
        ctx.report.warn(f"header lines in more than one date/time shape; read as {best.describe()} "
                        f"({top} of {detection.matched} sampled headers); lines of the other shapes "
                        f"({others} in the sample) stay inside message text.")


def _no_header(first: bytes, stream: BinaryIO, ctx: ParseContext) -> Iterator[Reject]:
    data = first + ws._read(stream, 1 << 62)
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


register(Parser(NAME, VERSION, "WhatsApp chat export (.txt from Android or iOS)", sniff, parse))
