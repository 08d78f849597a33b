"""Temporal smoothing of one person's pose, as MediaPipe's legacy graph does it (spec §5.1, §5.3).

Per frame, for the person being tracked:
- keypoints: x, y, z filtered in pixels (x·W, y·H, z·W), one One-Euro filter per scalar, derivative scaled by
  1/object_scale; visibility low-passed (alpha 0.1); presence untouched;
- world: One-Euro without value scaling;
- aux (points 33/34, which drive the next ROI): One-Euro with value scaling plus visibility low-pass,
  always on, even when `smooth_landmarks` is False.

object_scale = 2·|aux0→aux1| in pixels from the UNSMOOTHED aux points of the current frame (the un-expanded
alignment box side). Below `min_allowed_object_scale` the value-scaled filters (keypoint and aux coordinates)
return their input and are not stepped; the visibility and world filters still run, as in MediaPipe, where
they are separate calculators.

On tracking loss call `reset_on_loss()`: it resets only the keypoint and aux One-Euro filters; visibility and
world filters keep their state (MediaPipe does not call them on frames without landmarks).

Deliberate additions to MediaPipe (which never sees these cases in its graph): a timestamp not after the
previous smoothed frame, or a pose with a non-finite value, is returned unchanged and steps no filter, so that
one bad frame cannot poison filters that are never reset.
"""

from __future__ import annotations

import dataclasses
import operator

import numpy as np

from edgepose.config import SmoothingConfig
from edgepose.filters.one_euro import F32, LowPassFilter, OneEuroFilter, OneEuroParams
from edgepose.pose import VISIBILITY, Pose


def landmark_params(s: SmoothingConfig) -> OneEuroParams:
    return OneEuroParams(s.landmark_min_cutoff, s.landmark_beta, s.landmark_derivate_cutoff)


def world_params(s: SmoothingConfig) -> OneEuroParams:
    return OneEuroParams(s.world_min_cutoff, s.world_beta, s.world_derivate_cutoff, disable_value_scaling=True)


def aux_params(s: SmoothingConfig) -> OneEuroParams:
    return OneEuroParams(s.aux_min_cutoff, s.aux_beta, s.aux_derivate_cutoff)


# spec §5.1 (pose_landmark_filtering.pbtxt of the legacy graph): the [smoothing] section's defaults.
_DEFAULTS = SmoothingConfig()
LANDMARK_PARAMS = landmark_params(_DEFAULTS)
WORLD_PARAMS = world_params(_DEFAULTS)
AUX_PARAMS = aux_params(_DEFAULTS)
VISIBILITY_ALPHA = _DEFAULTS.visibility_alpha
MIN_ALLOWED_OBJECT_SCALE = 1e-6


def object_scale(aux: F32, width: int, height: int) -> np.float32:
    """2·|aux0→aux1| in pixels, computed in float32 like MediaPipe's AlignmentPointsRects + GetObjectScale."""
    size = np.array([width, height], dtype=np.float32)
    center = aux[0, :2].astype(np.float32) * size
    scale_point = aux[1, :2].astype(np.float32) * size
    d = scale_point - center
    box = np.float32(np.sqrt(np.float32(d[0] * d[0] + d[1] * d[1])) * 2.0)
    # The rect stores box/W and box/H; GetObjectScale multiplies back and averages.
    rect_w = np.float32(box / size[0])
    rect_h = np.float32(box / size[1])
    return np.float32((np.float32(rect_w * size[0]) + np.float32(rect_h * size[1])) / np.float32(2.0))


