"""`rules.measure` (plain Python per pose) against the same measurements written as whole-array numpy, on the
poses recorded from the presence clips (tests/validity/data), and its NaN behaviour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.validity import rules

DATA = np.load(Path(__file__).parent / "data" / "clip_poses.npz")
HUMAN = np.asarray([0.6, 0.5, 0.6, 0.5, 0.8, 0.8, 0.8, 0.8])
LIMBS = np.asarray([(11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28)])


def reference(kp: np.ndarray, w: int, h: int) -> dict[str, np.ndarray]:
    """The definitions of docs/presence.md's rules, in float64 numpy over (N, 33, 5) keypoints."""
    xy = kp[:, :, :2].astype(np.float64) * (w, h)
    lo = np.maximum(kp[:, :, :2].min(axis=1), 0.0)
    hi = np.minimum(kp[:, :, :2].max(axis=1), 1.0)
    torso = np.linalg.norm((xy[:, 11] + xy[:, 12] - xy[:, 23] - xy[:, 24]) / 2, axis=1)
    bones = np.linalg.norm(xy[:, LIMBS[:, 0]] - xy[:, LIMBS[:, 1]], axis=2) / HUMAN
    v = kp[:, [11, 12, 23, 24], 3].astype(np.float64)
    return {
        "extent": ((hi - lo) * (w, h)).max(axis=1) / h,
        "limb_ratio": bones.max(axis=1) / np.maximum(torso, 1e-3),
        "shoulder_ratio": np.linalg.norm(xy[:, 11] - xy[:, 12], axis=1) / np.maximum(torso, 1e-3),
        "torso_visibility": np.maximum(v[:, 0] + v[:, 1], v[:, 2] + v[:, 3]) / 2,
        "box": np.concatenate([lo, hi], axis=1),
        "centre": (kp[:, 23, :2].astype(np.float64) + kp[:, 24, :2]) / 2,
    }


@pytest.mark.parametrize("kind", ["person", "ghost"])
def test_measure_matches_the_array_definitions(kind: str) -> None:
    for (w, h), kp in zip(DATA[f"{kind}_size"], DATA[f"{kind}_kp"], strict=True):
        several = np.stack([kp, kp[::-1].copy(), kp * np.float32(0.5)])  # several poses of one frame at once
        got = rules.measure(several, int(w), int(h))
        want = reference(several, int(w), int(h))
        assert len(got) == 3
        for name, values in want.items():
            np.testing.assert_allclose([getattr(g, name) for g in got], values, rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_nan_coordinate_makes_box_and_size_nan() -> None:
    kp = DATA["person_kp"][0].copy()
    kp[15, 0] = np.nan  # one wrist's x
    (g,) = rules.measure(kp[None], 720, 480)
    assert np.isnan(g.extent) and np.isnan(g.box).all() and np.isnan(g.limb_ratio)
    assert np.isfinite(g.torso_visibility)
    assert rules.measure(np.zeros((0, 33, 5), np.float32), 720, 480) == []
