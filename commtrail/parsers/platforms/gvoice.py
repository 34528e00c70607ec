"""Google Voice in Google Takeout: one HTML file per conversation or call in ``Voice/Calls/``.

A conversation (``div.hChatLog``: texts, group texts) gives one record per ``div.message``; a call
(``div.haudio``) gives one record: placed (outgoing), received (incoming), missed, voicemail (its
transcript, Google's automatic one, becomes the body, flagged ``provider_transcript``) or recorded
(an incoming call Voice recorded). Times are ``abbr.dt`` / ``abbr.published`` ``title`` values:
ISO 8601 with their offset, to the millisecond; ``ts_local`` keeps them as written. Numbers come
from ``a.tel`` links; the sender Google writes as "Me" is the owner, and that link is the owner's
own Voice number (sender of their texts, recipient of the others). Images, contact cards and
recordings the page names are hashed from the files beside it (Takeout adds an extension to the
name the page gives). Labels and "User Deleted" stay in ``extra``. A call of a kind not listed
here is refused, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from lxml import etree, html

from commtrail.errors import InputError
from commtrail.parsers.base import ParseContext, Reject, read_full
from commtrail.parsers.platforms.common import Rows, store_sibling
from commtrail.parsers.registry import Parser, register
from commtrail.timeline.identity import normalise_many

NAME = "gvoice"
VERSION = "1"

_CALL_KINDS = {"placed": ("outgoing", "outgoing"), "received": ("incoming", "incoming"),
               "missed": ("missed", "incoming"), "voicemail": ("voicemail", "incoming"),
               "recorded": ("incoming", "incoming")}
_DURATION = re.compile(r"^P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_MAX_FILE = 64 << 20


def sniff(head: bytes, filename: str) -> bool:
    """An XHTML page of Google's Voice export: a chat log or a call log in its body."""
    return b"<html" in head[:4096] and (b'<div class="hChatLog' in head or b'<div class="haudio"' in head)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator:
    """Parse one page; see the module docstring."""
    data = read_full(stream, _MAX_FILE + 1)
    if len(data) > _MAX_FILE:
        raise InputError(f"this Google Voice page is larger than {_MAX_FILE >> 20} MB, which Takeout never writes; "
                         "nothing was read from it.", file=ctx.source_path, where="the whole file",
                         hint="Check that this is a page of Voice/Calls/ from Google Takeout.")
    try:
        root = html.fromstring(data, parser=html.HTMLParser(encoding="utf-8", no_network=True))
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise InputError(f"this Google Voice page cannot be read as HTML ({exc}); nothing was read from it.",
                         file=ctx.source_path, where="the whole file",
                         hint="Check that the file is complete (extract the Takeout archive again).") from None
    page = _Page(root, ctx)
    chat = root.find(".//div[@class='hChatLog hfeed']")
    if chat is None:
        chat = next((d for d in root.iter("div") if "hChatLog" in (d.get("class") or "").split()), None)
    if chat is not None:
        yield from page.messages(chat)
    else:
        call = next((d for d in root.iter("div") if d.get("class") == "haudio"), None)
        if call is None:
            raise InputError("this page has neither a conversation (hChatLog) nor a call (haudio), so it is a variant "
                             "of the Google Voice export commtrail does not know; nothing was read from it.",
                             file=ctx.source_path, where="the page body",
                             hint="Leave this file out, or report it with the file's structure (not its contents).")
        yield from page.call(call)
    yield from page.rows.batches()
    if page.missing:
        ctx.report.warn(f"{page.missing} file(s) the page names are not beside it; their records are flagged "
                        "attachment_missing.")


