"""The Edge TPU form of the landmark models (edgetpu_split): the shipped split files are what the recipe's
int8_mixed file gives, the body is Edge-TPU-compilable with nothing for the CPU, and its op versions are the TF
converter's."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.engine import require_float_models
from support.paths import MODELS_DIR

from edgepose.inference.chain import split_files
from edgepose.inference.tflite_schema import load_model_t, op_names
from edgepose.model_manifest import load_manifest
from edgepose_dev.models_build.edgetpu_check import check_edgetpu_form
from edgepose_dev.models_build.edgetpu_split import split_mixed
from edgepose_dev.models_build.errors import ModelBuildError

MODELS = ("lite", "full", "heavy")


def _files(model: str):
    files = split_files(MODELS_DIR, f"pose_landmark_{model}_int8.tflite")
    assert files is not None, f"the Edge TPU form of {model} is not shipped (models build --edgetpu-inputs-only)"
    return files


@pytest.mark.parametrize("model", MODELS)
def test_shipped_split_is_the_cut_of_the_shipped_mixed_file(model: str) -> None:
    """Deterministic: cutting the int8_mixed file again gives the shipped parts byte for byte."""
    files = _files(model)
    split = split_mixed((MODELS_DIR / f"pose_landmark_{model}_int8_mixed.tflite").read_bytes())
    assert split.body == files.body.read_bytes()
    assert split.heads == files.heads.read_bytes()
    assert (split.stem is None) == (files.stem is None)
    if files.stem is not None:
        assert split.stem == files.stem.read_bytes()


@pytest.mark.parametrize("model", MODELS)
def test_body_is_edgetpu_form_with_no_cpu_op(model: str) -> None:
    report = check_edgetpu_form(_files(model).body)
    assert report.fully_mapped, report.summary()
    assert report.ops_total > 50


def test_stems_follow_the_recipe() -> None:
    """lite and heavy keep their stem float (MIXED_FLOAT); a model whose stem is int8 has no stem file."""
    from edgepose_dev.models_build.quantize import MIXED_FLOAT

    for model in MODELS:
        assert (_files(model).stem is not None) == MIXED_FLOAT[f"pose_landmark_{model}"][0], model


def test_manifest_compiler_command_covers_the_bodies() -> None:
    cmd = load_manifest(MODELS_DIR).edgetpu_compiler_command
    assert cmd.startswith("edgetpu_compiler -s -o models models/edgetpu_src/pose_detection_int8.tflite ")
    for model in MODELS:
        assert f"models/edgetpu_src/pose_landmark_{model}_int8_body.tflite" in cmd


def _versions(path: Path) -> dict[str, set[int]]:
    model = load_model_t(path.read_bytes())
    out: dict[str, set[int]] = {}
    for name, op in zip(op_names(model), model.subgraphs[0].operators, strict=True):
        out.setdefault(name, set()).add(int(model.operatorCodes[op.opcodeIndex].version))
    return out


def test_op_versions_are_the_converters() -> None:
    """op_version.cc: int8 CONV_2D/DEPTHWISE_CONV_2D 3, int8 ADD/PAD/MAX_POOL_2D 2, half-pixel RESIZE_BILINEAR 3;
    the float parts 1, DEQUANTIZE of int8 2 (ai-edge-quantizer leaves every op at the float model's version)."""
    files = _files("lite")
    body = _versions(files.body)
    assert body == {"CONV_2D": {3}, "DEPTHWISE_CONV_2D": {3}, "ADD": {2}, "PAD": {2}, "MAX_POOL_2D": {2},
                    "RESIZE_BILINEAR": {3}}  # fmt: skip
    heads = _versions(files.heads)
    assert heads["DEQUANTIZE"] == {2} and heads["CONV_2D"] == {1} and heads["LOGISTIC"] == {1}
    stem = _versions(files.stem)
    assert stem["QUANTIZE"] == {1} and stem["CONV_2D"] == {1}
    detector = _versions(MODELS_DIR / "edgetpu_src/pose_detection_int8.tflite")
    assert detector == {"CONV_2D": {3}, "DEPTHWISE_CONV_2D": {3}, "ADD": {2}, "PAD": {2}, "CONCATENATION": {2},
                        "RESHAPE": {1}, "QUANTIZE": {1}, "TRANSPOSE_CONV": {3}, "RESIZE_BILINEAR": {3}}  # fmt: skip


def test_body_runs_resizes_last() -> None:
    """Everything that does not depend on a RESIZE_BILINEAR comes first, so a compiler that refuses the
    half-pixel resize only leaves the decoder on the CPU."""
    names = op_names(load_model_t(_files("full").body.read_bytes()))
    first = names.index("RESIZE_BILINEAR")
    assert first > len(names) * 0.8, (first, len(names))


def test_a_float_model_is_refused() -> None:
    with pytest.raises(ModelBuildError, match="no int8 ops"):
        split_mixed((require_float_models() / "float/pose_landmark_lite.tflite").read_bytes())


def test_build_step_stages_verified_split_files(tmp_path: Path) -> None:
    """The build's split step on real photos: the stem/heads under the runtime names, the body in edgetpu_src/,
    the chain checked bit-identical to the mixed file, the body fully mapped, the manifest keys the tests expect."""
    import cv2
    import numpy as np
    from support.paths import skimage_photo

    from edgepose_dev.models_build.build import edgetpu_split

    mixed = load_manifest(MODELS_DIR).models["pose_landmark_lite_mixed"]
    rgb = cv2.cvtColor(cv2.imread(str(skimage_photo("astronaut.png"))), cv2.COLOR_BGR2RGB)
    samples = [(cv2.resize(rgb, (256, 256)).astype(np.float32) / 255.0)[None]]
    out = edgetpu_split("pose_landmark_lite", MODELS_DIR / mixed.file, mixed, tmp_path, samples)
    assert {k: e.file for k, (e, _) in out.items()} == {
        "pose_landmark_lite_edgetpu_stem": "pose_landmark_lite_int8_stem.tflite",
        "pose_landmark_lite_edgetpu_body_edgetpu_src": "edgetpu_src/pose_landmark_lite_int8_body.tflite",
        "pose_landmark_lite_edgetpu_heads": "pose_landmark_lite_int8_heads.tflite",
    }
    body, path = out["pose_landmark_lite_edgetpu_body_edgetpu_src"]
    assert body.verification["chain_bit_identical_to"] == mixed.file and body.verification["inputs"] == 1
    assert body.edgetpu["fully_mapped"] and body.sha256 == load_manifest(MODELS_DIR).models[
        "pose_landmark_lite_edgetpu_body_edgetpu_src"].sha256  # fmt: skip
    assert path.read_bytes() == (MODELS_DIR / body.file).read_bytes()
