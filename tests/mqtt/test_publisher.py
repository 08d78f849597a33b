"""The publisher against a real Mosquitto started by the test (tests/support/broker.py)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import paho.mqtt.client as mqtt
import paho.mqtt.publish as mqtt_publish
import pytest
from support.broker import PASSWORD, USERNAME, Broker, acl_broker, make_ca, make_cert, secret_file
from support.paths import REPO
from support.publisher import publisher_config

from edgepose.config import Config, parse_config
from edgepose.mqtt import contract
from edgepose.mqtt.contract import PresenceEvent, PresenceState, Topics
from edgepose.pose import FramePoses, Pose, Roi

DEVICE = "testdev"
TOPICS = Topics("edgepose", DEVICE)


def make_cfg(broker: Broker, **mqtt_over: object) -> Config:
    return publisher_config(broker, DEVICE, **mqtt_over)


def random_pose(rng: np.random.Generator) -> Pose:
    kp = rng.random((33, 5), dtype=np.float32)
    world = rng.normal(size=(33, 3)).astype(np.float32)
    return Pose(kp, world, float(rng.random()), Roi.from_values(0.5, 0.5, 1.0, 1.0, 0.0))


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_online_retained_on_connect_and_offline_on_close(broker, publishers, subscriber_factory, protocol):
    early = subscriber_factory(broker, TOPICS.status)
    pub = publishers(make_cfg(broker, protocol=protocol))
    assert pub.wait_connected(10)
    assert pub.protocol == protocol
    assert early.wait_payload(TOPICS.status, b"online")
    # A subscriber arriving later sees the retained "online".
    late = subscriber_factory(broker, TOPICS.status)
    assert late.wait_payload(TOPICS.status, b"online")
    assert late.on(TOPICS.status)[0].retain
    pub.close()
    assert late.wait_payload(TOPICS.status, b"offline")
    # ... and the retained value is now "offline" (the clean close published it, no will needed).
    after = subscriber_factory(broker, TOPICS.status)
    assert after.wait_payload(TOPICS.status, b"offline")
    assert after.on(TOPICS.status)[-1].retain


CHILD = textwrap.dedent("""
    import sys, time
    from edgepose.config import parse_config
    from edgepose.mqtt.publisher import Publisher
    cfg = parse_config({"device": {"id": sys.argv[2]},
                        "mqtt": {"host": "127.0.0.1", "port": int(sys.argv[1]), "keepalive": 5}}, env={})
    pub = Publisher(cfg.mqtt, cfg.device.id).start()
    assert pub.wait_connected(10)
    time.sleep(0.3)
    print("connected", flush=True)
    time.sleep(60)
