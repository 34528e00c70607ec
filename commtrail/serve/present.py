"""How the review app shows an event: times in the case's zone and in UTC, identifiers in words,
and the JSON form the API returns (the pages and the API take their values from here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from commtrail.timeline.identity import describe


def utc_text(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z (None for an undated event)."""
    if ts is None:
        return None
    return ts.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def local_text(ts: datetime | None, zone: ZoneInfo) -> str:
    """The time in the case's zone with its offset and zone abbreviation, e.g.
    ``2024-06-01 13:00:00 +01:00 (BST)``; ``undated`` when the source holds no time."""
    if ts is None:
        return "undated"
    local = ts.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]} ({local.tzname()})"


def local_iso(text: str | None, zone: ZoneInfo) -> str:
    """``local_text`` of a UTC ISO time written with a Z (empty for none)."""
    return local_text(datetime.fromisoformat(text.replace("Z", "+00:00")), zone) if text else ""


def shown(identifier: str | None) -> str:
    """An identifier in words (``+44 7700 900123``, WhatsApp name “Jordan”), empty for none."""
    return describe(identifier) if identifier else ""


def event_json(row: dict[str, Any], annotation: Any | None, zone: ZoneInfo,
               derived: Sequence[str] = ()) -> dict[str, Any]:
    """An event as the API gives it: the master's values, the times, and the reviewer's annotations;
    its flags are the master's, then the ``derived`` ones (``queries.DERIVED_FLAGS``)."""
    return {
        "event_id": row["event_id"],
        "exhibit": row["exhibit"],
        "ts_utc": utc_text(row["ts_utc"]),
        "ts_case": local_text(row["ts_utc"], zone),
        "ts_source": row["ts_local"],
        "channel": row["channel"],
        "kind": row["kind"],
        "direction": row["direction"],
        "party": row["party"],
        "sender": row["sender"],
        "sender_shown": shown(row["sender"]),
        "recipients": list(row.get("recipients") or []),
        "subject": row.get("subject"),
        "body": row["body"],
        "flags": [*(row.get("flags") or []), *derived],
        "attachments": [dict(a) for a in row.get("attachments") or []],
        "starred": bool(annotation and annotation.starred),
        "tags": list(annotation.tags) if annotation else [],
        "notes": annotation.note if annotation else "",
    }


__all__ = ["event_json", "local_text", "shown", "utc_text"]
