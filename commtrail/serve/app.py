"""The review app: a Flask application over one case (pages, JSON API, attachments), guarded by
``security``. It reads the master through DuckDB and writes only through the review functions,
which take the case lock while they write."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from commtrail.case import Case
from commtrail.errors import CommtrailError
from commtrail.review.annotations import Annotation, load_annotations, select_events
from commtrail.serve import security
from commtrail.serve.queries import Filter, Master


@dataclass
class State:
    """What every request of one run shares."""

    case: Case
    master: Master
    keys: security.Secrets

    def annotations(self) -> dict[str, Annotation]:
        """The reviewer's annotations, folded per event (read fresh: they change while we run)."""
        return load_annotations(self.case)

    def chosen(self, f: Filter) -> Collection[str] | None:
        """The event ids the star and tag filters allow (None: those filters are not set)."""
        if not f.needs_annotations():
            return None
        return select_events(self.case, f.starred, [f.tag] if f.tag else [])

    def reload_case(self) -> None:
        """Read case.toml again (after an identifier was assigned to a party)."""
        self.case = Case(self.case.root)
        self.master.case = self.case


def state() -> State:
    """The run's shared state (inside a request)."""
    return current_app.extensions["commtrail"]


def create_app(case: Case, keys: security.Secrets, port: int) -> Flask:
    """The application for one case; ``port`` is the one the server listens on (the Host check)."""
    from commtrail.serve.api import api
    from commtrail.serve.pages import pages
    app = Flask(__name__)
    app.config["PORT"] = port
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    app.extensions["commtrail"] = State(case, Master(case), keys)
    security.install(app, keys)
    app.before_request(_start_clock)
    app.after_request(_server_timing)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CommtrailError, _user_error)
    return app


def _start_clock() -> None:
    g.started = time.perf_counter()


def _server_timing(response: Response) -> Response:
    """How long the server took (the ``Server-Timing`` header, milliseconds; ``make bench`` reads it)."""
    if "started" in g:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _http_error(exc: HTTPException) -> Any:
    if _wants_json():
        return jsonify(error=exc.description), exc.code
    return render_template("error.html", code=exc.code, message=exc.description), exc.code


def _user_error(exc: CommtrailError) -> Any:
    """A refusal the user can act on (a bad filter, an unknown party): 400 with its paragraph."""
    if _wants_json():
        return jsonify(error=exc.render()), 400
    return render_template("error.html", code=400, message=exc.render()), 400


__all__ = ["State", "create_app", "state"]
