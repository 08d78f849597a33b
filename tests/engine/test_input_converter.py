"""uint8 crop → model input without the float round trip: identical to quantizing the float tensor."""

from __future__ import annotations

import numpy as np
import pytest
from support.engine import engine, read_rgb
from support.paths import MODELS_DIR, skimage_photo

from edgepose.engine.detector import detector_input
from edgepose.engine.image_to_tensor import InputConverter, to_float
from edgepose.engine.landmarks import landmark_input
from edgepose.inference.backends.cpu import InterpreterBackend


@pytest.mark.parametrize(
    ("name", "low"), [("pose_detection_int8.tflite", -1.0), ("pose_landmark_lite_int8.tflite", 0.0)]
)
def test_table_equals_quantizing_the_floats(name: str, low: float) -> None:
    spec = InterpreterBackend(MODELS_DIR / name, threads=1).inputs[0]
    assert spec.quantized
    convert = InputConverter(spec, low, 1.0)
    every_byte = np.arange(256, dtype=np.uint8).reshape(1, 1, 256)
    rgb = read_rgb(skimage_photo("astronaut.png"))
    for u8 in (every_byte, np.ascontiguousarray(rgb[:256, :256])):
        got = convert(u8)
        assert got.dtype == spec.dtype and got.shape == (1, *u8.shape)
        np.testing.assert_array_equal(got, spec.quantize(to_float(u8, low, 1.0)))
    # Not the identity or a constant: all 256 bytes land on at least 200 distinct codes.
    assert len(np.unique(convert(every_byte))) >= 200


def test_float_model_gets_the_floats() -> None:
    from support.engine import require_float_models

    spec = InterpreterBackend(require_float_models() / "float/pose_landmark_lite.tflite", threads=1).inputs[0]
    u8 = np.arange(256 * 3, dtype=np.uint16).astype(np.uint8).reshape(16, 16, 3)
    np.testing.assert_array_equal(InputConverter(spec, 0.0, 1.0)(u8), to_float(u8, 0.0, 1.0))


@pytest.mark.parametrize("precision", ["int8", "float"])
def test_engine_stages_equal_the_float_tensor_path(precision: str) -> None:
    """The engine's own input path gives exactly what the float tensors (quantized in the backend) give."""
    e = engine(model="lite", precision=precision, static=True)
    rgb = read_rgb(skimage_photo("astronaut.png"))
    tensor, letterbox = detector_input(rgb)
    via_floats = e.detector.detect_tensor(tensor, letterbox)
    direct = e.detector.detect(rgb)
    np.testing.assert_array_equal(direct.keypoints, via_floats.keypoints)
    np.testing.assert_array_equal(direct.scores, via_floats.scores)
    roi = e.process(rgb).poses[0].roi
    a = e.landmarks.run_tensor(*landmark_input(rgb, roi), roi, rgb.shape[1], rgb.shape[0]).pose
    b = e.landmarks.run(rgb, roi).pose
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.world, b.world)


def test_quantized_input_of_another_width_names_the_model() -> None:
    from edgepose.inference.backends.base import BackendError, TensorSpec

    spec = TensorSpec(0, "input", (1, 224, 224, 3), np.dtype(np.int16), 0.01, 0)  # a 16x8 model's input
    with pytest.raises(BackendError, match=r"odd\.tflite: quantized input of type int16 \(expected int8 or uint8\)"):
        InputConverter(spec, -1.0, 1.0, model="odd.tflite")
