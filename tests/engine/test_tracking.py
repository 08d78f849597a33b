"""The detector-tracker loop on the shared videos, and its guards against bad model output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.engine import engine, require_float_models

from edgepose.commands.common import read_video
from edgepose.engine.detector import PoseDetector
from edgepose.engine.tracker import PoseEngine


def _run(eng: PoseEngine, video: Path) -> list:
    return [eng.process(f.rgb, f.timestamp_ns) for f in read_video(video)]


def _assert_detector_only_after_loss(results: list) -> None:
    for i, r in enumerate(results):
        lost_before = i == 0 or not results[i - 1].poses
        assert r.detector_ran == lost_before, f"frame {i}: detector_ran={r.detector_ran}, lost before={lost_before}"


def test_squats_track_agrees_with_tfjs_reference(shared_data: Path) -> None:
    """Median keypoint error vs TensorFlow.js BlazePose-full ≤ 2.5 % of torso length (measured 2.0 %)."""
    ref = np.array(json.loads((shared_data / "golden/tfjs_pose_squats.full.json").read_text()))
    results = _run(engine(model="full"), shared_data / "videos/fitness_squats_tfjs.mp4")
    assert len(results) == ref.shape[0] == 65
    _assert_detector_only_after_loss(results)
    assert sum(r.detector_ran for r in results) == 1
    torso = np.linalg.norm((ref[:, 11, :2] + ref[:, 12, :2]) / 2 - (ref[:, 23, :2] + ref[:, 24, :2]) / 2, axis=1)
    errors = np.stack([np.linalg.norm(r.poses[0].xy_pixels(720, 1280) - ref[i, :, :2], axis=1) / torso[i]
                       for i, r in enumerate(results)])  # fmt: skip
    print(f"median error {100 * np.median(errors):.2f} % of torso")
    assert np.median(errors) <= 0.025


@pytest.mark.parametrize("video", ["dance_tfjs_pose_1.mp4", "two_people_hug.mp4"])
def test_detector_runs_only_after_loss(shared_data: Path, video: str) -> None:
    results = _run(engine(model="lite"), shared_data / "videos" / video)
    runs = sum(r.detector_ran for r in results)
    print(f"{video}: {len(results)} frames, detector runs {runs}, poses {sum(bool(r.poses) for r in results)}")
    _assert_detector_only_after_loss(results)
    assert runs < len(results) / 2


class _PoisonOnce:
    """Fault injection around the real landmark backend: NaN outputs on chosen calls."""

    def __init__(self, inner, poison_calls: set[int]) -> None:
        self.inner, self.poison_calls, self.calls = inner, poison_calls, 0
        self.name, self.path, self.inputs, self.outputs = inner.name, inner.path, inner.inputs, inner.outputs

    def run(self, x):
        self.calls += 1
        out = self.inner.run(x)
        return [np.full_like(o, np.nan) for o in out] if self.calls in self.poison_calls else out


def test_non_finite_output_drops_pose_and_redetects(shared_data: Path) -> None:
    eng = engine(model="lite")
    eng.landmarks.backend = _PoisonOnce(eng.landmarks.backend, {3})
    frames = list(read_video(shared_data / "videos/dance_tfjs_pose_1.mp4", max_frames=6))
    results = [eng.process(f.rgb, f.timestamp_ns) for f in frames]
    assert [bool(r.poses) for r in results] == [True, True, False, True, True, True]
    assert [r.detector_ran for r in results] == [True, False, False, True, False, False]
    for r in results:
        for p in r.poses:
            assert p.is_finite() and p.roi.is_finite()


def test_blank_frame_yields_no_pose() -> None:
    eng = engine(model="lite", static=True)
    assert eng.process(np.zeros((240, 320, 3), np.uint8)).poses == []


def test_model_of_the_wrong_kind_names_shapes() -> None:
    from edgepose.engine.landmarks import LandmarkModel
    from edgepose.inference.backends.base import BackendError
    from edgepose.inference.loading import create_backend

    models = require_float_models()
    expected = r"not a pose landmark model: input shape \[1, 224, 224, 3\], expected \[1, 256, 256, 3\]"
    with pytest.raises(BackendError, match=expected):
        LandmarkModel(create_backend(models / "float/pose_detection.tflite"))
    with pytest.raises(BackendError, match=r"not a pose detector model"):
        PoseDetector(create_backend(models / "float/pose_landmark_lite.tflite"))
