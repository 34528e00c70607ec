"""``commtrail serve``: the review app on 127.0.0.1 (werkzeug's threaded server), one URL printed."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import webbrowser

from werkzeug.serving import BaseWSGIServer, make_server

from commtrail.case import Case
from commtrail.errors import EXIT_OK, UsageError
from commtrail.serve.app import create_app
from commtrail.serve.security import Secrets

HOST = "127.0.0.1"   # loopback only: the app is never reachable from another machine


def bind(case: Case, port: int = 0) -> tuple[BaseWSGIServer, Secrets]:
    """A server for the case on ``port`` (0: a free one), not yet serving, and the run's secrets."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port number.", hint="Give one from 1 to 65535, or leave --port out.")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)   # no request log: URLs carry the token and searches
    keys = Secrets()
    app = create_app(case, keys, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"port {port} on {HOST} cannot be used ({exc.strerror}).",
                         hint="Give another with --port N, or leave --port out to use a free one.") from None
    # werkzeug takes the bound socket (on its own a failed bind would end the process)
    server = make_server(HOST, sock.getsockname()[1], app, threaded=True, fd=sock.fileno())
    sock.detach()   # the server's socket is now the one to close
    app.config["PORT"] = server.port
    return server, keys


def url_of(server: BaseWSGIServer, keys: Secrets) -> str:
    """The address that opens the app (the token in it sets the cookie on first use)."""
    return f"http://{HOST}:{server.port}/?token={keys.token}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(case: Case, port: int = 0, open_browser: bool = True) -> int:
    """Serve until Ctrl-C (or SIGTERM); prints the one line with the address; exit status 0."""
    server, keys = bind(case, port)
    url = url_of(server, keys)
    print(f"Open {url}", flush=True)   # one line, never wrapped to the terminal's width
    for signum in (signal.SIGINT, signal.SIGTERM):   # also when started with SIGINT ignored (in the background)
        signal.signal(signum, _interrupt)
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.app.extensions["commtrail"].master.close()
    return EXIT_OK


__all__ = ["HOST", "bind", "serve", "url_of"]
