"""The MediaPipe reference (legacy Python `Pose`, mediapipe==0.10.14 in its own venv) is the right reference.

It must reproduce the spec's §8.3 goldens, which were made with the legacy Python wheel (heatmap kernel 9),
run all three model complexities offline, track a video, and fail clearly on bad input or a missing env.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from support.paths import SHARED_DATA, skimage_photo

from edgepose.model_files import FLOAT_MODELS
from edgepose_dev.reference.mediapipe_client import MediaPipeResult, MediaPipeRunError, run_mediapipe
from edgepose_dev.reference.mediapipe_env import MediaPipeUnavailable, find_reference_python

# Spec §8.3, legacy Python wheel (kernel 9), full model, static mode: index -> (x, y).
ASTRONAUT_XY_K9 = {
    0: (0.43503, 0.24993),
    11: (0.59812, 0.50126),
    12: (0.22004, 0.46866),
    16: (0.26415, 0.93216),
    23: (0.47239, 0.97992),
}
# The same points with kernel 7 (C++ graph, Tasks): the legacy Python reference must NOT give these.
ASTRONAUT_XY_K7 = {
    0: (0.43504, 0.24990),
    11: (0.59825, 0.50096),
    12: (0.21906, 0.46852),
    16: (0.25840, 0.93467),
    23: (0.47008, 0.98547),
}
ASTRONAUT_Z_VIS = {0: (-0.83024, 0.99928), 11: (-0.16569, 0.99766), 12: (-0.35356, 0.99833)}
ASTRONAUT_WORLD = {
    0: (0.0613, -0.6135, -0.2734),
    11: (0.2019, -0.4603, -0.0515),
    23: (0.1185, 0.0144, 0.0154),
}
CAMERA_XY_K9 = {0: (0.48243, 0.33127), 11: (0.42892, 0.33033), 12: (0.20445, 0.35514), 15: (0.77171, 0.38901)}
CAMERA_WORLD = {0: (0.3627, -0.3178, -0.3411), 11: (0.3232, -0.3531, -0.1555)}
TOL = 1e-3
CREATE_HINT = "run `python -m edgepose_dev.reference.mediapipe_env --create .venv-mediapipe`"


def _expected(golden: dict[int, tuple[float, ...]]) -> tuple[list[int], np.ndarray]:
    return list(golden), np.array(list(golden.values()), dtype=np.float32)


@pytest.fixture(scope="module")
def mp_python() -> Path:
    try:
        python = find_reference_python()
    except MediaPipeUnavailable as e:
        pytest.skip(f"MediaPipe reference env unusable: {e}")
    if python is None:
        pytest.skip(f"MediaPipe reference env absent (no mediapipe==0.10.14 interpreter); {CREATE_HINT}")
    return python


@pytest.fixture(scope="module")
def skimage_full(mp_python: Path) -> MediaPipeResult:
    """Full model, static mode, on astronaut.png and camera.png (one reference run for the golden tests)."""
    paths = [skimage_photo("astronaut.png"), skimage_photo("camera.png")]
    return run_mediapipe(paths, model_complexity=1, static=True, python=mp_python)


@pytest.mark.mediapipe
def test_astronaut_reproduces_spec_goldens(skimage_full: MediaPipeResult) -> None:
    assert skimage_full.found.tolist() == [True, True]
    assert skimage_full.sizes.tolist() == [[512, 512], [512, 512]]
    idx, xy = _expected(ASTRONAUT_XY_K9)
    np.testing.assert_allclose(skimage_full.landmarks[0, idx, :2], xy, atol=TOL)
    idx, zv = _expected(ASTRONAUT_Z_VIS)
    np.testing.assert_allclose(skimage_full.landmarks[0, idx, 2:4], zv, atol=TOL)
    idx, world = _expected(ASTRONAUT_WORLD)
    np.testing.assert_allclose(skimage_full.world[0, idx], world, atol=TOL)


@pytest.mark.mediapipe
def test_camera_reproduces_spec_goldens(skimage_full: MediaPipeResult) -> None:
    idx, xy = _expected(CAMERA_XY_K9)
    np.testing.assert_allclose(skimage_full.landmarks[1, idx, :2], xy, atol=TOL)
    idx, world = _expected(CAMERA_WORLD)
    np.testing.assert_allclose(skimage_full.world[1, idx], world, atol=TOL)


@pytest.mark.mediapipe
def test_reference_is_the_kernel_9_python_graph_not_kernel_7(skimage_full: MediaPipeResult) -> None:
    # Proves the tolerance above is tight enough to tell the two refinement kernels apart (spec §3.5).
    idx, xy7 = _expected(ASTRONAUT_XY_K7)
    assert np.abs(skimage_full.landmarks[0, idx, :2] - xy7).max() > 3 * TOL


@pytest.mark.mediapipe
def test_padded_camera_gives_no_detection_from_arrays(mp_python: Path) -> None:
    # Spec §8.3 negative case, passed as in-memory RGB arrays of different sizes (the .npz path).
    camera = cv2.cvtColor(cv2.imread(str(skimage_photo("camera.png"))), cv2.COLOR_BGR2RGB)
    padded = cv2.copyMakeBorder(camera, 0, 0, 120, 120, cv2.BORDER_CONSTANT, value=0)
    result = run_mediapipe([padded, camera], model_complexity=1, static=True, python=mp_python)
    assert result.found.tolist() == [False, True]
    assert result.sizes.tolist() == [[752, 512], [512, 512]]
    assert np.isnan(result.landmarks[0]).all() and np.isfinite(result.landmarks[1]).all()
    assert result.sources == ["array#0", "array#1"]


@pytest.mark.mediapipe
@pytest.mark.parametrize(("complexity", "model"), [(0, "pose_landmark_lite.tflite"), (2, "pose_landmark_heavy.tflite")])
def test_lite_and_heavy_run_offline_on_edgeposes_models(
    mp_python: Path, skimage_full: MediaPipeResult, complexity: int, model: str
) -> None:
    result = run_mediapipe(skimage_photo("astronaut.png"), model_complexity=complexity, python=mp_python)
    # The model MediaPipe loaded is the pinned file from edgepose's models dir, not a download.
    assert result.info["landmark_models"][model] == FLOAT_MODELS[model].sha256
    assert result.found.tolist() == [True]
    # Another model on the same person: the shoulders near the full model's, within 5 % of the frame (the hips
    # are cut by the frame edge and differ more between models).
    shoulders = [11, 12]
    np.testing.assert_allclose(result.landmarks[0, shoulders, :2], skimage_full.landmarks[0, shoulders, :2], atol=0.05)


@pytest.mark.mediapipe
def test_video_tracking_mode_times_every_frame(mp_python: Path, shared_data: Path) -> None:
    video = shared_data / "videos" / "dance_tfjs_pose_1.mp4"
    if not video.is_file():
        pytest.skip(f"{video} not found")
    result = run_mediapipe(video, model_complexity=0, static=False, max_frames=20, python=mp_python)
    assert result.frames == 20
    assert result.found.all()
    assert (result.sizes == [576, 576]).all()
    assert (result.process_ms > 0).all() and result.fps > 0
    assert result.sources[0].endswith("dance_tfjs_pose_1.mp4#0")
    # Tracking with smoothing moves the nose little between consecutive 30 fps frames.
    assert np.abs(np.diff(result.landmarks[:, 0, :2], axis=0)).max() < 0.1


@pytest.mark.mediapipe
def test_unreadable_image_is_named(mp_python: Path, tmp_path: Path) -> None:
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"\x89PNG but truncated")
    with pytest.raises(MediaPipeRunError, match=r"not_an_image\.png"):
        run_mediapipe([skimage_photo("astronaut.png"), bad], python=mp_python)


def test_missing_reference_env_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGEPOSE_MEDIAPIPE_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(MediaPipeUnavailable, match=r"EDGEPOSE_MEDIAPIPE_PYTHON.*--create"):
        run_mediapipe(skimage_photo("astronaut.png"))


def test_bad_frames_are_rejected_before_running(tmp_path: Path) -> None:
    python = tmp_path / "never-started"
    with pytest.raises(ValueError, match=r"H×W×3 uint8"):
        run_mediapipe(np.zeros((4, 32, 32), dtype=np.float32), python=python)
    with pytest.raises(ValueError, match="model_complexity"):
        run_mediapipe(skimage_photo("astronaut.png"), model_complexity=3, python=python)
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg"):
        run_mediapipe([tmp_path / "missing.jpg"], python=python)


@pytest.mark.mediapipe
def test_an_animated_gif_is_read_as_a_video(mp_python: Path) -> None:
    """The presence clip in .gif form runs through the reference (`presence replay --mediapipe`); MediaPipe finds
    nobody in it either (docs/presence.md: the woman walking away, 97 px tall, seen from behind)."""
    gif = SHARED_DATA / "videos" / "presence" / "intel_people_detection_preview.gif"
    if not gif.is_file():
        pytest.skip(f"{gif} not found (set EDGEPOSE_TEST_DATA)")
    result = run_mediapipe(gif, model_complexity=0, static=False, python=mp_python)
    assert result.frames == 23 and result.sizes[0].tolist() == [480, 270]
    assert not result.found.any()
