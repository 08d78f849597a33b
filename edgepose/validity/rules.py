"""Per-frame measurements of a list of poses: size, limb proportions, torso visibility, box, hip centre, and
the person score (photos; with the mirrored poses when the engine computed them).

`measure` reads all poses of a frame with three numpy gathers and returns one `Geometry` per pose; the stage
compares them with the thresholds. `person_score` is vectorised over the poses (`stack_world` builds the (N, 33, 3)
world skeletons). Sizes are measured in pixels of the frame, so portrait and landscape frames are judged alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgepose.pose import VISIBILITY, Pose
from edgepose.topology import TORSO

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

_L_SH, _R_SH, _L_HIP, _R_HIP = 11, 12, 23, 24
# Limb bones (upper arm, forearm, thigh, shin; both sides) as (from, to) keypoint indices.
_LIMBS = ((11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28))
_LIMB_ENDS = np.asarray(_LIMBS, np.intp).T  # (2, 8): the bones' first and second keypoints, for numpy indexing
# Each bone's length over the torso length (mid-shoulder to mid-hip) in an adult's skeleton: upper arm 0.6,
# forearm 0.5, thigh 0.8, shin 0.8. In a picture a bone can only look shorter (foreshortening), unless the
# torso itself is foreshortened (leaning towards the camera); `max_limb_ratio` is a multiple of these.
_HUMAN_LIMB_RATIO = (0.6, 0.5, 0.6, 0.5, 0.8, 0.8, 0.8, 0.8)
# The values `measure` reads per pose, as flat indices into a pose's (33 * 5) keypoint row: x, y of all 33
# points (the box), then the four torso visibilities (topology.TORSO: shoulders, then hips).
_GATHER = np.asarray([k * 5 + c for k in range(33) for c in (0, 1)] + [k * 5 + VISIBILITY for k in TORSO], np.intp)
# The body points `measure` converts to pixels (shoulders, elbows, wrists, hips, knees, ankles), and the limb
# bones as (from, to, 1 / the human ratio) with positions in that list.
_BODY = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
_POS = {k: i for i, k in enumerate(_BODY)}
_BONES = tuple((_POS[a], _POS[b], 1.0 / r) for (a, b), r in zip(_LIMBS, _HUMAN_LIMB_RATIO, strict=True))
_LS, _RS, _LH, _RH = _POS[_L_SH], _POS[_R_SH], _POS[_L_HIP], _POS[_R_HIP]


@dataclass(frozen=True, slots=True)
class Geometry:
    """One pose's measurements, in pixels of the frame."""

    extent: float  # the larger side of the keypoint box, over the frame height
    limb_ratio: float  # the largest bone / (torso × its human ratio)
    shoulder_ratio: float  # shoulder width / torso length
    torso_visibility: float  # mean visibility of the shoulders or of the hips, whichever is higher
    box: tuple[float, float, float, float]  # keypoint box x0, y0, x1, y1, normalised and clipped to the frame
    centre: tuple[float, float]  # normalised mid-hip point (the person's position for tracks)


def stack(poses: list[Pose]) -> F32:
    """(N, 33, 5) keypoints of `poses`."""
    if not poses:
        return np.zeros((0, 33, 5), np.float32)
    if len(poses) == 1:
        return poses[0].keypoints[None]
    return np.stack([p.keypoints for p in poses]).astype(np.float32, copy=False)


def _max(a: float, b: float) -> float:
    """max() that returns NaN when either is NaN (as numpy's maximum; Python's max depends on the order)."""
    return a if a > b or a != a else b


