"""`LiveView`: the daemon's optional web page, MJPEG frames with the skeletons drawn (docs/live_view.md).

The pose loop calls `offer()` for every processed frame: it stores references to the frame and the poses and
returns (no copy, no lock, nothing at all while nobody watches). One encoder thread draws and encodes the
newest offer at most `max_fps` times a second, only while a viewer is connected; each viewer's handler thread
sends the newest JPEG when it is ready for it, so a slow viewer skips frames and a vanished or stalled one
only blocks its own thread (until its socket times out), never the pose loop or the other viewers.

Access: with a token (`live_view.token_file`) every request needs it, as `Authorization: Bearer <token>`, as
the password of HTTP basic auth (any user name; browsers ask for it), or once as `/?token=<token>`, which
sets an HttpOnly cookie and redirects to `/` so the token leaves the address bar.
"""

from __future__ import annotations

import base64
import errno
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from edgepose.config import LiveViewConfig
from edgepose.errors import EXIT_CONFIG, EXIT_UNAVAILABLE, EdgeposeError
from edgepose.live_view.overlay import PresenceLike, ZoneLike, render_jpeg
from edgepose.live_view.page import PAGE
from edgepose.pose import Pose

log = logging.getLogger(__name__)

BOUNDARY = "edgepose-frame"
COOKIE = "edgepose_token"
# More simultaneous streams than this are refused (503): each costs a thread and the upload bandwidth.
MAX_VIEWERS = 4
# A viewer that accepts no data for this long is dropped (its handler thread is freed).
SEND_TIMEOUT_S = 5.0


