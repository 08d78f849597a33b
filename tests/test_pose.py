"""The pose data model: one Pose with its track id, and Poses, the batched arrays of N people."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgepose.pose import FramePoses, Pose, Poses, Roi


def make_pose(seed: int, pose_id: int | None) -> Pose:
    rng = np.random.default_rng(seed)
    return Pose(rng.random((33, 5), dtype=np.float32), rng.normal(size=(33, 3)).astype(np.float32),
                0.5 + seed / 10, Roi.from_values(0.5, 0.5, 0.2, 0.4, 0.1), id=pose_id)


def test_id_is_in_the_pose_object_and_parsed_back() -> None:
    pose = make_pose(0, 7)
    obj = pose.to_dict()
    assert obj["id"] == 7 and next(iter(obj)) == "id"
    assert Pose.from_dict(obj).id == 7
    assert "id" not in make_pose(0, None).to_dict()


def test_batch_shapes_selection_and_round_trip() -> None:
    poses = [make_pose(i, i + 10) for i in range(3)]
    batch = FramePoses(640, 480, poses).batch()
    assert len(batch) == 3 and batch.keypoints.shape == (3, 33, 5) and batch.xy.shape == (3, 33, 2)
    assert batch.ids.tolist() == [10, 11, 12] and batch.visible(0.5).shape == (3, 33)
    picked = batch[batch.scores > 0.55]
    assert isinstance(picked, Poses) and picked.ids.tolist() == [11, 12]
    assert batch[np.array([2, 0])].ids.tolist() == [12, 10]
    one = batch[1]
    assert isinstance(one, Pose) and one.id == 11
    np.testing.assert_array_equal(one.keypoints, poses[1].keypoints)
    np.testing.assert_array_equal(one.roi.as_array(), poses[1].roi.as_array())
    assert [p.id for p in batch] == [10, 11, 12]
    assert Poses.from_poses([dataclasses.replace(poses[0], id=None)]).ids.tolist() == [-1]
    assert Poses.from_poses([dataclasses.replace(poses[0], id=None)])[0].id is None


def test_empty_and_bad_shapes() -> None:
    empty = Poses.empty()
    assert len(empty) == 0 and empty.to_poses() == [] and len(FramePoses(1, 1, []).batch()) == 0
    assert len(empty[np.zeros(0, bool)]) == 0
    batch = Poses.from_poses([make_pose(0, 1), make_pose(1, 2)])
    with pytest.raises(ValueError, match=r"Poses.world must have shape \(2, 33, 3\)"):
        dataclasses.replace(batch, world=batch.world[:1])
    with pytest.raises(ValueError, match=r"Poses.keypoints must have shape"):
        dataclasses.replace(batch, keypoints=batch.keypoints[0])
    with pytest.raises(IndexError, match=r"mask must have shape \(2,\)"):
        batch[np.array([True])]
