"""The mirrored pose (photos, `PoseEngine(mirror=True)`): the evidence pose validity judges photos with, computed
beside the MediaPipe-equal poses without changing them."""

from __future__ import annotations

import numpy as np
import pytest
from support.paths import skimage_photo

from edgepose.commands.common import read_image
from edgepose.engine.tracker import PoseEngine
from edgepose.topology import MIRRORED


def test_mirror_keeps_the_poses_and_finds_the_same_person(static_full_k7: PoseEngine) -> None:
    rgb = read_image(skimage_photo("astronaut.png"))
    plain = static_full_k7.process(rgb)
    mirror = PoseEngine(static_full_k7.detector, static_full_k7.landmarks, static=True, mirror=True)
    got = mirror.process(rgb)
    assert plain.mirrored == [] and len(got.poses) == len(got.mirrored) == 1
    pose, seen = got.poses[0], got.mirrored[0]
    assert seen is not None
    np.testing.assert_array_equal(pose.keypoints, plain.poses[0].keypoints)  # the engine's output unchanged
    np.testing.assert_array_equal(pose.world, plain.poses[0].world)
    assert "mirror" in got.timings_ms and "mirror" not in plain.timings_ms
    # A person's pose, seen in the mirror and mapped back, lies on the pose: within 5 % of the ROI side on
    # average over the body points (3.2 % here, the legs out of the picture included), while the same points
    # left and right unswapped lie 4 times as far (the swap is right).
    h, w = rgb.shape[:2]
    size = float(pose.roi.width) * w

    def spread(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.hypot((a[11:, 0] - b[11:, 0]) * w, (a[11:, 1] - b[11:, 1]) * h).mean() / size)

    assert spread(seen.keypoints, pose.keypoints) < 0.05
    assert spread(seen.keypoints[list(MIRRORED)], pose.keypoints) > 3 * spread(seen.keypoints, pose.keypoints)
    # The world skeleton mapped back (x negated back): 0.12 m per body point from the pose's, against 0.27 m
    # with x left as the mirror gave it.
    unnegated = seen.world * np.float32([-1, 1, 1])

    def apart(a: np.ndarray) -> float:
        return float(np.linalg.norm(a[11:] - pose.world[11:], axis=1).mean())

    assert apart(seen.world) < 0.5 * apart(unnegated)
    assert seen.score > 0.9


def test_mirror_is_for_photos_only(static_full_k7: PoseEngine) -> None:
    with pytest.raises(ValueError, match="static"):
        PoseEngine(static_full_k7.detector, static_full_k7.landmarks, static=False, mirror=True)
