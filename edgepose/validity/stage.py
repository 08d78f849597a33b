"""The validity stage: engine poses in, `ValidityResult(accepted, rejected)` out (docs/presence.md).

Rules, in the order they are reported (a rejected pose carries the first failing rule as its reason):
  score      landmark pose presence below `min_pose_score`
  detection  the detection that started the track scored below `min_detection_score` (video only: on photos the
             person score weighs the detection score with the rest)
  torso      neither both shoulders nor both hips seen (mean visibility of the pair below `min_torso_visibility`)
  size       the keypoint box is smaller than `min_extent` of the frame height (video only)
  limbs      a limb is far longer than a human's relative to the torso (`max_limb_ratio`; video only)
  shoulders  shoulders far wider than the torso is long (`max_shoulder_ratio`; video only)
  person     the person score (pose score, detection score, world skeleton size; averaged with the mirrored
             pose's when the engine computed it) below `min_person_score` (photos only)
  mask       hip centre inside a `mask` zone
  speed      the hip centre moves faster than `max_speed` of the pose's own size per second (cars, vans)
  young      the track is younger than `min_track_frames` frames
  still      nothing moved in the pose's box for `still_seconds` (never, for a new track): furniture, cables
In static mode (single photos) only the per-frame rules apply: there is no time and no motion; the person
score stands in for the body-geometry rules there.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgepose.config import ValidityConfig
from edgepose.pose import FramePoses, Pose
from edgepose.validity import rules
from edgepose.validity.motion import MotionModel, grey_grid
from edgepose.validity.tracks import TrackBook
from edgepose.zones import Zone, inside_any

REASONS = ("score", "detection", "torso", "size", "limbs", "shoulders", "person", "mask", "speed", "young",
           "still")


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
        self._uses_motion = c.enabled and c.motion and not static
        # What `prepare` did for the motion model: the frame it observed (None: none), its cost in ms (added to
        # the stage's time), and the timestamp of the frame whose `learn` is still to do (the next `prepare` or
        # `process` does it: the background moves before the next frame is observed, as if done at once).
        self._observed: npt.NDArray[np.uint8] | None = None
        self._prepare_ms = 0.0
        self._learn_ns: int | None = None

    def reset(self) -> None:
        self.motion.reset()
        self.tracks.reset()
        self._observed = None
        self._prepare_ms = 0.0
        self._learn_ns = None

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> None:
        """Do the motion model's per-frame work on `rgb` now; `process` of the same frame then only reads it.

        The pipeline calls this before the engine. The frame just decoded is still in the CPU cache, whereas
        after the engine's inference the motion model's 3,072 samples (a cache line each, nearly) are read from
        memory again; and the few numpy calls that compare the samples with the background and learn it cost
        several times as much after the inference as right after the sampling (docs/presence.md, "Cost"). The
        verdicts are the same either way.
        """
        if self._uses_motion:
            t0 = time.perf_counter()
            self._learn_pending()
            self.motion.observe(grey_grid(rgb))
            self._observed = rgb
            self._prepare_ms = (time.perf_counter() - t0) * 1e3

    def process(self, frame: FramePoses, rgb: npt.NDArray[np.uint8] | None = None) -> ValidityResult:
        """Judge the poses of one frame. `rgb` (the frame) feeds the motion model; None skips motion."""
        t0 = time.perf_counter()
        result = self._judge(frame, rgb)
        frame.timings_ms["validity"] = (time.perf_counter() - t0) * 1e3 + self._prepare_ms
        self._observed = None
        self._prepare_ms = 0.0
        return result

    def _learn_pending(self) -> None:
        if self._learn_ns is not None:
            self.motion.learn(self._learn_ns)
            self._learn_ns = None

    def _judge(self, frame: FramePoses, rgb: npt.NDArray[np.uint8] | None) -> ValidityResult:
        c = self.config
        poses = frame.poses
        use_motion = self._uses_motion and rgb is not None
        if use_motion:
            assert rgb is not None
            if self._observed is not rgb:  # not prepared (or another frame was): observe this one now
                self._learn_pending()
                self.motion.observe(grey_grid(rgb), frame.timestamp_ns)
            elif self.motion.went_back(frame.timestamp_ns):
                self.motion.restart()
        result = ValidityResult()
        if poses:
            kp = rules.stack(poses)
            # float32 hip centres for the zone tests (the presence tracker counts zones from the same points).
            centres = rules.hip_centres(kp) if self.masks or self.includes else None
            if c.enabled:
                geometry = rules.measure(kp, frame.width, frame.height)
                reasons = self._frame_reasons(frame, geometry, centres)
                if not self.static:
                    self._track_reasons(geometry, frame, reasons, use_motion)
            elif self.masks:
                assert centres is not None
                reasons = ["mask" if m else None for m in inside_any(self.masks, centres).tolist()]
            else:
                reasons = [None] * len(poses)
            held = []
            for i, (pose, why) in enumerate(zip(poses, reasons, strict=True)):
                if why is None:
                    result.accepted.append(pose)
                    held.append(i)
                else:
                    result.rejected.append((pose, why))
                    self.rejections[why] += 1
            if result.accepted and self.includes:
                assert centres is not None
                inside = inside_any(self.includes, centres[held]).tolist()
                result.present = [p for p, ok in zip(result.accepted, inside, strict=True) if ok]
            else:
                result.present = list(result.accepted)
        if use_motion:
            self._learn_ns = frame.timestamp_ns
        return result

    def _frame_reasons(self, frame: FramePoses, geometry: list[rules.Geometry],
                       centres: rules.F32 | None) -> list[str | None]:
        """The first failing per-frame rule of each pose (None: all pass), tested in the order of REASONS."""
        c = self.config
        n = len(frame.poses)
        det = frame.track_scores if len(frame.track_scores) == n else [math.nan] * n
        masked = inside_any(self.masks, centres).tolist() if self.masks and centres is not None else [False] * n
        person: list[float] = []
        if self.static:
            # Photos: the person score, fitted on photos, judges instead of the body-geometry rules (chosen on the
            # clips): on the tuning photos those rejected 4 more LSP people for 1 more ghost (docs/presence.md).
            # Video: time and motion judge instead, as the person score would reject a person partly seen while
            # walking in (the conference room's visitor at the door: 24 frames, the enter 6 s late).
            # With the mirrored poses (the engine's `mirror`), the mirror model: ghosts 14 → 7 on the tuning half.
            mirror = None
            if len(frame.mirrored) == n:
                nan = math.nan
                mirror = (np.asarray([nan if m is None else m.score for m in frame.mirrored], np.float32),
                          rules.world_limb_length(rules.stack_world([frame.poses[i] if m is None else m
                                                                     for i, m in enumerate(frame.mirrored)])))
            person = rules.person_score(np.asarray([p.score for p in frame.poses], np.float32),
                                        np.asarray(det, np.float32),
                                        rules.world_limb_length(rules.stack_world(frame.poses)), mirror).tolist()
        reasons: list[str | None] = []
        # `not x >= t` (rather than x < t) so that a NaN fails the rule, as a missing measurement should.
        for i, (pose, g, d, m) in enumerate(zip(frame.poses, geometry, det, masked, strict=True)):
            if not pose.score >= c.min_pose_score:
                reasons.append("score")
            elif d < c.min_detection_score and not self.static:  # NaN (unknown) passes; photos: the person score
                reasons.append("detection")
            elif not g.torso_visibility >= c.min_torso_visibility:
                reasons.append("torso")
            elif self.static:
                reasons.append("person" if not person[i] >= c.min_person_score else "mask" if m else None)
            elif not g.extent >= c.min_extent:
                reasons.append("size")
            elif g.limb_ratio > c.max_limb_ratio:
                reasons.append("limbs")
            elif g.shoulder_ratio > c.max_shoulder_ratio:
                reasons.append("shoulders")
            elif m:
                reasons.append("mask")
            else:
                reasons.append(None)
        return reasons

    def _track_reasons(self, geometry: list[rules.Geometry], frame: FramePoses, reasons: list[str | None],
                       use_motion: bool) -> None:
        c = self.config
        now = frame.timestamp_ns
        tracks = self.tracks.assign([g.centre for g in geometry], now, frame.width / max(frame.height, 1))
        fg = self.motion.foreground_fraction([g.box for g in geometry]) if use_motion else None
        for i, (track, g) in enumerate(zip(tracks, geometry, strict=True)):
            if fg is not None and fg[i] >= c.min_foreground:
                track.last_motion_ns = now
            if reasons[i] is not None:
                continue
            if track.speed > c.max_speed * g.extent:
                reasons[i] = "speed"
            elif track.frames < c.min_track_frames:
                reasons[i] = "young"
            elif fg is not None and (track.last_motion_ns is None or now - track.last_motion_ns > self._still_ns):
                reasons[i] = "still"
            track.accepted = reasons[i] is None
