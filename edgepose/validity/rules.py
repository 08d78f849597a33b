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
_INV_HUMAN_LIMB_RATIO = (1.0 / _HUMAN_LIMB_RATIO).astype(np.float32)
# Body points used by `measure`, and its segments as positions in that list.
_BODY = np.asarray([11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28], np.intp)
_POS = {int(k): i for i, k in enumerate(_BODY)}
_SEG_FROM = np.asarray([_POS[int(a)] for a, _ in _LIMBS] + [_POS[_L_SH]], np.intp)
_SEG_TO = np.asarray([_POS[int(b)] for _, b in _LIMBS] + [_POS[_R_SH]], np.intp)


@dataclass(frozen=True, slots=True)
class Geometry:
    """Per-pose measurements in pixels (all (N,) arrays)."""

    extent: F32  # the larger side of the keypoint box, over the frame height
    torso_px: F32  # mid-shoulder to mid-hip
    limb_ratio: F32  # the largest bone / (torso × its human ratio)
    shoulder_ratio: F32  # shoulder width / torso length
    torso_visibility: F32  # mean visibility of the shoulders or of the hips, whichever is higher
    box: F32  # (N, 4) keypoint box x0, y0, x1, y1, normalised and clipped to the frame


def stack(poses: list[Pose]) -> F32:
    """(N, 33, 5) keypoints of `poses`."""
    if not poses:
        return np.zeros((0, 33, 5), np.float32)
    if len(poses) == 1:
        return poses[0].keypoints[None]
    return np.stack([p.keypoints for p in poses]).astype(np.float32, copy=False)


def measure(kp: F32, width: int, height: int) -> Geometry:
    """The geometry of (N, 33, 5) keypoints in a width × height frame (a few dozen array operations in all,
    whatever N: this runs on every frame)."""
    scale = np.asarray([width, height], np.float32)
    xy = kp[:, :, :2]
    lo = np.maximum(xy.min(axis=1), np.float32(0.0))
    hi = np.minimum(xy.max(axis=1), np.float32(1.0))
    extent = ((hi - lo) * scale).max(axis=1) / np.float32(height)  # the visible part of the body
    body = xy[:, _BODY] * scale  # (N, 12, 2) pixels: shoulders, elbows, wrists, hips, knees, ankles
    seg = body[:, _SEG_FROM] - body[:, _SEG_TO]  # 8 limb bones, then the shoulder line
    seg *= seg
    lengths = np.sqrt(seg[:, :, 0] + seg[:, :, 1])
    torso_vec = (body[:, 0] + body[:, 1] - body[:, 6] - body[:, 7]) * np.float32(0.5)
    torso_vec *= torso_vec
    torso = np.sqrt(torso_vec[:, 0] + torso_vec[:, 1])
    safe = np.maximum(torso, np.float32(1e-3))
    v = kp[:, _TORSO, VISIBILITY]
    return Geometry(
        extent=extent,
        torso_px=torso,
        limb_ratio=(lengths[:, :8] * _INV_HUMAN_LIMB_RATIO).max(axis=1) / safe,
        shoulder_ratio=lengths[:, 8] / safe,
        # The better seen pair, shoulders or hips: at a desk the hips are hidden or out of the frame.
        torso_visibility=np.maximum(v[:, 0] + v[:, 1], v[:, 2] + v[:, 3]) * np.float32(0.5),
        box=np.concatenate([lo, hi], axis=1),
    )


def boxes(kp: F32) -> F32:
    """(N, 4) keypoint boxes x0, y0, x1, y1, normalised and clipped to the frame."""
    xy = np.minimum(np.maximum(kp[:, :, :2], np.float32(0.0)), np.float32(1.0))
    return np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)


def hip_centres(kp: F32) -> F32:
    """(N, 2) normalised mid-hip points (the person's position for tracks and zones)."""
    return (kp[:, _L_HIP, :2] + kp[:, _R_HIP, :2]) * np.float32(0.5)
