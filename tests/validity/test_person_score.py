"""The person-score rule (photos): recorded ghosts of person-free photos are rejected, recorded people kept.

tests/validity/data/photo_poses.npz holds lite int8 static poses (the engine after issue 10) that pass the
score, torso and body-geometry rules (the detector of that time, 1a2ce05a…, before its bias correction): all 49
such ghosts of `images/negatives` (both halves) and every 25th such person of `images/sports` (47).
tests/validity/data/photo_mirrors.npz holds the same photos' mirrored poses (`PoseEngine(mirror=True)`; score and
world landmarks), recorded with the same engine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from support.paths import MODELS_DIR, SHARED_DATA

from edgepose.commands.common import read_image
from edgepose.config import Config
from edgepose.daemon.pipeline import validity_stage
from edgepose.engine.tracker import EngineConfig, PoseEngine
from edgepose.pose import FramePoses, Pose, Roi
from edgepose.validity import ValidityConfig, ValidityStage, rules

DATA = np.load(Path(__file__).parent / "data" / "photo_poses.npz")
MIRRORS = np.load(Path(__file__).parent / "data" / "photo_mirrors.npz")
NAN_ROI = Roi.from_values(np.nan, np.nan, np.nan, np.nan, np.nan)


def recorded(kind: str, *, mirror: bool = False) -> list[tuple[str, FramePoses]]:
    """The recorded photos of `kind` as the engine's frames; `mirror`: with their mirrored poses."""
    out = []
    for i, (name, (w, h), kp, world, score, det) in enumerate(zip(
            DATA[f"{kind}_file"], DATA[f"{kind}_size"], DATA[f"{kind}_kp"], DATA[f"{kind}_world"],
            DATA[f"{kind}_score"], DATA[f"{kind}_track_score"], strict=True)):  # fmt: skip
        pose = Pose(keypoints=kp.copy(), world=world.copy(), score=float(score), roi=NAN_ROI)
        frame = FramePoses(int(w), int(h), [pose], 0, True, {}, track_scores=[float(det)])
        if mirror:  # only score and world are recorded: the person score reads nothing else of the mirror
            frame.mirrored = [Pose(keypoints=kp.copy(), world=MIRRORS[f"{kind}_mirror_world"][i].copy(),
                                   score=float(MIRRORS[f"{kind}_mirror_score"][i]), roi=NAN_ROI)]
        out.append((str(name), frame))
    return out


def reasons(frames: list[tuple[str, FramePoses]], stage: ValidityStage) -> list[str | None]:
    out = []
    for _, frame in frames:
        r = stage.process(frame)
        out.append(r.rejected[0][1] if r.rejected else None)
    return out


def test_recorded_people_are_kept() -> None:
    assert reasons(recorded("person"), ValidityStage(static=True)) == [None] * len(DATA["person_file"])


def test_recorded_ghosts_are_rejected_as_not_a_person() -> None:
    ghosts = recorded("ghost")
    got = reasons(ghosts, ValidityStage(static=True))
    assert set(got) <= {None, "person"}
    # 31 of 49 when recorded (docs/presence.md, "Evidence: photos"); every other rule let them all through.
    assert got.count("person") >= 31, got
    assert reasons(ghosts, ValidityStage(ValidityConfig(min_person_score=0.0), static=True)) == [None] * len(got)


def test_recorded_people_are_kept_with_the_mirror() -> None:
    assert reasons(recorded("person", mirror=True), ValidityStage(static=True)) == [None] * len(DATA["person_file"])


def test_the_mirror_rejects_more_recorded_ghosts() -> None:
    """With the mirrored poses the stage rejects 40 of the 49 ghosts (without: 31), keeping every person."""
    got = reasons(recorded("ghost", mirror=True), ValidityStage(static=True))
    assert set(got) <= {None, "person"}
    assert got.count("person") >= 40, got
    assert got.count("person") > reasons(recorded("ghost"), ValidityStage(static=True)).count("person")


def test_person_rule_is_for_photos_only() -> None:
    """In video the time and motion rules judge: the same ghost is not rejected as `person` there."""
    name, frame = next(g for g in recorded("ghost") if reasons([g], ValidityStage(static=True)) == ["person"])
    # (min_detection_score = 0: the recording's detector gave 0.500, which the video rule rejects by itself.)
    video = ValidityStage(ValidityConfig(motion=False, min_track_frames=1, min_detection_score=0.0))
    assert reasons([(name, frame)], video) == [None]


