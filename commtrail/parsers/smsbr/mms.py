"""SMS Backup & Restore ``<mms>``: one row per element, its media stored as blobs.

* Text: the ``text`` of the ``text/plain`` parts, joined with a newline, as written (a text of
  ``null`` stays ``null`` and is flagged ``null_text``). The SMIL layout part (``seq="-1"`` or
  ``application/smil``) is not text; its metadata stays in ``extra``.
* Media: every part's base64 ``data`` is decoded into the blob store piece by piece and listed in
  ``attachments``; a part that is not valid base64 keeps its text as a blob and flags the message
  ``attachment_undecodable``; a part carrying only ``text`` that is not plain text (a vCard) is
  stored as a file too.
* People: the sender is the ``137`` address; recipients the ``151`` / ``130`` / ``129`` addresses
  (to, cc, bcc) in order, without the sender and without repeats; ``insert-address-token`` is the
  owner. A message in the sent box is from the owner, whatever its ``137`` says.
* Direction: ``msg_box`` (1 inbox, 2 sent, 3 draft, 4 outbox, 5 failed), else ``m_type`` (128 sent,
  132/130 received), else who sent it; the inferred ones are flagged ``direction_inferred``.
* Conversation: the sorted participants (the ``address`` attribute, ``~``-separated, without the
  owner), joined with ``~``: a one-to-one MMS shares its conversation with the SMS of that person.
  Android's ``thread_id`` (device-local, renumbered by every restore) is kept in ``extra`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from lxml import etree

from commtrail.parsers.base import Reject
from commtrail.parsers.smsbr.media import store_base64, store_bytes
from commtrail.parsers.smsbr.rows import (
                                          COLUMN_ATTRS,
                                          NULL,
                                          OWNER_TOKEN,
                                          ROW_COLUMNS,
                                          date_ms,
                                          extra_dict,
                                          locator,
                                          )
from commtrail.timeline.identity import normalise_one
from commtrail.timeline.schema import dumps_extra

if TYPE_CHECKING:
    from commtrail.parsers.smsbr.rows import Rows

MMS_BOXES = {"1": ("incoming", None), "2": ("outgoing", None), "3": ("outgoing", "draft"),
             "4": ("outgoing", "outbox"), "5": ("outgoing", "failed")}
MMS_M_TYPES = {"128": "outgoing", "132": "incoming", "130": "incoming"}  # send-req, retrieve-conf, notification
NOT_DOWNLOADED = "130"
ADDR_FROM = "137"
ADDR_TO = ("151", "130", "129")  # to, cc, bcc
SMIL = "application/smil"
TEXT = "text/plain"


class MmsElement:
    """One ``<mms>`` as the parser met it: its attributes, its parts' and addresses' attributes,
    and any other elements inside it (kept as XML elements)."""

    __slots__ = ("attrs", "parts", "media", "addrs", "other")

    def __init__(self, attrs) -> None:
        self.attrs: dict[str, str] = dict(attrs)
        self.parts: list[dict[str, str]] = []  # `data` replaced by the name of its blob
        self.media: list[tuple[str, int, str | None] | None] = []  # per part: (sha256, size, problem)
        self.addrs: list[dict[str, str]] = []
        self.other: list = []

    def xml(self) -> str:
        """The element written back as XML (what was parsed; media replaced by their blob names)."""
        el = etree.Element("mms")
        _set_all(el, self.attrs)
        if self.parts:
            parts = etree.SubElement(el, "parts")
            for part in self.parts:
                _set_all(etree.SubElement(parts, "part"), part)
        if self.addrs:
            addrs = etree.SubElement(el, "addrs")
            for addr in self.addrs:
                _set_all(etree.SubElement(addrs, "addr"), addr)
        el.extend(self.other)
        return etree.tostring(el, encoding="unicode")


def _set_all(el, attrs: dict[str, str]) -> None:
    for key, value in attrs.items():
        el.set(key, value)


class MmsRows:
    """Turns ``<mms>`` elements into rows for :class:`~commtrail.parsers.smsbr.rows.Rows`."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.ctx = rows.ctx

    def ident(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        return self.rows.owner_token if raw == OWNER_TOKEN else normalise_one(raw, self.rows.region)

    def row(self, mms: MmsElement, ordinal: int, line: int | None, repaired: int) -> dict[str, Any] | Reject:
        rows = self.rows
        attrs, addrs, other = mms.attrs, mms.addrs, mms.other
        ms, why = date_ms(attrs.get("date"))
        attachments, texts, part_meta, flags = self._parts(mms, ordinal)
        if why:
            if repaired:
                why += f" (the raw text shows {repaired} repaired character references)"
            # Its media were stored all the same, and are named by hash in the raw text.
            return Reject(locator=locator("mms", ordinal, line), reason=why, raw=mms.xml())

        box = attrs.get("msg_box")
        direction, state = MMS_BOXES.get(box, (None, None))
        from_raw = next((a.get("address") for a in addrs if a.get("type") == ADDR_FROM), None)
        if direction is None:
            direction = MMS_M_TYPES.get(attrs.get("m_type"))
            if direction is None and from_raw is not None:
                if from_raw == OWNER_TOKEN or self.ident(from_raw) in self.ctx.owner.phones:
                    direction = "outgoing"
                elif rows.owner is not None:
                    direction = "incoming"
            if direction is None:
                direction = "unknown"
            else:
                flags.append("direction_inferred")
            if box is not None:
                flags.append("unknown_msg_box")

        participants = [p for p in rows.addresses(attrs.get("address")) if p not in rows.owner_ids]
        sender = self.ident(from_raw)
        if direction == "outgoing" and rows.owner is not None:
            sender = rows.owner  # in the sent box: the owner sent it, whatever the from-address says
        elif sender is None and direction == "incoming" and len(participants) == 1:
            sender = participants[0]
        recipients: list[str] = []
        for addr in addrs:
            if addr.get("type") in ADDR_TO:
                who = self.ident(addr.get("address"))
                if who is not None and who != sender and who not in recipients:
                    recipients.append(who)
        if not recipients:
            if direction == "incoming":
                recipients = list(rows.owner_list or [])
            elif direction == "outgoing":
                recipients = [p for p in participants if p != sender]
        if not participants:
            everyone = [sender, *recipients]
            participants = [p for p in everyone if p is not None and p not in rows.owner_ids]

        body = "\n".join(texts) if texts else None
        if attrs.get("m_type") == NOT_DOWNLOADED:
            flags.append("not_downloaded")
        if body == NULL:
            flags.append("null_text")
        if repaired:
            flags.append("repaired_chars")
        if state:
            flags.insert(0, state)
        subject = attrs.get("sub")
        extra = extra_dict(attrs, COLUMN_ATTRS["mms"])
        extra["addrs"] = [extra_dict(a) for a in addrs]
        extra["parts"] = part_meta
        if other:
            extra["other_xml"] = [etree.tostring(o, encoding="unicode", with_tail=False) for o in other]
        return {
            "ts_ms": ms, "channel": "mms", "kind": "message", "direction": direction,
            "sender": sender, "sender_raw": from_raw, "recipients": recipients or None,
            "conversation": "~".join(sorted(set(participants))) or None,
            "subject": None if subject in (NULL, "") else subject, "body": body, "duration_s": None,
            "attachments": attachments or None, "flags": flags or None, "extra": dumps_extra(extra),
        }

    def store_part(self, mms: MmsElement, attrib: dict[str, str], ordinal: int) -> None:
        """Take a part of an <mms> being read; its media goes to the blob store at once, so that
        one part's base64 text at a time is held in memory."""
        data = attrib.pop("data", None)
        stored = None
        if data not in (None, NULL, ""):
            blobs = self.ctx.blobs
            sha, size, problem = store_base64(data, blobs)
            if problem is not None:
                sha, size = store_bytes(data.encode("utf-8"), blobs)
            stored = (sha, size, problem)
            attrib["data"] = f"[{len(data)} base64 characters, stored as blob {sha}]"
            if blobs is None:
                self.rows.media_without_store += 1
        elif data is not None:
            attrib["data"] = data
        mms.parts.append(attrib)
        mms.media.append(stored)

    def _parts(self, mms: MmsElement, ordinal: int):
        """Attachments, texts, part metadata (for `extra`) and flags of one MMS."""
        blobs = self.ctx.blobs
        attachments, texts, meta, flags = [], [], [], []
        for attrib, stored in zip(mms.parts, mms.media):
            ct = attrib.get("ct") or ""
            text = attrib.get("text")
            info = extra_dict(attrib, ("text",))
            meta.append(info)
            name = next((v for v in (attrib.get("name"), attrib.get("cl"), attrib.get("fn"))
                         if v and v != NULL), None)
            if stored is not None:
                sha, size, problem = stored
                info["data"] = f"sha256:{sha}"
                if problem is not None:
                    info["undecodable"] = problem
                    flags.append("attachment_undecodable")
                    self.rows.undecodable.append(f"mms #{ordinal} part {name or attrib.get('seq')}: {problem}")
            if ct.lower() == SMIL or attrib.get("seq") == "-1":
                continue  # the layout, not content (its metadata stays in `extra`)
            mime = ct or None
            if stored is not None:
                if stored[2] is None:
                    attachments.append({"name": name, "mime": mime, "size": stored[1], "sha256": stored[0]})
            elif ct.lower() == TEXT:
                if text is not None:
                    texts.append(text)
            elif text not in (None, NULL):
                # A part that carries text but is not plain text (vCard, vCalendar): kept as a file.
                sha, size = store_bytes(text.encode("utf-8"), blobs)
                attachments.append({"name": name, "mime": mime, "size": size, "sha256": sha})
                info["text"] = f"sha256:{sha}"
        return attachments, texts, meta, flags

    @staticmethod
    def columns(rows: list[tuple[int, dict[str, Any]]]) -> tuple[np.ndarray, dict[str, pa.Array]]:
        """The collected rows as (chunk positions, arrays of ROW_COLUMNS)."""
        pos = np.asarray([p for p, _ in rows], dtype=np.int64)
        columns = {name: pa.array([row[name] for _, row in rows], type=kind) for name, kind in ROW_COLUMNS.items()}
        return pos, columns
