"""Per-frame measurements of a list of poses: torso visibility, size, limb proportions, and the person score.

All are vectorised over the poses of one frame: `stack` builds an (N, 33, 5) array once (`stack_world` the
(N, 33, 3) world skeletons), and the stage turns each measurement into an (N,) boolean "fails" mask. Sizes are
measured in pixels of the frame, so portrait and landscape frames are judged alike.
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


def stack_world(poses: list[Pose]) -> F32:
    """(N, 33, 3) world landmarks (metres) of `poses`."""
    if not poses:
        return np.zeros((0, 33, 3), np.float32)
    if len(poses) == 1:
        return poses[0].world[None]
    return np.stack([p.world for p in poses]).astype(np.float32, copy=False)


def world_limb_length(world: F32) -> F32:
    """(N,) summed length in metres of the 8 limb bones of (N, 33, 3) world landmarks.

    The landmark model's world output is a metric 3D skeleton: for a person it has a person's limbs whatever
    the camera sees (photos of people: median 2.3 m), while on a ghost it shrinks (furniture, statues: median
    1.4 m), so the sum is evidence a single frame has.
    """
    d = world[:, _LIMBS[:, 0]] - world[:, _LIMBS[:, 1]]  # (N, 8, 3)
    d *= d
    return np.sqrt(d.sum(axis=2)).sum(axis=1)


# The person score: a logistic model on three outputs of the engine, with fixed coefficients (docs/presence.md,
# "Evidence: photos"). Fitted by weighted logistic regression (both classes weighted equally) on the tuning
# photos only, lite int8 (the default), poses that pass the other photo rules (score, torso): the even half of
# the sorted images/negatives (33 ghosts) against the LSP part of images/sports (911 people). The intercept then
# moves the decision (score 0.5) into the gap after the 7th lowest of those people (-4.49 … -3.98 in the fit's
# units; the next three lie within 0.03 of each other): LSP's people found stays within 1 point of validity off
# (0.7). The odd negatives, PARSE and the clips played no part.
#   logit(pose score)  the landmark model's presence, clipped to 1e-4 … 1 − 1e-4
#   logit(det score)   the detection that started the pose (unknown → 0.5, the detector's own floor)
#   limb metres        world_limb_length
PERSON_COEF = np.asarray([0.693, 0.975, 5.997], np.float32)
PERSON_INTERCEPT = np.float32(-12.47)  # the fit's -16.70, plus 4.23 for the decision point above
_EPS = np.float32(1e-4)


def _logit(p: F32) -> F32:
    p = np.minimum(np.maximum(p, _EPS), np.float32(1.0) - _EPS)
    return np.log(p / (np.float32(1.0) - p))


def person_score(pose_scores: F32, detection_scores: F32, limb_metres: F32) -> F32:
    """(N,) probability-like person score in (0, 1) from the logistic model above (0.5 = the tuned decision).
    A NaN detection score (unknown) counts as 0.5; a NaN pose score gives NaN (fails any threshold)."""
    det = np.where(np.isnan(detection_scores), np.float32(0.5), detection_scores).astype(np.float32)
    z = (PERSON_COEF[0] * _logit(pose_scores) + PERSON_COEF[1] * _logit(det) + PERSON_COEF[2] * limb_metres
         + PERSON_INTERCEPT)  # fmt: skip
    with np.errstate(over="ignore"):
        return (np.float32(1.0) / (np.float32(1.0) + np.exp(-z))).astype(np.float32)