def test_world_limb_length() -> None:
    world = np.zeros((1, 33, 3), np.float32)
    # A right angle at each elbow and knee: every bone along one axis, lengths 0.3 + 0.25 per arm, 0.45 + 0.4 leg.
    for sh, el, wr, sign in ((11, 13, 15, 1), (12, 14, 16, -1)):
        world[0, sh] = (0.2 * sign, -0.5, 0)
        world[0, el] = (0.2 * sign, -0.2, 0)
        world[0, wr] = (0.2 * sign, -0.2, -0.25)
    for hip, knee, ankle, sign in ((23, 25, 27, 1), (24, 26, 28, -1)):
        world[0, hip] = (0.1 * sign, 0, 0)
        world[0, knee] = (0.1 * sign, 0.45, 0)
        world[0, ankle] = (0.1 * sign, 0.45, 0.4)
    assert rules.world_limb_length(world) == pytest.approx([2 * (0.3 + 0.25 + 0.45 + 0.4)], abs=1e-5)
    assert rules.world_limb_length(np.zeros((0, 33, 3), np.float32)).shape == (0,)


def test_person_score_rises_with_each_piece_of_evidence() -> None:
    def score(pose: float, det: float, limbs: float) -> float:
        return float(rules.person_score(np.float32([pose]), np.float32([det]), np.float32([limbs]))[0])

    base = score(0.9, 0.6, 1.8)
    assert score(0.99, 0.6, 1.8) > base and score(0.9, 0.9, 1.8) > base and score(0.9, 0.6, 2.3) > base
    assert score(0.9, float("nan"), 1.8) == pytest.approx(score(0.9, 0.5, 1.8))  # unknown = the detector floor
    assert np.isnan(score(float("nan"), 0.6, 1.8))  # fails any threshold
    assert 0.0 < score(0.0, 0.0, 0.0) < 0.5 < score(1.0, 1.0, 2.3) <= 1.0  # clipped logits: finite at 0 and 1


def test_mirror_person_score_averages_the_two_views() -> None:
    def score(pose: float, limbs: float, mirror_pose: float, mirror_limbs: float, det: float = 0.6) -> float:
        f = np.float32
        return float(rules.person_score(f([pose]), f([det]), f([limbs]), (f([mirror_pose]), f([mirror_limbs])))[0])

    agree = score(0.95, 2.2, 0.95, 2.2)
    assert agree > 0.5  # a person's pose, the same in the mirror
    # The views are interchangeable, and a mirror whose pose shrinks or fades pulls the score down.
    assert score(0.95, 2.2, 0.6, 1.4) == pytest.approx(score(0.6, 1.4, 0.95, 2.2))
    assert score(0.95, 2.2, 0.95, 1.4) < agree and score(0.95, 2.2, 0.05, 2.2) < agree
    assert score(0.95, 2.2, 0.95, 1.0) < 0.5  # a mirror skeleton of a ghost's size (1.4 m: see world_limb_length)
    assert np.isnan(score(0.95, 2.2, float("nan"), 2.2))  # a mirror that was not finite fails the rule


@pytest.fixture(scope="module")
def engine() -> PoseEngine:
    if not (SHARED_DATA / "images" / "negatives").is_dir():
        pytest.skip(f"photos not found at {SHARED_DATA} (set EDGEPOSE_TEST_DATA)")
    if not any(MODELS_DIR.glob("pose_landmark_lite_int8*.tflite")):
        pytest.skip(f"int8 lite model not found in {MODELS_DIR}")
    return PoseEngine.from_config(EngineConfig(model="lite", precision="int8", static=True, models_dir=MODELS_DIR,
                                               mirror_evidence=True))


@pytest.mark.parametrize(("name", "expected", "without_mirror"), [
    ("negatives/00657.jpg", "person", "person"), ("negatives/01007.jpg", "person", "person"),
    ("negatives/01087.jpg", "person", None),  # a ghost only the mirror rejects (bias-corrected detector)
    *[(str(n), None, None) for n in DATA["person_file"][:4]],
])  # fmt: skip
def test_real_photos_through_the_daemon_stage(engine: PoseEngine, name: str, expected: str | None,
                                              without_mirror: str | None) -> None:
    """The real engine on real photos, judged by the stage as `infer` and `eval` build it (with the mirror)."""
    raw = engine.process(read_image(SHARED_DATA / "images" / name))
    assert len(raw.poses) == 1 and len(raw.mirrored) == 1
    result = validity_stage(Config(), static=True).process(raw)
    assert (result.rejected[0][1] if result.rejected else None) == expected
    single = validity_stage(Config(), static=True).process(dataclasses.replace(raw, mirrored=[]))
    assert (single.rejected[0][1] if single.rejected else None) == without_mirror
    off = validity_stage(Config(), static=True, enabled=False).process(raw)
    assert len(off.accepted) == 1
