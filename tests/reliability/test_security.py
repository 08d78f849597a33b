"""Least privilege: TLS verification always on, the password never shown, a tight broker ACL, no listener.

The systemd unit's exposure score (≤ 2.5, `systemd-analyze security`) is checked by
tests/systemd/test_unit.py::test_security_exposure_is_in_the_ok_band.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import paho.mqtt.publish as mqtt_publish
import pytest
from support.broker import (
    OPENSSL,
    PASSWORD,
    USERNAME,
    acl_broker,
    make_ca,
    make_cert,
    secret_file,
)
from support.daemon import (
    daemon_config,
    inet_sockets,
    log_lines,
    socket_inodes,
    summary,
    unix_sockets,
)

from edgepose.cli import build_parser
from edgepose.config import iter_keys

PREFIX = "edgepose"


# ---- TLS -----------------------------------------------------------------------------------------------


def test_no_option_turns_certificate_verification_off() -> None:
    tls_keys = [k for k, _, _ in iter_keys() if k.startswith("mqtt.tls.")]
    assert tls_keys == ["mqtt.tls.enabled", "mqtt.tls.ca_file", "mqtt.tls.cert_file", "mqtt.tls.key_file"]


def _cert_for_wrong_host(directory: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A server certificate signed by the trusted CA, but for another host name (not 127.0.0.1)."""
    key, csr, cert, ext = (directory / f"wrong.{s}" for s in ("key", "csr", "crt", "ext"))
    ext.write_text("subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run([OPENSSL, *a], cwd=directory, check=True, capture_output=True)  # noqa: E731
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
        "-out", str(csr), "-subj", "/CN=wrong.example")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return cert, key


def _tls_run(broker, daemon_factory, tmp_path: Path, short_clip: Path, tls: dict, name: str) -> tuple[str, dict]:
    config = daemon_config(tmp_path / f"{name}.toml", port=broker.port, source=short_clip, device=name,
                           sections={"source": {"pace": "realtime", "loop": True}, "mqtt": {"tls": tls}})
    d = daemon_factory(config, "--summary", name=name)
    assert d.wait_log(r"MQTT: (connected|cannot connect)", timeout=60), d.stderr()[-2000:]
    time.sleep(1.0)
    code, _ = d.stop()
    assert code == 0, d.stderr()[-3000:]
    return d.stderr(), summary(d)


def test_tls_verifies_the_chain_and_the_host_name(broker_factory, daemon_factory, tmp_path: Path,
                                                  short_clip) -> None:
    certs = tmp_path / "certs"
    ca = make_ca(certs, "test-ca")
    client = make_cert(certs, "client", ca, server=False)
    good = make_cert(certs, "server", ca, server=True)
    wrong = _cert_for_wrong_host(certs, ca)
    common = [f"cafile {ca[0]}", "require_certificate true"]
    good_broker = broker_factory([*common, f"certfile {good[0]}", f"keyfile {good[1]}"], name="good")
    wrong_broker = broker_factory([*common, f"certfile {wrong[0]}", f"keyfile {wrong[1]}"], name="wrong")
    mutual = {"enabled": True, "cert_file": str(client[0]), "key_file": str(client[1])}

    err, stats = _tls_run(good_broker, daemon_factory, tmp_path, short_clip, {**mutual, "ca_file": str(ca[0])},
                          "pinned")
    assert stats["mqtt"]["connections"] == 1, err[-2000:]  # the pinned CA works

    err, stats = _tls_run(good_broker, daemon_factory, tmp_path, short_clip, mutual, "system-cas")
    assert stats["mqtt"]["connections"] == 0  # the test CA is not among the system CAs
    assert log_lines(err, r"TLS certificate not trusted"), err[-2000:]

    err, stats = _tls_run(wrong_broker, daemon_factory, tmp_path, short_clip, {**mutual, "ca_file": str(ca[0])},
                          "wrong-host")
    assert stats["mqtt"]["connections"] == 0  # a trusted chain for another host name is refused too
    problems = log_lines(err, r"TLS certificate not trusted")
    print(f"wrong host name: {problems}")
    assert problems and ("mismatch" in problems[0].lower() or "hostname" in problems[0].lower()), problems


# ---- the password --------------------------------------------------------------------------------------


