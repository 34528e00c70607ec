"""Who may talk to the review app: the loopback Host only, the run's token on every request, and the
token in a header (or the form's CSRF token) on every request that changes something."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Flask, Request, Response, abort, redirect, request

COOKIE = "commtrail_token"
HEADER = "X-Commtrail-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = ("GET", "HEAD")
# What the pages may load: only this server's own files (no inline script, no other origin).
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dataclass
class Secrets:
    """The run's secrets: the token in the printed URL, and the CSRF token the pages' forms carry."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


def _same(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def host_allowed(host: str, port: int) -> bool:
    """The Host header names this server by its loopback address (a DNS-rebinding page cannot)."""
    return host in (f"127.0.0.1:{port}", f"localhost:{port}")


def check(req: Request, keys: Secrets, port: int) -> Response | None:
    """Refuse (403) what may not pass; a redirect that trades the URL's token for the cookie; None
    when the request may go on."""
    if not host_allowed(req.host, port):
        abort(403, "This address is not the review app's (only 127.0.0.1 or localhost).")
    if _same(req.headers.get(HEADER), keys.token):
        return None
    if req.method in SAFE_METHODS and _same(req.args.get("token"), keys.token):
        rest = [(k, v) for k, v in req.args.items(multi=True) if k != "token"]
        response = redirect(req.path + ("?" + urlencode(rest) if rest else ""), code=303)
        response.set_cookie(COOKIE, keys.token, httponly=True, samesite="Strict", path="/")
        return response
    if not _same(req.cookies.get(COOKIE), keys.token):
        abort(403, "Open the review app with the address `commtrail serve` printed (it carries the token).")
    if req.method not in SAFE_METHODS and not _same(req.form.get(CSRF_FIELD), keys.csrf):
        abort(403, "A change needs the page's form token or the X-Commtrail-Token header.")
    return None


def harden(response: Response) -> Response:
    """Headers every answer carries: no caching, no sniffing, no referrer, the page policy."""
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def install(app: Flask, keys: Secrets) -> None:
    """Run ``check`` before every request and ``harden`` after; ``app.config['PORT']`` is the port
    the server is bound to (set once it is)."""
    app.before_request(lambda: check(request, keys, app.config["PORT"]))
    app.after_request(harden)


__all__ = ["COOKIE", "CSRF_FIELD", "HEADER", "Secrets", "check", "harden", "host_allowed", "install"]
