"""Broker faults: restarts at random moments, a long outage, and a broker that refuses us.

Sizes (environment): EDGEPOSE_BROKER_RESTARTS (default 3 in CI, 10 for the documented run),
EDGEPOSE_OUTAGE_SECONDS (default 5, 300 documented), EDGEPOSE_FAULT_SEED (random seed, printed).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from pathlib import Path

import pytest
from support.broker import USERNAME, acl_broker, make_ca, secret_file
from support.daemon import check_events_exactly_once, daemon_config, log_lines, received_at, rss_mb, summary

pytestmark = pytest.mark.slow

PREFIX = "edgepose"
RESTARTS = int(os.environ.get("EDGEPOSE_BROKER_RESTARTS", "3"))
OUTAGE_SECONDS = float(os.environ.get("EDGEPOSE_OUTAGE_SECONDS", "5"))
SEED = int(os.environ.get("EDGEPOSE_FAULT_SEED", str(int(time.time()) % 100_000)))


def _fresh(sub, topic: str, payload: bytes | None, after: float) -> list:
    """Messages forwarded live (not a retained copy) on `topic` that arrived after monotonic time `after`."""
    return [m for m in sub.on(topic) if not m.retain and received_at(m) >= after
            and (payload is None or m.payload == payload)]


def _discovery(sub) -> list:
    return [m for m in sub.messages if m.topic.startswith("homeassistant/") and m.topic.endswith("/config")]


def _looping_daemon(broker_factory, subscriber_factory, daemon_factory, clip: Path, tmp_path: Path, dev: str, *,
                    reconnect: tuple[float, float]) -> tuple:  # fmt: skip
    """A persistent broker, a subscriber to everything of `dev`, and the daemon looping `clip` in real time with
    `reconnect` (min, max) seconds; returned once its first event has arrived.

    The subscriber keeps a persistent session (fixed client id, clean_session false) on the persistent broker:
    messages published while it is still reconnecting wait for it, so "exactly once" is judged on what the
    daemon sent, not on the subscriber's own reconnect race."""
    broker = broker_factory(persistence=True)
    base = f"{PREFIX}/{dev}"
    sub = subscriber_factory(broker, [f"{base}/#", "homeassistant/#"], client_id=f"reliability-{dev}")
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=clip, device=dev, sections={
        "source": {"pace": "realtime", "loop": True},
        "mqtt": {"reconnect_min": reconnect[0], "reconnect_max": reconnect[1]},
    })
    d = daemon_factory(config, "--summary")
    assert sub.wait_for(lambda ms: any(m.topic == f"{base}/event" for m in ms), timeout=60), d.stderr()[-3000:]
    return broker, sub, d


def test_broker_restarted_at_random_moments(broker_factory, subscriber_factory, daemon_factory, spliced_clip,
                                            tmp_path: Path) -> None:
    """The broker is stopped and restarted RESTARTS times; outages always contain presence changes."""
    rng = random.Random(SEED)
    print(f"seed {SEED}, {RESTARTS} restarts")
    dev = "restarts"
    base = f"{PREFIX}/{dev}"
    broker, sub, d = _looping_daemon(broker_factory, subscriber_factory, daemon_factory, spliced_clip, tmp_path,
                                     dev, reconnect=(0.2, 2.0))  # fmt: skip
    rss = [d.sample().rss_kb]
    outages: list[tuple[float, float]] = []
    reconnect_s: list[float] = []
    online = f"{base}/status"
    for i in range(RESTARTS):
        time.sleep(rng.uniform(1.0, 3.0))
        broker.stop()
        t_down = time.time()
        # Every outage is longer than the longest gap between two presence changes of the clip (1.7 s).
        time.sleep(rng.uniform(2.0, 4.0))
        rss.append(d.sample().rss_kb)
        # Taken before the broker is launched: nothing can arrive while it is down, and the daemon may well
        # reconnect (and the subscriber receive its 'online') before start() has noticed the port is open.
        t_up, t_up_wall = time.monotonic(), time.time()
        broker.start()
        outages.append((t_down, t_up_wall))
        assert sub.wait_for(lambda ms, t=t_up: bool(_fresh(sub, online, b"online", t)), timeout=10), \
            f"restart {i}: no 'online' within 10 s\n{d.stderr()[-3000:]}"
        reconnect_s.append(received_at(_fresh(sub, online, b"online", t_up)[0]) - t_up)
        # The retained presence state and the discovery config are published again after the reconnect.
        assert sub.wait_for(lambda ms, t=t_up: bool(_fresh(sub, f"{base}/presence", None, t)), timeout=5)
        assert sub.wait_for(lambda ms, t=t_up: any(not m.retain and received_at(m) >= t for m in _discovery(sub)),
                            timeout=5)
        assert d.alive(), d.stderr()[-3000:]
    time.sleep(2.0)  # let the queue drain
    rss.append(d.sample().rss_kb)
    code, _ = d.stop()
    err = d.stderr()
    print(f"reconnect after broker start (s): {[round(r, 2) for r in reconnect_s]}; RSS MB {rss_mb(rss)}")
    assert code == 0, err[-3000:]
    assert max(reconnect_s) <= 5.0, reconnect_s
    assert len(log_lines(err, r"MQTT: connected to")) == RESTARTS + 1
    assert "Traceback" not in err
    events = [json.loads(m.payload) for m in sub.on(f"{base}/event")]
    check_events_exactly_once(events, err)
    during = [e for e in events if any(a <= e["ts"] <= b for a, b in outages)]
    print(f"{len(events)} events delivered, {len(during)} of them happened while the broker was down")
    assert len(during) >= RESTARTS  # the clip guarantees at least one change per outage
    stats = summary(d)
    assert stats["mqtt"]["events_dropped"] == 0 and stats["mqtt"]["reconnects"] == RESTARTS
    assert max(rss) - rss[0] < 20 * 1024, rss_mb(rss)


