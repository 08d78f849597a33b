"""Matching predictions to labelled people by keypoint similarity, and scoring several people per photo."""

from __future__ import annotations

import numpy as np

from edgepose_dev.commands.eval_multi import score_photos
from edgepose_dev.metrics import keypoint_similarity, match_people


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
