"""What a page or an API answer shows, gathered once: one event in full."""

from __future__ import annotations

from typing import Any

from flask import abort

from commtrail.serve.app import state
from commtrail.serve.present import event_json
from commtrail.serve.screens import screenshot_lines, shown_in


def listed(rows: list[dict]) -> list[dict[str, Any]]:
    """The events of a page as the API gives them (annotations and derived flags read once)."""
    st = state()
    notes = st.annotations()
    derived = st.master.derived_flags([r["event_id"] for r in rows])
    return [event_json(r, notes.get(r["event_id"]), st.master.zone, derived.get(r["event_id"], ())) for r in rows]


def event_detail(event_id: str) -> dict[str, Any]:
    """One event: the API's fields plus every occurrence with its source, locator and the staged
    copy (the text as that source gave it), the backups it may have been deleted from, and the
    previous and next exhibits. 404 when the master has no such event."""
    st = state()
    row = st.master.event(event_id)
    if row is None:
        abort(404, f"No event {event_id} in this case.")
    detail = event_json(row, st.annotations().get(event_id), st.master.zone,
                        st.master.derived_flags([event_id]).get(event_id, ()))
    detail["occurrences"] = [
        {**dict(occ), "copies": [{**copy, "flags": list(copy.get("flags") or [])}
                                 for copy in st.master.staged_copy(occ["source_sha256"], occ["locator"])]}
        for occ in row.get("occurrences") or []]
    detail["duration_s"] = row.get("duration_s")
    detail["conversation"] = row.get("conversation")
    detail["sender_raw"] = row.get("sender_raw")
    detail["parser"] = row.get("parser")
    detail["dup_method"] = row.get("dup_method")
    detail["possibly_deleted"] = st.master.possibly_deleted(event_id)
    detail["screenshots"] = shown_in(st.master, event_id)
    detail["screenshot_lines"] = screenshot_lines(st.master, event_id)
    detail["previous"], detail["next"] = st.master.neighbours(row["exhibit"])
    return detail


__all__ = ["event_detail", "listed"]
