"""Which detections are newcomers, which tracks are one person twice, and ids given back after a short loss."""

from __future__ import annotations

import numpy as np

from edgepose.engine.tracks import Track, TrackIds, box_iou, duplicates, suppressed
from edgepose.pose import Roi


def pose_at(x: float, y: float, spread: float = 40.0) -> np.ndarray:
    """(33, 2) pixels: the 11 face points around (x, y), the body below."""
    xy = np.zeros((33, 2), np.float32)
    xy[:11] = (x, y)
    xy[11:] = (x, y + 3 * spread)
    xy[11:, 0] += np.linspace(-spread, spread, 22, dtype=np.float32)
    return xy


def test_box_iou() -> None:
    a = np.array([[0, 0, 2, 2]], np.float32)
    b = np.array([[1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 2, 2], [1, 1, 1, 1]], np.float32)
    np.testing.assert_allclose(box_iou(a, b)[0], [1 / 7, 0, 1, 0], rtol=1e-6)


def test_a_detection_on_a_tracked_face_is_suppressed_a_face_beside_it_is_not() -> None:
    tracked = np.stack([pose_at(500, 200)])
    boxes = np.array([[460, 160, 540, 240],   # the tracked person's face box
                      [400, 160, 480, 240],   # centre 60 px away, side 80 px: 0.75 sides, a second person
                      [1000, 200, 1080, 280]], np.float32)
    assert suppressed(boxes, tracked).tolist() == [True, False, False]
    assert suppressed(boxes, np.zeros((0, 33, 2), np.float32)).tolist() == [False] * 3


def test_duplicates_keep_the_earlier_track() -> None:
    xy = np.stack([pose_at(500, 200), pose_at(502, 201), pose_at(800, 200), pose_at(501, 199)])
    sides = np.full(4, 400.0, np.float32)
    assert duplicates(xy, sides).tolist() == [False, True, False, True]
    assert duplicates(xy[:1], sides[:1]).tolist() == [False]


def test_ids_come_back_only_soon_and_at_the_same_place() -> None:
    ids = TrackIds(hold_ns=1_000_000_000)
    here = Roi.from_values(0.5, 0.5, 0.3, 0.5, 0.0)
    there = Roi.from_values(0.1, 0.5, 0.3, 0.5, 0.0)
    a, smoother = ids.assign(here, 0)
    b, _ = ids.assign(there, 0)
    assert (a, b, smoother) == (0, 1, None)
    ids.lose(Track(a, here, smoother="kept"), here, 10)
    nearby = Roi.from_values(0.52, 0.5, 0.3, 0.5, 0.0)
    assert ids.assign(nearby, 500_000_000) == (0, "kept")  # found again: id and smoother back
    ids.lose(Track(a, here, None), here, 0)
    assert ids.assign(there, 500_000_000)[0] == 2  # elsewhere: a new id
    assert ids.assign(here, 1_000_000_001)[0] == 3  # too late
    ids.lose(Track(3, here, None), here, 0)
    ids.reset()
    assert ids.assign(here, 1)[0] == 4  # ids never restart