def test_long_outage_memory_bounded_and_events_kept(broker_factory, subscriber_factory, daemon_factory,
                                                    spliced_clip, tmp_path: Path) -> None:
    """The broker is down for OUTAGE_SECONDS: frames are dropped (not queued), events wait, RSS stays flat."""
    dev = "outage"
    base = f"{PREFIX}/{dev}"
    # reconnect_max 4 s: the longest wait between two attempts, so the daemon is back within 5 s.
    broker, sub, d = _looping_daemon(broker_factory, subscriber_factory, daemon_factory, spliced_clip, tmp_path,
                                     dev, reconnect=(0.5, 4.0))  # fmt: skip
    time.sleep(3.0)  # warm-up
    before = d.sample().rss_kb
    broker.stop()
    t_down = time.time()
    during: list[int] = []
    end = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < end:
        during.append(d.sample().rss_kb)
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    broker.start()
    t_up, t_up_wall = time.monotonic(), time.time()
    online = f"{base}/status"
    assert sub.wait_for(lambda ms: bool(_fresh(sub, online, b"online", t_up)), timeout=10), d.stderr()[-3000:]
    reconnect = received_at(_fresh(sub, online, b"online", t_up)[0]) - t_up
    assert sub.wait_for(lambda ms: bool(_fresh(sub, f"{base}/presence", None, t_up)), timeout=5)
    assert sub.wait_for(lambda ms: any(not m.retain and received_at(m) >= t_up for m in _discovery(sub)), timeout=5)
    time.sleep(3.0)
    after = d.sample().rss_kb
    code, _ = d.stop()
    err = d.stderr()
    print(f"outage {OUTAGE_SECONDS:g} s: reconnect {reconnect:.2f} s after the broker's return; RSS MB before "
          f"{before / 1024:.1f}, during max {max(during) / 1024:.1f}, after {after / 1024:.1f}")
    assert code == 0, err[-3000:]
    assert reconnect <= 5.0
    events = [json.loads(m.payload) for m in sub.on(f"{base}/event")]
    check_events_exactly_once(events, err)
    in_outage = [e for e in events if t_down <= e["ts"] <= t_up_wall]
    print(f"{len(events)} events, {len(in_outage)} during the outage")
    assert in_outage, "no presence change happened during the outage: the test proves nothing"
    stats = summary(d)
    assert stats["mqtt"]["frames_dropped"] > 0  # frames were dropped, not queued
    assert stats["mqtt"]["events_dropped"] == 0
    assert max(during) - before < 10 * 1024 and after - before < 10 * 1024


# ---- the broker refuses ------------------------------------------------------------------------------

REFUSE_SECONDS = 8.0


def _connections(broker) -> int:
    return len(re.findall(r"New connection from 127\.0\.0\.1", broker.log()))


def _refused_run(broker, daemon_factory, tmp_path: Path, short_clip: Path, mqtt: dict) -> tuple[str, dict, int]:
    """Run the daemon against a broker that refuses it; returns (stderr, summary, the daemon's attempts).

    Attempts are the daemon's own count (`connection_attempts`): mosquitto did not log every TLS connection that
    failed its handshake (1 of several in a CI run), so the broker's log only proves that the daemon reached it.
    """
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=short_clip, device="refused", sections={
        "source": {"pace": "realtime", "loop": True},
        "mqtt": {"reconnect_min": 0.5, "reconnect_max": 2.0, **mqtt},
    })
    before = _connections(broker)
    d = daemon_factory(config, "--summary")
    assert d.wait_log(r"engine: lite", timeout=60), d.stderr()[-2000:]
    time.sleep(REFUSE_SECONDS)
    assert d.alive(), d.stderr()[-3000:]
    code, _ = d.stop()
    err = d.stderr()
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    assert _connections(broker) - before >= 1, broker.log()[-2000:]  # the daemon really reached this broker
    stats = summary(d)
    return err, stats, stats["mqtt"]["connection_attempts"]


