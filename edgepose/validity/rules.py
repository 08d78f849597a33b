"""Per-frame rules on the keypoints of a list of poses: score, torso visibility, size, limb proportions.

All rules are vectorised over the poses of one frame: `stack` builds an (N, 33, 5) array once, every rule
returns an (N,) boolean "fails" mask. Sizes are measured in pixels of the frame, so portrait and landscape
frames are judged alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgepose.pose import VISIBILITY, Pose
from edgepose.topology import TORSO

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

_TORSO = np.asarray(TORSO, dtype=np.intp)
_L_SH, _R_SH, _L_HIP, _R_HIP = 11, 12, 23, 24
# Limb bones (upper arm, forearm, thigh, shin; both sides) as (from, to) keypoint indices.
_LIMBS = np.asarray([(11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28)], np.intp)
# Each bone's length over the torso length (mid-shoulder to mid-hip) in an adult's skeleton: upper arm 0.6,
# forearm 0.5, thigh 0.8, shin 0.8. In a picture a bone can only look shorter (foreshortening), unless the
# torso itself is foreshortened (leaning towards the camera); `max_limb_ratio` is a multiple of these.
_HUMAN_LIMB_RATIO = np.asarray([0.6, 0.5, 0.6, 0.5, 0.8, 0.8, 0.8, 0.8], np.float32)


@dataclass(frozen=True, slots=True)
class Geometry:
    """Per-pose measurements in pixels (all (N,) arrays)."""

    extent: F32  # the larger side of the keypoint box, over the frame height
    torso_px: F32  # mid-shoulder to mid-hip
    limb_ratio: F32  # the largest bone / (torso × its human ratio)
    shoulder_ratio: F32  # shoulder width / torso length
    torso_visibility: F32  # mean visibility of the 4 torso points


def stack(poses: list[Pose]) -> F32:
    """(N, 33, 5) keypoints of `poses`."""
    if not poses:
        return np.zeros((0, 33, 5), np.float32)
    return np.stack([p.keypoints for p in poses]).astype(np.float32, copy=False)


def measure(kp: F32, width: int, height: int) -> Geometry:
    """The geometry of (N, 33, 5) keypoints in a width × height frame."""
    px = kp[:, :, :2] * np.asarray([width, height], np.float32)
    inside = np.clip(px, 0.0, np.asarray([width, height], np.float32))
    span = inside.max(axis=1) - inside.min(axis=1)  # (N, 2): the visible part of the body
    extent = span.max(axis=1) / np.float32(height)
    mid_sh = 0.5 * (px[:, _L_SH] + px[:, _R_SH])
    mid_hip = 0.5 * (px[:, _L_HIP] + px[:, _R_HIP])
    torso = np.linalg.norm(mid_sh - mid_hip, axis=1)
    safe = np.maximum(torso, np.float32(1e-3))
    bones = np.linalg.norm(px[:, _LIMBS[:, 0]] - px[:, _LIMBS[:, 1]], axis=2)  # (N, 8)
    limb_ratio = (bones / (safe[:, None] * _HUMAN_LIMB_RATIO)).max(axis=1)
    shoulders = np.linalg.norm(px[:, _L_SH] - px[:, _R_SH], axis=1)
    return Geometry(
        extent=extent.astype(np.float32),
        torso_px=torso.astype(np.float32),
        limb_ratio=limb_ratio.astype(np.float32),
        shoulder_ratio=(shoulders / safe).astype(np.float32),
        torso_visibility=kp[:, _TORSO, VISIBILITY].mean(axis=1).astype(np.float32),
    )


def boxes(kp: F32) -> F32:
    """(N, 4) keypoint boxes x0, y0, x1, y1, normalised and clipped to the frame."""
    xy = np.clip(kp[:, :, :2], 0.0, 1.0)
    return np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1).astype(np.float32)


def hip_centres(kp: F32) -> F32:
    """(N, 2) normalised mid-hip points (the person's position for tracks and zones)."""
    return (0.5 * (kp[:, _L_HIP, :2] + kp[:, _R_HIP, :2])).astype(np.float32)
