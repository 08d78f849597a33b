"""The time and motion rules (young, still, speed) and the motion model, on a recorded pose over frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.pose import FramePoses, Pose, Roi
from edgepose.validity import ValidityConfig, ValidityStage
from edgepose.validity.motion import MotionModel, grey_grid
from edgepose.validity.tracks import TrackBook

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


def run(stage: ValidityStage, frames: list[tuple[np.ndarray, Pose | None]],
        prepare: np.ndarray | bool = True) -> list[str | None]:
    """The verdict per frame ("-": no pose). `prepare`: True gives each frame to `stage.prepare` first (as the
    pipeline does), False does not, an array is given instead of the frame."""
    out: list[str | None] = []
    for i, (rgb, p) in enumerate(frames):
        fp = FramePoses(W, H, [p] if p else [], (i + 1) * STEP_NS, False, {}, track_scores=[0.9] if p else [])
        if prepare is not False:
            stage.prepare(rgb if prepare is True else prepare)
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
    assert m.foreground_fraction([(0, 0, 0.5, 0.5), (0.5, 0.5, 1, 1)]) == [1.0, 0.0]
    m.observe(grey_grid(np.full((48, 64, 3), 220, np.uint8)), 2 * STEP_NS)  # lights on: all of it
    assert m.foreground_fraction([(0, 0, 1, 1)]) == [0.0]


def test_tracks_match_nearest_first_and_never_share_a_track() -> None:
    book = TrackBook(match_distance=0.2, gap_seconds=1.0)
    a, b = book.assign([(0.3, 0.5), (0.6, 0.5)], 0)
    # Both new poses are nearest to b's track; the nearer one gets it, the other takes a's (0.16 away).
    c, d = book.assign([(0.46, 0.5), (0.55, 0.5)], STEP_NS)
    assert d is b and c is a and a.frames == b.frames == 2
    assert a.speed == pytest.approx(0.16 / 0.1) and b.speed == pytest.approx(0.05 / 0.1)
    e, f = book.assign([(0.9, 0.9), (float("nan"), 0.5)], 2 * STEP_NS)  # too far, and unknown: new tracks
    assert e is not a and e is not b and f.frames == 1 and len(book.tracks) == 4
    assert book.assign([(0.46, 0.5)], 2 * STEP_NS + 1_500_000_000) != [a]  # a's gap exceeded gap_seconds
    assert len(book.tracks) == 1


def test_prepare_samples_the_same_frame_only() -> None:
    """`prepare` (the pipeline calls it before the engine) gives the verdicts of `process` alone, and a sample
    of another frame is never used for this one."""
    frames = [(box_frame(False), None), (box_frame(True), pose()), (box_frame(True), pose())]
    frames += [(box_frame(True), pose())] * 5
    alone = run(ValidityStage(), frames, prepare=False)
    assert run(ValidityStage(), frames) == alone == ["-", "young", None, None, None, None, None, None]
    # A sample of another frame (no motion anywhere: all "still") is not used for this one.
    assert run(ValidityStage(), frames, prepare=box_frame(False)) == alone
