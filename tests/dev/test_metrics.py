"""Matching predictions to labelled people by keypoint similarity, scoring several people per photo, and the
paired difference of two runs on the same photos."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose_dev.commands.eval_multi import score_photos
from edgepose_dev.metrics import (
    DEVIATION_CLIP,
    PckAccumulator,
    deviation_difference,
    keypoint_similarity,
    match_people,
    paired_count_p,
    paired_keypoint_deviation,
    paired_pck_difference,
)


def person(x0: float) -> np.ndarray:
    """(17, 3) labelled keypoints of a 100×300 px person whose left edge is at x0."""
    rng = np.random.default_rng(int(x0))
    kp = np.ones((17, 3))
    kp[:, 0] = x0 + rng.uniform(0, 100, 17)
    kp[:, 1] = rng.uniform(0, 300, 17)
    return kp


def test_similarity_and_greedy_matching() -> None:
    a, b = person(0), person(400)
    assert keypoint_similarity(a, a[:, :2], 30000) == 1.0
    assert keypoint_similarity(a, b[:, :2], 30000) < 0.01
    near_b = b[:, :2] + 3.0
    # Predictions in the other order, one extra far away: each person gets their own, the stray none.
    assert match_people([a, b], [30000, 30000], [near_b, a[:, :2], person(900)[:, :2]]) == [1, 0]
    assert match_people([a, b], [30000, 30000], [a[:, :2]]) == [0, None]
    assert match_people([a], [30000], []) == [None]


def test_score_photos_counts_people_found_and_scores_the_missed_as_wrong() -> None:
    a, b = person(0), person(400)
    a[[5, 12], :2] = [[10, 50], [90, 250]]  # a torso: shoulder-to-hip diagonals
    a[[6, 11], :2] = [[90, 50], [10, 250]]
    b[5:13, :2] = a[5:13, :2] + [400, 0]
    samples = [({"file_name": "x.jpg"}, [a, b], [30000.0, 30000.0])]
    report = score_photos(samples, [[a[:, :2]]], alpha=0.2)
    assert (report["people"], report["found"], report["predicted"]) == (2, 1, 1)
    assert report["photos"][0]["pck_per_person"] == [100.0, 0.0] and report["overall"] == 50.0


def test_per_person_records_each_scored_person_and_scores_the_missed_as_none_correct() -> None:
    gt = person(0)
    gt[[5, 12], :2] = [[10, 50], [90, 250]]
    gt[[6, 11], :2] = [[90, 50], [10, 250]]
    acc = PckAccumulator()
    acc.add(gt, gt[:, :2])
    acc.add(gt, None)
    acc.add(np.zeros((17, 3)), gt[:, :2])  # no torso: not scored, not recorded
    assert acc.per_person == [(17, 17), (0, 17)]


def test_paired_difference_of_identical_and_of_shifted_runs_is_exact() -> None:
    a = [(5, 12), (0, 12), (12, 12)]
    same = paired_pck_difference(a, a, rounds=500)
    assert (same.delta, same.se, same.low, same.high, same.changed, same.people) == (0.0, 0.0, 0.0, 0.0, 0, 3)
    plus_one = paired_pck_difference(a, [(c + 1, n) for c, n in a], rounds=500)
    assert plus_one.delta == pytest.approx(100 / 12) and plus_one.se == pytest.approx(0.0, abs=1e-9)
    assert plus_one.changed == 3


def test_paired_difference_spread_is_that_of_the_photos() -> None:
    rng = np.random.default_rng(1)
    a = [(int(c), 12) for c in rng.binomial(12, 0.7, 300)]
    # 40 people change: 25 lose 12 keypoints (missed), 15 gain 4.
    b = list(a)
    for i in range(40):
        c, n = a[i]
        b[i] = (0, n) if i < 25 else (min(c + 4, n), n)
    d = np.array([cb - ca for (ca, _), (cb, _) in zip(a, b, strict=True)], float)
    r = paired_pck_difference(a, b)
    assert r.delta == pytest.approx(100 * d.sum() / (12 * 300))
    assert r.se == pytest.approx(100 * d.std() / (12 * np.sqrt(300)), rel=0.1)  # the standard error of a mean
    assert r.low < r.delta < r.high and r.high - r.low == pytest.approx(2 * 1.96 * r.se, rel=0.15)
    assert r == paired_pck_difference(a, b)  # seeded


def test_paired_difference_refuses_runs_on_different_people() -> None:
    with pytest.raises(ValueError, match="not the same people"):
        paired_pck_difference([(1, 12), (2, 12)], [(1, 12)])
    with pytest.raises(ValueError, match="not the same people"):
        paired_pck_difference([(1, 12)], [(1, 10)])
    with pytest.raises(ValueError, match="no labelled keypoints"):
        paired_pck_difference([], [])


def test_paired_count_p_is_the_exact_two_sided_mcnemar_p() -> None:
    assert paired_count_p(0, 0) == 1.0 and paired_count_p(5, 5) == 1.0
    assert paired_count_p(0, 10) == paired_count_p(10, 0) == pytest.approx(2 / 1024)
    assert paired_count_p(12, 7) == pytest.approx(0.359283447265625)  # scipy.stats.binomtest(7, 19)


def _torso_person() -> np.ndarray:
    """A labelled person whose torso diagonals are both 200 px long (torso size 200)."""
    gt = np.ones((17, 3))
    gt[:, :2] = np.random.default_rng(3).uniform(0, 200, (17, 2))
    gt[[5, 12], :2] = [[0, 0], [120, 160]]  # left shoulder → right hip: 200 px
    gt[[6, 11], :2] = [[120, 0], [0, 160]]
    return gt


def test_keypoint_deviation_is_in_torsos_clipped_and_counts_who_was_found() -> None:
    gt = _torso_person()
    a = gt[:, :2].copy()
    same = paired_keypoint_deviation([a, a], [a.copy(), a.copy()], [gt, gt], rounds=200)
    assert (same.mean_pct, same.se, same.both, same.only_a, same.only_b) == (0.0, 0.0, 2, 0, 0)
    moved = a + np.array([12.0, 16.0])  # 20 px = 10 % of the torso, every keypoint
    far = a + np.array([3000.0, 0.0])  # on another person: clipped at one torso
    r = paired_keypoint_deviation([a, a, a, None], [moved, far, None, a], [gt] * 4, rounds=200)
    assert r.mean_pct == pytest.approx((10.0 + 100.0 * DEVIATION_CLIP) / 2)
    assert (r.both, r.only_a, r.only_b) == (2, 1, 1)
    unlabelled = gt.copy()
    unlabelled[:5, 2] = 0  # only labelled keypoints count: the face moved alone is no change
    face = a.copy()
    face[:5] += 500.0
    assert paired_keypoint_deviation([a], [face], [unlabelled], rounds=50).mean_pct == 0.0


def test_keypoint_deviation_refuses_what_it_cannot_compare() -> None:
    gt = _torso_person()
    a = gt[:, :2]
    with pytest.raises(ValueError, match="not the same people"):
        paired_keypoint_deviation([a], [a, a], [gt])
    with pytest.raises(ValueError, match="labelled torso"):
        paired_keypoint_deviation([a], [a], [np.zeros((17, 3))])
    with pytest.raises(ValueError, match="no person found by both"):
        paired_keypoint_deviation([a, None], [None, a], [gt, gt])


def test_deviation_difference_is_paired_per_person_over_those_all_runs_found() -> None:
    gt = _torso_person()
    ref = gt[:, :2].copy()
    a = [ref + np.array([24.0, 32.0]), ref + np.array([12.0, 16.0]), None]  # 20 % and 10 % of the torso; missed
    b = [ref + np.array([12.0, 16.0]), ref + np.array([12.0, 16.0]), ref]  # 10 %, 10 %; found
    mean, se, n = deviation_difference([ref, ref, ref], a, b, [gt] * 3, rounds=500)
    assert n == 2 and mean == pytest.approx(-5.0)  # (−10 + 0) / 2: b is closer to the reference
    assert se > 0.0
    with pytest.raises(ValueError, match="all three"):
        deviation_difference([None], [ref], [ref], [gt])