def measure(kp: F32, width: int, height: int) -> list[Geometry]:
    """The geometry of each pose of (N, 33, 5) keypoints in a width × height frame.

    This runs on every frame with a pose, for one pose or a handful: one numpy gather reads what is needed for
    all poses at once, and the few dozen scalar operations per pose run in plain Python, where each numpy call
    would cost microseconds of fixed overhead on arrays of 2 to 33 values. Like numpy's min and max, a NaN
    coordinate makes the box and the sizes NaN (Python's min and max would depend on the order).
    """
    if kp.shape[0] == 0:
        return []
    w, h = float(width), float(height)
    out = []
    for v in kp.reshape(kp.shape[0], -1)[:, _GATHER].tolist():
        xs, ys = v[0:66:2], v[1:66:2]
        total = sum(v[:66])  # NaN when a coordinate is NaN (or for +inf and -inf together: then look closer)
        if total != total and (any(c != c for c in xs) or any(c != c for c in ys)):
            x0 = y0 = x1 = y1 = math.nan
        else:
            x0, y0, x1, y1 = max(min(xs), 0.0), max(min(ys), 0.0), min(max(xs), 1.0), min(max(ys), 1.0)
        px = [xs[k] * w for k in _BODY]  # pixels
        py = [ys[k] * h for k in _BODY]
        tx = (px[_LS] + px[_RS] - px[_LH] - px[_RH]) * 0.5
        ty = (py[_LS] + py[_RS] - py[_LH] - py[_RH]) * 0.5
        torso = math.hypot(tx, ty)
        safe = _max(torso, 1e-3)
        limb = -math.inf
        for a, b, inv in _BONES:
            limb = _max(limb, math.hypot(px[a] - px[b], py[a] - py[b]) * inv)
        shoulders = math.hypot(px[_LS] - px[_RS], py[_LS] - py[_RS])
        vis = v[66:]  # shoulders, then hips
        geometry = Geometry(
            extent=_max((x1 - x0) * w, (y1 - y0) * h) / h,  # the visible part of the body
            limb_ratio=limb / safe,
            shoulder_ratio=shoulders / safe,
            # The better seen pair, shoulders or hips: at a desk the hips are hidden or out of the frame.
            torso_visibility=_max(vis[0] + vis[1], vis[2] + vis[3]) * 0.5,
            box=(x0, y0, x1, y1),
            centre=((xs[_L_HIP] + xs[_R_HIP]) * 0.5, (ys[_L_HIP] + ys[_R_HIP]) * 0.5),
        )
        out.append(geometry)
    return out


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
    d = world[:, _LIMB_ENDS[0]] - world[:, _LIMB_ENDS[1]]  # (N, 8, 3)
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


# The person score with the mirror (photos, `PoseEngine(mirror=True)`): the same three kinds of evidence, the pose
# score's logit and the limb length each averaged over the pose and its mirrored pose (test-time augmentation:
# a person's pose is much the same in a mirror; a ghost's score and skeleton often shrink there). Fitted as the
# model above, on the same tuning photos and poses (lite int8, 33 ghosts, 911 people), the decision placed the
# same way (mid-gap after the 7th lowest LSP person: -3.95 … -3.45 in the fit's units): tuning ghosts 14 → 7.
# Fitted on the pose and the mirror apart, the two got near-equal weights (pose logit 0.28 and 0.42, limbs
# 3.7 m⁻¹ and 4.6 m⁻¹), hence their mean. The odd negatives, PARSE and the other model rows played no part.
#   mean logit(pose score) over the pose and its mirror
#   logit(det score)
#   mean limb metres over the pose and its mirror
MIRROR_PERSON_COEF = np.asarray([0.730, 0.446, 8.125], np.float32)
MIRROR_PERSON_INTERCEPT = np.float32(-16.22)  # the fit's -19.92, plus 3.70 for the decision point


def _logit(p: F32) -> F32:
    p = np.minimum(np.maximum(p, _EPS), np.float32(1.0) - _EPS)
    return np.log(p / (np.float32(1.0) - p))


def person_score(pose_scores: F32, detection_scores: F32, limb_metres: F32,
                 mirror: tuple[F32, F32] | None = None) -> F32:
    """(N,) probability-like person score in (0, 1) from the logistic models above (0.5 = the tuned decision).
    `mirror`: the mirrored poses' (scores, limb metres), which selects the mirror model. A NaN detection score
    (unknown) counts as 0.5; a NaN pose score or limb length gives NaN (fails any threshold)."""
    det = np.where(np.isnan(detection_scores), np.float32(0.5), detection_scores).astype(np.float32)
    if mirror is None:
        coef, intercept, pose, limbs = PERSON_COEF, PERSON_INTERCEPT, _logit(pose_scores), limb_metres
    else:
        coef, intercept = MIRROR_PERSON_COEF, MIRROR_PERSON_INTERCEPT
        pose = (_logit(pose_scores) + _logit(mirror[0])) * np.float32(0.5)
        limbs = (limb_metres + mirror[1]) * np.float32(0.5)
    z = coef[0] * pose + coef[1] * _logit(det) + coef[2] * limbs + intercept
    with np.errstate(over="ignore"):
        return (np.float32(1.0) / (np.float32(1.0) + np.exp(-z))).astype(np.float32)
