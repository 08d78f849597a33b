"""Person presence with hysteresis, driven by frame timestamps (not the wall clock).

Absent → present after a convincing pose in `enter_frames` consecutive frames; present → absent once no
convincing pose has been seen for `leave_seconds`. A pose is convincing when its score is at least
`min_score` and at least `min_torso_points` of the 4 torso points (shoulders, hips) have visibility
≥ `min_torso_visibility`.

Why these defaults:
- `min_score` 0.5 equals the landmark model's own presence gate (spec §3.4), so every pose the engine emits
  passes it; raise it to be stricter. False positives on furniture that survive the gate usually come with
  few confidently visible body parts, which the torso test catches.
- 2 of 4 torso points at visibility ≥ 0.5: seen from the side, the far shoulder and hip are hidden by the
  body (2 left); half out of the frame at a side edge leaves one shoulder and one hip, at the bottom edge
  both shoulders, at the top edge both hips. Seen from behind, the torso is in view and not occluded, which
  is what BlazePose's visibility estimates (not "facing the camera"). One point alone is too weak evidence.
- 3 frames to enter (0.1 s at 30 fps, 0.6 s at 5 fps) rejects one- or two-frame flickers; 2 s to leave
  rides out re-acquisition gaps (after a loss the detector runs on the next frame, spec §4.1) and brief
  occlusions.

When the source stalls, call `update([], now_ns)` periodically with a clock on the same time base so that a
present state can still time out.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from edgepose.config import PresenceConfig
from edgepose.pose import VISIBILITY, Pose
from edgepose.topology import TORSO
from edgepose.validity.rules import hip_centres, stack
from edgepose.zones import Zone, zone_counts

_TORSO = np.asarray(TORSO, dtype=np.intp)


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """A state change: enter, leave, or a change of the count while present ("count"). count is the number of
    convincing poses after the change (0 for "leave")."""

    kind: Literal["enter", "leave", "count"]
    timestamp_ns: int
    count: int


@dataclass(frozen=True, slots=True)
class PresenceState:
    """present; count of convincing poses in the last frame that had any (0 when absent); since = timestamp
    of the last change of `present` (the first update's timestamp while nothing has changed; None before it);
    zones: with include zones, {zone name: convincing poses whose hip centre is inside}, taken from the same
    frame as `count` (all 0 when absent); None without include zones.
    """

    present: bool = False
    count: int = 0
    since: int | None = None
    zones: dict[str, int] | None = None


def is_convincing(pose: Pose, config: PresenceConfig) -> bool:
    """Whether `pose` is good enough evidence of a person (score and torso visibility thresholds)."""
    if not float(pose.score) >= config.min_score:  # also rejects NaN
        return False
    torso_visibility = pose.keypoints[_TORSO, VISIBILITY]
    return int(np.count_nonzero(torso_visibility >= config.min_torso_visibility)) >= config.min_torso_points


class PresenceTracker:
    """The presence state machine; feed it every processed frame's poses with the frame timestamp."""

    def __init__(self, config: PresenceConfig | None = None, zones: tuple[Zone, ...] = ()) -> None:
        """`zones`: the configured zones; with include zones among them the state carries per-zone counts."""
        self.config = config if config is not None else PresenceConfig()
        self.includes = tuple(z for z in zones if z.kind == "include")
        self._leave_ns = round(self.config.leave_seconds * 1e9)
        self._no_one = {z.name: 0 for z in self.includes} if self.includes else None
        self._state = PresenceState(zones=self._no_one)
        self._streak = 0
        self._last_seen_ns = 0
        self._last_time_ns: int | None = None

    @property
    def state(self) -> PresenceState:
        return self._state

    def update(self, poses: list[Pose], timestamp_ns: int) -> list[PresenceEvent]:
        """Account for one frame; returns the events it caused (at most one)."""
        t = operator.index(timestamp_ns)
        if self._last_time_ns is None:
            self._state = replace(self._state, since=t)
        elif t < self._last_time_ns:
            # The clock went back (source re-opened with a new time base): restart the leave window from
            # here rather than stay present until the old time is reached again.
            self._last_seen_ns = min(self._last_seen_ns, t)
        self._last_time_ns = t
        convincing = [p for p in poses if is_convincing(p, self.config)]
        count = len(convincing)

        if not self._state.present:
            self._streak = self._streak + 1 if count else 0
            if self._streak >= self.config.enter_frames:
                self._last_seen_ns = t
                self._state = PresenceState(present=True, count=count, since=t, zones=self._zones(convincing))
                return [PresenceEvent("enter", t, count)]
            return []

        if count:
            self._last_seen_ns = t
            # A change of a zone count alone changes the (retained) state but is no event: events are
            # enter/leave/count of the whole view (docs/mqtt.md).
            zones = self._zones(convincing)
            if zones != self._state.zones:
                self._state = replace(self._state, zones=zones)
            if count != self._state.count:
                # Several people (engine.max_poses > 1): every change of the count while present is an event.
                self._state = replace(self._state, count=count)
                return [PresenceEvent("count", t, count)]
            return []
        if t - self._last_seen_ns >= self._leave_ns:
            self._streak = 0
            self._state = PresenceState(present=False, count=0, since=t, zones=self._no_one)
            return [PresenceEvent("leave", t, 0)]
        return []

    def _zones(self, convincing: list[Pose]) -> dict[str, int] | None:
        """Per include zone, the convincing poses whose hip centre (the validity stage's point) is inside."""
        if not self.includes:
            return None
        return zone_counts(self.includes, hip_centres(stack(convincing)))
