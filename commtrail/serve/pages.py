"""The pages: timeline, event, people and report; the forms they post; attachments by hash."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template, request, send_file

from commtrail.review.annotations import append_annotation
from commtrail.review.people import assign_identifier, identifier_rows
from commtrail.serve.app import state
from commtrail.serve.chart import HEIGHT, WIDTH, weekly_bars
from commtrail.serve.present import local_iso, shown
from commtrail.serve.queries import Filter
from commtrail.serve.reporting import write_chosen_report
from commtrail.serve.security import CSRF_FIELD
from commtrail.serve.views import event_detail, listed

pages = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/static")

PAGE_SIZE = 100
SHA256 = re.compile(r"[0-9a-f]{64}")
# A path of this app: one slash, then no slash or backslash, and no space or control character
# (a browser reads "/\t/host" as "//host", another site).
LOCAL_PATH = re.compile(r"/(?![/\\])[^\x00-\x20\\]*")
# Attachment types shown inline; anything else is offered as a download.
INLINE = ("image/", "audio/", "video/", "application/pdf")
# Attachments never run anything, even opened on their own (an SVG or HTML file from a phone).
BLOB_POLICY = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"


@pages.app_context_processor
def _globals() -> dict[str, Any]:
    st = state()
    return {"csrf_field": CSRF_FIELD, "csrf": st.keys.csrf, "case_title": st.case.config.title,
            "shown": shown}


def _offset() -> int:
    raw = request.args.get("offset", "0")
    return int(raw) if raw.isdigit() else 0


@pages.get("/")
def timeline() -> Any:
    """Every event in exhibit order, 100 a page, under the weekly chart of the current filter.
    A query with empty fields (as a form sends it) is redirected to its short form, the bookmark."""
    st = state()
    f = Filter.from_args(request.args)
    offset = _offset()
    canonical = "&".join(part for part in (f.query(), f"offset={offset}" if offset else "") if part)
    if request.query_string.decode("latin-1") != canonical:
        return redirect("/?" + canonical if canonical else "/", code=303)
    view = st.master.view(st.master.where(f, st.chosen(f)), PAGE_SIZE, offset, weekly=True)
    rows = listed(view.rows)
    return render_template(
        "timeline.html", f=f, rows=rows, total=view.total, offset=offset, page_size=PAGE_SIZE,
        bars=weekly_bars(view.weeks, f), chart_width=WIDTH, chart_height=HEIGHT,
        choices={c: st.master.values(c) for c in ("party", "channel", "direction", "kind")},
        flag_names=st.master.flag_names(), back=request.full_path)


@pages.get("/exhibit")
def exhibit() -> Any:
    """Go to an exhibit by its number (``CT-000123``, or just ``123``)."""
    raw = request.args.get("number", "").strip().upper()
    number = f"CT-{int(raw):06d}" if raw.isdigit() else raw
    event_id = state().master.event_id_of(number)
    if event_id is None:
        abort(404, f"No exhibit {raw or '(none given)'} in this case; exhibit numbers look like CT-000123.")
    return redirect(f"/events/{event_id}", code=303)


@pages.get("/events/<event_id>")
def event(event_id: str) -> str:
    """One event in full: body, times, every occurrence, attachments, the reviewer's annotations."""
    return render_template("event.html", e=event_detail(event_id), back=request.full_path)


def _safe_back(target: str | None, default: str) -> str:
    """Where a form returns to: a path of this app only (never another site)."""
    return target if target and LOCAL_PATH.fullmatch(target) else default


@pages.post("/events/<event_id>/annotate")
def annotate(event_id: str) -> Any:
    """The star button and the tags-and-note form: append what changed as one annotation line."""
    st = state()
    if st.master.event(event_id) is None:
        abort(404, f"No event {event_id} in this case.")
    before = st.annotations().get(event_id)
    change: dict[str, Any] = {}
    if "star" in request.form:
        star = request.form.getlist("star")[-1] == "1"   # a checkbox after its hidden "0"
        if star != bool(before and before.starred):
            change["star"] = star
    if "tags" in request.form:
        tags = sorted({t.strip() for t in request.form["tags"].split(",") if t.strip()})
        if tags != sorted(before.tags if before else ()):
            change["tags"] = tags
    if "note" in request.form:
        note = request.form["note"].replace("\r\n", "\n")
        if note != (before.note if before else ""):
            change["note"] = note
    if change:
        append_annotation(st.case, event_id, change)
    return redirect(_safe_back(request.form.get("back"), f"/events/{event_id}"), code=303)


@pages.get("/people")
def people() -> str:
    """Every identifier seen, unassigned first, with the form that links one to a party."""
    st = state()
    return render_template("people.html", rows=identifier_rows(st.case),
                           parties=[p.name for p in st.case.config.parties],
                           message=request.args.get("message", ""), local_iso=local_iso,
                           zone=st.master.zone)


@pages.post("/people/assign")
def assign() -> Any:
    """Link an identifier to a party (case.toml rewritten with a .bak; master re-resolved)."""
    st = state()
    identifier = request.form.get("identifier", "").strip()
    party = (request.form.get("new_party", "").strip() or request.form.get("party", "").strip())
    if not identifier or not party:
        abort(400, "Choose a party or write the name of a new one.")
    message = assign_identifier(st.case, identifier, party)
    st.reload_case()
    return redirect("/people?" + urlencode({"message": message}), code=303)


@pages.get("/report")
def report_form() -> str:
    """Choose what goes out (starred events, tags) and write the report."""
    return render_template("report.html", message=request.args.get("message", ""))


@pages.post("/report")
def report_write() -> Any:
    """Write report.html and report.pdf of the chosen events, as ``commtrail report`` does."""
    only_starred = request.form.get("only_starred") == "1"
    tags = [t.strip() for t in request.form.get("tags", "").split(",") if t.strip()]
    message = write_chosen_report(state().case, only_starred, tags)
    return redirect("/report?" + urlencode({"message": message}), code=303)


@pages.get("/report/report.html")
def report_file() -> Any:
    """The last report written (its own Content-Security-Policy is stricter than the app's)."""
    path = state().case.report_dir / "report.html"
    if not path.is_file():
        abort(404, "No report written yet.")
    return send_file(path, mimetype="text/html")


@pages.get("/blobs/<sha256>")
def blob(sha256: str) -> Any:
    """An attachment from the case's blob store, by its SHA-256 (nothing else is a valid name)."""
    st = state()
    if not SHA256.fullmatch(sha256):
        abort(404, "Not an attachment hash.")
    path = st.case.blobs / sha256
    mime = request.args.get("type", "")
    if not path.is_file():
        abort(404, "This attachment is not in the case's blob store.")
    inline = mime.startswith(INLINE) and re.fullmatch(r"[\w.+-]+/[\w.+-]+", mime) is not None
    response = send_file(path, mimetype=mime if inline else "application/octet-stream",
                         as_attachment=not inline, download_name=sha256, conditional=True)
    if mime != "application/pdf":   # Chromium's PDF viewer does not run in a sandboxed page
        response.headers["Content-Security-Policy"] = BLOB_POLICY
    return response


__all__ = ["pages"]
