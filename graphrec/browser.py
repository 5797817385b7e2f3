"""Serve ``cypher/browser/`` (the graphrec guide, style sheet and favourites) to Neo4j Browser.

Browser's ``:play URL`` fetches the guide from the page itself, so two things must hold: the URL's host is in the
server setting ``browser.remote_content_hostname_whitelist`` (the embedded server lists ``http://127.0.0.1``, see
:meth:`graphrec.db.server.EmbeddedServer.settings`), and the response carries ``Access-Control-Allow-Origin`` naming
Browser's origin. ``python -m http.server`` sends no such header, so Browser refuses its pages.

:class:`GuideServer` is that small static server: loopback only, GET and HEAD only, no directory listings, only the
folder's own guide, style sheet and favourites (``.html``, ``.grass``, ``.cypher``), and the CORS header for the given
Browser origins alone (never ``*``: another page open in the user's browser must not read the files). Browser's
fetch sends ``Cache-Control``/``Pragma`` headers, which makes Chromium ask first with a CORS preflight (``OPTIONS``);
that is answered for the allowed origins and for GET/HEAD only.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import unquote, urlsplit

from graphrec.db.cypher import cypher_dir
from graphrec.db.server import LOOPBACK
from graphrec.errors import ServerError

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".grass": "text/plain; charset=utf-8",
    ".cypher": "text/plain; charset=utf-8",
}
GUIDE = "guide.html"
STYLE = "style.grass"
METHODS = ("GET", "HEAD")
# The request headers Browser's guide fetch sends that are not CORS-safelisted (hence the preflight).
PREFLIGHT_HEADERS = ("cache-control", "pragma")


def browser_dir() -> Path:
    """The folder of Browser files: ``browser/`` in the checkout's or the installed wheel's cypher folder."""
    return cypher_dir() / "browser"


def browser_origins(http_url: str) -> tuple[str, ...]:
    """The origins Browser has when opened from ``http_url`` (the Neo4j HTTP URL, ``http://127.0.0.1:7474``): that
    URL's origin and, for a loopback host, its other spelling (``localhost`` / ``127.0.0.1``), the same server."""
    parts = urlsplit(http_url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ServerError(f"a Browser origin is the http URL Browser is opened from, such as "
                          f"http://127.0.0.1:7474; got {http_url!r}")
    loopback = (LOOPBACK, "localhost")
    hosts = [parts.hostname] + [h for h in loopback if parts.hostname in loopback and h != parts.hostname]
    return tuple(f"{parts.scheme}://{host}{port}" for host in hosts)


class _Handler(BaseHTTPRequestHandler):
    """GET/HEAD of one file in the folder, else 404; OPTIONS only as the CORS preflight of those; other methods 501."""

    server: "_Server"
    server_version = "graphrec-browser"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def do_OPTIONS(self) -> None:  # noqa: N802
        origin = self.headers.get("Origin")
        method = self.headers.get("Access-Control-Request-Method")
        if origin not in self.server.origins or method not in METHODS:
            self._send(HTTPStatus.FORBIDDEN, b"", "text/plain; charset=utf-8", body=False)
            return
        self.send_response(HTTPStatus.NO_CONTENT)
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Access-Control-Allow-Methods", ", ".join(METHODS))
        self.send_header("Access-Control-Allow-Headers", ", ".join(PREFLIGHT_HEADERS))
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, body: bool) -> None:
        path = self._resolve(self.path)
        if path is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", body)
            return
        self._send(HTTPStatus.OK, path.read_bytes(), CONTENT_TYPES[path.suffix], body)

    def _resolve(self, raw: str) -> Path | None:
        """The file that the request path ``raw`` names, or None unless it is one of the served kinds, inside the
        folder once symlinks are resolved, reached without ``..``, dot-names or backslashes."""
        name = unquote(raw.split("?", 1)[0].split("#", 1)[0]).lstrip("/")
        if name == "":
            name = GUIDE
        parts = name.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
            return None
        folder = self.server.folder
        path = (folder / name).resolve()
        if path.suffix not in CONTENT_TYPES or not path.is_file() or not path.is_relative_to(folder):
            return None
        return path

    def _send(self, status: HTTPStatus, payload: bytes, content_type: str, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")  # an edited guide shows on the next :play
        self.send_header("X-Content-Type-Options", "nosniff")
        origin = self.headers.get("Origin")
        if origin in self.server.origins:
            self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Vary", "Origin")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], folder: Path, origins: frozenset[str],
                 log: Callable[[str], None] | None):
        self.folder = folder
        self.origins = origins
        self.log = log
        super().__init__(address, _Handler)


class GuideServer:
    """Serve ``folder`` (default :func:`browser_dir`) on 127.0.0.1:``port`` (0: a free one) to Browser pages whose
    origin is in ``origins``. ``log`` receives one line per request (default: silent). ``url_host`` is the loopback
    name written in the URLs it gives out: ``localhost`` suits a Neo4j left at its default whitelist
    (``guides.neo4j.com,localhost``); the embedded server lists ``http://127.0.0.1``.

    Use :meth:`serve_forever` in the foreground, or :meth:`start` / :meth:`close` (or ``with``) for a background
    thread.
    """

    def __init__(self, origins: Iterable[str], port: int = 0, folder: str | Path | None = None,
                 log: Callable[[str], None] | None = None, url_host: str = LOOPBACK):
        allowed = frozenset(origins)
        if not allowed or "*" in allowed:
            raise ServerError(f"GuideServer: origins must name Browser's origin(s), got {sorted(allowed)!r}")
        if url_host not in (LOOPBACK, "localhost"):
            raise ServerError(f"GuideServer: url_host must be {LOOPBACK} or localhost (it listens on loopback only), "
                              f"got {url_host!r}")
        self.url_host = url_host
        self.folder = Path(folder if folder is not None else browser_dir()).resolve()
        if not (self.folder / GUIDE).is_file():
            raise ServerError(f"GuideServer: no {GUIDE} in {self.folder}")
        try:
            self._server = _Server((LOOPBACK, port), self.folder, allowed, log)
        except OSError as exc:
            raise ServerError(f"GuideServer: cannot listen on {LOOPBACK}:{port}: {exc.strerror}; "
                              "pick another port (0 picks a free one)") from exc
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.url_host}:{self.port}"

    @property
    def guide_url(self) -> str:
        return f"{self.url}/{GUIDE}"

    @property
    def play_command(self) -> str:
        """The Browser command that plays the guide."""
        return f":play {self.guide_url}"

    @property
    def style_command(self) -> str:
        """The Browser command that loads the style sheet (a URL that Browser fetches the way it fetches guides)."""
        return f":style {self.url}/{STYLE}"

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`close` is called from another one (or Ctrl-C)."""
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.server_close()

    def start(self) -> "GuideServer":
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"graphrec-guide-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "GuideServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
