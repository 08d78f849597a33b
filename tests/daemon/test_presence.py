"""The presence state machine: hysteresis, counting, timing and what counts as a person."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.daemon.presence import (
    PresenceConfig,
    PresenceEvent,
    PresenceState,
    PresenceTracker,
    is_convincing,
)
from edgepose.pose import VISIBILITY, Pose, Roi
from edgepose.topology import KEYPOINT_INDEX
from edgepose.zones import parse_zones

FRAME_NS = 33_333_333
T0 = 1_000_000_000_000
L_SHOULDER, R_SHOULDER = KEYPOINT_INDEX["left_shoulder"], KEYPOINT_INDEX["right_shoulder"]
L_HIP, R_HIP = KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]


def make_pose(score: float = 0.95, visible: tuple[int, ...] | None = None, other_vis: float = 0.9) -> Pose:
    """A pose whose torso points in `visible` (all four if None) have visibility 0.95, the others 0.1."""
    kp = np.zeros((33, 5), np.float32)
    kp[:, :2] = 0.5
    kp[:, VISIBILITY] = other_vis
    torso = (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP)
    kp[list(torso), VISIBILITY] = 0.1
    kp[list(torso if visible is None else visible), VISIBILITY] = 0.95
    return Pose(
        keypoints=kp,
        world=np.zeros((33, 3), np.float32),
        score=score,
        roi=Roi.from_values(0.5, 0.5, 0.5, 0.5, 0.0),
    )


PERSON = make_pose()


def feed(tracker: PresenceTracker, frames: list[list[Pose]], start_ns: int = T0) -> list[PresenceEvent]:
    events: list[PresenceEvent] = []
    for k, poses in enumerate(frames):
        events += tracker.update(poses, start_ns + k * FRAME_NS)
    return events


def test_two_frames_are_not_enough_three_enter() -> None:
    tracker = PresenceTracker()
    assert feed(tracker, [[PERSON], [PERSON]]) == []
    assert not tracker.state.present
    events = tracker.update([PERSON], T0 + 2 * FRAME_NS)
    assert events == [PresenceEvent("enter", T0 + 2 * FRAME_NS, 1)]
    assert tracker.state == PresenceState(present=True, count=1, since=T0 + 2 * FRAME_NS)


def test_enter_needs_consecutive_frames() -> None:
    tracker = PresenceTracker()
    assert feed(tracker, [[PERSON], [PERSON], [], [PERSON], [PERSON]]) == []
    assert not tracker.state.present
    assert tracker.update([PERSON], T0 + 5 * FRAME_NS)[0].kind == "enter"


def test_brief_dropout_does_not_leave_and_leave_happens_once_after_leave_seconds() -> None:
    tracker = PresenceTracker()
    feed(tracker, [[PERSON]] * 3)
    # A one-frame dropout, then the person again.
    assert tracker.update([], T0 + 3 * FRAME_NS) == []
    assert tracker.update([PERSON], T0 + 4 * FRAME_NS) == []
    assert tracker.state.present and tracker.state.count == 1
    last_seen = T0 + 4 * FRAME_NS
    # Empty frames: still present 1 ns before leave_seconds, absent exactly at it, and only one event.
    assert tracker.update([], last_seen + 1_000_000_000) == []
    assert tracker.update([], last_seen + 2_000_000_000 - 1) == []
    assert tracker.state.present and tracker.state.count == 1  # the count holds through the gap
    assert tracker.update([], last_seen + 2_000_000_000) == [PresenceEvent("leave", last_seen + 2_000_000_000, 0)]
    assert tracker.state == PresenceState(present=False, count=0, since=last_seen + 2_000_000_000)
    assert feed(tracker, [[]] * 100, start_ns=last_seen + 2_000_000_001) == []


def test_reentry_after_leave_needs_enter_frames_again() -> None:
    tracker = PresenceTracker(PresenceConfig(leave_seconds=0.5))
    feed(tracker, [[PERSON]] * 3)
    t = T0 + 2 * FRAME_NS + 500_000_000
    assert tracker.update([], t)[0].kind == "leave"
    assert tracker.update([PERSON], t + FRAME_NS) == []
    assert tracker.update([PERSON], t + 2 * FRAME_NS) == []
    assert tracker.update([PERSON], t + 3 * FRAME_NS) == [PresenceEvent("enter", t + 3 * FRAME_NS, 1)]


def test_count_and_since() -> None:
    tracker = PresenceTracker()
    assert tracker.state == PresenceState(present=False, count=0, since=None)
    tracker.update([], T0)
    assert tracker.state.since == T0  # absent since the first frame
    events = feed(tracker, [[PERSON, PERSON]] * 3, start_ns=T0 + FRAME_NS)
    enter_t = T0 + 3 * FRAME_NS
    assert events == [PresenceEvent("enter", enter_t, 2)]
    # One of the two walks out: the count follows, `since` (last change of presence) does not.
    tracker.update([PERSON], enter_t + FRAME_NS)
    assert tracker.state == PresenceState(present=True, count=1, since=enter_t)
    tracker.update([PERSON, PERSON, make_pose(score=0.2)], enter_t + 2 * FRAME_NS)
    assert tracker.state.count == 2


def test_every_change_of_count_while_present_is_an_event() -> None:
    tracker = PresenceTracker()
    events = feed(tracker, [[PERSON]] * 3 + [[PERSON, PERSON]] * 2 + [[PERSON] * 3] + [[PERSON]] + [[PERSON]])
    assert [(e.kind, e.count) for e in events] == [("enter", 1), ("count", 2), ("count", 3), ("count", 1)]
    assert events[1].timestamp_ns == T0 + 3 * FRAME_NS
    # Frames without anyone are not a count of 0: the last one leaving is the "leave" after leave_seconds.
    t = T0 + 8 * FRAME_NS
    assert tracker.update([], t) == [] and tracker.state.count == 1
    assert [e.kind for e in tracker.update([], t + 2_000_000_000)] == ["leave"]


def test_non_convincing_poses_are_ignored() -> None:
    furniture = [make_pose(score=0.3), make_pose(visible=(L_SHOULDER,)), make_pose(visible=(), other_vis=0.2)]
    tracker = PresenceTracker()
    assert feed(tracker, [furniture] * 30) == []
    assert tracker.state.present is False and tracker.state.count == 0
    # Mixed with a real person, only the person is counted.
    events = feed(tracker, [[*furniture, PERSON]] * 3, start_ns=T0 + 30 * FRAME_NS)
    assert [(e.kind, e.count) for e in events] == [("enter", 1)]


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ((L_SHOULDER, R_SHOULDER, L_HIP, R_HIP), True),  # facing the camera or seen from behind
        ((L_SHOULDER, L_HIP), True),  # side view: the far shoulder and hip are occluded
        ((L_SHOULDER, R_SHOULDER), True),  # hips out of the bottom of the frame
        ((L_HIP, R_HIP), True),  # upper body out of the top of the frame
        ((R_SHOULDER, R_HIP), True),  # half out at a side edge
        ((L_HIP,), False),
        ((), False),
    ],
)
def test_torso_visibility_rule(visible: tuple[int, ...], expected: bool) -> None:
    assert is_convincing(make_pose(visible=visible), PresenceConfig()) is expected


@pytest.mark.parametrize(("score", "expected"), [(0.5, True), (0.49, False), (float("nan"), False)])
def test_score_rule(score: float, expected: bool) -> None:
    assert is_convincing(make_pose(score=score), PresenceConfig()) is expected


def test_thresholds_are_configurable() -> None:
    strict = PresenceConfig(enter_frames=1, min_score=0.9, min_torso_points=4, min_torso_visibility=0.96)
    tracker = PresenceTracker(strict)
    assert tracker.update([make_pose(score=0.95)], T0) == []  # torso visibility 0.95 < 0.96
    lenient = PresenceTracker(PresenceConfig(enter_frames=1, min_torso_points=1))
    assert lenient.update([make_pose(visible=(L_HIP,))], T0)[0].kind == "enter"


def test_clock_going_back_restarts_the_leave_window() -> None:
    tracker = PresenceTracker()
    feed(tracker, [[PERSON]] * 3)
    # The source is re-opened with a new time base that starts far lower.
    assert tracker.update([], 5_000_000_000) == []
    assert tracker.update([], 6_900_000_000) == []
    assert tracker.state.present
    assert [e.kind for e in tracker.update([], 7_000_000_000)] == ["leave"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"enter_frames": 0}, "enter_frames"),
        ({"enter_frames": 2.5}, "enter_frames"),
        ({"enter_frames": True}, "enter_frames"),
        ({"leave_seconds": -0.1}, "leave_seconds"),
        ({"leave_seconds": float("inf")}, "leave_seconds"),
        ({"min_score": 1.5}, "min_score"),
        ({"min_score": "0.5"}, "min_score"),
        ({"min_torso_points": 5}, "min_torso_points"),
        ({"min_torso_visibility": -0.1}, "min_torso_visibility"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        PresenceConfig(**kwargs)


def test_zero_leave_seconds_leaves_on_the_first_empty_frame() -> None:
    tracker = PresenceTracker(PresenceConfig(enter_frames=1, leave_seconds=0))
    assert tracker.update([PERSON], T0)[0].kind == "enter"
    assert tracker.update([], T0 + 1) == [PresenceEvent("leave", T0 + 1, 0)]


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        PresenceConfig().enter_frames = 5  # type: ignore[misc]


# ---- per-zone counts (issue 13) ----------------------------------------------------------------------------

ZONES = parse_zones([
    {"name": "sofa", "kind": "include", "polygon": [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]},
    {"name": "desk", "kind": "include", "polygon": [[0.6, 0.2], [0.9, 0.2], [0.9, 0.8], [0.6, 0.8]]},
    {"name": "tv", "kind": "mask", "polygon": [[0.9, 0.0], [1.0, 0.0], [1.0, 0.1]]},
])


def pose_at(x: float, y: float) -> Pose:
    """A convincing pose whose hip centre is (x, y); the hips 0.3 apart and every other point far away, so only
    the mid-hip point decides (neither hip alone, nor the nose, is where the centre is)."""
    pose = make_pose()
    pose.keypoints[:, :2] = (0.98, 0.02)
    pose.keypoints[L_HIP, :2] = (x - 0.15, y)
    pose.keypoints[R_HIP, :2] = (x + 0.15, y)
    return pose


def test_zone_counts_follow_hip_centres_and_change_the_state_without_an_event() -> None:
    tracker = PresenceTracker(PresenceConfig(enter_frames=1, leave_seconds=0.5), ZONES)
    assert tracker.state.zones == {"sofa": 0, "desk": 0}  # absent: every include zone, none of the masks
    sofa, desk, elsewhere = pose_at(0.4, 0.5), pose_at(0.7, 0.5), pose_at(0.55, 0.95)
    assert feed(tracker, [[sofa, desk, elsewhere]]) == [PresenceEvent("enter", T0, 3)]
    assert tracker.state.count == 3 and tracker.state.zones == {"sofa": 1, "desk": 1}
    # The person on the sofa moves to the desk: the count stays 3, so no event, but the zone counts change.
    assert feed(tracker, [[desk, desk, elsewhere]], T0 + FRAME_NS) == []
    assert tracker.state.count == 3 and tracker.state.zones == {"sofa": 0, "desk": 2}
    # Unconvincing poses are not counted in zones either.
    faint = pose_at(0.2, 0.5)
    faint.keypoints[[L_SHOULDER, R_SHOULDER, L_HIP, R_HIP], VISIBILITY] = 0.1
    assert feed(tracker, [[desk, faint]], T0 + 2 * FRAME_NS) == [PresenceEvent("count", T0 + 2 * FRAME_NS, 1)]
    assert tracker.state.zones == {"sofa": 0, "desk": 1}
    # Frames without anyone hold the last counts (like `count`) until the leave, which zeroes them.
    assert feed(tracker, [[]], T0 + 3 * FRAME_NS) == []
    assert tracker.state.zones == {"sofa": 0, "desk": 1}
    leave_t = T0 + 2 * FRAME_NS + 500_000_000
    assert feed(tracker, [[]], leave_t) == [PresenceEvent("leave", leave_t, 0)]
    assert tracker.state == PresenceState(present=False, count=0, since=leave_t, zones={"sofa": 0, "desk": 0})


def test_no_zone_counts_without_include_zones() -> None:
    masks_only = tuple(z for z in ZONES if z.kind == "mask")
    for zones in ((), masks_only):
        tracker = PresenceTracker(PresenceConfig(enter_frames=1), zones)
        feed(tracker, [[pose_at(0.4, 0.5)]])
        assert tracker.state.present and tracker.state.zones is None
