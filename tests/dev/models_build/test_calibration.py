"""Calibration samples look like the runtime's inputs: letterboxed [-1, 1] detector frames, [0, 1] crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.paths import MODELS_DIR

from edgepose_dev.models_build.calibration import build_calibration_set, default_source
from edgepose_dev.models_build.float32 import rewrite_float32


@pytest.fixture(scope="module")
def float32_models(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("f32")
    paths = {}
    for name in ("pose_detection", "pose_landmark_full"):
        src = MODELS_DIR / "float" / f"{name}.tflite"
        if not src.is_file():
            pytest.skip(f"float model {src} not fetched")
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(rewrite_float32(src.read_bytes())[0])
    return paths


def test_default_source_holds_out_the_annotated_photos(shared_data) -> None:
    source = default_source(shared_data)
    rel = [str(p.relative_to(shared_data)) for p in source.files]
    assert rel and not any(r.startswith("images/annotated") for r in rel)
    assert any(r.startswith("videos/") for r in rel)
    assert len(source.sha256()) == 64


def test_calibration_samples_match_runtime_inputs(shared_data, float32_models, tmp_path) -> None:
    # One landscape photo with one person: fast, and its letterbox has -1 padding rows.
    (tmp_path / "pose.jpg").write_bytes((shared_data / "images/unannotated/tfjs/pose.jpg").read_bytes())
    from edgepose_dev.models_build.calibration import user_source

    cset = build_calibration_set(
        user_source(tmp_path), float32_models["pose_detection"], float32_models["pose_landmark_full"]
    )
    assert cset.frames == 1 and cset.frames_with_person == 1
    det = cset.detector[0]
    assert det.shape == (1, 224, 224, 3) and det.dtype == np.float32
    assert det.min() >= -1.0 and det.max() <= 1.0
    assert np.all(det[0, 0] == -1.0) and np.all(det[0, -1] == -1.0)  # 1000x667: padding top and bottom
    assert len(cset.landmark) == 2  # detector ROI + tracked ROI
    for crop in cset.landmark:
        assert crop.shape == (1, 256, 256, 3) and 0.0 <= crop.min() and crop.max() <= 1.0
        assert crop.std() > 0.05  # a real picture, not padding


def test_each_model_calibrates_on_the_set_its_shipped_files_were_built_on(shared_data) -> None:
    """The named sets give the hashes in the shipped manifest (docs/int8.md "Reproducibility"): lite and heavy on
    "people" (no presence clips), the detector and full on "all"."""
    from edgepose.model_manifest import load_manifest
    from edgepose_dev.models_build.quantize import calibration_set_for

    people, everything = default_source(shared_data, subset="people"), default_source(shared_data, subset="all")
    clips = [f for f in everything.files if f.is_relative_to(shared_data / "videos" / "presence")]
    assert clips and not set(clips) & set(people.files)
    assert set(people.files) | set(clips) == set(everything.files)
    shipped = load_manifest(MODELS_DIR).models
    hashes = {"people": people.sha256(), "all": everything.sha256()}
    for key in ("pose_detection", "pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy",
                "pose_landmark_lite_mixed", "pose_landmark_heavy_edgetpu_stem"):  # fmt: skip
        model = key.removesuffix("_mixed").removesuffix("_edgetpu_stem")
        calibration = shipped[key].recipe["calibration"]
        assert calibration["set"] == calibration_set_for(model), key
        assert calibration["sha256"] == hashes[calibration["set"]], key


def test_an_unknown_calibration_set_is_named_in_the_error(shared_data) -> None:
    from edgepose_dev.models_build.errors import ModelBuildError

    with pytest.raises(ModelBuildError, match="unknown calibration set 'people2'"):
        default_source(shared_data, subset="people2")


def test_augmented_crops_follow_their_crop_and_stay_in_range() -> None:
    from edgepose_dev.models_build.calibration import augment_crops

    rng = np.random.default_rng(1)
    crops = [rng.uniform(0, 1, (1, 256, 256, 3)).astype(np.float32) for _ in range(3)]
    out = augment_crops(crops, ("flip", "photometric"))
    assert len(out) == 9
    for i, c in enumerate(crops):
        original, flipped, jittered = out[3 * i : 3 * i + 3]
        assert original is c
        np.testing.assert_array_equal(flipped[0, :, 0], c[0, :, -1])  # mirrored left-right
        assert jittered.dtype == np.float32 and jittered.shape == c.shape
        assert 0.0 <= jittered.min() and jittered.max() <= 1.0 and not np.array_equal(jittered, c)
    again = augment_crops(crops, ("flip", "photometric"))  # seeded: a rebuild gets the same crops
    assert all(np.array_equal(a, b) for a, b in zip(out, again, strict=True))


def test_an_unknown_augmentation_is_named_in_the_error() -> None:
    from edgepose_dev.models_build.calibration import augment_crops
    from edgepose_dev.models_build.errors import ModelBuildError

    with pytest.raises(ModelBuildError, match="unknown augmentation rotate; choose from flip, photometric"):
        augment_crops([], ("flip", "rotate"))
