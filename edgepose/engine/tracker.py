"""The detector-tracker loop of MediaPipe's legacy graph (spec §4).

The detector runs on the first frame and on the frame after tracking is lost; otherwise the ROI comes from the
previous frame's smoothed auxiliary points. In static mode the detector runs on every frame and nothing is
smoothed. Smoothing plugs in through the `Smoother` protocol (edgepose.filters.pose_smoothing.PoseSmoother).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edgepose.engine.detector import MIN_SCORE, PoseDetector
from edgepose.engine.landmarks import DEFAULT_HEATMAP_KERNEL, MIN_PRESENCE, LandmarkModel
from edgepose.engine.roi import roi_from_points
from edgepose.inference.backend import create_backend
from edgepose.inference.cpu_choice import PrecisionChoice, choose_precision, host_cpu
from edgepose.inference.pruning import is_mask_output
from edgepose.model_files import (
    default_models_dir,
    detector_filename,
    landmark_filename,
    landmark_model_for,
    resolve_model,
)
from edgepose.pose import FramePoses, Pose, Roi

# The legacy Python API's synthetic clock (spec §5.4): frame k is at k·33 333 µs.
SYNTHETIC_FRAME_NS = 33_333_000


class Smoother(Protocol):
    def smooth(self, pose: Pose, width: int, height: int, timestamp_ns: int) -> Pose: ...

    def reset_on_loss(self) -> None: ...

    def reset(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything needed to build a PoseEngine; mirrors the [engine] section of the daemon config."""

    model: str = "full"
    precision: str = "float"  # "float", "int8" or "auto" (per stage, from the CPU: edgepose.inference.cpu_choice)
    backend: str = "cpu"
    edgetpu_device: str | None = None
    threads: int | None = None
    heatmap_kernel: int = DEFAULT_HEATMAP_KERNEL
    static: bool = False
    smooth_landmarks: bool = True
    min_detection_score: float = MIN_SCORE
    min_presence: float = MIN_PRESENCE
    segmentation: bool = False
    models_dir: Path | None = None
    # Run the landmark model's segmentation head even when no mask is wanted (only to measure what dropping it
    # saves; edgepose.inference.pruning).
    full_graph: bool = False


@dataclass(slots=True)
class EngineStats:
    frames: int = 0
    frames_with_pose: int = 0
    detector_runs: int = 0
    dropped_non_finite: int = 0
    stage_ms: dict[str, float] = field(default_factory=dict)  # cumulative per stage


def precision_for(config: EngineConfig, models_dir: Path) -> PrecisionChoice:
    """The forms of the two models: as asked, or for "auto" the CPU's (an Edge TPU takes int8)."""
    compiled = models_dir / landmark_filename(config.model, "int8").replace(".tflite", "_edgetpu.tflite")
    edgetpu = config.backend == "edgetpu" or (config.backend == "auto" and compiled.is_file())
    return choose_precision(config.precision, config.model, host_cpu(), edgetpu=edgetpu)


