"""`edgepose listen` against a real broker: it says when it cannot connect (no broker, bad host, broker gone) and
exits 69 after a bounded wait instead of waiting silently forever (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import paho.mqtt.publish as publish
from support.broker import Broker, free_port
from support.paths import REPO


def listen_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgepose", "listen", *args]


def run_listen(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPOSE_")}
    return subprocess.run(listen_cmd(*args), capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)


def test_no_broker_is_said_and_exits_69_by_default() -> None:
    port = free_port()  # nothing listens here
    # Without --connect-timeout: the default wait (10 s) is bounded; it used to wait silently forever.
    r = run_listen("--host", "127.0.0.1", "--port", str(port), timeout=60)
    assert r.returncode == 69, r.stderr
    assert f"cannot connect to the MQTT broker at 127.0.0.1:{port} within 10 s: Connection refused" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_unresolvable_host_is_said_and_exits_69() -> None:
    r = run_listen("--host", "no-such-broker.invalid", "--connect-timeout", "1")
    assert r.returncode == 69, r.stderr
    assert "cannot connect to the MQTT broker at no-such-broker.invalid:1883" in r.stderr
    assert "cannot resolve 'no-such-broker.invalid'" in r.stderr


def test_broker_gone_is_said_and_exits_69(broker: Broker) -> None:
    publish.single("edgepose/den/status", "online", retain=True, hostname=broker.host, port=broker.port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPOSE_")}
    proc = subprocess.Popen(listen_cmd("--host", broker.host, "--port", str(broker.port), "--connect-timeout", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "den status online"  # connected and listening
        broker.stop()
        _, err = proc.communicate(timeout=45)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 69, err
    assert f"lost the connection to the broker at {broker.host}:{broker.port}; reconnecting" in err
    assert "could not reconnect within 2 s: Connection refused" in err and "Traceback" not in err


def test_a_broker_back_in_time_is_reconnected_to(broker: Broker) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPOSE_")}
    publish.single("edgepose/den/status", "online", retain=True, hostname=broker.host, port=broker.port)
    proc = subprocess.Popen(listen_cmd("--host", broker.host, "--port", str(broker.port), "--connect-timeout", "20",
                                       "--count", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "den status online"
        broker.restart()  # no persistence: the retained status is gone; publish a new one
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            publish.single("edgepose/den/status", "offline", hostname=broker.host, port=broker.port)
            time.sleep(0.5)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "den status OFFLINE" in out
    assert "lost the connection" in err and "reconnected to" in err


def test_stats_line_has_no_python_reprs() -> None:
    from edgepose.client import Stats
    from edgepose.commands.listen import format_message

    line = format_message(Stats("den", {"v": 1, "fps": 14.98765, "temperature_c": None, "backend_note": "",
                                        "stages_ms": {"detector": 12.5, "landmark": None}, "flags": [], "ok": True}))
    assert line == ("den stats fps=14.99 temperature_c=- backend_note= stages_ms.detector=12.5 stages_ms.landmark=- "
                    "flags=- ok=yes")  # fmt: skip


def test_run_help_shows_every_default() -> None:
    from edgepose.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    run = sub.choices["run"]  # type: ignore[index]
    for action in run._actions:
        if action.dest in ("help", "summary"):  # a flag whose default is "off" says nothing
            continue
        assert "default" in (action.help or ""), f"{action.option_strings}: {action.help!r}"
