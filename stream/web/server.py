"""The web page's HTTP server: standard library, one thread, never in the supervisor's way.

`dfd watch --web` runs it next to the supervisor: the supervisor hands over its
stats() about once a second, each alert event and the faces' boxes (all cheap,
no I/O in its thread); pages get them by server-sent events. `dfd web` runs it
alone against a database: the alert history and its evidence only.

Loopback by default; anywhere else a token is required (`?token=` or
`Authorization: Bearer`), read from the variable `web.token_env` names.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import re
import socket
import sys
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from edge_model.errors import DfdError
from stream.board import AlertBoard
from stream.commands.alerts import AlertsQueryError, parse_time
from stream.config import Config, secret_from_env
from stream.ring import FrameRing, RingSpec
from stream.transport import TransportError, host_and_port, is_loopback
from stream.web.history import evidence_file, list_history
from stream.web.live import LiveView
from stream.wire import AlertEvent, FaceBoxes, Message

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("page.html")
KEEPALIVE_S = 15.0
CHUNK = 1 << 16
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class WebServer:
    """The page's state (shared with the handler threads under a lock) and the server thread."""

    def __init__(self, cfg: Config, streams: list[str], token: str | None, live: bool = True) -> None:
        self.cfg = cfg
        self.streams = streams
        self.token = token
        self.mode = "watch" if live else "history"
        self.live_note = "no live view over tcp" if cfg.stream.transport == "tcp" else ""
        self.evidence_root = Path(cfg.alerts.evidence_dir).resolve()
        self.view = LiveView(cfg.web.live_fps)
        self.board = AlertBoard()
        self.stopping = False
        self._stats: dict[str, Any] | None = None
        self._version = 0  # bumped on every change a page shows
        self._alert_events = 0  # the page reloads the history when this moves
        self._changed = threading.Condition()
        w = cfg.web
        server_class = _V6Server if ":" in w.bind else _V4Server
        try:
            self._server = server_class((w.bind, w.port), _handler(self))
        except OSError as exc:
            raise DfdError(f"web: cannot listen on {w.bind}:{w.port}: {exc.strerror or exc}") from None
        self.port = int(self._server.server_address[1])
        self.url = f"http://{'[' + w.bind + ']' if ':' in w.bind else w.bind}:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="dfd-web", daemon=True)
        self._thread.start()

    # ---- fed by the supervisor's thread (cheap: no I/O) ---------------------------------------
    def show_rings(self, rings: dict[str, RingSpec]) -> None:
        """Attach to the rings the supervisor created, for the live view (it only reads them)."""
        self.view.rings = {name: FrameRing.attach(spec) for name, spec in rings.items()}

    def on_message(self, msg: Message) -> None:
        if isinstance(msg, FaceBoxes):
            self.view.boxes(msg)
        elif isinstance(msg, AlertEvent):
            with self._changed:
                self.board.fold(msg)
                self._alert_events += 1
                self._version += 1
                self._changed.notify_all()

    def update(self, stats: dict[str, Any]) -> None:
        self.view.threshold = float(stats.get("threshold") or self.view.threshold)
        with self._changed:
            self._stats = stats
            self._version += 1
            self._changed.notify_all()

    # ---- read by the handler threads ------------------------------------------------------------
    def snapshot(self) -> tuple[int, str]:
        with self._changed:
            body = {
                "mode": self.mode, "streams": self.streams, "stats": self._stats,
                "open": [asdict(r) for r in self.board.rows() if r.state == "open"],
                "alert_events": self._alert_events, "live": sorted(self.view.rings),
                "live_note": self.live_note, "live_fps": self.cfg.web.live_fps,
            }
            return self._version, json.dumps(body, default=str)

    def wait_change(self, seen: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._version != seen or self.stopping, timeout)

    def close(self) -> None:
        self.view.detach()
        with self._changed:
            self.stopping = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2.0)


class _V4Server(ThreadingHTTPServer):
    daemon_threads = True  # an open page (server-sent events) never holds up the stop

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that goes away mid-answer (a cancelled range request, a closed tab) is normal;
        anything else is one logged line, never a traceback across the console."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            log.warning("web: a request from %s failed: %s", client_address[0], error)