def _all_options(parser: argparse.ArgumentParser) -> list[str]:
    out: list[str] = []
    for action in parser._actions:
        out += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _all_options(sub)
    return out


def test_no_command_takes_a_password_on_the_command_line(tmp_path: Path) -> None:
    options = _all_options(build_parser())
    assert "--config" in options and "--broker" in options  # the walk sees the subcommands' options
    assert [o for o in options if "pass" in o.lower() or "secret" in o.lower()] == []
    res = subprocess.run([*_edgepose(), "run", "--password", PASSWORD], capture_output=True, text=True, timeout=60)
    assert res.returncode == 64 and "unrecognized arguments" in res.stderr  # usage error (sysexits)


def _edgepose() -> list[str]:
    import sys

    return [sys.executable, "-m", "edgepose"]


@pytest.mark.parametrize("via", ["file", "env"])
def test_the_password_never_appears_in_output_messages_or_argv(auth_broker, subscriber_factory, daemon_factory,
                                                               spliced_clip, tmp_path: Path, via: str) -> None:
    """Debug logging on, every message on the broker recorded: the password is nowhere but in the broker's
    password check. Then the same with a wrong password (the refused-login path)."""
    pw_file = secret_file(tmp_path / "pw", PASSWORD + "\n")
    mqtt = {"username": USERNAME}
    env = {}
    if via == "file":
        mqtt["password_file"] = str(pw_file)
    else:
        mqtt["password_env"] = "EDGEPOSE_TEST_MQTT_SECRET"
        env["EDGEPOSE_TEST_MQTT_SECRET"] = PASSWORD
    everything = subscriber_factory(auth_broker, ["#", "$SYS/#"], auth=(USERNAME, PASSWORD))
    config = daemon_config(tmp_path / "c.toml", port=auth_broker.port, source=spliced_clip, device="secret",
                           sections={"mqtt": mqtt})
    d = daemon_factory(config, "--summary", env=env, verbose=True)
    cmdline = Path(f"/proc/{d.pid}/cmdline").read_bytes()
    code = d.wait(120)
    assert code == 0, d.stderr()[-3000:]
    out = d.stdout() + d.stderr()
    assert summary(d)["mqtt"]["connections"] == 1
    assert everything.wait_for(lambda ms: sum(m.topic.endswith("/event") for m in ms) >= 4, timeout=10)
    check = subprocess.run([*_edgepose(), "-vv", "config", "check", str(config)], capture_output=True, text=True,
                           timeout=60, env={**os.environ, **env})
    assert check.returncode == 0, check.stderr
    secret = PASSWORD.encode()
    assert secret not in cmdline
    assert PASSWORD not in out and PASSWORD not in check.stdout + check.stderr
    assert len(everything.messages) > 100
    assert [m.topic for m in everything.messages if secret in m.payload or secret in m.topic.encode()] == []

    # The refused login: the configured (wrong) password must not be echoed in the error either.
    wrong = "Wr0ng-" + PASSWORD[::-1]
    secret_file(pw_file, wrong)
    env_wrong = {"EDGEPOSE_TEST_MQTT_SECRET": wrong} if via == "env" else {}
    d2 = daemon_factory(config, "--summary", env=env_wrong, verbose=True, name="wrong")
    assert d2.wait_log(r"refused the login", timeout=60), d2.stderr()[-2000:]
    code, _ = d2.stop()
    assert code == 0
    assert wrong not in d2.stdout() + d2.stderr() and PASSWORD not in d2.stdout() + d2.stderr()


# ---- a tight ACL ---------------------------------------------------------------------------------------


