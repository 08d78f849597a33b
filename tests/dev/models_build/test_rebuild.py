"""rebuild.compare_rebuild: calibration rounding is told apart from a changed graph, weight or calibration."""

from __future__ import annotations

import numpy as np
import pytest
from support.paths import MODELS_DIR

from edgepose.inference.tflite_schema import load_model_t, pack_model_t, tensor_type_names
from edgepose_dev.models_build.rebuild import compare_rebuild

_SHIPPED = MODELS_DIR / "pose_landmark_lite_int8_mixed.tflite"
_INT8 = next(k for k, v in tensor_type_names().items() if v == "INT8")
_INT32 = next(k for k, v in tensor_type_names().items() if v == "INT32")


@pytest.fixture(scope="module")
def shipped() -> bytes:
    if not _SHIPPED.is_file():
        pytest.skip(f"{_SHIPPED} is missing")
    return _SHIPPED.read_bytes()


def _constant(model, dtype: int):
    """The first tensor of `dtype` with an inline constant buffer."""
    return next(t for t in model.subgraphs[0].tensors
                if t.type == dtype and model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data))


def _largest_bias(model):
    """The int32 constant with the largest |value| (a relative change of 2e-4 moves it by several units)."""
    ts = [t for t in model.subgraphs[0].tensors if t.type == _INT32 and model.buffers[t.buffer].data is not None
          and len(model.buffers[t.buffer].data)]
    return max(ts, key=lambda t: int(np.abs(np.frombuffer(bytes(model.buffers[t.buffer].data), np.int32)).max()))


def _activation(model):
    """The first int8 tensor with one scale and no constant (an activation)."""
    return next(t for t in model.subgraphs[0].tensors if t.type == _INT8 and t.quantization is not None
                and t.quantization.scale is not None and len(t.quantization.scale) == 1
                and (model.buffers[t.buffer].data is None or not len(model.buffers[t.buffer].data)))


def _changed(data: bytes, change) -> bytes:
    model = load_model_t(data)
    change(model)
    return pack_model_t(model)


def test_the_same_file_is_identical(shipped: bytes) -> None:
    d = compare_rebuild(shipped, shipped)
    assert d.identical and d.within(0.0, 0, 0.0)


def test_calibration_rounding_is_within_and_a_changed_range_is_not(shipped: bytes) -> None:
    def scale_by(f: float):
        def change(model) -> None:
            t = _activation(model)
            t.quantization.scale = np.asarray(t.quantization.scale, np.float32) * np.float32(f)
            b = model.buffers[_largest_bias(model).buffer]
            v = np.frombuffer(bytes(b.data), np.int32).astype(np.int64)
            b.data = np.frombuffer((v + np.sign(v) * (np.abs(v) * (f - 1)).astype(np.int64)).astype(np.int32)
                                   .tobytes(), np.uint8)
        return change

    rounding = compare_rebuild(_changed(shipped, scale_by(1 + 2e-4)), shipped)
    assert not rounding.identical and not rounding.structure
    assert rounding.scales_differing == 1 and rounding.biases_differing == 1
    assert rounding.max_scale_rel == pytest.approx(2e-4, rel=0.05) and rounding.within(2e-3, 1, 2e-3)
    other_range = compare_rebuild(_changed(shipped, scale_by(1.05)), shipped)
    assert not other_range.structure and not other_range.within(2e-3, 1, 2e-3)


def test_a_changed_weight_or_graph_is_structure(shipped: bytes) -> None:
    def weight(model) -> None:
        b = model.buffers[_constant(model, _INT8).buffer]
        w = np.array(b.data, np.uint8)
        w[0] ^= 1
        b.data = w

    def graph(model) -> None:
        model.subgraphs[0].operators = model.subgraphs[0].operators[:-1]

    for change in (weight, graph):
        d = compare_rebuild(_changed(shipped, change), shipped)
        assert d.structure and not d.within(1.0, 255, 1.0), change.__name__
