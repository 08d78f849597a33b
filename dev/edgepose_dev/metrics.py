"""PCK@α on COCO-17 keypoints, the accuracy measure the BlazePose paper reports.

Torso size (written into every report): the mean length of the labelled torso diagonals, left shoulder →
right hip and right shoulder → left hip, in pixels. A person with neither diagonal labelled is not scored.
A keypoint counts when it is labelled (v > 0); it is correct when its 2-D error is below α × torso size.
An image where no pose was found scores every labelled keypoint of its person as wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgepose.topology import COCO17_NAMES

TORSO_DEFINITION = (
    "torso size = mean length of the labelled diagonals left_shoulder→right_hip and right_shoulder→left_hip (px)"
)
_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP = (COCO17_NAMES.index(n) for n in (
    "left_shoulder", "right_shoulder", "left_hip", "right_hip"))  # fmt: skip


def torso_size(gt: npt.NDArray[np.float64]) -> float | None:
    """gt: (17, 3) COCO keypoints [x, y, v]; None when no diagonal is labelled."""
    lengths = [
        float(np.hypot(*(gt[a, :2] - gt[b, :2])))
        for a, b in ((_L_SHOULDER, _R_HIP), (_R_SHOULDER, _L_HIP))
        if gt[a, 2] > 0 and gt[b, 2] > 0
    ]
    return float(np.mean(lengths)) if lengths else None


@dataclass
class PckAccumulator:
    alpha: float = 0.2
    correct: npt.NDArray[np.int64] | None = None
    labelled: npt.NDArray[np.int64] | None = None
    persons: int = 0
    skipped_no_torso: int = 0
    missed: int = 0

    def __post_init__(self) -> None:
        self.correct = np.zeros(17, np.int64)
        self.labelled = np.zeros(17, np.int64)

    def add(self, gt: npt.NDArray[np.float64], pred_xy: npt.NDArray[np.float64] | None) -> None:
        """gt (17, 3) pixels + visibility flag; pred_xy (17, 2) pixels in COCO order, or None if not found."""
        assert self.correct is not None and self.labelled is not None
        size = torso_size(gt)
        if size is None or size <= 0:
            self.skipped_no_torso += 1
            return
        self.persons += 1
        mask = gt[:, 2] > 0
        self.labelled += mask
        if pred_xy is None:
            self.missed += 1
            return
        err = np.hypot(*(pred_xy - gt[:, :2]).T)
        self.correct += mask & (err < self.alpha * size)

    def per_keypoint(self) -> dict[str, float | None]:
        assert self.correct is not None and self.labelled is not None
        return {
            name: (100.0 * int(c) / int(n) if n else None)
            for name, c, n in zip(COCO17_NAMES, self.correct, self.labelled, strict=True)
        }

    def overall(self) -> float | None:
        assert self.correct is not None and self.labelled is not None
        n = int(self.labelled.sum())
        return 100.0 * int(self.correct.sum()) / n if n else None


# COCO's per-keypoint OKS constants (sigmas) for the 17 COCO keypoints, nose first.
COCO_SIGMAS = np.array([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107,
                        0.107, 0.087, 0.087, 0.089, 0.089])
MIN_MATCH_OKS = 0.1  # below this a prediction is not that person


def keypoint_similarity(gt: npt.NDArray[np.float64], pred_xy: npt.NDArray[np.float64], area: float) -> float:
    """COCO's object keypoint similarity of one prediction (17, 2) with one labelled person (17, 3) whose box
    has `area` px² (over the labelled keypoints; 0 when none is labelled)."""
    mask = gt[:, 2] > 0
    if not mask.any():
        return 0.0
    d2 = ((pred_xy - gt[:, :2]) ** 2).sum(axis=1)
    k2 = (2 * COCO_SIGMAS) ** 2
    return float(np.exp(-d2 / (2 * max(area, 1.0) * k2 + np.finfo(float).eps))[mask].mean())


def match_people(
    gts: list[npt.NDArray[np.float64]], areas: list[float], preds: list[npt.NDArray[np.float64]],
    min_oks: float = MIN_MATCH_OKS,
) -> list[int | None]:
    """For each labelled person, the index of the prediction assigned to them (greedy on similarity, best pair
    first, each prediction used once, as COCO's evaluation matches), or None."""
    out: list[int | None] = [None] * len(gts)
    if not gts or not preds:
        return out
    sim = np.array([[keypoint_similarity(g, p, a) for p in preds] for g, a in zip(gts, areas, strict=True)])
    for flat in np.argsort(-sim, axis=None, kind="stable"):
        gi, pi = divmod(int(flat), len(preds))
        if sim[gi, pi] < min_oks:
            break
        if out[gi] is None and pi not in out:
            out[gi] = pi
    return out
