"""A real Mosquitto broker per test, on a free loopback port (never the system broker on 1883).

Fixtures: `broker` (anonymous), `auth_broker` (password file made with mosquitto_passwd), `tls_broker`
(certificates generated with openssl into the test's tmp dir); `acl_broker` adds an ACL and more users,
`secret_file` writes a password file the daemon accepts. `Broker.stop()` / `Broker.start()` restart the
same broker on the same port (in-memory state is lost, as after a real restart without persistence).
Also `Subscriber`, a small paho subscriber collecting messages for assertions.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

USERNAME = "edgepose"
PASSWORD = "s3cr3t-Pa55word-7f1c"  # distinctive so that tests can search all output for it


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies (even by SIGKILL or a CI timeout), so
    a killed test run leaves no broker behind. Linux only; a no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """One mosquitto process; `start()`/`stop()` may be called repeatedly (same port, same config)."""

    workdir: Path
    port: int
    extra_config: list[str] = field(default_factory=list)
    ca_file: Path | None = None
    persistence: bool = False
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"

    @property
    def conf(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    def write_config(self) -> None:
        lines = [
            "per_listener_settings false",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            f"listener {self.port} 127.0.0.1",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to user 'mosquitto', who cannot read tmp_path
        lines += self.extra_config
        if not any(line.startswith(("allow_anonymous", "password_file")) for line in self.extra_config):
            lines.append("allow_anonymous true")
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.write_config()
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
                raise RuntimeError(f"mosquitto exited at start: {err}\n{log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); only ever the process this object started."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def _require_mosquitto() -> None:
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip("mosquitto is not installed (Debian package 'mosquitto')")


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    brokers: list[Broker] = []

    def make(extra_config: list[str] | None = None, name: str = "broker", persistence: bool = False) -> Broker:
        _require_mosquitto()
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        b = Broker(workdir=workdir, port=free_port(), extra_config=list(extra_config or []),
                   persistence=persistence)
        brokers.append(b)
        b.start()
        return b

    yield make
    for b in brokers:
        b.stop()


@pytest.fixture
def broker(broker_factory: Callable[..., Broker]) -> Broker:
    return broker_factory()


def make_password_file(path: Path, username: str = USERNAME, password: str = PASSWORD) -> Path:
    if not os.access(MOSQUITTO_PASSWD, os.X_OK):
        pytest.skip("mosquitto_passwd is not installed")
    path.write_text("")
    # -b takes the password on the command line: fine for a throwaway test file.
    subprocess.run([MOSQUITTO_PASSWD, "-b", str(path), username, password], check=True,
                   capture_output=True)
    return path


def secret_file(path: Path, text: str = PASSWORD) -> Path:
    """`text` in a file only its owner can read (the daemon refuses a secret readable by others)."""
    path.write_text(text)
    path.chmod(0o600)
    return path


def acl_broker(broker_factory: Callable[..., Broker], tmp_path: Path, acl: str,
               users: dict[str, str] | None = None) -> Broker:  # fmt: skip
    """A broker refusing anonymous clients, with the ACL `acl` and a password file of USERNAME and `users`."""
    pw = make_password_file(tmp_path / "passwd")
    for user, password in (users or {}).items():
        subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), user, password], check=True, capture_output=True)
    acl_file = tmp_path / "acl.conf"
    acl_file.write_text(acl)
    return broker_factory([f"password_file {pw}", "allow_anonymous false", f"acl_file {acl_file}"], name="acl")


@pytest.fixture
def auth_broker(broker_factory: Callable[..., Broker], tmp_path: Path) -> Broker:
    pw = make_password_file(tmp_path / "passwd")
    return broker_factory([f"password_file {pw}", "allow_anonymous false"], name="auth")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA: (cert, key)."""
    if not os.access(OPENSSL, os.X_OK):
        pytest.skip("openssl is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)
    return cert, key


def make_cert(directory: Path, name: str, ca: tuple[Path, Path], *, server: bool) -> tuple[Path, Path]:
    """A certificate signed by `ca` (server: for 127.0.0.1/localhost; else a client certificate)."""
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
             "-out", str(csr), "-subj", f"/CN={name}", cwd=directory)
    ext = directory / f"{name}.ext"
    if server:
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    else:
        ext.write_text("extendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-out", str(cert), "-days", "2", "-extfile", str(ext), cwd=directory)
    return cert, key


@pytest.fixture
def tls_broker(broker_factory: Callable[..., Broker], tmp_path: Path) -> Broker:
    """A TLS-only broker requiring client certificates signed by its CA; `.ca_file` is that CA."""
    certs = tmp_path / "certs"
    ca = make_ca(certs, "test-ca")
    server = make_cert(certs, "server", ca, server=True)
    b = broker_factory(
        [f"cafile {ca[0]}", f"certfile {server[0]}", f"keyfile {server[1]}", "require_certificate true"],
        name="tls",
    )
    b.ca_file = ca[0]
    return b


class Subscriber:
    """A paho client that records every message on `topics` (for assertions in tests)."""

    def __init__(self, broker: Broker, topics: list[str] | str, *, qos: int = 1,
                 tls: tuple[Path, Path, Path] | None = None, protocol: int = mqtt.MQTTv311,
                 client_id: str | None = None, auth: tuple[str, str] | None = None) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self._topics = [topics] if isinstance(topics, str) else topics
        self._subscribed = threading.Event()
        # A fixed client_id with a persistent session (v3.1.1) survives a restart of a persistent broker.
        persistent = client_id is not None and protocol == mqtt.MQTTv311
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-sub-{free_port()}",
                                  protocol=protocol, clean_session=False if persistent else None)
        if auth:
            self.client.username_pw_set(*auth)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, qos) for t in self._topics])
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        if tls is not None:  # (ca, cert, key)
            self.client.tls_set(ca_certs=str(tls[0]), certfile=str(tls[1]), keyfile=str(tls[2]))
        self.client.connect_async(broker.host, broker.port, 30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("test subscriber could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.on(topic)]

    def wait_for(self, predicate: Callable[[list[mqtt.MQTTMessage]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_payload(self, topic: str, payload: bytes, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda ms: any(m.topic == topic and m.payload == payload for m in ms), timeout)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber_factory() -> Iterator[Callable[..., Subscriber]]:
    subs: list[Subscriber] = []

    def make(broker: Broker, topics: list[str] | str, **kw: object) -> Subscriber:
        s = Subscriber(broker, topics, **kw)  # type: ignore[arg-type]
        subs.append(s)
        return s

    yield make
    for s in subs:
        s.close()
