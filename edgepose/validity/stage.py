"""The validity stage: engine poses in, `ValidityResult(accepted, rejected)` out (docs/presence.md).

Rules, in the order they are reported (a rejected pose carries the first failing rule as its reason):
  score      landmark pose presence below `min_pose_score`
  detection  the detection that started the track scored below `min_detection_score`
  torso      neither both shoulders nor both hips seen (mean visibility of the pair below `min_torso_visibility`)
  size       the keypoint box is smaller than `min_extent` of the frame height (video only)
  limbs      a limb is far longer than a human's relative to the torso (`max_limb_ratio`; video only)
  shoulders  shoulders far wider than the torso is long (`max_shoulder_ratio`; video only)
  person     the person score (pose score, detection score, world skeleton size) below `min_person_score`
             (photos only)
  mask       hip centre inside a `mask` zone
  speed      the hip centre moves faster than `max_speed` of the pose's own size per second (cars, vans)
  young      the track is younger than `min_track_frames` frames
  still      nothing moved in the pose's box for `still_seconds` (never, for a new track): furniture, cables
In static mode (single photos) only the per-frame rules apply: there is no time and no motion; the person
score stands in for the body-geometry rules there.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgepose.pose import FramePoses, Pose
from edgepose.validity import rules
from edgepose.validity.motion import MotionModel, grey_grid
from edgepose.validity.tracks import TrackBook
from edgepose.validity.zones import Zone, inside_any

REASONS = ("score", "detection", "torso", "size", "limbs", "shoulders", "person", "mask", "speed", "young",
           "still")
_FRAME_RULES = REASONS[:8]


@dataclass(frozen=True, slots=True)
class ValidityConfig:
    """Thresholds (the [validity] config section; docs/configuration.md gives each default's reason)."""

    enabled: bool = True
    min_pose_score: float = 0.5
    min_detection_score: float = 0.0
    min_torso_visibility: float = 0.75
    min_extent: float = 0.12
    max_limb_ratio: float = 2.5
    max_shoulder_ratio: float = 1.6
    min_person_score: float = 0.5
    max_speed: float = 3.0
    min_track_frames: int = 2
    motion: bool = True
    min_foreground: float = 0.05
    still_seconds: float = 5.0
    pixel_threshold: float = 18.0
    background_seconds: float = 1.0
    track_gap_seconds: float = 1.0
    match_distance: float = 0.2


@dataclass(slots=True)
class ValidityResult:
    """One frame's verdicts. accepted: published; present: the accepted poses presence counts (inside the
    include zones, all accepted when there are none); rejected: (pose, reason) pairs, reason from REASONS."""

    accepted: list[Pose] = field(default_factory=list)
    rejected: list[tuple[Pose, str]] = field(default_factory=list)
    present: list[Pose] = field(default_factory=list)


class ValidityStage:
    """Stateful (tracks, background): one instance per video stream; `reset()` on a new source."""

    def __init__(self, config: ValidityConfig | None = None, zones: tuple[Zone, ...] = (),
                 *, static: bool = False) -> None:
        self.config = config if config is not None else ValidityConfig()
        self.static = static
        self.masks = tuple(z for z in zones if z.kind == "mask")
        self.includes = tuple(z for z in zones if z.kind == "include")
        c = self.config
        self.motion = MotionModel(c.pixel_threshold, c.background_seconds)
        self.tracks = TrackBook(c.match_distance, c.track_gap_seconds)
        self.rejections: Counter[str] = Counter()
        self._still_ns = round(c.still_seconds * 1e9)
        self._geometry = rules.measure(np.zeros((0, 33, 5), np.float32), 1, 1)

    def reset(self) -> None:
        self.motion.reset()
        self.tracks.reset()

    def process(self, frame: FramePoses, rgb: npt.NDArray[np.uint8] | None = None) -> ValidityResult:
        """Judge the poses of one frame. `rgb` (the frame) feeds the motion model; None skips motion."""
        t0 = time.perf_counter()
        result = self._judge(frame, rgb)
        frame.timings_ms["validity"] = (time.perf_counter() - t0) * 1e3
        return result

    def _judge(self, frame: FramePoses, rgb: npt.NDArray[np.uint8] | None) -> ValidityResult:
        c = self.config
        poses = frame.poses
        use_motion = c.enabled and c.motion and not self.static and rgb is not None
        if use_motion:
            assert rgb is not None
            self.motion.observe(grey_grid(rgb), frame.timestamp_ns)
        n = len(poses)
        kp = rules.stack(poses)
        centres = rules.hip_centres(kp)
        reasons: list[str | None] = [None] * n
        if c.enabled and n:
            reasons = self._frame_reasons(frame, kp, centres)
            if not self.static:
                self._track_reasons(kp, centres, frame, reasons, use_motion)
        elif self.masks and n:
            reasons = ["mask" if m else None for m in inside_any(self.masks, centres)]
        result = ValidityResult()
        held = []
        for i, (pose, why) in enumerate(zip(poses, reasons, strict=True)):
            if why is None:
                result.accepted.append(pose)
                held.append(i)
            else:
                result.rejected.append((pose, why))
                self.rejections[why] += 1
        if result.accepted:
            if self.includes:
                inside = inside_any(self.includes, centres[held])
                result.present = [p for p, ok in zip(result.accepted, inside, strict=True) if ok]
            else:
                result.present = list(result.accepted)
        if use_motion:
            self.motion.learn(frame.timestamp_ns)
        return result

    def _frame_reasons(self, frame: FramePoses, kp: rules.F32, centres: rules.F32) -> list[str | None]:
        c = self.config
        g = self._geometry = rules.measure(kp, frame.width, frame.height)
        scores = np.asarray([p.score for p in frame.poses], np.float32)
        known = len(frame.track_scores) == len(frame.poses)
        det = np.asarray(frame.track_scores if known else [np.nan] * len(frame.poses), np.float32)
        n = len(scores)
        off = np.zeros(n, np.bool_)
        if self.static:
            # Photos: the person score, fitted on photos, judges instead of the body-geometry rules (chosen on the
            # clips): on the tuning photos those rejected 4 more LSP people for 1 more ghost (docs/presence.md).
            geometry = (off, off, off)
            person = ~(rules.person_score(scores, det, rules.world_limb_length(rules.stack_world(frame.poses)))
                       >= c.min_person_score)
        else:
            # Video: time and motion judge instead of the person score, which would reject a person partly seen
            # while walking in (the conference room's visitor at the door: 24 frames, the enter 6 s late).
            geometry = (~(g.extent >= c.min_extent), g.limb_ratio > c.max_limb_ratio,
                        g.shoulder_ratio > c.max_shoulder_ratio)
            person = off
        fails = np.stack([
            ~(scores >= c.min_pose_score),
            det < c.min_detection_score,  # NaN (unknown) passes
            ~(g.torso_visibility >= c.min_torso_visibility),
            *geometry,
            person,
            inside_any(self.masks, centres) if self.masks else off,
        ])  # (8, N), in the order of _FRAME_RULES
        first = fails.argmax(axis=0).tolist()
        return [_FRAME_RULES[k] if bad else None for k, bad in zip(first, fails.any(axis=0).tolist(), strict=True)]

    def _track_reasons(self, kp: rules.F32, centres: rules.F32, frame: FramePoses, reasons: list[str | None],
                       use_motion: bool) -> None:
        c = self.config
        now = frame.timestamp_ns
        tracks = self.tracks.assign(centres, now, frame.width / max(frame.height, 1))
        extent = self._geometry.extent
        fg = self.motion.foreground_fraction(self._geometry.box) if use_motion else None
        for i, track in enumerate(tracks):
            if fg is not None and fg[i] >= c.min_foreground:
                track.last_motion_ns = now
            if reasons[i] is not None:
                continue
            if track.speed > c.max_speed * float(extent[i]):
                reasons[i] = "speed"
            elif track.frames < c.min_track_frames:
                reasons[i] = "young"
            elif fg is not None and (track.last_motion_ns is None or now - track.last_motion_ns > self._still_ns):
                reasons[i] = "still"
            track.accepted = reasons[i] is None
