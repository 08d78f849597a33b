"""Helpers for engine tests: read photos as RGB, build engines on the real models, parse MediaPipe goldens."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.config import EngineConfig
from edgepose.engine.tracker import PoseEngine
from edgepose.model_files import default_models_dir, verify_float_models
from support.paths import MODELS_DIR


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def require_float_models() -> Path:
    models = MODELS_DIR if MODELS_DIR.is_dir() else default_models_dir()
    problems = verify_float_models(models)
    if problems:
        pytest.skip(f"float models not fetched in {models} ({problems}); run `edgepose models fetch`")
    return models


# The tests' engine: full float on the CPU unless told otherwise (the daemon's defaults are lite/auto/auto).
ENGINE_DEFAULTS: dict[str, object] = {"model": "full", "precision": "float", "backend": "cpu"}


def engine(**kwargs: object) -> PoseEngine:
    settings = {**ENGINE_DEFAULTS, "models_dir": require_float_models(), **kwargs}
    return PoseEngine.from_config(EngineConfig(**settings))  # type: ignore[arg-type]


def pbtxt_keypoints(text: str) -> np.ndarray:
    return np.array(
        [[float(a), float(b)] for a, b in re.findall(r"relative_keypoints \{\s*x: ([-\d.e]+)\s*y: ([-\d.e]+)", text)]
    )


def pbtxt_landmarks(text: str) -> np.ndarray:
    pattern = r"x: ([-\d.e]+)\s*y: ([-\d.e]+)\s*z: ([-\d.e]+)\s*visibility: ([-\d.e]+)\s*presence: ([-\d.e]+)"
    return np.array([[float(v) for v in m] for m in re.findall(pattern, text)])
