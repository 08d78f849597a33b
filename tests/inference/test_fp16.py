"""The fp16 form of MediaPipe's float landmark files (edgepose.inference.fp16): what is patched, that it loads and
computes the float model's results (to fp16 precision where the CPU computes in fp16: under qemu as a Pi 5,
docs/pi.md), and that the detector, which has no fp16 form, is refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from support.engine import engine, read_rgb, require_float_models
from support.paths import skimage_photo

from edgepose.inference.backends.base import BackendError
from edgepose.inference.fp16 import FP16, SHIPPED, Fp16Unavailable, fp16_model
from edgepose.inference.loading import create_backend
from edgepose.inference.pruning import is_mask_output


@pytest.mark.parametrize("model", ["lite", "full", "heavy"])
def test_landmark_files_declare_fp16_with_fp32_accumulation_and_get_fp16(model: str) -> None:
    content = (require_float_models() / f"float/pose_landmark_{model}.tflite").read_bytes()
    patched = fp16_model(content)
    assert content.count(SHIPPED) == 1 and patched.count(FP16) == 1 and SHIPPED not in patched
    assert len(patched) == len(content)
    assert sum(a != b for a, b in zip(content, patched, strict=True)) == 2  # "32" -> "16"


def test_fp16_form_computes_the_float_results() -> None:
    path = require_float_models() / "float/pose_landmark_lite.tflite"
    ref = create_backend(path, drop_outputs=is_mask_output)
    half = create_backend(path, drop_outputs=is_mask_output, fp16=True)
    x = np.random.default_rng(0).uniform(0, 1, ref.inputs[0].shape).astype(np.float32)
    for a, b in zip(ref.run(x), half.run(x), strict=True):
        np.testing.assert_allclose(b, a, rtol=2e-2, atol=2e-2 * float(np.abs(a).max()))


def test_detector_has_no_fp16_form() -> None:
    path = require_float_models() / "float/pose_detection.tflite"
    with pytest.raises(Fp16Unavailable):
        fp16_model(path.read_bytes())
    with pytest.raises(BackendError, match="no fp16 form"):
        create_backend(path, fp16=True)


def test_engine_with_fp16_precision_finds_the_astronaut() -> None:
    e = engine(model="lite", precision="fp16", static=True)
    assert e.precision is not None and (e.precision.detector, e.precision.landmark) == ("float", "fp16")
    poses = e.process(read_rgb(skimage_photo("astronaut.png")), 0)
    assert len(poses.poses) == 1
