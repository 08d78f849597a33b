"""PCK@α on COCO-17 keypoints, the accuracy measure the BlazePose paper reports.

Torso size (written into every report): the mean length of the labelled torso diagonals, left shoulder →
right hip and right shoulder → left hip, in pixels. A person with neither diagonal labelled is not scored.
A keypoint counts when it is labelled (v > 0); it is correct when its 2-D error is below α × torso size.
An image where no pose was found scores every labelled keypoint of its person as wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
    # (correct, labelled) keypoints of each scored person, in the order added: pairs two runs on the same photos.
    per_person: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.correct = np.zeros(17, np.int64)
        self.labelled = np.zeros(17, np.int64)

    def add(self, gt: npt.NDArray[np.float64], pred_xy: npt.NDArray[np.float64] | None) -> bool:
        """gt (17, 3) pixels + visibility flag; pred_xy (17, 2) pixels in COCO order, or None if not found.
        True when the person is scored (has a labelled torso)."""
        assert self.correct is not None and self.labelled is not None
        size = torso_size(gt)
        if size is None or size <= 0:
            self.skipped_no_torso += 1
            return False
        self.persons += 1
        mask = gt[:, 2] > 0
        self.labelled += mask
        if pred_xy is None:
            self.missed += 1
            self.per_person.append((0, int(mask.sum())))
            return True
        err = np.hypot(*(pred_xy - gt[:, :2]).T)
        hit = mask & (err < self.alpha * size)
        self.correct += hit
        self.per_person.append((int(hit.sum()), int(mask.sum())))
        return True

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


def _resamples(n: int, rounds: int, seed: int) -> npt.NDArray[np.int64]:
    """(rounds, n) indices drawn with replacement: one bootstrap resample of n people per row (seeded)."""
    return np.random.default_rng(seed).integers(0, n, (rounds, n))


@dataclass(frozen=True)
class PairedDifference:
    """PCK of run b minus run a on the same people, in points, with its bootstrap spread."""

    delta: float
    se: float  # standard deviation of the bootstrap deltas
    low: float  # 95 % percentile interval
    high: float
    changed: int  # people whose correct-keypoint count differs between the runs
    people: int


def paired_pck_difference(a: list[tuple[int, int]], b: list[tuple[int, int]], rounds: int = 10_000,
                          seed: int = 0) -> PairedDifference:  # fmt: skip
    """b − a from two `PckAccumulator.per_person` lists of the same people in the same order.

    The people are resampled with replacement (the same draw for both runs), so the spread is that of the
    photos, the dominant uncertainty when two models are compared on a few hundred of them: a person found by
    one run and missed by the other moves PCK by all their keypoints at once."""
    ca, la = np.array(a, np.int64).reshape(-1, 2).T
    cb, lb = np.array(b, np.int64).reshape(-1, 2).T
    if len(ca) != len(cb) or not np.array_equal(la, lb):
        raise ValueError(f"not the same people: {len(ca)} and {len(cb)} scored, or different labelled keypoints")
    if not len(ca) or not la.sum():
        raise ValueError("no labelled keypoints to compare")
    d = (cb - ca).astype(np.float64)
    idx = _resamples(len(d), rounds, seed)
    boot = 100.0 * d[idx].sum(axis=1) / la[idx].sum(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return PairedDifference(delta=100.0 * float(d.sum()) / float(la.sum()), se=float(boot.std()), low=float(low),
                            high=float(high), changed=int((d != 0).sum()), people=len(d))  # fmt: skip


def paired_count_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p of two runs that disagree on `only_a + only_b` photos (e.g. negatives with a
    pose in one run only): the chance of a split at least this uneven if either run were as likely to be the one."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n)


@dataclass(frozen=True)
class PairedDeviation:
    """How far run b's keypoints lie from run a's on the people both found: a measure of what b changes that does
    not depend on the labels' own error, so it separates two close runs on far fewer photos than PCK."""

    mean_pct: float  # mean over those people of their mean keypoint distance, % of the labelled torso
    se: float  # bootstrap standard error of mean_pct (people resampled)
    both: int  # people found by both runs
    only_a: int  # found by run a only
    only_b: int


# One torso: a keypoint further than this from the other run's is on another limb or person; clipping keeps such
# outliers from dominating the mean while still counting them as the largest deviation.
DEVIATION_CLIP = 1.0


def keypoint_deviations(preds_a: list[npt.NDArray[np.float64] | None], preds_b: list[npt.NDArray[np.float64] | None],
                        gts: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:  # fmt: skip
    """Per scored person: the mean distance of run b's labelled keypoints from run a's, % of the labelled torso
    (`torso_size`), each distance clipped at `DEVIATION_CLIP` torso; NaN where either run did not find the person
    (or no keypoint is labelled). Predictions are (17, 2) pixels or None, labels (17, 3)."""
    if not len(preds_a) == len(preds_b) == len(gts):
        raise ValueError(f"not the same people: {len(preds_a)}, {len(preds_b)} and {len(gts)} entries")
    out = np.full(len(gts), np.nan)
    for i, (a, b, gt) in enumerate(zip(preds_a, preds_b, gts, strict=True)):
        size = torso_size(gt)
        if size is None or size <= 0:
            raise ValueError("a person without a labelled torso: only scored people can be compared")
        mask = gt[:, 2] > 0
        if a is not None and b is not None and mask.any():
            out[i] = 100.0 * float(np.minimum(np.hypot(*(a - b).T) / size, DEVIATION_CLIP)[mask].mean())
    return out


def _bootstrap_se(v: npt.NDArray[np.float64], rounds: int, seed: int) -> float:
    return float(v[_resamples(len(v), rounds, seed)].mean(axis=1).std())


def paired_keypoint_deviation(preds_a: list[npt.NDArray[np.float64] | None],
                              preds_b: list[npt.NDArray[np.float64] | None], gts: list[npt.NDArray[np.float64]],
                              rounds: int = 10_000, seed: int = 0) -> PairedDeviation:  # fmt: skip
    """`keypoint_deviations` of b from a, averaged over the people both found; the people are resampled with
    replacement for the standard error."""
    v = keypoint_deviations(preds_a, preds_b, gts)
    found_a = np.array([a is not None for a in preds_a], bool)
    found_b = np.array([b is not None for b in preds_b], bool)
    v = v[~np.isnan(v)]  # NaN: not found by both
    if not len(v):
        raise ValueError("no person found by both runs")
    return PairedDeviation(mean_pct=float(v.mean()), se=_bootstrap_se(v, rounds, seed), both=len(v),
                           only_a=int((found_a & ~found_b).sum()), only_b=int((found_b & ~found_a).sum()))  # fmt: skip


def deviation_difference(reference: list[npt.NDArray[np.float64] | None], preds_a: list[npt.NDArray[np.float64] | None],
                         preds_b: list[npt.NDArray[np.float64] | None], gts: list[npt.NDArray[np.float64]],
                         rounds: int = 10_000, seed: int = 0) -> tuple[float, float, int]:  # fmt: skip
    """How much closer to `reference` (e.g. float) run b's keypoints are than run a's (two recipes): the mean over
    the people all three found of b's deviation minus a's, its bootstrap standard error, and those people's number.
    Paired per person, so it resolves recipes whose deviations differ by a tenth of their own spread."""
    d = keypoint_deviations(reference, preds_b, gts) - keypoint_deviations(reference, preds_a, gts)
    d = d[~np.isnan(d)]
    if not len(d):
        raise ValueError("no person found by all three runs")
    return float(d.mean()), _bootstrap_se(d, rounds, seed), len(d)


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