def _mqtt_problems(err: str) -> list[str]:
    """Warnings and errors about the connection (the shutdown report of undelivered events is separate)."""
    return [line for line in log_lines(err, r"(WARNING|ERROR) edgepose\.mqtt") if "at shutdown" not in line]


def test_wrong_password_one_line_and_backoff(auth_broker, daemon_factory, tmp_path: Path, short_clip) -> None:
    pw = secret_file(tmp_path / "pw", "not-the-password\n")
    err, stats, attempts = _refused_run(auth_broker, daemon_factory, tmp_path, short_clip,
                                        {"username": USERNAME, "password_file": str(pw)})
    problems = _mqtt_problems(err)
    print(f"wrong password: {attempts} connection attempts in {REFUSE_SECONDS:g} s "
          f"({attempts * 60 / REFUSE_SECONDS:.0f}/min); log: {problems}")
    assert len(problems) == 1 and "refused the login" in problems[0], problems
    # After a refused login the daemon waits reconnect_max/2..reconnect_max (1-2 s) between attempts.
    assert 2 <= attempts <= REFUSE_SECONDS / 1.0 + 2, attempts
    assert stats["mqtt"]["connected"] is False and stats["mqtt"]["connections"] == 0


def test_acl_denial_is_logged_once_without_a_reconnect_storm(broker_factory, subscriber_factory, daemon_factory,
                                                             tmp_path: Path, short_clip) -> None:
    broker = acl_broker(broker_factory, tmp_path,
                        f"user {USERNAME}\ntopic readwrite somewhere-else/#\n\nuser watcher\ntopic read #\n",
                        users={"watcher": "watcher-pw"})  # fmt: skip
    watcher = subscriber_factory(broker, ["#"], auth=("watcher", "watcher-pw"))
    pw_file = secret_file(tmp_path / "pw")
    err, stats, attempts = _refused_run(broker, daemon_factory, tmp_path, short_clip,
                                        {"username": USERNAME, "password_file": str(pw_file)})
    problems = _mqtt_problems(err)
    print(f"ACL denies every topic: {attempts} connection(s); log: {problems}")
    assert watcher.messages == []  # the broker really dropped everything the daemon published
    assert attempts == 1  # a denied publish is not a reason to reconnect
    assert len(problems) == 1 and "rejected a publish" in problems[0], problems
    assert stats["mqtt"]["connected"] is True


def test_untrusted_tls_certificate_one_line_and_backoff(tls_broker, daemon_factory, tmp_path: Path,
                                                        short_clip) -> None:
    other_ca, _ = make_ca(tmp_path / "other", "other-ca")  # a CA that did not sign the broker's certificate
    err, stats, attempts = _refused_run(tls_broker, daemon_factory, tmp_path, short_clip,
                                        {"tls": {"enabled": True, "ca_file": str(other_ca)}})
    problems = _mqtt_problems(err)
    print(f"untrusted TLS: {attempts} connection attempts in {REFUSE_SECONDS:g} s "
          f"({attempts * 60 / REFUSE_SECONDS:.0f}/min); log: {problems}")
    assert len(problems) == 1 and "TLS certificate not trusted" in problems[0], problems
    # Exponential backoff 0.5, 1, 2, 2 … s (with jitter): at most about 8 attempts in 8 s, not hundreds.
    assert 2 <= attempts <= 10, attempts
    assert stats["mqtt"]["connections"] == 0


def test_acl_denying_only_discovery_is_logged_once(broker_factory, subscriber_factory, daemon_factory,
                                                   tmp_path: Path, short_clip) -> None:
    """The ACL allows the device's own topics but not the discovery prefix: the one denied topic is named
    in one log line (MQTT 5 PUBACK reason "not authorized"); everything else keeps working."""
    broker = acl_broker(broker_factory, tmp_path, f"user {USERNAME}\ntopic readwrite edgepose/refused/#\n")
    pw_file = secret_file(tmp_path / "pw")
    err, stats, attempts = _refused_run(broker, daemon_factory, tmp_path, short_clip,
                                        {"username": USERNAME, "password_file": str(pw_file)})
    problems = _mqtt_problems(err)
    print(f"ACL denies the discovery prefix: {attempts} connection(s); log: {problems}")
    assert attempts == 1 and stats["mqtt"]["connected"] is True
    assert stats["mqtt"]["frames_published"] > 0
    assert len(problems) == 1 and "rejected a publish" in problems[0], problems


def test_default_reconnect_delay_allows_reconnecting_within_5_s() -> None:
    """Issue 6: back within 5 s of the broker's return. The backoff's longest wait is mqtt.reconnect_max, so
    after a long outage the default configuration reconnects only within reconnect_max seconds."""
    from edgepose.config import MqttConfig

    assert MqttConfig().reconnect_max <= 5.0
