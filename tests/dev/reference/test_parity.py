"""Parity with the mediapipe wheel's legacy `Pose` (issue 2, evidence 2): every annotated photo in the shared
data plus the two scikit-image photos, full float model, static mode, heatmap kernel 9 (what the wheel uses).

Needs the reference venv (`python -m edgepose_dev.reference.mediapipe_env --create`, done by .ci/run on x86_64).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.engine import engine
from support.paths import skimage_photo

from edgepose.commands.common import IMAGE_SUFFIXES, read_image
from edgepose_dev.reference.mediapipe_env import find_reference_python

pytestmark = pytest.mark.mediapipe


def test_same_decisions_and_landmarks_within_a_pixel(shared_data: Path) -> None:
    if find_reference_python() is None:
        pytest.skip("MediaPipe reference venv absent: python -m edgepose_dev.reference.mediapipe_env --create")
    from edgepose_dev.reference.mediapipe_client import run_mediapipe

    photos = sorted(p for p in (shared_data / "images/annotated").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    photos += [skimage_photo("astronaut.png"), skimage_photo("camera.png")]
    assert len(photos) >= 30
    ref = run_mediapipe(photos, model_complexity=1, static=True)
    eng = engine(model="full", static=True, heatmap_kernel=9)
    disagreements, within, total = [], 0, 0
    for i, path in enumerate(photos):
        image = read_image(path)
        h, w = image.shape[:2]
        result = eng.process(image)
        if bool(result.poses) != bool(ref.found[i]):
            disagreements.append(path.name)
            continue
        if result.poses:
            err = np.linalg.norm(result.poses[0].xy_pixels(w, h) - ref.landmarks[i, :, :2] * (w, h), axis=1)
            within += int((err <= 1.0).sum())
            total += 33
    print(f"{len(photos)} photos, found/not-found agreement {len(photos) - len(disagreements)}/{len(photos)}, "
          f"landmarks within 1 px {within}/{total}")  # fmt: skip
    assert disagreements == []
    assert total > 0 and within / total >= 0.99
