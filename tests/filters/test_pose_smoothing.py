"""PoseSmoother against a re-statement of spec §5.1/§5.3 built from the (separately verified) filters."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgepose.filters.one_euro import LowPassFilter, OneEuroFilter, OneEuroParams
from edgepose.filters.pose_smoothing import PoseSmoother, object_scale
from edgepose.pose import PRESENCE, VISIBILITY, Pose, Roi
from edgepose_dev.reference.mediapipe_client import LEGACY_STREAMS, run_mediapipe_streams
from edgepose_dev.reference.mediapipe_env import find_reference_python

W, H = 720, 1280  # videos/fitness_squats_tfjs.mp4
FPS = 5
LOST = (30, 31, 32)  # frames treated as tracking loss in the sequence tests


def _load(shared_data, name: str) -> np.ndarray:
    path = shared_data / "golden" / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return np.asarray(json.loads(path.read_text()), dtype=np.float32)


@pytest.fixture(scope="module")
def squat_poses(shared_data) -> list[Pose]:
    """Poses from the TF.js BlazePose-full goldens of the squats video (real keypoints and world points).

    The goldens have no visibility and no auxiliary points: visibility is drawn at random, the aux points
    are placed like BlazePose's (hip centre, and a point twice the hip-to-shoulder vector away).
    """
    px = _load(shared_data, "tfjs_pose_squats.full.json")
    world = _load(shared_data, "tfjs_pose_squats_3d.full.json")
    rng = np.random.default_rng(7)
    poses = []
    for k in range(len(px)):
        kp = np.empty((33, 5), np.float32)
        kp[:, :3] = px[k] / np.array([W, H, W], np.float32)
        kp[:, VISIBILITY] = rng.uniform(0.2, 1.0, 33)
        kp[:, PRESENCE] = rng.uniform(0.5, 1.0, 33)
        hip = kp[[23, 24], :2].mean(axis=0)
        shoulder = kp[[11, 12], :2].mean(axis=0)
        aux = np.zeros((2, 5), np.float32)
        aux[0, :2] = hip
        aux[1, :2] = hip + 2.0 * (shoulder - hip)
        aux[:, 2] = rng.normal(0.0, 0.01, 2)
        aux[:, VISIBILITY] = rng.uniform(0.0, 1e-3, 2)
        aux[:, PRESENCE] = 1.0
        roi = Roi.from_values(float(hip[0]), float(hip[1]), 0.8, 0.45, 0.05)
        poses.append(Pose(keypoints=kp, world=world[k].copy(), score=0.97, roi=roi, aux=aux))
    return poses


def _times(n: int) -> list[int]:
    return [(k + 1) * 1_000_000_000 // FPS for k in range(n)]


class Reference:
    """Spec §5.1/§5.3 restated: what is filtered, in which space, with which scale, and what a loss resets."""

    def __init__(self, smooth_landmarks: bool = True) -> None:
        self.smooth_landmarks = smooth_landmarks
        self.landmarks = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0))
        self.world = OneEuroFilter(OneEuroParams(0.1, 40.0, 1.0, disable_value_scaling=True))
        self.aux = OneEuroFilter(OneEuroParams(0.01, 10.0, 1.0))
        self.visibility = LowPassFilter(0.1)
        self.aux_visibility = LowPassFilter(0.1)

    def loss(self) -> None:
        self.landmarks.reset()
        self.aux.reset()

    def step(self, pose: Pose, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size = np.array([W, H, W], np.float64)
        d = (pose.aux[1, :2].astype(np.float64) - pose.aux[0, :2]) * size[:2]
        value_scale = 1.0 / (2.0 * math.hypot(*d))
        aux = pose.aux.copy()
        aux[:, :3] = self.aux.apply(pose.aux[:, :3] * size, t, value_scale) / size
        aux[:, VISIBILITY] = self.aux_visibility.apply(pose.aux[:, VISIBILITY])
        kp, world = pose.keypoints.copy(), pose.world.copy()
        if self.smooth_landmarks:
            kp[:, :3] = self.landmarks.apply(pose.keypoints[:, :3] * size, t, value_scale) / size
            kp[:, VISIBILITY] = self.visibility.apply(pose.keypoints[:, VISIBILITY])
            world = self.world.apply(pose.world, t)
        return kp, world, aux


def test_object_scale_is_twice_the_aux_distance_in_pixels(squat_poses: list[Pose]) -> None:
    for pose in squat_poses[::8]:
        d = (pose.aux[1, :2].astype(np.float64) - pose.aux[0, :2]) * (W, H)
        assert float(object_scale(pose.aux, W, H)) == pytest.approx(2.0 * math.hypot(*d), rel=1e-6)


@pytest.mark.parametrize("smooth_landmarks", [True, False])
def test_matches_spec_restatement_on_real_sequence_with_a_loss(squat_poses: list[Pose], smooth_landmarks: bool) -> None:
    smoother, ref = PoseSmoother(smooth_landmarks=smooth_landmarks), Reference(smooth_landmarks)
    for k, (pose, t) in enumerate(zip(squat_poses, _times(len(squat_poses)), strict=True)):
        if k in LOST:
            smoother.reset_on_loss()
            ref.loss()
            continue
        out = smoother.smooth(pose, W, H, t)
        kp, world, aux = ref.step(pose, t)
        np.testing.assert_allclose(out.keypoints, kp, rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(out.world, world, rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(out.aux, aux, rtol=1e-5, atol=2e-6)
        np.testing.assert_array_equal(out.keypoints[:, PRESENCE], pose.keypoints[:, PRESENCE])
        assert out.score == pose.score and out.roi == pose.roi
        assert out.keypoints.dtype == np.float32 and out.world.dtype == np.float32


def test_smoothing_reduces_jitter_of_a_still_real_pose(squat_poses: list[Pose]) -> None:
    rng = np.random.default_rng(11)
    base = squat_poses[0]
    smoother = PoseSmoother()
    raw_xy, smooth_xy = [], []
    for k in range(90):  # 3 s at 30 fps, 2 px of noise on every keypoint and on the aux points
        noise = rng.normal(0.0, 2.0, (35, 2)) / (W, H)
        kp, aux = base.keypoints.copy(), base.aux.copy()
        kp[:, :2] += noise[:33].astype(np.float32)
        aux[:, :2] += noise[33:].astype(np.float32)
        pose = Pose(keypoints=kp, world=base.world.copy(), score=base.score, roi=base.roi, aux=aux)
        out = smoother.smooth(pose, W, H, 1_000_000_000 + k * 33_333_333)
        raw_xy.append(kp[:, :2] * (W, H))
        smooth_xy.append(out.keypoints[:, :2] * (W, H))
    raw_jitter = np.std(np.asarray(raw_xy)[30:], axis=0).mean()
    smooth_jitter = np.std(np.asarray(smooth_xy)[30:], axis=0).mean()
    assert smooth_jitter < 0.5 * raw_jitter


def test_reset_on_loss_restarts_landmarks_and_aux_but_not_world_or_visibility(
    squat_poses: list[Pose],
) -> None:
    smoother = PoseSmoother()
    times = _times(len(squat_poses))
    for k in range(6):
        prev = smoother.smooth(squat_poses[k], W, H, times[k])
    smoother.reset_on_loss()
    gap_t = times[9]  # frames 6-8 lost
    pose = squat_poses[9]
    out = smoother.smooth(pose, W, H, gap_t)
    # Landmark and aux One-Euro filters restarted: their first sample passes through.
    np.testing.assert_allclose(out.keypoints[:, :3], pose.keypoints[:, :3], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out.aux[:, :3], pose.aux[:, :3], rtol=1e-6, atol=1e-7)
    assert smoother.landmark_filter.frequency == 30.0
    # Visibility continues from its old state...
    expected_vis = 0.1 * pose.keypoints[:, VISIBILITY] + 0.9 * prev.keypoints[:, VISIBILITY]
    np.testing.assert_allclose(out.keypoints[:, VISIBILITY], expected_vis, rtol=1e-5)
    assert np.abs(out.keypoints[:, VISIBILITY] - pose.keypoints[:, VISIBILITY]).max() > 0.05
    np.testing.assert_allclose(
        out.aux[:, VISIBILITY], 0.1 * pose.aux[:, VISIBILITY] + 0.9 * prev.aux[:, VISIBILITY], rtol=1e-5
    )
    # ... and so does the world filter, with its rate from the long gap.
    assert np.abs(out.world - pose.world).max() > 1e-3
    assert smoother.world_filter.frequency == pytest.approx(1.0 / ((times[9] - times[5]) * 1e-9))


def test_aux_is_smoothed_when_landmark_smoothing_is_off(squat_poses: list[Pose]) -> None:
    off, on = PoseSmoother(smooth_landmarks=False), PoseSmoother()
    max_aux_change = 0.0
    for pose, t in zip(squat_poses[:20], _times(20), strict=True):
        a, b = off.smooth(pose, W, H, t), on.smooth(pose, W, H, t)
        np.testing.assert_array_equal(a.keypoints, pose.keypoints)
        np.testing.assert_array_equal(a.world, pose.world)
        np.testing.assert_array_equal(a.aux, b.aux)
        max_aux_change = max(max_aux_change, float(np.abs(a.aux[:, :2] - pose.aux[:, :2]).max()))
    assert max_aux_change > 1e-3
    assert not off.landmark_filter.initialized and not off.world_filter.initialized


def test_zero_object_scale_returns_coordinates_unfiltered(squat_poses: list[Pose]) -> None:
    smoother = PoseSmoother()
    times = _times(4)
    smoother.smooth(squat_poses[0], W, H, times[0])
    before = (smoother.landmark_filter.last_time_ns, smoother.aux_filter.last_time_ns)
    pose = squat_poses[1]
    aux = pose.aux.copy()
    aux[1, :3] = aux[0, :3]  # aux0 == aux1: object scale 0
    degenerate = Pose(keypoints=pose.keypoints, world=pose.world, score=pose.score, roi=pose.roi, aux=aux)
    out = smoother.smooth(degenerate, W, H, times[1])
    np.testing.assert_array_equal(out.keypoints[:, :3], pose.keypoints[:, :3])
    np.testing.assert_array_equal(out.aux[:, :3], aux[:, :3])
    assert (smoother.landmark_filter.last_time_ns, smoother.aux_filter.last_time_ns) == before
    # As in MediaPipe, only the value-scaled filters are skipped: world and visibility are separate filters.
    assert smoother.world_filter.last_time_ns == times[1]
    assert not np.array_equal(out.keypoints[:, VISIBILITY], pose.keypoints[:, VISIBILITY])


@pytest.mark.parametrize("dt", [0, -1])
def test_non_increasing_timestamp_returns_input_and_steps_nothing(squat_poses: list[Pose], dt: int) -> None:
    smoother = PoseSmoother()
    times = _times(3)
    smoother.smooth(squat_poses[0], W, H, times[0])
    smoother.smooth(squat_poses[1], W, H, times[1])
    snapshot = [
        (f.last_time_ns, f.frequency, f._x.last_value.tobytes())
        for f in (smoother.landmark_filter, smoother.world_filter, smoother.aux_filter)
    ] + [f.last_value.tobytes() for f in (smoother.visibility_filter, smoother.aux_visibility_filter)]
    pose = squat_poses[2]
    out = smoother.smooth(pose, W, H, times[1] + dt)
    np.testing.assert_array_equal(out.keypoints, pose.keypoints)
    np.testing.assert_array_equal(out.world, pose.world)
    np.testing.assert_array_equal(out.aux, pose.aux)
    after = [
        (f.last_time_ns, f.frequency, f._x.last_value.tobytes())
        for f in (smoother.landmark_filter, smoother.world_filter, smoother.aux_filter)
    ] + [f.last_value.tobytes() for f in (smoother.visibility_filter, smoother.aux_visibility_filter)]
    assert after == snapshot


def test_first_frame_at_time_zero_passes_through(squat_poses: list[Pose]) -> None:
    smoother = PoseSmoother()
    out = smoother.smooth(squat_poses[0], W, H, 0)
    np.testing.assert_array_equal(out.keypoints, squat_poses[0].keypoints)
    assert not smoother.visibility_filter.initialized and not smoother.world_filter.initialized


def test_input_pose_is_not_modified(squat_poses: list[Pose]) -> None:
    smoother = PoseSmoother()
    copies = [(p.keypoints.copy(), p.world.copy(), p.aux.copy()) for p in squat_poses[:5]]
    outs = [smoother.smooth(p, W, H, t) for p, t in zip(squat_poses[:5], _times(5), strict=True)]
    for p, (kp, world, aux), out in zip(squat_poses[:5], copies, outs, strict=True):
        np.testing.assert_array_equal(p.keypoints, kp)
        np.testing.assert_array_equal(p.world, world)
        np.testing.assert_array_equal(p.aux, aux)
        assert out is not p and out.keypoints is not p.keypoints


def test_non_finite_pose_passes_through_without_poisoning_the_filters(squat_poses: list[Pose]) -> None:
    smoother, clean = PoseSmoother(), PoseSmoother()
    times = _times(4)
    for k in (0, 1):
        smoother.smooth(squat_poses[k], W, H, times[k])
        clean.smooth(squat_poses[k], W, H, times[k])
    bad_kp = squat_poses[2].keypoints.copy()
    bad_kp[5, 0] = np.nan
    bad = Pose(
        keypoints=bad_kp,
        world=squat_poses[2].world,
        score=0.9,
        roi=squat_poses[2].roi,
        aux=squat_poses[2].aux,
    )
    out = smoother.smooth(bad, W, H, times[2])
    assert np.isnan(out.keypoints[5, 0])
    a, b = smoother.smooth(squat_poses[3], W, H, times[3]), clean.smooth(squat_poses[3], W, H, times[3])
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.world, b.world)


@pytest.mark.parametrize(("width", "height"), [(0, 480), (640, -1), (True, 480)])
def test_bad_frame_size_is_an_error(squat_poses: list[Pose], width: int, height: int) -> None:
    with pytest.raises(ValueError, match="frame size"):
        PoseSmoother().smooth(squat_poses[0], width, height, 1)


# --- Open-loop parity with MediaPipe's legacy graph (spec "how to use", point 2) ----------------------------
# MediaPipe runs in the reference venv (numpy<2, protobuf<5) through edgepose_dev.reference's subprocess runner.
MP_BLANK = (40, 41, 42)  # frames replaced by black: a 3-frame tracking loss


@pytest.fixture(scope="module")
def mp_python() -> Path:
    # Same rule as tests/dev/reference: skip only when no reference exists; a broken one is an error, not a skip.
    python = find_reference_python()
    if python is None:
        pytest.skip("MediaPipe reference venv absent: python -m edgepose_dev.reference.mediapipe_env --create")
    return python


def _mediapipe_streams(python: Path, video: Path, smooth_landmarks: bool, n_frames: int) -> list[dict]:
    """Run the legacy graph (full model) and observe its unfiltered and filtered landmark streams."""
    streams = run_mediapipe_streams(
        video,
        smooth_landmarks=smooth_landmarks,
        model_complexity=1,
        blank_frames=MP_BLANK,
        max_frames=n_frames,
        python=python,
    )
    frames = []
    for k in range(streams.frames):
        rec: dict = {"width": int(streams.sizes[k, 0]), "height": int(streams.sizes[k, 1])}
        rec |= {name: streams.get(name, k) for name in LEGACY_STREAMS}
        frames.append(rec)
    return frames


@pytest.mark.mediapipe
@pytest.mark.parametrize("smooth_landmarks", [True, False])
def test_matches_mediapipe_legacy_graph_open_loop(mp_python: Path, shared_data: Path, smooth_landmarks: bool) -> None:
    """Feed MediaPipe's unfiltered streams to PoseSmoother; its output must be MediaPipe's filtered streams."""
    video = shared_data / "videos" / "dance_tfjs_pose_1.mp4"
    if not video.is_file():
        pytest.skip(f"{video} not found")
    frames = _mediapipe_streams(mp_python, video, smooth_landmarks, 70)
    assert len(frames) == 70
    assert [k for k, f in enumerate(frames) if f["pose_landmarks"] is None] == list(MP_BLANK)

    smoother = PoseSmoother(smooth_landmarks=smooth_landmarks)
    roi = Roi.from_values(0.5, 0.5, 1.0, 1.0, 0.0)
    effect = 0.0
    for k, f in enumerate(frames, start=1):
        if f["unfiltered_pose_landmarks"] is None:
            smoother.reset_on_loss()
            continue
        raw = Pose(
            keypoints=f["unfiltered_pose_landmarks"],
            world=f["unfiltered_world_landmarks"][:, :3],
            score=1.0,
            roi=roi,
            aux=f["unfiltered_auxiliary_landmarks"],
        )
        # The legacy Python API's synthetic clock: 33 333 us per frame (spec §5.4).
        out = smoother.smooth(raw, f["width"], f["height"], k * 33_333_000)
        # Agreement to a few float32 ulps (MediaPipe's own output differs from its raw input by 1 ulp with
        # smoothing off); the smoothing itself moves points by up to ~0.07.
        np.testing.assert_allclose(out.keypoints[:, :4], f["pose_landmarks"][:, :4], rtol=0, atol=2e-7)
        np.testing.assert_allclose(out.world, f["pose_world_landmarks"][:, :3], rtol=0, atol=2e-7)
        np.testing.assert_allclose(out.aux[:, :4], f["auxiliary_landmarks"][:, :4], rtol=0, atol=2e-7)
        effect = max(effect, float(np.abs(f["pose_landmarks"][:, :3] - raw.keypoints[:, :3]).max()))
    assert (effect > 1e-2) is smooth_landmarks