class PoseSmoother:
    """Smooths the pose of one tracked person; `smooth()` returns a new Pose, the input is not modified."""

    def __init__(
        self,
        smooth_landmarks: bool = True,
        landmarks: OneEuroParams = LANDMARK_PARAMS,
        world: OneEuroParams = WORLD_PARAMS,
        aux: OneEuroParams = AUX_PARAMS,
        visibility_alpha: float = VISIBILITY_ALPHA,
        min_allowed_object_scale: float = MIN_ALLOWED_OBJECT_SCALE,
    ) -> None:
        self.smooth_landmarks = bool(smooth_landmarks)
        self.min_allowed_object_scale = float(min_allowed_object_scale)
        self._landmarks = landmarks.create()
        self._world = world.create()
        self._aux = aux.create()
        self._visibility = LowPassFilter(visibility_alpha)
        self._aux_visibility = LowPassFilter(visibility_alpha)
        self._last_time_ns = 0

    @classmethod
    def from_config(cls, s: SmoothingConfig) -> PoseSmoother:
        """The smoother of a [smoothing] section (`enabled` = smooth the keypoints; aux points always are)."""
        return cls(smooth_landmarks=s.enabled, landmarks=landmark_params(s), world=world_params(s),
                   aux=aux_params(s), visibility_alpha=s.visibility_alpha)  # fmt: skip

    @property
    def landmark_filter(self) -> OneEuroFilter:
        return self._landmarks

    @property
    def world_filter(self) -> OneEuroFilter:
        return self._world

    @property
    def aux_filter(self) -> OneEuroFilter:
        return self._aux

    @property
    def visibility_filter(self) -> LowPassFilter:
        return self._visibility

    @property
    def aux_visibility_filter(self) -> LowPassFilter:
        return self._aux_visibility

    def reset_on_loss(self) -> None:
        """Tracking lost (a frame without this person): reset as MediaPipe does (spec §5.3)."""
        self._landmarks.reset()
        self._aux.reset()

    def reset(self) -> None:
        """Forget everything (a different person, or a restart of the source)."""
        for f in (self._landmarks, self._world, self._aux, self._visibility, self._aux_visibility):
            f.reset()
        self._last_time_ns = 0

    def smooth(self, pose: Pose, width: int, height: int, timestamp_ns: int) -> Pose:
        """Smooth `pose`, seen in a `width`×`height` frame captured at `timestamp_ns` (must increase)."""
        t = operator.index(timestamp_ns)
        if isinstance(width, bool) or isinstance(height, bool):
            raise ValueError(f"frame size must be integers, got {width!r}x{height!r}")
        w, h = operator.index(width), operator.index(height)
        if w <= 0 or h <= 0:
            raise ValueError(f"frame size must be positive, got {w}x{h}")
        if pose.aux.shape != (2, 5):
            raise ValueError(f"pose.aux must have shape (2, 5), got {pose.aux.shape}")
        if t <= self._last_time_ns or not pose.is_finite() or not np.isfinite(pose.aux[:, : VISIBILITY + 1]).all():
            return _copy_pose(pose)
        self._last_time_ns = t

        scale = object_scale(pose.aux, w, h)
        scaled_ok = bool(scale >= self.min_allowed_object_scale)
        value_scale = float(np.float32(1.0) / scale) if scaled_ok else 1.0
        to_px = np.array([w, h, w], dtype=np.float32)

        aux = pose.aux.copy()
        aux[:, VISIBILITY] = self._aux_visibility.apply(pose.aux[:, VISIBILITY])
        if scaled_ok:
            aux[:, :3] = self._aux.apply(pose.aux[:, :3] * to_px, t, value_scale) / to_px

        keypoints = pose.keypoints.copy()
        world = pose.world.copy()
        if self.smooth_landmarks:
            keypoints[:, VISIBILITY] = self._visibility.apply(pose.keypoints[:, VISIBILITY])
            if scaled_ok:
                px = self._landmarks.apply(pose.keypoints[:, :3] * to_px, t, value_scale)
                keypoints[:, :3] = px / to_px
            world = self._world.apply(pose.world, t)
        return dataclasses.replace(pose, keypoints=keypoints, world=world, aux=aux)


def _copy_pose(pose: Pose) -> Pose:
    return dataclasses.replace(pose, keypoints=pose.keypoints.copy(), world=pose.world.copy(), aux=pose.aux.copy())
