"""Edge TPU form check: float models fail naming float tensors; the int8 models pass and list CPU ops."""

from __future__ import annotations

import pytest
from support.paths import MODELS_DIR

from edgepose_dev.models_build.edgetpu_check import check_edgetpu_form, compiler_command, compiler_command_text


def _path(rel: str):
    p = MODELS_DIR / rel
    if not p.is_file():
        pytest.skip(f"{p} not present")
    return p


def test_float_model_is_not_compilable_and_names_float_tensors() -> None:
    report = check_edgetpu_form(_path("float/pose_landmark_lite.tflite"))
    assert not report.compilable
    assert "input_1" in report.float_tensors
    assert "NOT Edge-TPU-compilable" in report.summary()
    assert "float tensors" in report.summary()


def test_int8_landmark_model_is_fully_integer_and_static() -> None:
    report = check_edgetpu_form(_path("pose_landmark_full_int8.tflite"))
    assert report.compilable, report.summary()
    assert report.float_tensors == [] and report.dynamic_shapes == []
    assert report.unsupported_ops == []
    assert report.fully_mapped


def test_int8_detector_lists_depth_to_space_as_cpu_op() -> None:
    report = check_edgetpu_form(_path("pose_detection_int8.tflite"))
    assert report.compilable, report.summary()
    assert report.unsupported_ops == ["DEPTH_TO_SPACE"]
    assert report.cpu_ops[0].endswith(":DEPTH_TO_SPACE")
    assert 0 < len(report.cpu_ops) < report.ops_total


def test_compiler_command_compiles_detector_and_landmarks_together(tmp_path) -> None:
    det, lm = tmp_path / "pose_detection_int8.tflite", tmp_path / "pose_landmark_full_int8.tflite"
    cmd = compiler_command([det, lm], tmp_path)
    assert cmd[0] == "edgetpu_compiler"
    assert cmd[-2:] == [str(det), str(lm)]
    assert "-o" in cmd and str(tmp_path) in compiler_command_text([det, lm], tmp_path)
