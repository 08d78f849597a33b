"""SIGTERM at awkward moments: during start-up, during a broker outage, under full load.

SIGKILL (the broker's last will says `offline`) is tested in tests/daemon/test_daemon_e2e.py::
test_kill_9_leaves_the_last_will and tests/mqtt/test_publisher.py::test_kill_minus_9_makes_the_broker_publish_offline.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from support.daemon import daemon_config, summary

PREFIX = "edgepose"


def _retained_status(subscriber_factory, broker, base: str) -> bytes | None:
    late = subscriber_factory(broker, [f"{base}/status"])
    late.wait_for(lambda ms: bool(ms), timeout=2)
    payloads = late.payloads(f"{base}/status")
    return payloads[-1] if payloads else None


@pytest.mark.parametrize("moment", ["importing", "loading", "models-loaded"])
def test_sigterm_during_startup(broker, subscriber_factory, daemon_factory, dance_video, tmp_path: Path,
                                moment: str) -> None:
    """SIGTERM while Python imports (before the handler exists), while the models load, and right after."""
    base = f"{PREFIX}/early-{moment}"
    sub = subscriber_factory(broker, [f"{base}/status"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=dance_video, device=f"early-{moment}",
                           sections={"source": {"pace": "realtime", "loop": True}})
    d = daemon_factory(config)
    if moment == "importing":
        time.sleep(0.2)
    elif moment == "loading":
        time.sleep(0.6)
    else:
        assert d.wait_log(r"engine: lite", timeout=60), d.stderr()[-2000:]
    code, took = d.stop(signal.SIGTERM, timeout=15)
    err = d.stderr()
    status = _retained_status(subscriber_factory, broker, base)
    print(f"{moment}: exit {code} after {took:.2f} s; statuses seen {sub.payloads(f'{base}/status')}, "
          f"retained {status}")
    assert took < 5.0
    # Before Python installed its handler the default action ends the process (status -15, which systemd
    # counts as a clean exit); afterwards the daemon stops itself with status 0.
    assert code in (0, -signal.SIGTERM), err[-3000:]
    if moment == "models-loaded":
        assert code == 0 and "received SIGTERM" in err
    assert "Traceback" not in err
    # Never a stale "online": either nothing was announced, or "offline" followed it.
    assert status in (None, b"offline")


def test_sigterm_during_broker_outage(broker, subscriber_factory, daemon_factory, dance_video,
                                      tmp_path: Path) -> None:
    """The broker is down and the publisher sits in a long reconnect backoff: the daemon still exits at once."""
    base = f"{PREFIX}/outage-term"
    sub = subscriber_factory(broker, [f"{base}/status"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=dance_video, device="outage-term",
                           sections={"source": {"pace": "realtime", "loop": True},
                                     "mqtt": {"reconnect_min": 10.0, "reconnect_max": 30.0}})
    d = daemon_factory(config, "--summary")
    assert sub.wait_payload(f"{base}/status", b"online", timeout=60), d.stderr()[-2000:]
    broker.stop()
    assert d.wait_log(r"connection to .* lost", timeout=10)
    time.sleep(1.5)
    code, took = d.stop(signal.SIGTERM, timeout=15)
    err = d.stderr()
    print(f"SIGTERM during outage: exit {code} after {took:.2f} s")
    assert code == 0 and took < 5.0, err[-3000:]
    assert "Traceback" not in err
    stats = summary(d)
    assert stats["mqtt"]["connected"] is False


def test_sigterm_under_load(broker, subscriber_factory, daemon_factory, dance_video, tmp_path: Path) -> None:
    """Frames as fast as the CPU allows (two inference threads on two cores): clean stop, `offline` published."""
    base = f"{PREFIX}/load-term"
    sub = subscriber_factory(broker, [f"{base}/status", f"{base}/pose"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=dance_video, device="load-term",
                           sections={"source": {"pace": "fast", "loop": True}, "engine": {"threads": 2}})
    d = daemon_factory(config, "--summary")
    assert sub.wait_for(lambda ms: len(sub.on(f"{base}/pose")) >= 60, timeout=60), d.stderr()[-2000:]
    code, took = d.stop(signal.SIGTERM, timeout=15)
    err = d.stderr()
    frames = len(sub.on(f"{base}/pose"))
    print(f"SIGTERM under load: exit {code} after {took:.2f} s ({frames} frames published)")
    assert code == 0 and took < 5.0, err[-3000:]
    assert sub.wait_for(lambda ms: ms[-1].topic == f"{base}/status" and ms[-1].payload == b"offline", timeout=5)
    assert "received SIGTERM" in err and "Traceback" not in err
    assert summary(d)["mqtt"]["frames_published"] == frames
