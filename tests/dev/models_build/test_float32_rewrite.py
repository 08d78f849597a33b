"""The float32 rewrite folds fp16 DEQUANTIZE and sparse DENSIFY constants and computes exactly the same."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support.paths import MODELS_DIR, skimage_photo

from edgepose.engine.detector import detector_input
from edgepose.inference.tflite_schema import load_model_t
from edgepose_dev.models_build.errors import ModelBuildError
from edgepose_dev.models_build.float32 import SIGNATURE_KEY, rewrite_float32, verify_rewrite
from edgepose_dev.models_build.quantize import op_counts, tensor_types


def _float(name: str) -> bytes:
    path = MODELS_DIR / "float" / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"float model {path} not fetched (edgepose models fetch)")
    return path.read_bytes()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(skimage_photo("astronaut.png"))), cv2.COLOR_BGR2RGB)


def test_detector_rewrite_is_bit_exact_on_a_real_photo(astronaut) -> None:
    src = _float("pose_detection")
    assert op_counts(src)["DENSIFY"] > 0  # sparse weights in the original
    out, report = rewrite_float32(src)
    assert report.folded_ops == {"DEQUANTIZE": 144, "DENSIFY": 38}
    assert "DEQUANTIZE" not in report.remaining_ops and "DENSIFY" not in report.remaining_ops
    assert set(tensor_types(out)) == {"FLOAT32", "INT32"}
    tensor, _ = detector_input(astronaut)
    check = verify_rewrite(src, out, [tensor, tensor[:, ::-1].copy()])
    assert check.bit_exact and check.max_abs_diff == 0.0


def test_landmark_rewrite_has_signature_and_same_outputs(astronaut) -> None:
    src = _float("pose_landmark_lite")
    out, report = rewrite_float32(src)
    assert report.folded_ops == {"DEQUANTIZE": 176}
    sig = load_model_t(out).signatureDefs[0]
    assert sig.signatureKey.decode() == SIGNATURE_KEY
    assert [m.name.decode() for m in sig.inputs] == ["input_1"]
    assert len(sig.outputs) == 5
    crop = cv2.resize(astronaut, (256, 256)).astype(np.float32)[None] / 255.0
    check = verify_rewrite(src, out, [crop])
    assert check.max_abs_diff <= 1e-6


def test_verify_rewrite_rejects_a_different_model(astronaut) -> None:
    lite, _ = rewrite_float32(_float("pose_landmark_lite"))
    full = _float("pose_landmark_full")
    crop = cv2.resize(astronaut, (256, 256)).astype(np.float32)[None] / 255.0
    with pytest.raises(ModelBuildError, match="differs from the original"):
        verify_rewrite(full, lite, [crop])
