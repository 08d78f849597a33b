"""The topic and payload contract: builders, parsers and their error messages."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepose.mqtt import contract
from edgepose.mqtt.contract import PresenceEvent, PresenceState, Topics
from edgepose.pose import FramePoses, Pose, Roi


def make_pose(seed: int = 0) -> Pose:
    rng = np.random.default_rng(seed)
    return Pose(rng.random((33, 5), dtype=np.float32), rng.normal(size=(33, 3)).astype(np.float32), 0.87,
                Roi.from_values(0.5, 0.5, 1.0, 1.0, 0.0))


def test_topics() -> None:
    t = Topics("home/edgepose", "livingroom")
    assert (t.status, t.pose, t.presence, t.event, t.stats) == (
        "home/edgepose/livingroom/status", "home/edgepose/livingroom/pose", "home/edgepose/livingroom/presence",
        "home/edgepose/livingroom/event", "home/edgepose/livingroom/stats")
    assert contract.split_topic("home/edgepose/livingroom/pose", "home/edgepose") == ("livingroom", "pose")
    assert contract.split_topic("home/edgepose/livingroom/other", "home/edgepose") is None
    assert contract.split_topic("edgepose/a/b/pose", "edgepose") is None
    assert contract.subscription("edgepose") == "edgepose/+/+"
    assert contract.subscription("edgepose", "dev", "event") == "edgepose/dev/event"


@pytest.mark.parametrize("device_id", ["", "a/b", "a+", "#", "living room", "x" * 65, "é"])
def test_bad_device_ids(device_id: str) -> None:
    with pytest.raises(ValueError, match="device id"):
        Topics("edgepose", device_id)


@pytest.mark.parametrize("prefix", ["", "/edgepose", "edgepose/", "a//b", "a/+/b", "a/#", "$SYS", "a b"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="topic prefix"):
        Topics(prefix, "dev")


def test_pose_payload_round_trip() -> None:
    poses = [make_pose(0), make_pose(1)]
    payload = contract.pose_payload(FramePoses(1280, 720, poses), seq=42, capture_ts=1700000000.1234,
                                    publish_ts=1700000000.2)
    obj = json.loads(payload)
    assert obj["v"] == contract.PAYLOAD_VERSION == 1
    assert set(obj) == {"v", "seq", "ts", "pub_ts", "width", "height", "poses"}
    assert set(obj["poses"][0]) == {"score", "keypoints", "world"}
    frame = contract.parse_pose(payload, "dev")
    assert (frame.seq, frame.width, frame.height, frame.device_id) == (42, 1280, 720, "dev")
    assert frame.ts == pytest.approx(1700000000.123) and frame.pub_ts == pytest.approx(1700000000.2)
    for a, b in zip(poses, frame.poses, strict=True):
        np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-5)
        np.testing.assert_allclose(b.world, a.world, atol=1e-5)
        assert b.score == pytest.approx(a.score, abs=1e-5)


def test_pose_ids_are_published_and_parsed() -> None:
    poses = [dataclasses.replace(make_pose(0), id=4), dataclasses.replace(make_pose(1), id=9)]
    payload = contract.pose_payload(FramePoses(640, 480, poses), seq=1, capture_ts=1.0, publish_ts=1.0)
    obj = json.loads(payload)
    assert obj["v"] == 1 and [p["id"] for p in obj["poses"]] == [4, 9]
    frame = contract.parse_pose(payload)
    assert frame.ids == [4, 9] and frame.by_id(9) is frame.poses[1] and frame.by_id(5) is None
    # A payload without ids (an older daemon) parses, with unknown ids.
    for p in obj["poses"]:
        del p["id"]
    assert contract.parse_pose(json.dumps(obj)).ids == [None, None]
    for bad in (-1, 1.5, True, "3"):
        obj["poses"][0]["id"] = bad
        with pytest.raises(ValueError, match=r"poses\[0\]: pose id must be an integer >= 0"):
            contract.parse_pose(json.dumps(obj))


def test_count_event_round_trip() -> None:
    event = contract.PresenceEvent("count", 1700000000.5, 3)
    assert contract.parse_event(contract.event_payload(event)) == event
    with pytest.raises(ValueError, match="must be one of enter, leave, count"):
        contract.parse_event(b'{"v": 1, "type": "exit", "ts": 1.0, "count": 0}')


def test_non_finite_poses_are_not_published() -> None:
    bad = make_pose(2)
    bad.keypoints[3, 0] = np.nan
    obj = json.loads(contract.pose_payload(FramePoses(10, 10, [bad, make_pose(3)]), 1, 0.0, 0.0))
    assert len(obj["poses"]) == 1


def test_presence_event_stats_status_round_trip() -> None:
    state = PresenceState(True, 2, 1700000000.5)
    assert contract.parse_presence(contract.presence_payload(state)) == state
    assert contract.parse_presence(contract.presence_payload(PresenceState(False, 0, None))).since is None
    # Per-zone counts (include zones configured): an added field, version 1; absent without zones.
    zoned = PresenceState(True, 2, 1700000000.5, zones={"sofa": 1, "desk": 2})
    assert json.loads(contract.presence_payload(zoned))["zones"] == {"sofa": 1, "desk": 2}
    assert contract.parse_presence(contract.presence_payload(zoned)) == zoned
    assert "zones" not in json.loads(contract.presence_payload(state))
    assert contract.parse_presence(contract.presence_payload(state)).zones is None
    ev = PresenceEvent("leave", 1700000001.25, 0)
    assert contract.parse_event(contract.event_payload(ev)) == ev
    stats = contract.parse_stats(contract.stats_payload({"processed_fps": 29.5, "bad": float("nan")}))
    assert stats == {"v": 1, "processed_fps": 29.5, "bad": None}
    assert contract.parse_status(contract.status_payload(True)) == "online"
    assert contract.parse_status(b"offline") == "offline"


@pytest.mark.parametrize(
    ("parser", "payload", "message"),
    [
        (contract.parse_presence, b"not json", "not JSON"),
        (contract.parse_presence, b"[1, 2]", "must be a JSON object"),
        (contract.parse_presence, b'{"present": true, "count": 1, "since": null}', "version field 'v'"),
        (contract.parse_presence, b'{"v": 2, "present": true, "count": 1, "since": null}', "version 2"),
        (contract.parse_presence, b'{"v": 1, "present": 1, "count": 1, "since": null}', "'present'"),
        (contract.parse_presence, b'{"v": 1, "present": true, "count": -1, "since": 0}', "negative"),
        (contract.parse_presence, b'{"v": 1, "present": true, "count": 1, "since": 0, "zones": [1]}',
         "'zones' has the wrong type list"),
        (contract.parse_presence, b'{"v": 1, "present": true, "count": 1, "since": 0, "zones": {"a": -1}}',
         "bad count for zone 'a'"),
        (contract.parse_presence, b'{"v": 1, "present": true, "count": 1, "since": 0, "zones": {"a": true}}',
         "bad count for zone 'a'"),
        (contract.parse_event, b'{"v": 1, "type": "jump", "ts": 1, "count": 0}', "enter, leave, count"),
        (contract.parse_event, b'{"v": 1, "type": "enter", "count": 0}', "lacks 'ts'"),
        (contract.parse_event, b'{"v": 1, "type": "enter", "ts": true, "count": 0}', "wrong type bool"),
        (contract.parse_pose, b'{"v": 1, "seq": 1, "ts": 0, "pub_ts": 0, "width": 1, "height": 1}', "'poses'"),
        (contract.parse_pose, b'{"v": 1, "seq": 1, "ts": 0, "pub_ts": 0, "width": 0, "height": 1, "poses": []}',
         "frame size"),
        (contract.parse_pose, b'{"v": 1, "seq": 1, "ts": 0, "pub_ts": 0, "width": 1, "height": 1, '
                              b'"poses": [{"score": 1, "keypoints": [], "world": []}]}', "poses[0]"),
        (contract.parse_pose, b"x" * (contract.MAX_PAYLOAD_BYTES + 1), "too large"),
        (contract.parse_status, b"\xff\xfe", "'online' or 'offline'"),
    ],
)
def test_parsers_reject_malformed_payloads(parser, payload: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parser(payload)


def test_builders_refuse_nan_events_and_clean_stats() -> None:
    with pytest.raises(ValueError):
        contract.event_payload(PresenceEvent("enter", float("nan"), 1))
    stats = {"latency_ms": {"p50": float("nan"), "p99": np.float64(3.5)}, "list": [float("inf"), 1],
             "n": np.int64(4), "path": contract}
    obj = contract.parse_stats(contract.stats_payload(stats))
    assert obj["latency_ms"] == {"p50": None, "p99": 3.5} and obj["list"] == [None, 1] and obj["n"] == 4
    assert obj["path"].startswith("<module")
    nan_score = make_pose(4)
    nan_score.score = float("nan")
    assert json.loads(contract.pose_payload(FramePoses(10, 10, [nan_score]), 1, 0.0, 0.0))["poses"] == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_give_value_error_or_a_message(payload: bytes) -> None:
    for parser in (contract.parse_pose, contract.parse_presence, contract.parse_event, contract.parse_stats,
                   contract.parse_status):
        try:
            parser(payload)
        except ValueError:
            pass