class _V6Server(_V4Server):
    address_family = socket.AF_INET6


def open_web(cfg: Config, streams: list[str], live: bool = True) -> WebServer:
    """The server for [web]; its token from the environment (one DfdError line when it is named but unset)."""
    token = secret_from_env(cfg.web.token_env, "web.token_env")
    if cfg.web.token_env and not token:
        raise DfdError(f"web.token_env: environment variable {cfg.web.token_env} is empty")
    return WebServer(cfg, streams, token, live)


def _handler(web: WebServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        app = web

    return Handler


class _Handler(BaseHTTPRequestHandler):
    app: WebServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        """Quiet: a request line per frame would flood the console."""

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not self._authorized(query.get("token", "")):
            if self.app.token is None:
                self._send(403, b"this page answers only to a loopback host name (127.0.0.1, localhost, [::1])",
                           "text/plain")
            else:
                self._send(401, b"a token is needed: ?token=... or Authorization: Bearer ...", "text/plain")
            return
        path = unquote(parts.path)
        if path == "/":
            self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
        elif path == "/api/state":
            self._send(200, self.app.snapshot()[1].encode(), "application/json")
        elif path == "/api/alerts":
            self._history(query)
        elif path == "/api/events":
            self._events()
        elif path.startswith("/live/") and path.endswith(".jpg") and (
                jpeg := self.app.view.jpeg(path[len("/live/"):-len(".jpg")])):
            self._send(200, jpeg, "image/jpeg")
        elif path.startswith("/evidence/") and (
                found := evidence_file(self.app.evidence_root, path[len("/evidence/"):])):
            self._file(found)
        else:
            self._not_found()

    def _authorized(self, query_token: str) -> bool:
        if self.app.token is None:  # loopback: only for pages that call it by a loopback name (no DNS rebinding)
            try:
                return is_loopback(host_and_port(self.headers.get("Host", ""), 0)[0])
            except TransportError:
                return False
        bearer = self.headers.get("Authorization", "")
        given = bearer[len("Bearer "):] if bearer.startswith("Bearer ") else query_token
        return hmac.compare_digest(given.encode(), self.app.token.encode())

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self) -> None:
        self._send(404, b"not found", "text/plain")

    def _history(self, query: dict[str, str]) -> None:
        try:
            since = parse_time(query["since"], flag="since") if query.get("since") else None
            until = parse_time(query["until"], flag="until") if query.get("until") else None
            limit = int(query.get("limit") or 100)
            alerts = list_history(self.app.cfg, query.get("stream"), since, until, limit)
        except (AlertsQueryError, ValueError) as exc:
            self._send(400, json.dumps({"error": str(exc)}).encode(), "application/json")
            return
        except DfdError as exc:  # the database is unreachable: the page says so
            self._send(503, json.dumps({"error": str(exc)}).encode(), "application/json")
            return
        self._send(200, json.dumps(alerts, default=str).encode(), "application/json")

    def _events(self) -> None:
        """Server-sent events: the state each time it changes, a comment now and then to keep it open."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        seen = -1
        try:
            while not self.app.stopping:
                version, body = self.app.snapshot()
                self.wfile.write(f"data: {body}\n\n".encode() if version != seen else b": keepalive\n\n")
                self.wfile.flush()
                seen = version
                self.app.wait_change(seen, KEEPALIVE_S)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _file(self, path: Path) -> None:
        """The file, or the byte range asked for (a browser's <video> seeks to an mp4's index this way)."""
        size = path.stat().st_size
        start, end, extra = 0, size - 1, {"Accept-Ranges": "bytes"}
        m = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        if m and (m[1] or m[2]):
            start, end = (int(m[1]), min(int(m[2] or size - 1), size - 1)) if m[1] else (max(0, size - int(m[2])), size - 1)
            if start > end:
                self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                return
            extra["Content-Range"] = f"bytes {start}-{end}/{size}"
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.send_response(206 if "Content-Range" in extra else 200)
        for k, v in {"Content-Type": ctype, "Content-Length": str(end - start + 1), **extra}.items():
            self.send_header(k, v)
        self.end_headers()
        with path.open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0 and (chunk := f.read(min(CHUNK, left))):
                self.wfile.write(chunk)
                left -= len(chunk)