class LiveViewError(EdgeposeError):
    """The live view cannot start; `exit_status` is 69 (port in use) or 78 (configuration)."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message, exit_status=exit_status)


@dataclass(frozen=True, slots=True)
class _Offer:
    frame_rgb: np.ndarray
    accepted: Sequence[Pose]
    rejected: Sequence[tuple[Pose, str]]
    zones: Sequence[ZoneLike]
    present: bool
    count: int
    fps: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    live_view: LiveView


class LiveView:
    """The live view server; `start()` binds, `offer()` feeds it, `close()` stops it."""

    def __init__(self, cfg: LiveViewConfig, *, zones: Sequence[ZoneLike] = ()) -> None:
        self.cfg = cfg
        self.zones = tuple(zones)
        self._token = cfg.token.reveal().encode() if cfg.token is not None else None
        self._period = 1.0 / cfg.max_fps
        self._viewers = 0  # read without the lock by offer(): an int read is atomic, and a stale value is harmless
        self._viewers_lock = threading.Lock()
        self._latest: _Offer | None = None
        self._offered = threading.Event()
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0  # frames encoded so far
        self._state: dict[str, Any] = {"frames": 0, "fps": 0.0, "present": False, "count": 0, "width": 0,
                                       "height": 0}
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # ---- life cycle ----------------------------------------------------------------------------------

    def start(self) -> LiveView:
        """Bind and serve; raises LiveViewError with a one-line message naming the problem."""
        host, port = self.cfg.bind, self.cfg.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        cls = type("_BoundServer", (_Server,), {"address_family": family})
        try:
            server = cls((host, port), _Handler)
        except OSError as e:
            where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
            if e.errno == errno.EADDRINUSE:
                raise LiveViewError(f"live_view.port: {where} is already in use", EXIT_UNAVAILABLE) from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise LiveViewError(f"live_view.bind: {host} is not an address of this machine", EXIT_CONFIG) \
                    from None
            if e.errno == errno.EACCES:
                raise LiveViewError(f"live_view.port: no permission to listen on {where} (ports below 1024 "
                                    "need privileges)", EXIT_CONFIG) from None
            raise LiveViewError(f"live_view: cannot listen on {where}: {e.strerror or e}", EXIT_UNAVAILABLE) \
                from None
        server.live_view = self
        self._server = server
        self._threads = [
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                             name="edgepose-live-view-http", daemon=True),
            threading.Thread(target=self._encode_loop, name="edgepose-live-view-encoder", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("live view on http://%s/ (%s)", self.address_text,
                 "token required" if self._token else "no token: loopback only")
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def address_text(self) -> str:
        host = self.cfg.bind
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def viewers(self) -> int:
        return self._viewers

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._offered.set()
        with self._cond:
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout)

    def __enter__(self) -> LiveView:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the pose loop's side --------------------------------------------------------------------------

    def offer(self, frame_rgb: np.ndarray, accepted: Sequence[Pose], rejected: Sequence[tuple[Pose, str]] = (),
              zones: Sequence[ZoneLike] | None = None, presence: PresenceLike | None = None,
              fps: float = 0.0) -> None:
        """Hand over the newest frame and its poses (references; the caller must not modify them later).

        `rejected` holds (pose, reason) of the poses the validity checks dropped; `zones` defaults to the
        zones given at construction. Returns at once; does nothing while nobody watches.
        """
        if not self._viewers:
            return
        self._latest = _Offer(frame_rgb, accepted, rejected, self.zones if zones is None else zones,
                              bool(presence.present) if presence is not None else False,
                              int(presence.count) if presence is not None else 0, float(fps))
        self._offered.set()

    # ---- encoder thread --------------------------------------------------------------------------------

    def _encode_loop(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            if not self._offered.wait(0.5):
                continue
            wait = last + self._period - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
                continue
            self._offered.clear()
            offer, self._latest = self._latest, None
            if offer is None or self._stop.is_set():
                continue
            last = time.monotonic()
            try:
                jpeg = render_jpeg(offer.frame_rgb, offer.accepted, rejected=offer.rejected, zones=offer.zones,
                                   presence=offer, fps=offer.fps, quality=self.cfg.quality)
            except Exception:  # a drawing bug must not end the live view (nor touch the pose loop)
                log.exception("live view: drawing a frame failed")
                continue
            h, w = offer.frame_rgb.shape[:2]
            with self._cond:
                self._jpeg = jpeg
                self._seq += 1
                self._state = {"frames": self._seq, "fps": round(offer.fps, 1), "present": offer.present,
                               "count": offer.count, "width": w, "height": h}
                self._cond.notify_all()

    def next_jpeg(self, after: int, timeout: float) -> tuple[int, bytes] | None:
        """The newest JPEG once it is newer than frame `after` (None on timeout or stop)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seq <= after or self._jpeg is None:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return None
                self._cond.wait(min(left, 0.5))
            return self._seq, self._jpeg

    def state(self) -> dict[str, Any]:
        with self._cond:
            return {**self._state, "viewers": self._viewers}

    # ---- viewers ---------------------------------------------------------------------------------------

    def add_viewer(self) -> bool:
        with self._viewers_lock:
            if self._viewers >= MAX_VIEWERS:
                return False
            self._viewers += 1
            return True

    def remove_viewer(self) -> None:
        with self._viewers_lock:
            self._viewers -= 1
            if not self._viewers:
                self._latest = None  # drop the reference to the last frame

    def authorised(self, headers: Any, query_token: str | None) -> bool:
        if self._token is None:
            return True
        candidates: list[bytes] = []
        auth = headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(value.strip().encode())
        elif scheme.lower() == "basic":
            try:
                candidates.append(base64.b64decode(value.strip(), validate=True).partition(b":")[2])
            except ValueError:
                pass
        for part in headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                candidates.append(value.encode())
        if query_token is not None:
            candidates.append(query_token.encode())
        # compare_digest on every candidate: the time taken does not tell how much of a guess was right.
        return any([hmac.compare_digest(c, self._token) for c in candidates])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "edgepose"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("live view: %s %s", self.address_string(), format % args)

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; "
                                                    "style-src 'unsafe-inline'; img-src 'self'")

    def do_GET(self) -> None:
        lv = self.server.live_view
        url = urlsplit(self.path)
        query_token = parse_qs(url.query).get("token", [None])[0]
        if not lv.authorised(self.headers, query_token):
            self._send(HTTPStatus.UNAUTHORIZED, b"401 unauthorised: this live view needs its token\n",
                       "text/plain; charset=utf-8",
                       {"WWW-Authenticate": 'Basic realm="edgepose live view", charset="UTF-8"'})
            return
        if query_token is not None and url.path == "/":
            # Keep the token out of the address bar and the history: a cookie from now on.
            self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {
                "Location": "/",
                "Set-Cookie": f"{COOKIE}={query_token}; HttpOnly; SameSite=Strict; Path=/"})
            return
        if url.path == "/":
            self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
        elif url.path == "/state.json":
            self._send(HTTPStatus.OK, json.dumps(lv.state()).encode(), "application/json")
        elif url.path == "/stream.mjpg":
            self._stream(lv)
        elif url.path == "/frame.jpg":
            self._one_frame(lv)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"404 not found\n", "text/plain; charset=utf-8")

    def _one_frame(self, lv: LiveView) -> None:
        if not lv.add_viewer():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"too many viewers\n", "text/plain; charset=utf-8")
            return
        try:
            got = lv.next_jpeg(lv.state()["frames"], timeout=3.0)
        finally:
            lv.remove_viewer()
        if got is None:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain; charset=utf-8")
        else:
            self._send(HTTPStatus.OK, got[1], "image/jpeg")

    def _stream(self, lv: LiveView) -> None:
        if not lv.add_viewer():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"too many viewers\n", "text/plain; charset=utf-8")
            return
        self.close_connection = True
        self.connection.settimeout(SEND_TIMEOUT_S)
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self._common_headers()
            self.send_header("Connection", "close")
            self.end_headers()
            seq = 0
            while not lv._stop.is_set():
                got = lv.next_jpeg(seq, timeout=1.0)
                if got is None:
                    continue
                seq, jpeg = got
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                                 "\r\n\r\n".encode() + jpeg + b"\r\n")
                self.wfile.flush()
        except (OSError, ValueError):
            pass  # the viewer went away or stopped reading (timeout): free this thread
        finally:
            lv.remove_viewer()
