"""Empirical bias correction (bias_correction.py): only int32 biases change, deterministically, and it fixes a
bias the int8 graph does not have; bad input fails in one line before any work."""

from __future__ import annotations

import numpy as np
import pytest
from support.paths import MODELS_DIR

from edgepose.inference.tflite_schema import load_model_t, schema
from edgepose_dev.models_build.bias_correction import BiasCorrection, correct_biases
from edgepose_dev.models_build.errors import ModelBuildError
from edgepose_dev.models_build.float32 import rewrite_float32
from edgepose_dev.models_build.model_bytes import read_model_bytes
from edgepose_dev.models_build.quantize import score_head_tensors


@pytest.fixture(scope="module")
def detector() -> tuple[bytes, bytes]:
    float_path, int8_path = MODELS_DIR / "float" / "pose_detection.tflite", MODELS_DIR / "pose_detection_int8.tflite"
    if not float_path.is_file() or not int8_path.is_file():
        pytest.skip("detector files not present")
    return rewrite_float32(read_model_bytes(float_path))[0], int8_path.read_bytes()


def _buffers(data: bytes) -> list[np.ndarray]:
    return [np.asarray(b.data if b.data is not None else [], dtype=np.uint8) for b in load_model_t(data).buffers]


def _inputs(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.uniform(-1.0, 1.0, (1, 224, 224, 3)).astype(np.float32) for _ in range(n)]


def test_only_biases_change_and_the_result_is_deterministic(detector) -> None:
    f32, q = detector
    heads = score_head_tensors(f32)
    a, report = correct_biases(f32, q, _inputs(2), {t: 8.0 for t in heads}, mode="one-shot")
    b, _ = correct_biases(f32, q, _inputs(2), {t: 8.0 for t in heads}, mode="one-shot")
    assert a == b
    assert report.convs == 73 and report.classifier_convs == 3
    model = load_model_t(a)
    g = model.subgraphs[0]
    bias_buffers = {int(g.tensors[int(op.inputs[2])].buffer) for op in g.operators
                    if len(op.inputs) > 2 and op.inputs[2] >= 0
                    and g.tensors[int(op.inputs[2])].type == schema().TensorType.INT32}  # fmt: skip
    changed = {i for i, (x, y) in enumerate(zip(_buffers(q), _buffers(a), strict=True)) if not np.array_equal(x, y)}
    assert changed and changed <= bias_buffers


def test_leave_keeps_the_classifier_convs(detector) -> None:
    f32, q = detector
    heads = score_head_tensors(f32)
    _, report = correct_biases(f32, q, _inputs(1), mode="one-shot", leave=heads)
    assert report.convs == 70 and report.classifier_convs == 0


def test_bad_input_is_one_line() -> None:
    with pytest.raises(ModelBuildError, match="calibration frames"):
        BiasCorrection().inputs([])
    with pytest.raises(ModelBuildError, match="mode"):
        BiasCorrection(mode="twice")
    with pytest.raises(ModelBuildError, match="inputs"):
        correct_biases(b"", b"", [])
    assert len(BiasCorrection(frames=32).inputs(_inputs(1) * 100)) == 32


def test_a_corrected_conv_has_a_smaller_mean_error(detector) -> None:
    # The first conv sees no other correction, so measuring again on the corrected graph shows what its own did:
    # a correction of the wrong sign would double its error, a missing one leave it.
    f32, q = detector
    fixed, before = correct_biases(f32, q, _inputs(2), mode="one-shot")
    _, after = correct_biases(f32, fixed, _inputs(2), mode="one-shot")
    name, err_before = before.mean_abs_error[0]
    assert after.mean_abs_error[0][0] == name
    assert after.mean_abs_error[0][1] < 0.5 * err_before, (err_before, after.mean_abs_error[0][1])


def test_a_landmark_model_is_corrected_without_a_score_head() -> None:
    # Full's int8_mixed body (quantize.MIXED_BIAS_CORRECTION): no score head to look for, float convs (stem, heads)
    # have no int32 bias and are not counted; the detector's description keeps its manifest form.
    float_path = MODELS_DIR / "float" / "pose_landmark_full.tflite"
    mixed_path = MODELS_DIR / "pose_landmark_full_int8_mixed.tflite"
    if not float_path.is_file() or not mixed_path.is_file():
        pytest.skip("full landmark files not present")
    f32 = rewrite_float32(read_model_bytes(float_path))[0]
    rng = np.random.default_rng(2)
    crops = [rng.uniform(0.0, 1.0, (1, 256, 256, 3)).astype(np.float32) for _ in range(2)]
    step = BiasCorrection(frames=2, detector=False, max_convs=2)
    out, described = step.apply(f32, mixed_path.read_bytes(), crops)
    assert described["convs_corrected"] == 2 and described["classifier_convs_corrected"] == 0
    assert described["graph"] == "landmark model (no score head)" and "classifier_convs" not in described
    assert "classifier" not in str(described["measured_on"])
    assert out != mixed_path.read_bytes()
    assert set(BiasCorrection(frames=128).describe()) == {"frames", "mode", "classifier_convs"}
    with pytest.raises(ModelBuildError, match="not a detector"):
        BiasCorrection(frames=2, max_convs=1).apply(f32, mixed_path.read_bytes(), crops)
