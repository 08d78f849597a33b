"""The detector-tracker loop of MediaPipe's legacy graph (spec §4), for up to `max_poses` people.

With one person (the default) this is the legacy graph: the detector runs on the first frame and on the frame
after tracking is lost; otherwise the ROI comes from the previous frame's smoothed auxiliary points. With several
(MediaPipe Tasks' `num_poses`, edgepose.engine.tracks) the detector also runs while fewer than `max_poses` are
tracked, every `detect_interval` frames, and its detections that overlap a tracked person are suppressed; each
person gets one landmark invoke, their own smoother and a track id. In static mode the detector runs on every
frame and nothing is smoothed; with `mirror` (photos) the landmark model also runs on each person's mirrored
crop, for pose validity (`FramePoses.mirrored`; the MediaPipe-equal poses are unchanged). With `wide_frame_tiles`
(video; off when constructed directly, on in EngineConfig) a frame on which the whole-frame detector finds nobody
also gets one wide-frame tile's detector run (edgepose.engine.tiles). Smoothing plugs in
through the `Smoother` protocol (edgepose.filters.pose_smoothing.PoseSmoother).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edgepose.config import EngineConfig
from edgepose.engine.detector import PoseDetector
from edgepose.engine.landmarks import LandmarkModel
from edgepose.engine.roi import roi_from_points
from edgepose.engine.tracks import Track, TrackIds, duplicates, suppressed
from edgepose.inference.cpu_choice import PrecisionChoice
from edgepose.inference.loading import load_engine_models
from edgepose.pose import FramePoses, Pose, Roi

__all__ = ["EngineConfig", "EngineStats", "PoseEngine", "Smoother"]

# The legacy Python API's synthetic clock (spec §5.4): frame k is at k·33 333 µs.
SYNTHETIC_FRAME_NS = 33_333_000


class Smoother(Protocol):
    def smooth(self, pose: Pose, width: int, height: int, timestamp_ns: int) -> Pose: ...

    def reset_on_loss(self) -> None: ...

    def reset(self) -> None: ...


@dataclass(slots=True)
class EngineStats:
    frames: int = 0
    frames_with_pose: int = 0
    detector_runs: int = 0
    detector_tile_runs: int = 0  # detector invokes on tiles of wide frames (engine.wide_frame_tiles)
    dropped_non_finite: int = 0
    landmark_runs: int = 0  # landmark invokes (one per person per frame)
    poses: int = 0  # poses returned, summed over frames
    stage_ms: dict[str, float] = field(default_factory=dict)  # cumulative per stage


class PoseEngine:
    """BlazePose for up to `max_poses` people: `process(frame_rgb, timestamp_ns)` → FramePoses."""

    def __init__(
        self,
        detector: PoseDetector,
        landmarks: LandmarkModel,
        *,
        static: bool = False,
        smoother: Smoother | None = None,
        max_poses: int = 1,
        detect_interval: int = 1,
        id_hold_seconds: float = 1.0,
        mirror: bool = False,
        wide_frame_tiles: bool = False,
    ) -> None:
        if isinstance(max_poses, bool) or not isinstance(max_poses, int) or max_poses < 1:
            raise ValueError(f"max_poses must be an integer >= 1, got {max_poses!r}")
        if isinstance(detect_interval, bool) or not isinstance(detect_interval, int) or detect_interval < 1:
            raise ValueError(f"detect_interval must be an integer >= 1, got {detect_interval!r}")
        if not 0 <= id_hold_seconds < float("inf"):
            raise ValueError(f"id_hold_seconds must be a finite number >= 0, got {id_hold_seconds!r}")
        if mirror and not static:
            raise ValueError("mirror evidence is for photos: it needs static=True")
        self.detector = detector
        self.landmarks = landmarks
        self.static = static
        self.smoother = None if static else smoother
        self.max_poses = max_poses
        self.detect_interval = detect_interval
        self.mirror = mirror
        # Video only: photos have no motion or time for pose validity to judge the extra detections by.
        self.wide_frame_tiles = wide_frame_tiles and not static
        # Each further person gets a copy of the smoother as it was before any frame.
        self._smoother_template = copy.deepcopy(self.smoother)
        self.stats = EngineStats()
        self._tracks: list[Track] = []
        self._ids = TrackIds(round(id_hold_seconds * 1e9))
        self._since_detect = 0
        self._tile_turn = 0  # the next wide-frame tile to look at (engine.wide_frame_tiles)
        self._synthetic_frame = 0
        self.precision: PrecisionChoice | None = None  # the forms from_config chose, and why

    @classmethod
    def from_config(cls, config: EngineConfig, smoother: Smoother | None = None) -> PoseEngine:
        """Load the models named by `config` (edgepose.inference.loading); `smoother` replaces the default
        PoseSmoother (video mode)."""
        models = load_engine_models(config)
        detector = PoseDetector(models.detector, config.min_detection_score)
        landmarks = LandmarkModel(
            models.landmark,
            heatmap_kernel=config.heatmap_kernel,
            min_presence=config.min_presence,
            segmentation=config.segmentation,
        )
        if smoother is None and not config.static:
            from edgepose.filters.pose_smoothing import PoseSmoother

            smoother = PoseSmoother()  # the legacy graph's filters; the daemon passes its [smoothing]'s
        engine = cls(detector, landmarks, static=config.static, smoother=smoother, max_poses=config.max_poses,
                     detect_interval=config.detect_interval, id_hold_seconds=config.id_hold_seconds,
                     mirror=config.mirror_evidence, wide_frame_tiles=config.wide_frame_tiles)
        engine.precision = models.precision
        return engine

    @property
    def backend_name(self) -> str:
        return self.landmarks.backend.name

    @property
    def tracked_ids(self) -> list[int]:
        """Ids of the people tracked into the next frame."""
        return [t.id for t in self._tracks]

    def reset(self) -> None:
        """Forget the tracked ROIs (the detector runs on the next frame), lost ids and all smoothing state (a new
        source or a fault; a tracking loss inside one stream uses MediaPipe's partial reset instead)."""
        self._tracks = []
        self._ids.reset()
        self._since_detect = 0
        self._tile_turn = 0
        if self.smoother is not None:
            self.smoother.reset()

    def _new_smoother(self, returned: Smoother | None) -> Smoother | None:
        # One person: the one smoother throughout, reset on loss, exactly as the legacy graph (§5.3).
        if self.smoother is None or self.max_poses == 1:
            return self.smoother
        return returned if returned is not None else copy.deepcopy(self._smoother_template)

    @staticmethod
    def _tracked_xy(tracks: list[Track]) -> npt.NDArray[np.float32]:
        xy = [t.xy_px for t in tracks if t.xy_px is not None]
        return np.stack(xy) if xy else np.zeros((0, 33, 2), np.float32)

    def _lose(self, track: Track, timestamp_ns: int, *, reset_smoother: bool = True) -> None:
        if reset_smoother and track.smoother is not None:
            track.smoother.reset_on_loss()
        self._ids.lose(track, track.roi, timestamp_ns)

    def process(self, frame_rgb: npt.NDArray[np.uint8], timestamp_ns: int | None = None) -> FramePoses:
        """Run one frame (uint8 RGB, H×W×3). Timestamps drive smoothing; None uses the synthetic 30 fps clock."""
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 H×W×3 RGB, got {frame_rgb.dtype} {frame_rgb.shape}")
        height, width = frame_rgb.shape[:2]
        if timestamp_ns is None:
            self._synthetic_frame += 1
            timestamp_ns = self._synthetic_frame * SYNTHETIC_FRAME_NS
        stats = self.stats
        stats.frames += 1
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        result = FramePoses(width, height, [], timestamp_ns, False, timings)

        tracks = [] if self.static else self._tracks
        self._tracks = []
        # Candidates of this frame: (track, ROI, score of the detection that started the track); track None = a
        # new detection.
        candidates: list[tuple[Track | None, Roi, float]] = [(t, t.roi, t.score) for t in tracks]
        self._since_detect += 1
        if not tracks or (len(tracks) < self.max_poses and self._since_detect >= self.detect_interval):
            t0 = time.perf_counter()
            detections = self.detector.detect(frame_rgb)
            if not len(detections) and not tracks and self.wide_frame_tiles:
                # Nobody in the whole frame: a person too small for it may be found in a square tile. One tile
                # a frame, in turn, so that an empty room costs two detector runs a frame, not 1 + tiles.
                detections, ran = self.detector.detect_tile(frame_rgb, self._tile_turn)
                self._tile_turn += ran
                result.detector_tiles = int(ran)
                stats.detector_tile_runs += ran
            timings["detector"] = (time.perf_counter() - t0) * 1e3
            stats.detector_runs += 1
            result.detector_ran = True
            self._since_detect = 0
            # One person: only the best detection, as the legacy graph (a non-finite one means no pose).
            considered = 1 if self.max_poses == 1 else len(detections)
            new = [roi_from_points(detections.keypoints[i, 0], detections.keypoints[i, 1], width, height)
                   for i in range(min(considered, len(detections)))]
            finite = [r for r in new if r.is_finite()]
            stats.dropped_non_finite += len(new) - len(finite)
            if len(finite) < len(new) and not tracks and self.max_poses == 1 and self.smoother is not None:
                self.smoother.reset_on_loss()  # as the legacy graph on a non-finite ROI
            size = np.array([width, height, width, height], np.float32)
            ok = np.array([r.is_finite() for r in new], bool)
            keep = ok & ~suppressed(detections.boxes[: len(new)] * size, self._tracked_xy(tracks))
            room = self.max_poses - len(tracks)
            kept = [i for i, k in enumerate(keep) if k][:room]
            candidates += [(None, new[i], float(detections.scores[i])) for i in kept]

        scores: dict[int | None, float] = {}  # pose id → its track's detection score
        mirrored: dict[int | None, Pose | None] = {}  # pose id → its pose on the mirrored crop (photos, `mirror`)
        for track, roi, score in candidates:
            self._run_person(frame_rgb, track, roi, score, result, timestamp_ns, scores, mirrored)

        if len(self._tracks) > 1:
            # Two tracks that converged on one person: the younger (later in the list) is dropped.
            sides = np.array([float(t.roi.width) * width for t in self._tracks], np.float32)
            drop = duplicates(self._tracked_xy(self._tracks), sides)
            if drop.any():
                gone = {t.id for t, d in zip(self._tracks, drop, strict=True) if d}
                for t in self._tracks:
                    if t.id in gone:
                        self._lose(t, timestamp_ns)
                self._tracks = [t for t in self._tracks if t.id not in gone]
                result.poses = [p for p in result.poses if p.id not in gone]
        if self.static:
            self._tracks = []
        result.poses.sort(key=lambda p: p.id)
        result.track_scores = [scores[p.id] for p in result.poses]
        if self.mirror:
            result.mirrored = [mirrored[p.id] for p in result.poses]
        stats.frames_with_pose += bool(result.poses)
        stats.poses += len(result.poses)
        return self._finish(result, t_start)

    def _run_person(
        self, frame_rgb: npt.NDArray[np.uint8], track: Track | None, roi: Roi, score: float, result: FramePoses,
        timestamp_ns: int, scores: dict[int | None, float], mirrored: dict[int | None, Pose | None],
    ) -> None:
        """One landmark invoke for one person; appends the pose (its detection score to `scores`; with `mirror`,
        its mirrored pose to `mirrored`) and, in video mode, the track for the next frame."""
        width, height, timings, stats = result.width, result.height, result.timings_ms, self.stats
        t0 = time.perf_counter()
        tensor, letterbox = self.landmarks.input_tensor(frame_rgb, roi)
        t1 = time.perf_counter()
        outcome = self.landmarks.run_tensor(tensor, letterbox, roi, width, height)
        t2 = time.perf_counter()
        invoke = self.landmarks.last_invoke_ms
        timings["crop"] = timings.get("crop", 0.0) + (t1 - t0) * 1e3
        timings["landmark_invoke"] = timings.get("landmark_invoke", 0.0) + invoke
        timings["decode"] = timings.get("decode", 0.0) + (t2 - t1) * 1e3 - invoke
        stats.landmark_runs += 1
        result.landmark_runs += 1
        pose = outcome.pose
        if pose is None:
            # A confident pose with non-finite values, or a non-finite presence score (NaN model output).
            if outcome.presence > self.landmarks.min_presence or not np.isfinite(outcome.presence):
                stats.dropped_non_finite += 1
            if track is not None:
                self._lose(track, timestamp_ns)
            elif self.smoother is not None and self.max_poses == 1:
                self.smoother.reset_on_loss()  # the legacy graph's reset (already reset: a no-op, kept for parity)
            return
        if self.static:
            scores[len(result.poses)] = score
            if self.mirror:
                t0 = time.perf_counter()
                mirrored[len(result.poses)] = self.landmarks.run_mirrored(tensor, letterbox, roi, width, height)
                timings["mirror"] = timings.get("mirror", 0.0) + (time.perf_counter() - t0) * 1e3
            result.poses.append(dataclasses.replace(pose, id=len(result.poses)))
            return
        if track is None:
            track_id, returned = self._ids.assign(roi, timestamp_ns)
            track = Track(track_id, roi, self._new_smoother(returned), score=score)
        scores[track.id] = score
        if track.smoother is not None:
            t0 = time.perf_counter()
            pose = track.smoother.smooth(pose, width, height, timestamp_ns)
            timings["smoothing"] = timings.get("smoothing", 0.0) + (time.perf_counter() - t0) * 1e3
        result.poses.append(dataclasses.replace(pose, id=track.id))
        nxt = roi_from_points(pose.aux[0, :2], pose.aux[1, :2], width, height)
        if nxt.is_finite():
            self._tracks.append(Track(track.id, nxt, track.smoother, pose.xy_pixels(width, height), score))
        else:
            # The legacy graph drops the ROI without resetting the filters; the id can come back.
            self._lose(Track(track.id, roi, track.smoother, score=score), timestamp_ns, reset_smoother=False)

    def _finish(self, result: FramePoses, t_start: float) -> FramePoses:
        result.timings_ms["total"] = (time.perf_counter() - t_start) * 1e3
        acc = self.stats.stage_ms
        for k, v in result.timings_ms.items():
            acc[k] = acc.get(k, 0.0) + v
        return result
