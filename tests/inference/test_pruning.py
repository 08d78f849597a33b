"""Dropping the segmentation head: the kept outputs are bit-identical, the mask is gone, bad files still fail
with the file's name, and the engine drops the head exactly when no mask is wanted."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from support.engine import engine, read_rgb, require_float_models
from support.paths import MODELS_DIR, skimage_photo

from edgepose.engine.landmarks import landmark_input
from edgepose.inference.backends.base import BackendError
from edgepose.inference.backends.cpu import InterpreterBackend, load_runtime
from edgepose.inference.pruning import PruningUnavailable, is_mask_output, prune_outputs
from edgepose.pose import Roi

LANDMARK_FILES = [
    "float/pose_landmark_lite.tflite",
    "float/pose_landmark_full.tflite",
    "pose_landmark_lite_int8.tflite",
    "pose_landmark_full_int8_mixed.tflite",
]


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A real 256² landmark input: the astronaut, centred ROI over her upper body."""
    rgb = read_rgb(skimage_photo("astronaut.png"))
    tensor, _ = landmark_input(rgb, Roi.from_values(0.5, 0.5, 1.0, 1.0, 0.0))
    return tensor


@pytest.mark.parametrize("name", LANDMARK_FILES)
def test_kept_outputs_are_bit_identical_and_the_mask_is_gone(name: str, crop: np.ndarray) -> None:
    path = require_float_models() / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    whole = InterpreterBackend(path, threads=1)
    pruned = InterpreterBackend(path, threads=1, drop_outputs=is_mask_output)
    assert any(is_mask_output(o.shape) for o in whole.outputs)
    assert not any(is_mask_output(o.shape) for o in pruned.outputs)
    assert pruned.pruned is not None and pruned.pruned.removed_ops >= 20
    assert pruned.pruned.dropped_outputs == ((1, 256, 256, 1),)
    a = {o.shape: v for o, v in zip(whole.outputs, whole.run(crop), strict=True)}
    b = {o.shape: v for o, v in zip(pruned.outputs, pruned.run(crop), strict=True)}
    assert sorted(b) == sorted(s for s in a if not is_mask_output(s))
    for shape, values in b.items():
        np.testing.assert_array_equal(values, a[shape], err_msg=f"{name} output {shape}")
    assert float(b[(1, 1)].reshape(-1)[0]) > 0.5  # a person really is in the crop: the values are not trivial


def test_pruned_model_keeps_a_consistent_signature() -> None:
    path = MODELS_DIR / "pose_landmark_lite_int8.tflite"
    content, report = prune_outputs(path.read_bytes(), is_mask_output)
    it = load_runtime().Interpreter(model_content=content)
    runner = it.get_signature_runner()  # fails if the signature still names a dropped or renumbered tensor
    out = runner(**{next(iter(it.get_signature_list()["serving_default"]["inputs"])):
                    np.zeros((1, 256, 256, 3), np.int8)})  # fmt: skip
    assert sorted(v.shape for v in out.values()) == sorted([(1, 195), (1, 1), (1, 64, 64, 39), (1, 117)])
    assert len(content) < path.stat().st_size and report.kept_ops > 0


def test_a_model_without_such_output_is_loaded_whole() -> None:
    det = MODELS_DIR / "pose_detection_int8.tflite"
    with pytest.raises(PruningUnavailable, match="no output to drop"):
        prune_outputs(det.read_bytes(), is_mask_output)
    b = InterpreterBackend(det, threads=1, drop_outputs=is_mask_output)
    assert b.pruned is None and len(b.outputs) == 2


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_file_is_named_in_the_error(tmp_path: Path, damage: str) -> None:
    data = (MODELS_DIR / "pose_landmark_lite_int8.tflite").read_bytes()
    bad = tmp_path / "pose_landmark_lite_int8.tflite"
    bad.write_bytes(data[: len(data) // 3] if damage == "truncated" else data[:8] + bytes(4096))
    with pytest.raises(BackendError, match=r"pose_landmark_lite_int8\.tflite is not a loadable TFLite model"):
        InterpreterBackend(bad, threads=1, drop_outputs=is_mask_output)


@pytest.mark.parametrize("segmentation", [False, True])
def test_engine_drops_the_head_only_without_a_mask(segmentation: bool) -> None:
    e = engine(model="lite", precision="float", static=True, segmentation=segmentation)
    has_mask = any(is_mask_output(o.shape) for o in e.landmarks.backend.outputs)
    assert has_mask is segmentation
    rgb = read_rgb(skimage_photo("astronaut.png"))
    result = e.process(rgb)
    assert len(result.poses) == 1
    assert (result.poses[0].segmentation is not None) is segmentation


def test_without_the_schema_module_the_whole_model_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """tflite-runtime ships no flatbuffer schema: the model loads whole instead of failing."""
    monkeypatch.setitem(sys.modules, "ai_edge_litert.schema_py_generated", None)  # makes the import fail
    path = MODELS_DIR / "pose_landmark_lite_int8.tflite"
    with pytest.raises(PruningUnavailable, match="no TFLite schema module"):
        prune_outputs(path.read_bytes(), is_mask_output)
    b = InterpreterBackend(path, threads=1, drop_outputs=is_mask_output)
    assert b.pruned is None and any(is_mask_output(o.shape) for o in b.outputs)