def test_every_feature_works_with_an_acl_of_own_topics_and_discovery(broker_factory, subscriber_factory,
                                                                     daemon_factory, spliced_clip,
                                                                     tmp_path: Path) -> None:
    dev = "aclok"
    broker = acl_broker(broker_factory, tmp_path,
                        f"user {USERNAME}\ntopic readwrite {PREFIX}/{dev}/#\ntopic readwrite homeassistant/#\n\n"
                        "user watcher\ntopic read #\ntopic write homeassistant/status\n",
                        users={"watcher": "watcher-pw"})  # fmt: skip
    watcher = subscriber_factory(broker, ["#"], auth=("watcher", "watcher-pw"))
    pw_file = secret_file(tmp_path / "pw")
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=spliced_clip, device=dev, sections={
        "source": {"pace": "realtime"}, "mqtt": {"username": USERNAME, "password_file": str(pw_file)}})
    d = daemon_factory(config, "--summary")
    base = f"{PREFIX}/{dev}"
    assert watcher.wait_for(lambda ms: any(m.topic.endswith("/config") for m in ms), timeout=60), d.stderr()[-2000:]
    n_config = sum(m.topic.endswith("/config") for m in watcher.messages)
    mqtt_publish.single("homeassistant/status", b"online", hostname=broker.host, port=broker.port,
                        auth={"username": "watcher", "password": "watcher-pw"})
    assert watcher.wait_for(lambda ms: sum(m.topic.endswith("/config") for m in ms) > n_config, timeout=10)
    code = d.wait(60)
    err = d.stderr()
    assert code == 0, err[-3000:]
    assert watcher.wait_for(lambda ms: ms[-1].topic == f"{base}/status" and ms[-1].payload == b"offline")
    topics = {m.topic for m in watcher.messages}
    print(f"topics seen under the ACL: {sorted(topics)}")
    for kind in ("status", "pose", "presence", "event", "stats"):
        assert f"{base}/{kind}" in topics, kind
    events = [json.loads(m.payload)["type"] for m in watcher.on(f"{base}/event")]
    assert events == ["enter", "leave", "enter", "leave"]
    stats = summary(d)
    assert len(watcher.on(f"{base}/pose")) == stats["mqtt"]["frames_published"] > 100
    assert log_lines(err, r"rejected|not authori[sz]ed|ACL") == []
    assert stats["mqtt"]["ignored_messages"] == 0 and stats["mqtt"]["frames_dropped"] == 0


# ---- no listening socket -------------------------------------------------------------------------------


def _listening(pid: int) -> list[str]:
    """Sockets of process `pid` that accept connections (TCP LISTEN, bound UDP, listening AF_UNIX)."""
    inodes = {str(i) for i in socket_inodes(pid)}
    found = []
    for table in ("tcp", "tcp6"):
        found += [f"{table} {r['local']}" for r in inet_sockets(pid, table)
                  if r["inode"] in inodes and r["state"] == "0A"]
    for table in ("udp", "udp6"):
        found += [f"{table} {r['local']}" for r in inet_sockets(pid, table) if r["inode"] in inodes]
    found += [f"unix {r['path']}" for r in unix_sockets(pid) if r["inode"] in inodes and int(r["flags"], 16) & 0x10000]
    return found


def test_the_daemon_opens_no_listening_socket(broker, subscriber_factory, daemon_factory, dance_video,
                                              tmp_path: Path) -> None:
    base = f"{PREFIX}/nolisten"
    sub = subscriber_factory(broker, [f"{base}/pose"])
    notify = tmp_path / "notify.sock"
    import socket

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify))
    try:
        config = daemon_config(tmp_path / "c.toml", port=broker.port, source=dance_video, device="nolisten",
                               sections={"source": {"pace": "realtime", "loop": True}})
        d = daemon_factory(config, env={"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "2000000"})
        assert sub.wait_for(lambda ms: len(ms) >= 10, timeout=60), d.stderr()[-2000:]
        inodes = socket_inodes(d.pid)
        listening = _listening(d.pid)
        tcp = [r for r in inet_sockets(d.pid, "tcp") + inet_sockets(d.pid, "tcp6") if int(r["inode"]) in inodes]
        print(f"daemon sockets: {len(inodes)}; TCP (local, remote, state): "
              f"{[(r['local'], r['remote'], r['state']) for r in tcp]}")
        # The detector works: mosquitto's listening socket is found the same way.
        assert broker.proc is not None and _listening(broker.proc.pid)
        assert listening == []
        # Outgoing only: the broker connection, plus paho's internal wake-up pair (a loopback TCP connection
        # whose both ends belong to the daemon).
        local_ends = {r["local"] for r in tcp}
        to_broker = [r for r in tcp if int(r["remote"].rsplit(":", 1)[1], 16) == broker.port]
        internal = [r for r in tcp if r["remote"] in local_ends]
        assert len(to_broker) == 1 and len(to_broker) + len(internal) == len(tcp), tcp
        assert all(r["state"] == "01" for r in tcp)
        code, _ = d.stop(signal.SIGTERM)
        assert code == 0
    finally:
        listener.close()
