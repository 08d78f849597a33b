"""edgepose.client against a real broker, `edgepose listen`, and the squat-counter example."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paho.mqtt.publish as mqtt_publish
import pytest
from support.paths import REPO

from edgepose.client import Event, Frame, Presence, Status, subscribe
from edgepose.config import parse_config
from edgepose.mqtt.contract import PresenceEvent, PresenceState, Topics
from edgepose.mqtt.publisher import Publisher
from edgepose.pose import FramePoses, Pose, Roi
from edgepose.topology import KEYPOINT_INDEX

DEVICE = "clientdev"
TOPICS = Topics("edgepose", DEVICE)


def load_example():
    spec = importlib.util.spec_from_file_location("squat_counter", REPO / "examples" / "squat_counter.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- the squat counter ------------------------------------------------------------------------------------


def test_squat_count_on_the_recorded_tfjs_sequence(shared_data: Path) -> None:
    """fitness_squats_tfjs.mp4: the knee angle dips to ~90-110 degrees around frames 10, 34 and 59.

    The first two squats end standing (angle back above 160 at frames 18 and 41); the clip stops while she
    rises from the third (130 degrees at the last frame), so 2 repetitions are complete and she is "down".
    """
    sq = load_example()
    path = shared_data / "golden" / "tfjs_pose_squats.full.json"
    frames = np.asarray(json.loads(path.read_text()), dtype=np.float64)  # (65, 33, 3): x px, y px, z
    assert frames.shape == (65, 33, 3)
    angles = np.array([sq.knee_angle(f[:, :2]) for f in frames])
    assert angles[:3].min() > 165 and angles.min() < 100  # standing at the start, deep squats later
    counter = sq.SquatCounter()
    completed = [i for i, a in enumerate(angles) if counter.update(a)]
    assert counter.count == 2
    assert completed == [18, 41]
    assert counter.phase == "down"


def test_squat_counter_hysteresis_and_visibility() -> None:
    sq = load_example()
    c = sq.SquatCounter(down_angle=100, up_angle=160)
    # Jitter around one threshold never counts; only a full down-up cycle does.
    for a in [170, 159, 161, 158, 162, 101, 99, 101, 99, 150, 170, float("nan"), 95, 165]:
        c.update(a)
    assert c.count == 2
    with pytest.raises(ValueError):
        sq.SquatCounter(down_angle=170, up_angle=160)
    xy = np.zeros((33, 2))
    hip, knee, ankle = (KEYPOINT_INDEX[n] for n in ("left_hip", "left_knee", "left_ankle"))
    xy[hip], xy[knee], xy[ankle] = (0, 0), (0, 1), (1, 1)  # a right angle on the left leg
    vis = np.zeros(33)
    vis[[hip, knee, ankle]] = 1.0
    assert sq.knee_angle(xy, vis) == pytest.approx(90.0)
    assert np.isnan(sq.knee_angle(xy, np.zeros(33)))


# --- edgepose.client against a real broker ----------------------------------------------------------------


def make_publisher(broker) -> Publisher:
    cfg = parse_config({"device": {"id": DEVICE},
                        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min": 0.05,
                                 "reconnect_max": 0.3}}, env={})
    return Publisher(cfg.mqtt, cfg.device.id, cfg.homeassistant).start()


def make_pose() -> Pose:
    rng = np.random.default_rng(3)
    return Pose(rng.random((33, 5), dtype=np.float32), rng.normal(size=(33, 3)).astype(np.float32), 0.9,
                Roi.from_values(0.5, 0.5, 1, 1, 0))


def test_subscribe_yields_typed_messages(broker) -> None:
    pose = make_pose()
    with subscribe(broker.host, broker.port, device_id=DEVICE) as sub:
        pub = make_publisher(broker)
        try:
            assert pub.wait_connected(10)
            got: list = []
            deadline = time.monotonic() + 10
            while not any(isinstance(m, Status) for m in got) and time.monotonic() < deadline:
                m = sub.get(timeout=0.2)
                if m is not None:
                    got.append(m)
            # A malformed frame is skipped, the next valid one arrives.
            mqtt_publish.single(TOPICS.pose, b'{"v": 1, "poses": "nope"}', hostname=broker.host,
                                port=broker.port)
            pub.publish_pose(FramePoses(640, 480, [pose]), time.time())
            pub.publish_presence(PresenceState(True, 1, 1700000000.0), PresenceEvent("enter", 1700000000.0, 1))
            for m in sub.messages(timeout=2.0):
                got.append(m)
                if any(isinstance(x, Event) for x in got) and any(isinstance(x, Frame) for x in got):
                    break
        finally:
            pub.close()
        statuses = [m for m in got if isinstance(m, Status)]
        assert statuses and statuses[0].online and statuses[0].device_id == DEVICE
        frames = [m for m in got if isinstance(m, Frame)]
        assert len(frames) == 1 and frames[0].seq == 1
        f = frames[0]
        assert f.poses[0].keypoints.shape == (33, 5)
        np.testing.assert_allclose(f.keypoint("left_knee"), pose.keypoints[KEYPOINT_INDEX["left_knee"]],
                                   atol=1e-5)
        np.testing.assert_allclose(f.pixels("nose"), pose.keypoints[0, :2] * [640, 480], rtol=1e-4)
        assert set(f.named()) >= {"nose", "left_ankle"} and len(f.named()) == 33
        with pytest.raises(KeyError, match="unknown keypoint 'elbow'"):
            f.keypoint("elbow")
        assert [m.event for m in got if isinstance(m, Event)] == [PresenceEvent("enter", 1700000000.0, 1)]
        assert any(isinstance(m, Presence) and m.state.present for m in got)
        assert sub.malformed == 1


def test_listen_command_prints_readable_lines(broker) -> None:
    pub = make_publisher(broker)
    proc = None
    try:
        assert pub.wait_connected(10)
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgepose", "listen", "--host", broker.host, "--port", str(broker.port),
             "--device", DEVICE, "--timeout", "3"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        # The retained "online" is the first line once the listener is subscribed: then publish the rest.
        first = proc.stdout.readline()
        assert first.strip() == f"{DEVICE} status online", first
        pub.publish_pose(FramePoses(640, 480, [make_pose()]), time.time())
        pub.publish_presence(PresenceState(True, 1, time.time()), PresenceEvent("enter", time.time(), 1))
        time.sleep(0.3)
        pub.close()
        out, err = proc.communicate(timeout=20)
    finally:
        pub.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"{DEVICE} pose #1 640x480 1 pose(s) score=0.90 nose=(" in out
    assert f"{DEVICE} event ENTER" in out
    assert f"{DEVICE} presence present count=1" in out
    assert f"{DEVICE} status OFFLINE" in out


def test_listen_formats_and_json() -> None:
    from edgepose.client import Stats
    from edgepose.commands.listen import format_message, to_json

    frame = Frame(DEVICE, 7, 100.0, 100.025, 640, 480, [make_pose()])
    line = format_message(frame)
    assert line.startswith(f"{DEVICE} pose #7 640x480 1 pose(s) score=0.90 nose=(")
    assert "capture->publish=25ms" in line
    assert format_message(Frame(DEVICE, 8, 0.0, 0.0, 640, 480, [])) == f"{DEVICE} pose #8 640x480 0 pose(s)"
    obj = json.loads(json.dumps(to_json(frame)))
    assert obj["kind"] == "pose" and len(obj["poses"][0]["keypoints"]) == 33
    ev = Event(DEVICE, PresenceEvent("leave", 100.0, 0))
    assert to_json(ev) == {"device": DEVICE, "kind": "event", "v": 1, "type": "leave", "ts": 100.0, "count": 0}
    assert "event LEAVE" in format_message(ev)
    assert format_message(Status(DEVICE, False)) == f"{DEVICE} status OFFLINE"
    assert format_message(Stats(DEVICE, {"v": 1, "processed_fps": 29.5})) == f"{DEVICE} stats processed_fps=29.5"
    assert "absent count=0 since=-" in format_message(Presence(DEVICE, PresenceState(False, 0, None)))


def test_a_redelivered_event_is_dropped_once(broker) -> None:
    """QoS 1 redelivery repeats an event exactly (timestamp included): the client yields it once; a new event
    with the same type but another timestamp is not a redelivery and comes through."""
    from edgepose.mqtt.contract import event_payload

    topic = Topics("edgepose", DEVICE).event
    first = event_payload(PresenceEvent("leave", 1700000000.123, 0))
    later = event_payload(PresenceEvent("leave", 1700000005.456, 0))
    with subscribe("127.0.0.1", broker.port, DEVICE, kinds=["event"]) as sub:
        time.sleep(0.5)  # subscribed
        for payload in (first, first, later):
            mqtt_publish.single(topic, payload, qos=1, hostname="127.0.0.1", port=broker.port)
        events = [m for m in sub.messages(1.5) if isinstance(m, Event)]
    assert [e.event.ts for e in events] == [1700000000.123, 1700000005.456]
    assert sub.duplicate_events == 1


def test_retained_presence_carries_zone_counts(broker) -> None:
    """A subscriber that arrives later gets the retained state with its per-zone counts, typed (issue 13)."""
    pub = make_publisher(broker)
    try:
        assert pub.wait_connected(10)
        pub.publish_presence(PresenceState(True, 2, 1700000000.0, zones={"sofa": 1, "desk": 2}),
                             PresenceEvent("enter", 1700000000.0, 2))
        deadline = time.monotonic() + 10  # the event is acknowledged after the state (one connection, in order)
        while pub.pending_events() and time.monotonic() < deadline:
            time.sleep(0.02)
        with subscribe(broker.host, broker.port, device_id=DEVICE, kinds=["presence"]) as sub:
            got = next((m for m in sub.messages(timeout=5.0) if isinstance(m, Presence)), None)
    finally:
        pub.close()
    assert got is not None and got.retained
    assert got.state.zones == {"sofa": 1, "desk": 2} and got.state.count == 2
    from edgepose.commands.listen import format_message

    assert format_message(got).endswith(" sofa=1 desk=2")
