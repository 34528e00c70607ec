"""The JSON API under /api/ (issue 17 point 7): events, one event, annotations, identifiers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from commtrail.review.annotations import append_annotation
from commtrail.review.people import assign_identifier, identifier_rows
from commtrail.serve.app import state
from commtrail.serve.queries import PAGE_MAX, BadFilter, Filter
from commtrail.serve.views import event_detail, listed

api = Blueprint("api", __name__, url_prefix="/api")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise BadFilter(f"{name}={raw!r} is not a whole number.") from None
    if not low <= value <= high:
        raise BadFilter(f"{name}={value} is out of range.", hint=f"Give a number from {low} to {high}.")
    return value


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "Send a JSON object (Content-Type: application/json).")
    return body


@api.get("/events")
def events() -> Any:
    """A page of the filtered timeline in exhibit order: ``total`` and ``events``."""
    st = state()
    f = Filter.from_args(request.args)
    limit = _int_arg("limit", 100, 1, PAGE_MAX)
    offset = _int_arg("offset", 0, 0, 1 << 40)
    view = st.master.view(st.master.where(f, st.chosen(f)), limit, offset)
    return jsonify(total=view.total, limit=limit, offset=offset, events=listed(view.rows))


@api.get("/events/<event_id>")
def event(event_id: str) -> Any:
    """One event with every occurrence (source, locator, the staged copy) and its attachments."""
    return jsonify(event_detail(event_id))


@api.post("/events/<event_id>/annotations")
def annotate(event_id: str) -> Any:
    """Append one annotation line: any of ``star`` (bool), ``tags`` (the full new list), ``note``."""
    st = state()
    if st.master.event(event_id) is None:
        abort(404, f"No event {event_id} in this case.")
    line = append_annotation(st.case, event_id, _json_body())
    return jsonify(written=line, event=event_detail(event_id)), 201


@api.get("/identifiers")
def identifiers() -> Any:
    """Every identifier seen, with counts and first/last contact, unassigned ones first."""
    return jsonify(identifiers=identifier_rows(state().case))


@api.post("/identifiers/party")
def assign() -> Any:
    """Link an identifier to a party (a new party when the name is new): case.toml is rewritten
    (with a .bak) and the master re-resolved."""
    body = _json_body()
    identifier, party = body.get("identifier"), body.get("party")
    if not isinstance(identifier, str) or not isinstance(party, str) or not identifier or not party:
        abort(400, "Give both \"identifier\" and \"party\" as text.")
    st = state()
    message = assign_identifier(st.case, identifier, party)
    st.reload_case()
    return jsonify(message=message)


__all__ = ["api"]