class PoseEngine:
    """Single-person BlazePose: `process(frame_rgb, timestamp_ns)` → FramePoses."""

    def __init__(
        self,
        detector: PoseDetector,
        landmarks: LandmarkModel,
        *,
        static: bool = False,
        smoother: Smoother | None = None,
    ) -> None:
        self.detector = detector
        self.landmarks = landmarks
        self.static = static
        self.smoother = None if static else smoother
        self.stats = EngineStats()
        self._next_roi: Roi | None = None
        self._synthetic_frame = 0
        self.precision: PrecisionChoice | None = None  # the forms from_config chose, and why

    @classmethod
    def from_config(cls, config: EngineConfig, smoother: Smoother | None = None) -> PoseEngine:
        """Load the models named by `config`; `smoother` replaces the default PoseSmoother (video mode)."""
        models_dir = config.models_dir or default_models_dir()
        choice = precision_for(config, models_dir)
        det_path = resolve_model(models_dir, detector_filename(choice.detector))
        lm_name = landmark_model_for(models_dir, config.model, choice.landmark, config.backend)
        lm_path = resolve_model(models_dir, lm_name)
        kwargs = {"threads": config.threads, "device": config.edgetpu_device}
        detector = PoseDetector(create_backend(det_path, config.backend, **kwargs), config.min_detection_score)
        # Without a mask, the landmark model's segmentation head is not computed at all.
        drop = None if config.segmentation or config.full_graph else is_mask_output
        landmarks = LandmarkModel(
            create_backend(lm_path, config.backend, drop_outputs=drop, fp16=choice.landmark == "fp16", **kwargs),
            heatmap_kernel=config.heatmap_kernel,
            min_presence=config.min_presence,
            segmentation=config.segmentation,
        )
        if smoother is None and not config.static:
            from edgepose.filters.pose_smoothing import PoseSmoother

            # Auxiliary points are smoothed even with landmark smoothing off, as in the legacy graph (§4.1).
            smoother = PoseSmoother(smooth_landmarks=config.smooth_landmarks)
        engine = cls(detector, landmarks, static=config.static, smoother=smoother)
        engine.precision = choice
        return engine

    @property
    def backend_name(self) -> str:
        return self.landmarks.backend.name

    def reset(self) -> None:
        """Forget the tracked ROI (the detector runs on the next frame) and all smoothing state (a new source
        or a fault; a tracking loss inside one stream uses MediaPipe's partial reset instead)."""
        self._next_roi = None
        if self.smoother is not None:
            self.smoother.reset()

    def _lost(self) -> None:
        self._next_roi = None
        if self.smoother is not None:
            self.smoother.reset_on_loss()

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

        roi = None if self.static else self._next_roi
        if roi is None:
            t0 = time.perf_counter()
            detections = self.detector.detect(frame_rgb)
            timings["detector"] = (time.perf_counter() - t0) * 1e3
            stats.detector_runs += 1
            result.detector_ran = True
            if len(detections) == 0:
                return self._finish(result, t_start)
            roi = roi_from_points(detections.keypoints[0, 0], detections.keypoints[0, 1], width, height)
        if not roi.is_finite():
            stats.dropped_non_finite += 1
            self._lost()
            return self._finish(result, t_start)

        t0 = time.perf_counter()
        tensor, letterbox = self.landmarks.input_tensor(frame_rgb, roi)
        t1 = time.perf_counter()
        outcome = self.landmarks.run_tensor(tensor, letterbox, roi, width, height)
        t2 = time.perf_counter()
        timings["crop"] = (t1 - t0) * 1e3
        timings["landmark_invoke"] = self.landmarks.last_invoke_ms
        timings["decode"] = (t2 - t1) * 1e3 - self.landmarks.last_invoke_ms
        pose = outcome.pose
        if pose is None:
            # A confident pose with non-finite values, or a non-finite presence score (NaN model output).
            if outcome.presence > self.landmarks.min_presence or not np.isfinite(outcome.presence):
                stats.dropped_non_finite += 1
            self._lost()
            return self._finish(result, t_start)

        if self.smoother is not None:
            t0 = time.perf_counter()
            pose = self.smoother.smooth(pose, width, height, timestamp_ns)
            timings["smoothing"] = (time.perf_counter() - t0) * 1e3
        if not self.static:
            nxt = roi_from_points(pose.aux[0, :2], pose.aux[1, :2], width, height)
            self._next_roi = nxt if nxt.is_finite() else None
        result.poses.append(pose)
        stats.frames_with_pose += 1
        return self._finish(result, t_start)

    def _finish(self, result: FramePoses, t_start: float) -> FramePoses:
        result.timings_ms["total"] = (time.perf_counter() - t_start) * 1e3
        acc = self.stats.stage_ms
        for k, v in result.timings_ms.items():
            acc[k] = acc.get(k, 0.0) + v
        return result
