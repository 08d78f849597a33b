"""The int8 models shipped in models/ are the ones models/manifest.json describes, and they load and run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.paths import MODELS_DIR

from edgepose.model_files import sha256_file
from edgepose.model_manifest import check_manifest, load_manifest
from edgepose_dev.models_build.verify import QuantModel

EXPECTED = {"pose_detection", "pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy"}
MIXED = {"pose_landmark_lite_mixed", "pose_landmark_full_mixed", "pose_landmark_heavy_mixed"}
EDGETPU_SRC = {"pose_detection_edgetpu_src"}  # the detector as the Edge TPU compiler gets it (build.py)
# The landmark models' Edge TPU form (build.edgetpu_split): body (compiler input) and heads for each; a stem for the
# models whose recipe keeps the stem float (quantize.MIXED_FLOAT).
SPLIT_BODIES = {f"pose_landmark_{m}_edgetpu_body_edgetpu_src" for m in ("lite", "full", "heavy")}
SPLIT_REQUIRED = SPLIT_BODIES | {f"pose_landmark_{m}_edgetpu_heads" for m in ("lite", "full", "heavy")}
SPLIT_STEMS = {f"pose_landmark_{m}_edgetpu_stem" for m in ("lite", "full", "heavy")}


@pytest.fixture(scope="module")
def manifest():
    if not (MODELS_DIR / "manifest.json").is_file():
        pytest.fail(f"{MODELS_DIR / 'manifest.json'} is missing: the int8 models must be shipped")
    return load_manifest(MODELS_DIR)


def test_manifest_lists_every_int8_model(manifest) -> None:
    split = set(manifest.models) - EXPECTED - MIXED - EDGETPU_SRC
    assert SPLIT_REQUIRED <= split <= SPLIT_REQUIRED | SPLIT_STEMS
    assert manifest.models["pose_detection_edgetpu_src"].file == "edgetpu_src/pose_detection_int8.tflite"
    for name in split:
        model, part = name.removesuffix("_edgetpu_src").split("_edgetpu_")
        folder = "edgetpu_src/" if part == "body" else ""
        assert manifest.models[name].file == f"{folder}{model}_int8_{part}.tflite"
        assert manifest.models[name].recipe["name"] == "int8_mixed"
    for name, entry in manifest.models.items():
        if name in EDGETPU_SRC | split:
            continue
        assert entry.file == (f"{name}_int8.tflite" if name in EXPECTED else f"{name[:-6]}_int8_mixed.tflite")
        assert entry.recipe["name"] == ("int8" if name in EXPECTED else "int8_mixed")
        assert entry.float32_rewrite["bit_exact"] or entry.float32_rewrite["max_abs_diff"] <= 1e-6
        assert len(manifest.calibration["sha256"]) == 64


def test_shipped_files_match_manifest(manifest) -> None:
    assert check_manifest(MODELS_DIR) == {}
    for entry in manifest.models.values():
        assert sha256_file(MODELS_DIR / entry.file) == entry.sha256
        assert (MODELS_DIR / entry.file).stat().st_size == entry.size


def test_manifest_float_sources_match_float_models(manifest) -> None:
    for entry in manifest.models.values():
        src = MODELS_DIR / entry.source["file"]
        if not src.is_file():
            pytest.skip(f"float model {src} not fetched")
        assert sha256_file(src) == entry.source["sha256"]


def test_check_manifest_detects_a_changed_file(manifest, tmp_path) -> None:
    for entry in manifest.models.values():
        (tmp_path / entry.file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / entry.file).write_bytes((MODELS_DIR / entry.file).read_bytes())
    (tmp_path / "manifest.json").write_text((MODELS_DIR / "manifest.json").read_text())
    victim = manifest.models["pose_landmark_lite"].file
    data = bytearray((tmp_path / victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / victim).write_bytes(bytes(data))
    problems = check_manifest(tmp_path)
    assert list(problems) == ["pose_landmark_lite"]
    assert victim in problems["pose_landmark_lite"]


@pytest.mark.parametrize("name", sorted(EXPECTED | MIXED | EDGETPU_SRC))
def test_int8_model_loads_and_runs_on_litert(manifest, name) -> None:
    model = QuantModel(MODELS_DIR / manifest.models[name].file)
    assert model._in["dtype"] == np.int8
    detector = name.startswith("pose_detection")
    size = 224 if detector else 256
    low = -1.0 if detector else 0.0
    x = np.random.default_rng(0).uniform(low, 1.0, (1, size, size, 3)).astype(np.float32)
    out = model(x)
    shapes = set(out)
    if detector:
        assert shapes == {(1, 2254, 12), (1, 2254, 1)}
    else:
        assert {(1, 195), (1, 1), (1, 117)} <= shapes
    assert all(np.isfinite(v).all() for v in out.values())


def test_shipped_models_stay_small(manifest) -> None:
    # heavy's int8_mixed (float stem and heads) is the largest file; docs/int8.md has the size of each variant. The
    # Edge TPU form (stem, body, heads of each landmark model) adds about 29 MB. Full's 40-op float tail
    # (2026-12-02) added 3.5 MB (its mixed file and heads), to 92 MB: the cap moved from 90 to 95 MB for it.
    assert max(e.size for e in manifest.models.values()) < 21_000_000
    assert sum(e.size for e in manifest.models.values()) < 95_000_000


def test_mixed_models_return_float_outputs(manifest) -> None:
    """The float heads' values reach the pipeline unquantized (quantize.float_outputs)."""
    for name in sorted(MIXED):
        io = manifest.models[name].verification["io_types"]
        assert io["inputs"] == ["INT8"] and "FLOAT32" in io["outputs"], (name, io)


def test_manifest_is_plain_json() -> None:
    json.loads((MODELS_DIR / "manifest.json").read_text())


def _copy_runtime_files(manifest, dest) -> None:
    """What deploy.sh ships: the runtime files and the manifest, not the Edge TPU compiler's inputs."""
    for name, entry in manifest.models.items():
        if not name.endswith("_edgetpu_src"):
            (dest / entry.file).write_bytes((MODELS_DIR / entry.file).read_bytes())
    (dest / "manifest.json").write_text((MODELS_DIR / "manifest.json").read_text())


def test_a_device_without_compiler_inputs_verifies(manifest, tmp_path) -> None:
    _copy_runtime_files(manifest, tmp_path)
    assert check_manifest(tmp_path, compiler_inputs=False) == {}
    assert set(check_manifest(tmp_path)) == EDGETPU_SRC | SPLIT_BODIES


def test_models_verify_names_a_changed_int8_file(manifest, tmp_path) -> None:
    import os
    import subprocess
    import sys

    from support.engine import require_float_models
    from support.paths import REPO

    _copy_runtime_files(manifest, tmp_path)
    (tmp_path / "float").symlink_to(require_float_models() / "float")
    victim = tmp_path / manifest.models["pose_landmark_lite_mixed"].file
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    r = subprocess.run([sys.executable, "-m", "edgepose", "models", "verify", "--models-dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=REPO, env=os.environ.copy(), timeout=120)  # fmt: skip
    assert r.returncode == 65, r.stdout + r.stderr
    assert f"FAIL {victim.name}" in r.stdout and "ok   pose_landmark_lite_int8.tflite" in r.stdout
    assert "1 int8 model(s) missing or changed" in r.stderr
