"""Model files: pinned hashes, fetching from package archives, clear errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from support.engine import require_float_models

from edgepose.model_files import FLOAT_MODELS, ModelError, fetch_float_models, resolve_model, sha256_file


def test_pins_match_the_spec() -> None:
    assert FLOAT_MODELS["pose_detection.tflite"].sha256.startswith("9ba9dd3d")
    assert FLOAT_MODELS["pose_landmark_full.tflite"].sha256.startswith("e9a5c5cb")
    assert FLOAT_MODELS["pose_landmark_heavy.tflite"].sha256.startswith("59e42d71")
    assert FLOAT_MODELS["pose_landmark_lite.tflite"].sha256.startswith("f17bfbec")


def test_fetched_models_have_pinned_hashes() -> None:
    models = require_float_models()
    for name, m in FLOAT_MODELS.items():
        assert sha256_file(models / "float" / name) == m.sha256


def test_fetch_from_archive_verifies_and_writes_nothing_on_mismatch(tmp_path: Path) -> None:
    wheel = tmp_path / "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(FLOAT_MODELS["pose_detection.tflite"].member, b"tampered model bytes")
    out = tmp_path / "models"
    with pytest.raises(ModelError, match=r"pose_detection.tflite from mediapipe-0.10.14.*expected 9ba9dd3d"):
        fetch_float_models(out, ["pose_detection.tflite"], archives={"pypi": wheel}, log=lambda _: None)
    assert list((out / "float").iterdir()) == []


def test_fetch_from_real_archive_contents(tmp_path: Path) -> None:
    """A wheel-shaped archive holding the real model bytes is accepted and the file lands verified."""
    models = require_float_models()
    wheel = tmp_path / "mediapipe.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(models / "float/pose_detection.tflite", FLOAT_MODELS["pose_detection.tflite"].member)
    (path,) = fetch_float_models(tmp_path / "m", ["pose_detection.tflite"], archives={"pypi": wheel}, log=print)
    assert sha256_file(path) == FLOAT_MODELS["pose_detection.tflite"].sha256


def test_missing_model_message_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"pose_landmark_full.tflite is missing; run `edgepose models fetch`"):
        resolve_model(tmp_path, "float/pose_landmark_full.tflite")
