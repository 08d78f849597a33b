"""Each per-frame validity rule on poses recorded from the presence clips (lite int8, tests/validity/data).

The keypoints were recorded with the int8 detector before issue 10's rebuild; `person_world` (for the photo
stage's person score) is the world skeleton of the same person in the same clip frame from the current engine, and
`person_track_score` the score of the detection that started the person's track there with the bias-corrected
int8 detector (2026-12-02: 0.69–0.99; the earlier detector gave only 0.500 or 0.907). The ghosts keep their
recorded 0.500 (the road's car ghost scores 0.500 with the current detector too; the EPFL lab's ghosts it no
longer produces).
Ghosts carry no world landmarks (zeros): they are judged as the daemon judges clips (video), where the person
score does not apply (tests/validity/test_person_score.py tests it on photos).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.pose import FramePoses, Pose, Roi
from edgepose.validity import ValidityConfig, ValidityStage

DATA = np.load(Path(__file__).parent / "data" / "clip_poses.npz")
NAN_ROI = Roi.from_values(np.nan, np.nan, np.nan, np.nan, np.nan)


def poses(kind: str) -> list[tuple[str, int, int, int, Pose, float]]:
    out = []
    n = len(DATA[f"{kind}_clip"])
    worlds = DATA[f"{kind}_world"] if f"{kind}_world" in DATA else np.zeros((n, 33, 3), np.float32)
    for clip, frame, (w, h), kp, world, score, track in zip(DATA[f"{kind}_clip"], DATA[f"{kind}_frame"],
                                                            DATA[f"{kind}_size"], DATA[f"{kind}_kp"], worlds,
                                                            DATA[f"{kind}_score"], DATA[f"{kind}_track_score"],
                                                            strict=True):  # fmt: skip
        pose = Pose(keypoints=kp.copy(), world=world.copy(), score=float(score), roi=NAN_ROI)
        out.append((str(clip), int(frame), int(w), int(h), pose, float(track)))
    return out


def judge(pose: Pose, w: int, h: int, track: float = float("nan"), *, static: bool = False,
          **config: object) -> str | None:
    """The first failing rule of a fresh stage: video (the daemon's; motion and track age off, so that only the
    per-frame rules act) or static (photos: the person score instead of the body-geometry rules)."""
    video = {} if static else {"motion": False, "min_track_frames": 1}
    stage = ValidityStage(ValidityConfig(**{**video, **config}), static=static)  # type: ignore[arg-type]
    result = stage.process(FramePoses(w, h, [pose], 10**9, not static, {}, track_scores=[track]))
    assert len(result.accepted) + len(result.rejected) == 1
    return result.rejected[0][1] if result.rejected else None


@pytest.mark.parametrize("sample", poses("person"), ids=lambda s: f"{s[0]}@{s[1]}")
def test_real_people_pass_every_frame_rule(sample: tuple) -> None:
    _, _, w, h, pose, track = sample
    assert judge(pose, w, h, track) is None
    assert judge(pose, w, h, track, static=True) is None  # as a photo: the person score


@pytest.mark.parametrize("sample", poses("ghost"), ids=lambda s: f"{s[0]}@{s[1]}")
def test_recorded_ghosts_are_rejected_with_their_reason(sample: tuple) -> None:
    clip, _, w, h, pose, track = sample
    expected = {"epfl_lab_6p-c0_truncated.avi": "size", "bgslibrary_road_cars_topview.avi": "torso"}[clip]
    assert judge(pose, w, h, track, min_detection_score=0.0) == expected  # the body-geometry rules alone
    assert judge(pose, w, h, track) == "detection"  # the defaults: their detection scored 0.500
    assert judge(pose, w, h, track, enabled=False) is None  # switched off: the raw engine


def _person() -> tuple[Pose, int, int]:
    _, _, w, h, pose, _ = poses("person")[2]  # the sidewalk walker, far from every threshold
    return pose, w, h


def test_score_rule() -> None:
    pose, w, h = _person()
    pose.score = 0.4
    assert judge(pose, w, h) == "score"
    pose.score = float("nan")
    assert judge(pose, w, h) == "score"


def test_detection_rule_on_video_only() -> None:
    pose, w, h = _person()
    assert judge(pose, w, h, 0.5) == "detection"  # default 0.52: within one int8 step of the detector's 0.5
    assert judge(pose, w, h, 0.53) is None
    assert judge(pose, w, h, 0.5, min_detection_score=0.0) is None  # 0 = off
    assert judge(pose, w, h, float("nan")) is None  # unknown score: no evidence
    assert judge(pose, w, h, 0.5, static=True) != "detection"  # photos: the person score weighs it instead


def test_torso_rule() -> None:
    pose, w, h = _person()
    pose.keypoints[[11, 12, 23, 24], 3] = 0.6
    assert judge(pose, w, h) == "torso"


def test_size_rule() -> None:
    pose, w, h = _person()
    centre = pose.keypoints[:, :2].mean(axis=0)
    pose.keypoints[:, :2] = centre + (pose.keypoints[:, :2] - centre) * 0.3
    assert judge(pose, w, h) == "size"
    assert judge(pose, w, h, static=True) is None  # photos: the person score judges instead


def test_limb_rule() -> None:
    pose, w, h = _person()
    kp = pose.keypoints
    torso_px = np.linalg.norm(((kp[11, :2] + kp[12, :2]) - (kp[23, :2] + kp[24, :2])) * 0.5 * (w, h))
    kp[27, :2] = kp[25, :2] + (0.0, 2.5 * torso_px / h)  # a shin 2.5 torsos long (a human's: 0.8)
    assert judge(pose, w, h) == "limbs"


def test_shoulder_rule() -> None:
    pose, w, h = _person()
    mid = 0.5 * (pose.keypoints[11, :2] + pose.keypoints[12, :2])
    torso = float(np.linalg.norm(mid - 0.5 * (pose.keypoints[23, :2] + pose.keypoints[24, :2])))
    # Move each arm with its shoulder, so only the shoulder width changes.
    left = [11, 13, 15, 17, 19, 21]
    right = [12, 14, 16, 18, 20, 22]
    kp = pose.keypoints
    kp[left, :2] += (mid + np.array([torso, 0.0], np.float32)) - kp[11, :2]
    kp[right, :2] += (mid - np.array([torso, 0.0], np.float32)) - kp[12, :2]
    assert judge(pose, w, h) == "shoulders"


def test_several_poses_judged_each_and_counted() -> None:
    people = poses("person")
    ghosts = poses("ghost")
    stage = ValidityStage(ValidityConfig(motion=False, min_track_frames=1))
    w, h = people[0][2], people[0][3]
    frame = FramePoses(w, h, [people[0][4], ghosts[0][4]], 10**9, True, {}, track_scores=[0.9, 0.9])
    result = stage.process(frame)
    assert result.accepted == [people[0][4]] and result.present == [people[0][4]]
    assert [why for _, why in result.rejected] == ["size"]
    assert stage.rejections == {"size": 1}
    assert frame.timings_ms["validity"] >= 0.0
