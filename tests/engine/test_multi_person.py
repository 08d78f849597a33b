"""Several people (engine.max_poses): two ids through the hug video; max_poses = 1 gives the single-person
engine's output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.engine import engine, require_float_models
from support.single_person import VIDEOS, kernel_family, record

from edgepose.commands.common import read_video

# The single-person engine's payloads, per kernel family (the file says how they were recorded): XNNPACK's float
# kernels differ in their last bits between CPUs and the tracker carries that from frame to frame, so one exact
# reference holds for one family only (support/single_person.py).
DIGESTS = Path(__file__).with_name("single_person_digests.json")


def test_two_people_keep_two_ids_through_the_hug(shared_data: Path) -> None:
    eng = engine(model="lite", max_poses=2)
    results = [eng.process(f.rgb, f.timestamp_ns) for f in read_video(shared_data / "videos/two_people_hug.mp4")]
    ids = [[p.id for p in r.poses] for r in results]
    print("ids per frame:", ids)
    # The second person, beside the first, is found by the detector run for newcomers within 3 frames (measured:
    # frame 2); from then on both keep their ids to the last frame and nothing else is detected.
    first_two = next(i for i, frame_ids in enumerate(ids) if len(frame_ids) == 2)
    assert first_two <= 3 and ids[0] == [0]
    assert all(frame_ids == [0, 1] for frame_ids in ids[first_two:])
    assert sum(r.detector_ran for r in results) == first_two + 1  # none once both are tracked
    assert eng.stats.landmark_runs == sum(len(r.poses) for r in results)
    # Two people, not one twice: the right one (id 0) stays right of the left one at the hips.
    hips = np.array([[(p.keypoints[23, 0] + p.keypoints[24, 0]) / 2 for p in r.poses] for r in results[first_two:]])
    assert (hips[:, 0] - hips[:, 1] > 0.03).all(), hips.min(axis=0)


def test_photo_engine_finds_several_people_with_index_ids(shared_data: Path) -> None:
    eng = engine(model="lite", max_poses=4, static=True)
    frame = next(iter(read_video(shared_data / "videos/two_people_hug.mp4", max_frames=30)))
    result = eng.process(frame.rgb)
    assert [p.id for p in result.poses] == list(range(len(result.poses))) and len(result.poses) >= 1


@pytest.mark.parametrize("video", VIDEOS)
def test_max_poses_1_output_is_that_of_the_single_person_engine(shared_data: Path, video: str) -> None:
    """Every frame's payload (ids aside) equals the single-person engine's, recorded on this CPU's kernel family."""
    family = kernel_family()
    recorded = json.loads(DIGESTS.read_text())["families"]
    if family not in recorded:
        pytest.skip(f"no digests for this CPU's float kernels ({family or 'unknown'}; recorded: "
                    f"{', '.join(recorded)}): `cd tests && python -m support.single_person {DIGESTS.name} "
                    "--family NAME` at a commit whose output is known to be right")  # fmt: skip
    expected = recorded[family][video]
    got = record(shared_data, video, require_float_models())
    mismatch = [i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]
    assert len(got) == len(expected) and not mismatch, f"{family}: frames that differ: {mismatch[:20]}"


def test_kernel_family_is_read_from_the_cpu_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    for flags, family in (("fpu avx2 fma avx512f", "x86-avx512"), ("fpu avx2 fma", "x86-avx2"), ("fpu sse4_2", None)):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert kernel_family(cpuinfo) == family, flags
    assert kernel_family(tmp_path / "missing") is None
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert kernel_family(cpuinfo) is None  # Arm's kernels: no digests recorded