""")


def test_kill_minus_9_makes_the_broker_publish_offline(broker, subscriber_factory):
    sub = subscriber_factory(broker, TOPICS.status)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(broker.port), DEVICE], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "connected", child.stderr.read() if child.stderr else ""
        assert sub.wait_payload(TOPICS.status, b"online")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        # The process could not say anything: "offline" comes from the broker's last will.
        assert sub.wait_payload(TOPICS.status, b"offline")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    retained = subscriber_factory(broker, TOPICS.status)
    assert retained.wait_payload(TOPICS.status, b"offline")


def test_pose_frames_arrive_with_33_keypoints_and_expiry(broker, publishers, subscriber_factory):
    sub = subscriber_factory(broker, TOPICS.pose, protocol=mqtt.MQTTv5, qos=0)
    pub = publishers(make_cfg(broker))
    assert pub.wait_connected(10)
    rng = np.random.default_rng(0)
    sent = [FramePoses(640, 480, [random_pose(rng)]) for _ in range(5)] + [FramePoses(640, 480, [])]
    t0 = time.time()
    for i, frame in enumerate(sent):
        assert pub.publish_pose(frame, capture_ts=t0 + i * 0.033)
    assert sub.wait_for(lambda ms: len(ms) >= len(sent))
    msgs = sub.on(TOPICS.pose)
    frames = [contract.parse_pose(m.payload, DEVICE) for m in msgs]
    assert [f.seq for f in frames] == [1, 2, 3, 4, 5, 6]
    for frame, got in zip(sent, frames, strict=True):
        assert (got.width, got.height) == (640, 480)
        assert len(got.poses) == len(frame.poses)
        for a, b in zip(frame.poses, got.poses, strict=True):
            assert b.keypoints.shape == (33, 5)
            np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-5)
            np.testing.assert_allclose(b.world, a.world, atol=1e-5)
    assert abs(frames[1].ts - (t0 + 0.033)) < 1e-3
    assert all(not m.retain and m.qos == 0 for m in msgs)
    assert all(getattr(m.properties, "MessageExpiryInterval", None) is not None for m in msgs)
    # Counted as published once the broker confirmed it read them (a probe answered after them).
    assert wait_until(lambda: pub.counters.frames_published == 6, timeout=5)
    assert pub.counters.frames_dropped == 0


def broker_to_us_once(msgs: list[mqtt.MQTTMessage]) -> list[mqtt.MQTTMessage]:
    """Drop the broker's own QoS 1 redeliveries to the test subscriber (DUP set, same mid and payload).

    When the broker stops before it has our PUBACK, it redelivers from its saved session after the restart:
    that is broker->subscriber, not the publisher. A publisher resend would reach us as a new message
    (fresh mid, DUP clear) and is not filtered.
    """
    seen: set[tuple[int, bytes]] = set()
    out = []
    for m in msgs:
        if m.dup and (m.mid, m.payload) in seen:
            continue
        seen.add((m.mid, m.payload))
        out.append(m)
    return out


def test_events_survive_a_broker_outage_exactly_once_in_order(broker_factory, publishers, subscriber_factory):
    broker = broker_factory(persistence=True)
    # A persistent-session subscriber: the broker keeps its queue across the restart, so what it receives
    # is exactly what the publisher delivered, regardless of who reconnects first.
    sub = subscriber_factory(broker, [TOPICS.event, TOPICS.presence], client_id="test-persistent-sub")
    pub = publishers(make_cfg(broker))
    assert pub.wait_connected(10)
    t0 = 1_700_000_000.0
    pub.publish_presence(PresenceState(True, 1, t0), PresenceEvent("enter", t0, 1))
    assert sub.wait_for(lambda ms: any(m.topic == TOPICS.event for m in ms))
    # An event that cannot be serialised is refused up front and does not block the queue.
    with pytest.raises(ValueError):
        pub.publish_presence(PresenceState(True, 1, t0), PresenceEvent("enter", float("nan"), 1))

    broker.stop()
    assert wait_until(lambda: not pub.connected)
    frame = FramePoses(640, 480, [random_pose(np.random.default_rng(1))])
    assert not pub.publish_pose(frame, time.time())
    assert not pub.publish_pose(frame, time.time())
    assert pub.counters.frames_dropped == 2
    expected = [PresenceEvent("enter", t0, 1)]
    for i in range(1, 7):
        ev = PresenceEvent("leave" if i % 2 else "enter", t0 + i, 0 if i % 2 else 1)
        expected.append(ev)
        pub.publish_presence(PresenceState(ev.type == "enter", ev.count, ev.ts), ev)
    assert pub.pending_events() == 6
    last_state = PresenceState(False, 0, t0 + 5)
    pub.publish_presence(last_state)  # a state change without an event

    broker.start()
    assert pub.wait_connected(10)
    assert sub.wait_for(lambda ms: sum(m.topic == TOPICS.event for m in ms) >= len(expected))
    assert wait_until(lambda: pub.pending_events() == 0)
    time.sleep(0.5)  # room for a duplicate to show up
    got = [contract.parse_event(m.payload) for m in broker_to_us_once(sub.on(TOPICS.event))]
    assert got == expected
    assert pub.counters.events_published == len(expected)
    # The retained presence state was republished after the reconnection and is the latest one.
    fresh = subscriber_factory(broker, TOPICS.presence)
    assert fresh.wait_for(lambda ms: len(ms) >= 1)
    assert contract.parse_presence(fresh.on(TOPICS.presence)[-1].payload) == last_state
    assert fresh.on(TOPICS.presence)[-1].retain
    assert pub.counters.reconnects == 1


def test_event_queue_is_bounded_and_drops_the_oldest(broker_factory, publishers, subscriber_factory):
    broker = broker_factory(persistence=True)
    sub = subscriber_factory(broker, TOPICS.event, client_id="test-persistent-sub2")
    pub = publishers(make_cfg(broker, event_queue_size=3))
    assert pub.wait_connected(10)
    broker.stop()
    assert wait_until(lambda: not pub.connected)
    events = [PresenceEvent("enter" if i % 2 == 0 else "leave", 1000.0 + i, i % 2) for i in range(5)]
    for ev in events:
        pub.publish_presence(PresenceState(ev.type == "enter", ev.count, ev.ts), ev)
    assert pub.pending_events() == 3
    assert pub.counters.events_dropped == 2
    broker.start()
    assert sub.wait_for(lambda ms: len(ms) >= 3)
    time.sleep(0.3)
    got = [contract.parse_event(m.payload) for m in broker_to_us_once(sub.on(TOPICS.event))]
    assert got == events[2:]


def test_password_auth(auth_broker, publishers, tmp_path):
    pw = secret_file(tmp_path / "pw", PASSWORD + "\n")
    pub = publishers(make_cfg(auth_broker, username=USERNAME, password_file=str(pw)))
    assert pub.wait_connected(10)


def test_wrong_password_logs_one_clear_line_and_backs_off(auth_broker, publishers, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="edgepose")
    wrong = "not-the-password-91c3"
    pw = secret_file(tmp_path / "pw", wrong)
    reconnect_max = 0.3
    pub = publishers(make_cfg(auth_broker, username=USERNAME, password_file=str(pw),
                              reconnect_max=reconnect_max))
    t0 = time.monotonic()
    assert wait_until(lambda: pub.counters.connection_failures >= 3)
    elapsed = time.monotonic() - t0
    assert not pub.connected
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "refused the login" in errors[0].getMessage()
    assert all(wrong not in r.getMessage() and PASSWORD not in r.getMessage() for r in caplog.records)
    # Backoff, not a storm: after a refused login every wait is at least reconnect_max / 2.
    attempts = pub.stats()["connection_attempts"]
    assert attempts <= 2 + elapsed / (reconnect_max / 2)


def test_tls_with_a_generated_ca(tls_broker, publishers, tmp_path, subscriber_factory):
    certs = tmp_path / "certs"
    client = make_cert(certs, "client", (certs / "test-ca.crt", certs / "test-ca.key"), server=False)
    cfg = make_cfg(tls_broker, tls={"enabled": True, "ca_file": str(tls_broker.ca_file),
                                    "cert_file": str(client[0]), "key_file": str(client[1])})
    pub = publishers(cfg)
    assert pub.wait_connected(10)
    sub = subscriber_factory(tls_broker, TOPICS.status, tls=(tls_broker.ca_file, client[0], client[1]))
    assert sub.wait_payload(TOPICS.status, b"online")


def test_tls_refuses_a_broker_signed_by_an_untrusted_ca(tls_broker, publishers, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="edgepose")
    certs = tmp_path / "certs"
    client = make_cert(certs, "client", (certs / "test-ca.crt", certs / "test-ca.key"), server=False)
    other_ca, _ = make_ca(tmp_path / "other", "other-ca")
    cfg = make_cfg(tls_broker, tls={"enabled": True, "ca_file": str(other_ca),
                                    "cert_file": str(client[0]), "key_file": str(client[1])})
    pub = publishers(cfg)
    assert wait_until(lambda: pub.counters.connection_failures >= 3)
    assert not pub.connected
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and "TLS certificate not trusted" in errors[0], errors


def test_discovery_on_connect_and_on_homeassistant_online(broker, publishers, subscriber_factory):
    disc_topic = "homeassistant/device/edgepose_testdev/config"
    sub = subscriber_factory(broker, disc_topic)
    pub = publishers(make_cfg(broker))
    assert pub.wait_connected(10)
    assert sub.wait_for(lambda ms: len(ms) >= 1)
    payload = json.loads(sub.on(disc_topic)[0].payload)
    assert payload["cmps"]["occupancy"]["state_topic"] == TOPICS.presence
    sub.clear()
    mqtt_publish.single("homeassistant/status", b"online", hostname=broker.host, port=broker.port)
    assert sub.wait_for(lambda ms: len(ms) >= 1)
    assert json.loads(sub.on(disc_topic)[0].payload) == payload


def test_malformed_messages_on_subscribed_topics_are_ignored(broker, publishers, subscriber_factory, caplog):
    caplog.set_level(logging.WARNING, logger="edgepose")
    disc_topic = "homeassistant/device/edgepose_testdev/config"
    sub = subscriber_factory(broker, disc_topic)
    pub = publishers(make_cfg(broker))
    assert pub.wait_connected(10)
    assert sub.wait_for(lambda ms: len(ms) >= 1)
    rng = np.random.default_rng(7)
    junk = [rng.bytes(40), b"\xff\xfe\x00", b"ONLINE", json.dumps({"online": 1}).encode(), b"x" * 200_000]
    for payload in junk:
        mqtt_publish.single("homeassistant/status", payload, hostname=broker.host, port=broker.port)
    sub.clear()
    # Still alive and still reacting to the real announcement afterwards.
    mqtt_publish.single("homeassistant/status", b"online", hostname=broker.host, port=broker.port)
    assert sub.wait_for(lambda ms: len(ms) >= 1)
    assert pub.connected
    assert pub.counters.ignored_messages >= 4  # the 200 kB one exceeds our MQTT 5 maximum packet size
    warnings = [r.getMessage() for r in caplog.records if "ignored a message" in r.getMessage()]
    assert len(warnings) == 1


class V311OnlyProxy:
    """Stands in for a pre-MQTT-5 broker in front of the real one: answers an MQTT 5 CONNECT the way a
    3.1.1 broker does (CONNACK return code 1, "unacceptable protocol version") and forwards everything else
    to Mosquitto. No MQTT-3.1.1-only broker is packaged here, hence this small shim."""

    def __init__(self, target: Broker) -> None:
        import socket
        import threading

        self.target = target
        self.levels: list[int] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self._threading = threading
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            head = conn.recv(4096)
            # CONNECT: 0x10, remaining length (1 byte for small packets), 0x00 0x04 "MQTT", level.
            level = head[8] if len(head) > 8 else 0
            self.levels.append(level)
            if level == 5:
                conn.sendall(bytes([0x20, 0x02, 0x00, 0x01]))
                conn.close()
                continue
            upstream = socket.create_connection((self.target.host, self.target.port))
            upstream.sendall(head)
            for a, b in ((conn, upstream), (upstream, conn)):
                self._threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def test_falls_back_to_mqtt_311_when_the_broker_refuses_v5(broker, publishers, subscriber_factory, caplog):
    caplog.set_level(logging.INFO, logger="edgepose")
    proxy = V311OnlyProxy(broker)
    try:
        sub = subscriber_factory(broker, TOPICS.status)
        cfg = parse_config({"device": {"id": DEVICE},
                            "mqtt": {"host": "127.0.0.1", "port": proxy.port, "protocol": "5",
                                     "reconnect_min": 0.05, "reconnect_max": 0.3}}, env={})
        pub = publishers(cfg)
        assert pub.wait_connected(10)
        assert pub.protocol == "3.1.1"
        assert proxy.levels[:2] == [5, 4]
        assert sub.wait_payload(TOPICS.status, b"online")
        assert any("falling back to MQTT 3.1.1" in r.getMessage() for r in caplog.records)
        pub.close()
        assert sub.wait_payload(TOPICS.status, b"offline")
    finally:
        proxy.close()


def test_every_feature_works_under_a_least_privilege_acl(broker_factory, publishers, subscriber_factory,
                                                         tmp_path, caplog):
    """The ACL of docs/mqtt.md: the daemon may write only its own topics and its discovery config."""
    caplog.set_level(logging.WARNING, logger="edgepose")
    broker = acl_broker(broker_factory, tmp_path,
                        f"user {USERNAME}\ntopic write edgepose/{DEVICE}/#\n"
                        f"topic write homeassistant/device/edgepose_{DEVICE}/config\ntopic read homeassistant/status\n"
                        "user reader\ntopic read #\nuser ha\ntopic write homeassistant/status\n",
                        users={"reader": "reader-pw", "ha": "ha-pw"})  # fmt: skip
    sub = subscriber_factory(broker, ["edgepose/#", "homeassistant/#"], auth=("reader", "reader-pw"))
    pw = secret_file(tmp_path / "pw")
    pub = publishers(make_cfg(broker, username=USERNAME, password_file=str(pw)))
    assert pub.wait_connected(10)
    disc = f"homeassistant/device/edgepose_{DEVICE}/config"
    assert sub.wait_payload(TOPICS.status, b"online")
    assert sub.wait_for(lambda ms: any(m.topic == disc for m in ms))
    pub.publish_presence(PresenceState(True, 1, 5.0), PresenceEvent("enter", 5.0, 1))
    assert pub.publish_pose(FramePoses(64, 48, []), time.time())
    assert sub.wait_for(lambda ms: {TOPICS.event, TOPICS.presence, TOPICS.pose} <= {m.topic for m in ms})
    assert wait_until(lambda: pub.pending_events() == 0)
    sub.clear()
    mqtt_publish.single("homeassistant/status", b"online", hostname=broker.host, port=broker.port,
                        auth={"username": "ha", "password": "ha-pw"})
    assert sub.wait_for(lambda ms: any(m.topic == disc for m in ms))
    pub.close()
    assert sub.wait_payload(TOPICS.status, b"offline")
    ours = [r for r in caplog.records if r.name.startswith("edgepose")]
    assert not [r.getMessage() for r in ours if r.levelno >= logging.WARNING]


def test_events_stay_exactly_once_in_order_across_repeated_restarts(broker_factory, publishers,
                                                                    subscriber_factory):
    """Events published continuously while the broker is stopped and started several times."""
    import threading

    broker = broker_factory(persistence=True)
    sub = subscriber_factory(broker, TOPICS.event, client_id="test-persistent-sub3")
    pub = publishers(make_cfg(broker))
    assert pub.wait_connected(10)
    n = 100

    def feed() -> None:
        for i in range(n):
            ev = PresenceEvent("enter" if i % 2 == 0 else "leave", float(i), i)
            pub.publish_presence(PresenceState(i % 2 == 0, i, float(i)), ev)
            time.sleep(0.01)

    feeder = threading.Thread(target=feed)
    feeder.start()
    for _ in range(3):
        time.sleep(0.2)
        broker.stop()
        time.sleep(0.15)
        broker.start()
    feeder.join()
    assert wait_until(lambda: pub.pending_events() == 0, timeout=20)
    assert sub.wait_for(lambda ms: len(broker_to_us_once(ms)) >= n)
    time.sleep(0.3)
    got = [contract.parse_event(m.payload).count for m in broker_to_us_once(sub.on(TOPICS.event))]
    assert got == list(range(n))
    # Every restart was seen: as a reconnect, or (a connection the restart ended within STABLE_SECONDS of its
    # CONNACK) as a failed attempt that keeps the backoff growing.
    assert pub.counters.reconnects + pub.counters.connection_failures >= 3