class _Page:
    def __init__(self, root: html.HtmlElement, ctx: ParseContext) -> None:
        self.root, self.ctx = root, ctx
        self.rows = Rows(ctx, "gvoice")
        self.missing = 0
        self.extra = {"labels": [a.text_content().strip() for a in root.iter("a") if a.get("rel") == "tag"]}
        deleted = _first_class(root, "deletedStatusContainer")
        if deleted is not None:
            self.extra["user_deleted"] = deleted.text_content().split(":", 1)[-1].strip()

    def number(self, link: html.HtmlElement | None) -> str:
        raw = (link.get("href") or "") if link is not None else ""
        raw = raw[4:] if raw.lower().startswith("tel:") else raw
        return normalise_many([raw.strip() or None], self.ctx.phone_region)[0]

    def messages(self, chat: html.HtmlElement) -> Iterator:
        items = [d for d in chat.iter("div") if d.get("class") == "message"]
        people: list[str] = []
        box = _first_class(self.root, "participants")
        if box is not None:
            people = [self.number(a) for a in box.iter("a") if "tel" in (a.get("class") or "").split()]
        owner = None
        parsed = []
        for n, div in enumerate(items, 1):
            cite = _first_class(div, "sender")
            link = next((a for a in cite.iter("a") if "tel" in (a.get("class") or "").split()), None) \
                if cite is not None else None
            name = _first_class(cite, "fn") if cite is not None else None
            who = self.number(link)
            is_me = name is not None and name.tag == "abbr" and name.text_content().strip() == "Me"
            if is_me:
                owner = who
            parsed.append((n, div, who, name.text_content().strip() if name is not None else None, is_me))
        others = sorted({p for p in people} | {w for _, _, w, _, me in parsed if not me})
        title = " ".join((self.root.findtext(".//title") or "").split())
        conversation = f"Google Voice {', '.join(others)}" if others else (title or None)
        for n, div, who, name, is_me in parsed:
            locator = f"message {n}"
            stamp = _first_class(div, "dt")
            when = _when(stamp.get("title") if stamp is not None else None)
            if when is None:
                yield Reject(locator, "no readable time (abbr.dt title)", etree.tostring(div, encoding="unicode"))
                continue
            ts, precision, raw_time = when
            q = div.find(".//q")
            body = _text(q) if q is not None else None
            if is_me:
                direction, recipients = "outgoing", [p for p in others]
            else:
                direction = "incoming"
                recipients = sorted({p for p in others if p != who} | ({owner} if owner else set()))
            flags: list[str] = []
            attachments = self.files(div, flags)
            extra = dict(self.extra, owner_voice_number=owner) if owner else self.extra
            self.rows.add(ts, raw_time, precision, "message", direction, who, name, recipients, conversation,
                          body, locator, attachments=attachments or None, flags=flags, extra=extra)

    def call(self, call: html.HtmlElement) -> Iterator:
        labels = [x.lower() for x in self.extra["labels"]]
        kind_word = next((w for w in _CALL_KINDS if w in labels), None)
        if kind_word is None:
            raise InputError(f"this Google Voice call log has none of the call kinds commtrail knows "
                             f"({', '.join(_CALL_KINDS)}); its labels are {self.extra['labels']}. Nothing was read "
                             "from it rather than guess what kind of call it was.", file=self.ctx.source_path,
                             where="the call's labels (div.tags)",
                             hint="Leave this file out, or report the label so it can be added.")
        kind, direction = _CALL_KINDS[kind_word]
        who_box = _first_class(call, "contributor")
        link = next((a for a in who_box.iter("a") if "tel" in (a.get("class") or "").split()), None) \
            if who_box is not None else None
        who = self.number(link)
        name_el = _first_class(link, "fn") if link is not None else None
        name = name_el.text_content().strip() if name_el is not None else None
        stamp = _first_class(call, "published")
        when = _when(stamp.get("title") if stamp is not None else None)
        if when is None:
            yield Reject("call", "no readable time (abbr.published title)", etree.tostring(call, encoding="unicode"))
            return
        ts, precision, raw_time = when
        span = _first_class(call, "duration")
        written = span.get("title") if span is not None else None
        duration = _seconds(written)
        flags: list[str] = ["recorded"] if kind_word == "recorded" else []
        body = None
        extra = dict(self.extra)
        if written and (duration is None or "." in written):   # (a fraction rounded, or no duration read)
            extra["duration"] = written
        transcript = _first_class(call, "full-text")
        if transcript is not None:
            body = transcript.text_content()
            flags.append("provider_transcript")
            extra["transcript"] = "Google Voice's automatic transcript, not the caller's own text"
        attachments = self.files(call, flags)
        sender, recipients = (None, [who]) if direction == "outgoing" else (who, [])
        self.rows.add(ts, raw_time, precision, kind, direction, sender, name or None, recipients,
                      f"Google Voice {who}", body, "call", duration=duration, attachments=attachments or None,
                      flags=flags, extra=extra)

    def files(self, element: html.HtmlElement, flags: list[str]) -> list[dict]:
        """The files an element names (images, contact cards, recordings), from beside the page."""
        names = []
        for el in element.iter("img", "audio", "video", "a"):
            ref = el.get("src") if el.tag != "a" else (el.get("href") if "vcard" in (el.get("class") or "").split()
                                                       else None)
            if ref and ref not in names:
                names.append(ref)
        out = []
        for ref in names:
            got = store_sibling(self.ctx, ref)
            if got is None:
                self.missing += 1
                if "attachment_missing" not in flags:
                    flags.append("attachment_missing")
                got = {"name": ref, "mime": None, "size": None, "sha256": None}
            out.append(got)
        return out


def _first_class(element: html.HtmlElement | None, name: str) -> html.HtmlElement | None:
    if element is None:
        return None
    for el in element.iter():
        if isinstance(el.tag, str) and name in (el.get("class") or "").split():
            return el
    return None


def _when(title: str | None) -> tuple[int, str, str] | None:
    """(µs since the epoch, precision, the text) of an ISO 8601 time with its offset."""
    if not title:
        return None
    try:
        when = datetime.fromisoformat(title.strip())
        if when.tzinfo is None:
            return None
        seconds = int(when.timestamp())
    except (ValueError, OverflowError, OSError):
        return None
    us = seconds * 1_000_000 + when.microsecond
    return us, ("ms" if when.microsecond or "." in title else "s"), title


def _seconds(value: str | None) -> int | None:
    m = _DURATION.match(value or "")
    if not m or not any(m.groups()):
        return None
    h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    total = h * 3600 + mi * 60 + s
    if not total < 2**31:   # (an infinity too: digits past a float's range)
        return None
    whole = round(total)   # whole seconds, half to even, as the other readers round
    return whole if whole < 2**31 else None


def _text(q: html.HtmlElement) -> str:
    """The text of a ``<q>``, a ``<br>`` read as a line break."""
    parts = [q.text or ""]
    for child in q:
        if isinstance(child.tag, str):   # (a comment or processing instruction has no text of its own)
            parts.append("\n" if child.tag == "br" else child.text_content())
        parts.append(child.tail or "")
    return "".join(parts)


register(Parser(NAME, VERSION, "Google Voice (Takeout Voice/Calls/*.html)", sniff, parse, uses_siblings=True))
