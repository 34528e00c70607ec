"""What a page or an API answer shows, gathered once: one event in full."""

from __future__ import annotations

from typing import Any

from flask import abort

from commtrail.serve.app import state
from commtrail.serve.present import event_json


def event_detail(event_id: str) -> dict[str, Any]:
    """One event: the API's fields plus every occurrence with its source, locator and the staged
    copy (the text as that source gave it), the backups it may have been deleted from, and the
    previous and next exhibits. 404 when the master has no such event."""
    st = state()
    row = st.master.event(event_id)
    if row is None:
        abort(404, f"No event {event_id} in this case.")
    detail = event_json(row, st.annotations().get(event_id), st.master.zone)
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
    detail["previous"], detail["next"] = st.master.neighbours(row["exhibit"])
    return detail


__all__ = ["event_detail"]
