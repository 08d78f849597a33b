"""Unit checks of single stages against direct (scalar) restatements of the spec."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgepose.engine.anchors import ssd_anchors
from edgepose.engine.detector import Detections, decode, weighted_nms
from edgepose.engine.image_to_tensor import pad_roi
from edgepose.engine.landmarks import refine_from_heatmap, unrotate_world
from edgepose.engine.roi import normalize_radians, roi_from_points


def test_anchor_layout_matches_spec() -> None:
    a = ssd_anchors()
    assert a.shape == (2254, 2)
    expected = {0: (0.017857, 0.017857), 1: (0.017857, 0.017857), 2: (0.053571, 0.017857),
                56: (0.017857, 0.053571), 1568: (0.035714, 0.035714), 1960: (0.071429, 0.071429),
                2253: (0.928571, 0.928571)}  # fmt: skip
    for i, xy in expected.items():
        np.testing.assert_allclose(a[i], xy, atol=1e-6)


def _scalar_refine(lm: np.ndarray, hm: np.ndarray, k: int) -> np.ndarray:
    """RefineLandmarksFromHeatmap as written in MediaPipe's C++ (including its bounds check)."""
    out = lm.copy()
    o = (k - 1) // 2
    for i in range(lm.shape[0]):
        if not np.isfinite(lm[i, :2]).all():  # undefined in C++; edgepose leaves non-finite points alone
            continue
        col, row = int(lm[i, 0] * 64), int(lm[i, 1] * 64)  # int() truncates toward zero like C++
        if col < 0 or col >= 64 or row < 0 or col >= 64:
            continue
        s = wc = wr = m = 0.0
        for r in range(max(0, row - o), min(64, row + o + 1)):
            for c in range(max(0, col - o), min(64, col + o + 1)):
                conf = 1 / (1 + math.exp(-float(hm[r, c, i])))
                s += conf
                m = max(m, conf)
                wc += c * conf
                wr += r * conf
        if m >= 0.5 and s > 0:
            out[i, 0] = wc / 64 / s
            out[i, 1] = wr / 64 / s
    return out


@pytest.mark.parametrize("kernel", [7, 9])
def test_heatmap_refinement_equals_scalar_definition(kernel: int) -> None:
    rng = np.random.default_rng(kernel)
    hm = rng.normal(-1.0, 3.0, size=(64, 64, 39)).astype(np.float32)
    lm = rng.uniform(-0.1, 1.1, size=(39, 5)).astype(np.float32)
    # Edge cases: just left of 0 (truncates to column 0), the last cell, rows just below the heatmap (refined
    # by MediaPipe because its check tests the column twice), far outside, NaN.
    lm[0, :2] = (-0.004, 0.5)
    lm[1, :2] = (0.999, 0.999)
    lm[2, :2] = (0.5, 1.01)
    lm[3, :2] = (0.5, 1.2)
    lm[4, :2] = (1.0, 0.5)
    lm[5, :2] = (np.nan, 0.5)
    hm[60:64, 28:37, 2] = 5.0  # confident near the bottom edge so that landmark 2 is refined
    got = refine_from_heatmap(lm, hm, kernel)
    want = _scalar_refine(lm, hm, kernel)
    np.testing.assert_allclose(got, want, atol=2e-6, equal_nan=True)
    assert got[2, 1] != lm[2, 1]  # the row-64 quirk is reproduced
    np.testing.assert_array_equal(got[3], lm[3])


def test_decode_score_threshold_and_negative_sizes() -> None:
    boxes = np.zeros((1, 2254, 12), np.float32)
    scores = np.full((1, 2254, 1), -10.0, np.float32)
    scores[0, 5] = 0.0  # sigmoid = 0.5 exactly: kept (drop only if s < 0.5)
    scores[0, 6] = 3.0
    boxes[0, 6, 2] = -1.0  # negative width: dropped
    scores[0, 7] = 1e6  # clipped to 100
    boxes[0, 7, 4:6] = (22.4, -22.4)
    d = decode(boxes, scores)
    assert len(d) == 2
    np.testing.assert_allclose(sorted(d.scores), [0.5, 1.0])
    a = ssd_anchors()
    k = d.keypoints[np.argmax(d.scores), 0]
    np.testing.assert_allclose(k, a[7] + (0.1, -0.1), atol=1e-6)


def test_weighted_nms_averages_clusters_by_score() -> None:
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]], np.float32)
    kps = np.stack([np.full((4, 2), v, np.float32) for v in (0.0, 1.0, 9.0)])
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    out = weighted_nms(Detections(boxes, kps, scores), 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out.scores, [0.9, 0.7])  # the cluster top's score, not the mean
    np.testing.assert_allclose(out.keypoints[0], np.full((4, 2), 0.6 / 1.5), atol=1e-6)
    np.testing.assert_allclose(out.boxes[0], [0.04, 0.0, 1.04, 1.0], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[1], kps[2])


def test_weighted_nms_stops_on_degenerate_box() -> None:
    boxes = np.array([[0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]], np.float32)
    out = weighted_nms(Detections(boxes, np.zeros((2, 4, 2), np.float32), np.array([0.9, 0.8], np.float32)))
    assert len(out) == 1


def test_roi_rotation_convention() -> None:
    # Upright: kp1 straight above the hips → rotation 0; kp1 to the right → the crop turns by −90°.
    assert float(roi_from_points((0.5, 0.8), (0.5, 0.2), 100, 100).rotation) == pytest.approx(0.0, abs=1e-7)
    r = roi_from_points((0.5, 0.5), (0.8, 0.5), 100, 100)
    assert float(r.rotation) == pytest.approx(math.pi / 2, abs=1e-6)
    assert float(r.width) == pytest.approx(0.3 * 2 * 1.25, rel=1e-6)
    assert float(normalize_radians(np.float32(3 * math.pi / 2))) == pytest.approx(-math.pi / 2, abs=1e-6)


def test_non_square_roi_is_square_in_pixels() -> None:
    r = roi_from_points((0.5, 0.5), (0.5, 0.25), 1000, 500)
    assert float(r.width) * 1000 == pytest.approx(float(r.height) * 500, rel=1e-6)
    w, h, lb = pad_roi(np.float32(300), np.float32(150), 224, 224)
    assert (float(w), float(h)) == (300.0, 300.0)
    assert float(lb.top) == pytest.approx(0.25)


def test_world_unrotation() -> None:
    world = np.array([[1.0, 0.0, 0.3]] * 39, np.float32)
    out = unrotate_world(world, np.float32(math.pi / 2))
    np.testing.assert_allclose(out[0], [0.0, 1.0, 0.3], atol=1e-6)
