"""The time and motion rules (young, still, speed) and the motion model, on a recorded pose over frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.pose import FramePoses, Pose, Roi
from edgepose.validity import ValidityConfig, ValidityStage
from edgepose.validity.motion import MotionModel, grey_grid

DATA = np.load(Path(__file__).parent / "data" / "clip_poses.npz")
W, H = (int(v) for v in DATA["person_size"][2])  # the sidewalk walker (720 × 480)
KP = DATA["person_kp"][2]
WORLD = DATA["person_world"][2]
STEP_NS = 100_000_000  # 10 fps


def pose(shift_x: float = 0.0) -> Pose:
    kp = KP.copy()
    kp[:, 0] += shift_x
    return Pose(keypoints=kp, world=WORLD.copy(), score=0.99, roi=Roi.from_values(0, 0, 1, 1, 0))


def box_frame(bright: bool) -> np.ndarray:
    """A grey frame; with `bright`, the walker's box is lit (what a moving person does to a frame diff)."""
    rgb = np.full((H, W, 3), 90, np.uint8)
    if bright:
        x0, y0 = (KP[:, :2].min(axis=0) * (W, H)).astype(int)
        x1, y1 = (KP[:, :2].max(axis=0) * (W, H)).astype(int)
        rgb[max(y0, 0):y1, max(x0, 0):x1] = 200
    return rgb


def run(stage: ValidityStage, frames: list[tuple[np.ndarray, Pose | None]]) -> list[str | None]:
    out: list[str | None] = []
    for i, (rgb, p) in enumerate(frames):
        fp = FramePoses(W, H, [p] if p else [], (i + 1) * STEP_NS, False, {}, track_scores=[0.9] if p else [])
        r = stage.process(fp, rgb)
        out.append(None if r.accepted else (r.rejected[0][1] if r.rejected else "-"))
    return out


def test_pose_where_nothing_moved_is_still() -> None:
    still = box_frame(False)
    verdicts = run(ValidityStage(), [(still, pose())] * 20)
    assert verdicts[0] == "young" and set(verdicts[1:]) == {"still"}


def test_pose_born_with_motion_is_accepted_then_rejected_after_still_seconds() -> None:
    cfg = ValidityConfig(still_seconds=1.0)
    frames = [(box_frame(False), None), (box_frame(True), pose()), (box_frame(True), pose())]
    frames += [(box_frame(True), pose())] * 30  # the picture stops changing: the running average catches up
    verdicts = run(ValidityStage(cfg), frames)
    assert verdicts[1] == "young" and verdicts[2] is None
    assert verdicts[-1] == "still"
    first_still = verdicts.index("still")
    # A 110-level step fades below 18 levels in ln(110/18) = 1.8 s of the 1 s running average, then 1 s
    # of still_seconds: about 28 frames at 10 fps.
    assert 24 <= first_still <= 32


def test_motion_off_accepts_after_min_track_frames() -> None:
    verdicts = run(ValidityStage(ValidityConfig(motion=False)), [(box_frame(False), pose())] * 5)
    assert verdicts == ["young", None, None, None, None]


def test_flicker_on_the_same_spot_keeps_its_history() -> None:
    """Gaps shorter than track_gap_seconds do not make a new track, so the flicker never gets past "young"
    with a fresh history: once old enough it is judged on motion (none) and stays rejected."""
    still = box_frame(False)
    frames = [(still, pose() if i % 3 else None) for i in range(30)]
    verdicts = [v for v in run(ValidityStage(), frames) if v != "-"]
    assert verdicts.count("young") == 1 and set(verdicts[1:]) == {"still"}


def test_speed_rule_rejects_a_car_fast_pose() -> None:
    cfg = ValidityConfig(motion=False)
    frames = [(box_frame(False), pose(0.05 * i)) for i in range(8)]  # 0.5 frame widths per second at 10 fps
    verdicts = run(ValidityStage(cfg), frames)
    assert "speed" in verdicts[2:]
    slow = [(box_frame(False), pose(0.002 * i)) for i in range(8)]
    assert "speed" not in run(ValidityStage(cfg), slow)


def test_motion_model_scene_change_and_box_fraction() -> None:
    m = MotionModel(pixel_threshold=18, background_seconds=1.0)
    dark = np.full((48, 64, 3), 50, np.uint8)
    m.observe(grey_grid(dark), 0)
    m.learn(0)
    lit = dark.copy()
    lit[:24, :32] = 120  # the top-left quarter changes
    m.observe(grey_grid(lit), STEP_NS)
    frac = m.foreground_fraction(np.asarray([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], np.float32))
    assert frac.tolist() == [1.0, 0.0]
    m.observe(grey_grid(np.full((48, 64, 3), 220, np.uint8)), 2 * STEP_NS)  # lights on: all of it
    assert m.foreground_fraction(np.asarray([[0, 0, 1, 1]], np.float32)).tolist() == [0.0]
