"""What the review app shows of the screenshot links (``screenshot_links.parquet``, see
``timeline/screenshots.py``): the screenshots showing a message, and what one screenshot shows.
Read with DuckDB at each request; of the master only the exhibit and attachments of the events
named are read."""

from __future__ import annotations

from typing import Any

from commtrail.serve.queries import Master
from commtrail.timeline.screenshots import LINKS_FILE


def _events_of(master: Master, ids: set[str], columns: str) -> dict[str, dict]:
    """The master's ``columns`` of these events, by event id (only those columns are read)."""
    if not ids:
        return {}
    rows = master.select(f"SELECT event_id, {columns} FROM {master.source()} WHERE list_contains(?, event_id)",
                         [sorted(ids)])
    return {r["event_id"]: r for r in rows}


def _links(master: Master, where: str, event_id: str) -> list[dict]:
    """The rows of the links file ``where`` names (none when the case has no screenshot)."""
    src = master.file(LINKS_FILE)
    if src is None or not master.case.master_file.exists():
        return []
    return master.select(f"SELECT screenshot, line, lines, ocr_text, event_id, score FROM {src} "
                         f"WHERE {where} = ? ORDER BY line", [event_id])


def _image(attachments: list[dict] | None) -> dict | None:
    """The first attachment that is an image in the case's blobs (a screenshot's own picture)."""
    return next((dict(a) for a in attachments or [] if a["sha256"] and (a["mime"] or "").startswith("image/")),
                None)


def shown_in(master: Master, event_id: str) -> list[dict[str, Any]]:
    """The screenshots showing this message, in exhibit order: ``screenshot`` (its event id),
    ``exhibit``, ``image`` (its picture, for a thumbnail; None without one) and the OCR ``line``,
    ``lines``, ``ocr_text`` and ``score`` of the match."""
    rows = _links(master, "event_id", event_id)
    shots = _events_of(master, {r["screenshot"] for r in rows}, "exhibit, attachments")
    out = [{"screenshot": r["screenshot"], "exhibit": shots.get(r["screenshot"], {}).get("exhibit"),
            "image": _image(shots.get(r["screenshot"], {}).get("attachments")),
            **{k: r[k] for k in ("line", "lines", "ocr_text", "score")}} for r in rows]
    return sorted(out, key=lambda r: (r["exhibit"] or "", r["line"]))


def screenshot_lines(master: Master, event_id: str) -> list[dict[str, Any]]:
    """What this screenshot shows, in OCR line order: ``line``, ``lines``, ``ocr_text``, and the
    ``event_id``, ``exhibit`` and ``score`` of the message matched (all None for a line only in
    the screenshot: a message no backup holds, known only by OCR)."""
    rows = _links(master, "screenshot", event_id)
    messages = _events_of(master, {r["event_id"] for r in rows if r["event_id"]}, "exhibit")
    return [{**{k: r[k] for k in ("line", "lines", "ocr_text", "event_id", "score")},
             "exhibit": messages.get(r["event_id"], {}).get("exhibit")} for r in rows]


__all__ = ["screenshot_lines", "shown_in"]
