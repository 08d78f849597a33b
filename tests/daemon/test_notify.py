"""systemd notify protocol against real AF_UNIX datagram listeners (a path socket and an abstract one)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgepose.daemon import notify
from edgepose.daemon.notify import Notifier, watchdog_interval


class Listener:
    """What systemd does: a bound datagram socket that receives the notifications."""

    def __init__(self, address: str) -> None:
        self.env_value = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + address[1:].encode() if address.startswith("@") else address)
        self.sock.settimeout(2.0)

    def receive(self) -> bytes:
        return self.sock.recv(4096)

    def pending(self) -> list[bytes]:
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(4096))
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(2.0)
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def listener(request, tmp_path: Path) -> Iterator[Listener]:
    address = str(tmp_path / "notify.sock") if request.param == "path" else f"@edgepose-test-{uuid.uuid4().hex}"
    lst = Listener(address)
    yield lst
    lst.close()


def test_messages_arrive_as_systemd_expects(listener):
    n = Notifier({"NOTIFY_SOCKET": listener.env_value})
    assert n.enabled
    assert n.ready(status="camera and models up")
    assert listener.receive() == b"READY=1\nSTATUS=camera and models up"
    assert n.watchdog()
    assert listener.receive() == b"WATCHDOG=1"
    assert n.status("12.5 fps\nprocessed")
    assert listener.receive() == b"STATUS=12.5 fps processed"  # a newline would start a new field
    assert n.extend_timeout(5_000_000)
    assert listener.receive() == b"EXTEND_TIMEOUT_USEC=5000000"
    assert n.stopping()
    assert listener.receive() == b"STOPPING=1"
    assert n.sent == 5 and n.errors == 0
    n.close()


def test_module_functions_follow_the_environment(listener, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", listener.env_value)
    assert notify.ready()
    assert notify.watchdog()
    assert notify.status("ok")
    assert notify.extend_timeout(1)
    assert notify.stopping("bye")
    assert listener.pending() == [b"READY=1", b"WATCHDOG=1", b"STATUS=ok", b"EXTEND_TIMEOUT_USEC=1",
                                  b"STOPPING=1\nSTATUS=bye"]
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert notify.watchdog() is False  # no-op without the variable


def test_no_socket_variable_is_a_no_op():
    n = Notifier({})
    assert not n.enabled
    assert n.ready() is False and n.watchdog() is False and n.status("x") is False
    assert n.errors == 0


def test_send_errors_are_logged_once_and_never_raised(tmp_path, caplog):
    path = tmp_path / "later.sock"
    n = Notifier({"NOTIFY_SOCKET": str(path)})
    with caplog.at_level(logging.DEBUG, logger="edgepose.daemon.notify"):
        assert n.watchdog() is False
        assert n.watchdog() is False
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and str(path) in warnings[0].getMessage()
        assert n.errors == 2
        lst = Listener(str(path))  # systemd's socket appears (e.g. after a restart of the manager)
        try:
            assert n.watchdog() is True
            assert lst.receive() == b"WATCHDOG=1"
        finally:
            lst.close()
    assert "works again" in caplog.text


def test_a_full_receiver_queue_does_not_block(listener):
    n = Notifier({"NOTIFY_SOCKET": listener.env_value})
    results = [n.watchdog() for _ in range(2000)]  # nobody reads: the kernel queue fills up
    assert results[0] is True and results.count(False) > 0
    assert n.errors == results.count(False)
    listener.pending()
    assert n.watchdog() is True  # and recovers once systemd reads again


def test_watchdog_interval():
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "12"}, pid=12) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"}) is None


def test_extend_timeout_rejects_negative():
    with pytest.raises(ValueError, match="usec"):
        Notifier({}).extend_timeout(-1)
