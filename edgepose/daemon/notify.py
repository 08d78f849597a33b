"""The systemd notify protocol (sd_notify(3)) without libsystemd: one datagram per message to $NOTIFY_SOCKET.

Without ``NOTIFY_SOCKET`` (not started by systemd, or ``Type=simple``) every call is a no-op. A socket
path starting with ``@`` is in the abstract namespace. Sending never blocks (the pose loop calls
`watchdog`) and never raises: failures are logged, once per failure streak.

The daemon sends ``READY=1`` after the camera and the models are up, ``WATCHDOG=1`` only when the pose
loop made progress (so a stuck loop stops the pings and systemd restarts the service), ``STATUS=`` with
the fps, and ``STOPPING=1`` on SIGTERM.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)


def watchdog_interval(env: Mapping[str, str] | None = None, *, pid: int | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``WATCHDOG_USEC`` (sd_watchdog_enabled(3)).

    None when the watchdog is off: no or invalid ``WATCHDOG_USEC``, or ``WATCHDOG_PID`` names another
    process (the variables were inherited from a parent).
    """
    env = os.environ if env is None else env
    raw = env.get("WATCHDOG_USEC", "").strip()
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring invalid WATCHDOG_USEC=%r", raw)
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID", "").strip()
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            log.warning("ignoring invalid WATCHDOG_PID=%r", owner)
            return None
    return usec / 2 / 1_000_000


def _address(path: str) -> str | bytes:
    # Abstract namespace: a leading NUL byte instead of '@' (sd_notify(3)).
    return b"\0" + path[1:].encode() if path.startswith("@") else path


class Notifier:
    """Sends sd_notify messages to the socket named by ``NOTIFY_SOCKET`` in `env` (default os.environ)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self.socket_path: str | None = path or None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failing = False
        self.sent = 0
        self.errors = 0

    @property
    def enabled(self) -> bool:
        return self.socket_path is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields as one message; True if it was sent, False if disabled or failed."""
        if self.socket_path is None or not fields:
            return False
        payload = "\n".join(fields).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # close-on-exec by default
                    self._sock.setblocking(False)  # a full receiver queue must not stall the pose loop
                self._sock.sendto(payload, _address(self.socket_path))
            except OSError as e:
                self.errors += 1
                if not self._failing:
                    log.warning("systemd notify to %s failed: %s", self.socket_path, e)
                    self._failing = True
                else:
                    log.debug("systemd notify to %s failed again: %s", self.socket_path, e)
                self._close_locked()
                return False
            if self._failing:
                log.info("systemd notify to %s works again", self.socket_path)
                self._failing = False
            self.sent += 1
            return True

    def ready(self, status: str | None = None) -> bool:
        fields = ["READY=1"]
        if status is not None:
            fields.append(_status_field(status))
        return self.notify(*fields)

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(_status_field(text))

    def stopping(self, status: str | None = None) -> bool:
        fields = ["STOPPING=1"]
        if status is not None:
            fields.append(_status_field(status))
        return self.notify(*fields)

    def extend_timeout(self, usec: int) -> bool:
        """Ask for `usec` more microseconds to finish starting or stopping (EXTEND_TIMEOUT_USEC)."""
        if usec < 0:
            raise ValueError(f"usec must be >= 0, got {usec}")
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(usec)}")

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


def _status_field(text: str) -> str:
    # One message is newline-separated KEY=VALUE lines: a newline in the text would start a new key.
    return "STATUS=" + " ".join(str(text).split("\n")).strip()


_default: Notifier | None = None
_default_lock = threading.Lock()


def default_notifier() -> Notifier:
    """The process-wide notifier for the current ``NOTIFY_SOCKET`` (rebuilt if the variable changes)."""
    global _default
    with _default_lock:
        path = os.environ.get("NOTIFY_SOCKET") or None
        if _default is None or _default.socket_path != path:
            if _default is not None:
                _default.close()
            _default = Notifier()
        return _default


def ready(status: str | None = None) -> bool:
    """``READY=1``: start-up finished (camera and models up)."""
    return default_notifier().ready(status)


def watchdog() -> bool:
    """``WATCHDOG=1``: call only when the pose loop made progress."""
    return default_notifier().watchdog()


def status(text: str) -> bool:
    """``STATUS=<text>``: one line shown by ``systemctl status``."""
    return default_notifier().status(text)


def stopping(status: str | None = None) -> bool:
    """``STOPPING=1``: shutdown has begun."""
    return default_notifier().stopping(status)


def extend_timeout(usec: int) -> bool:
    """``EXTEND_TIMEOUT_USEC=<usec>``: slow start-up (model compile, TPU init) or shutdown."""
    return default_notifier().extend_timeout(usec)
