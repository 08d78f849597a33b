"""Corrupt/truncated models and unusable calibration folders: one clear error, nothing in models/ replaced."""

from __future__ import annotations

import shutil
import sys

import cv2
import numpy as np
import pytest
from support.paths import MODELS_DIR

from edgepose_dev.models_build.build import build_models
from edgepose_dev.models_build.calibration import user_source
from edgepose_dev.models_build.edgetpu_check import check_edgetpu_form
from edgepose_dev.models_build.errors import ModelBuildError
from edgepose_dev.models_build.model_bytes import read_model_bytes

NAMES = ("pose_detection", "pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy")


def _float_path(name: str):
    p = MODELS_DIR / "float" / f"{name}.tflite"
    if not p.is_file():
        pytest.skip(f"float model {p} not fetched")
    return p


def test_truncated_model_error_names_the_file(tmp_path) -> None:
    src = _float_path("pose_landmark_lite").read_bytes()
    bad = tmp_path / "pose_landmark_lite.tflite"
    bad.write_bytes(src[: len(src) // 3])
    with pytest.raises(ModelBuildError, match="corrupt or truncated") as e:
        read_model_bytes(bad)
    assert str(bad) in str(e.value)
    with pytest.raises(ModelBuildError, match=str(bad)):
        check_edgetpu_form(bad)


def test_not_a_model_error_names_the_file(tmp_path) -> None:
    bad = tmp_path / "pose_detection.tflite"
    bad.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(ModelBuildError, match="not a TFLite model") as e:
        read_model_bytes(bad)
    assert str(bad) in str(e.value)


def test_missing_model_error_names_the_file(tmp_path) -> None:
    with pytest.raises(ModelBuildError, match="cannot read model"):
        read_model_bytes(tmp_path / "nope.tflite")


def _models_dir_with_sentinels(tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    sentinels = {f"{n}_int8.tflite": f"old {n}".encode() for n in NAMES}
    sentinels["manifest.json"] = b'{"old": true}'
    for name, data in sentinels.items():
        (out / name).write_bytes(data)
    return out, sentinels


def _assert_untouched(out, sentinels) -> None:
    assert {p.name for p in out.iterdir()} == set(sentinels)  # no .part files left behind
    for name, data in sentinels.items():
        assert (out / name).read_bytes() == data


def test_failed_build_on_corrupt_float_model_overwrites_nothing(tmp_path) -> None:
    float_dir = tmp_path / "float"
    float_dir.mkdir()
    for n in NAMES:
        shutil.copy(_float_path(n), float_dir / f"{n}.tflite")
    full = float_dir / "pose_landmark_full.tflite"
    full.write_bytes(full.read_bytes()[:100_000])
    out, sentinels = _models_dir_with_sentinels(tmp_path)
    calib = tmp_path / "calib"
    calib.mkdir()
    cv2.imwrite(str(calib / "frame.png"), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ModelBuildError, match=str(full)):
        build_models(float_dir, out, calibration_dir=calib)
    _assert_untouched(out, sentinels)


def test_model_of_the_wrong_kind_names_the_file(tmp_path) -> None:
    float_dir = tmp_path / "float"
    float_dir.mkdir()
    shutil.copy(_float_path("pose_landmark_lite"), float_dir / "pose_detection.tflite")  # wrong kind
    shutil.copy(_float_path("pose_landmark_full"), float_dir / "pose_landmark_full.tflite")
    out, sentinels = _models_dir_with_sentinels(tmp_path)
    calib = tmp_path / "calib"
    calib.mkdir()
    cv2.imwrite(str(calib / "frame.png"), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ModelBuildError, match=r"pose_detection.tflite is not a pose_detection model") as e:
        build_models(float_dir, out, calibration_dir=calib, models=("pose_detection",))
    assert "\n" not in str(e.value)
    _assert_untouched(out, sentinels)


def test_missing_quantizer_extra_is_one_line_naming_the_package(tmp_path, monkeypatch) -> None:
    float_dir = tmp_path / "float"
    float_dir.mkdir()
    for n in ("pose_detection", "pose_landmark_full"):
        shutil.copy(_float_path(n), float_dir / f"{n}.tflite")
    calib = tmp_path / "calib"
    calib.mkdir()
    cv2.imwrite(str(calib / "frame.png"), np.zeros((64, 64, 3), np.uint8))
    monkeypatch.setitem(sys.modules, "ai_edge_quantizer", None)  # as if the extra were not installed
    out, sentinels = _models_dir_with_sentinels(tmp_path)
    with pytest.raises(ModelBuildError, match=r"ai-edge-quantizer is not installed.*edgepose-dev\[quantize\]") as e:
        build_models(float_dir, out, calibration_dir=calib, models=("pose_detection",))
    assert "\n" not in str(e.value)
    _assert_untouched(out, sentinels)


def test_calibration_folder_without_people_fails_cleanly(tmp_path) -> None:
    pytest.importorskip("ai_edge_quantizer", reason="needs the quantize extra (the check runs after it)")
    float_dir = tmp_path / "float"
    float_dir.mkdir()
    for n in ("pose_detection", "pose_landmark_lite", "pose_landmark_full"):
        shutil.copy(_float_path(n), float_dir / f"{n}.tflite")
    calib = tmp_path / "empty_room"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(calib / f"wall_{i}.png"), np.full((120, 160, 3), 90 + 40 * i, np.uint8))
    cv2.imwrite(str(calib / "noise.png"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    out, sentinels = _models_dir_with_sentinels(tmp_path)
    with pytest.raises(ModelBuildError, match="no person found") as e:
        build_models(float_dir, out, calibration_dir=calib, models=("pose_detection", "pose_landmark_lite"))
    assert str(calib) in str(e.value)
    _assert_untouched(out, sentinels)


def test_calibration_folder_errors(tmp_path) -> None:
    with pytest.raises(ModelBuildError, match="does not exist"):
        user_source(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("no frames here")
    with pytest.raises(ModelBuildError, match="has no images"):
        user_source(tmp_path)
