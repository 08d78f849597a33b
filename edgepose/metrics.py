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
