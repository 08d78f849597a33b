"""Several people in the detector-tracker loop: which ROIs to keep, and stable track ids.

MediaPipe's Tasks pose landmarker (pose_landmarker_graph.cc) tracks up to `num_poses` people: the previous
frame's ROIs are reused, the detector runs only while fewer than `num_poses` are tracked, and an
AssociationNormRectCalculator with `min_similarity_threshold = min_tracking_confidence` (0.5) merges tracked and
detected ROIs by IoU of the whole-body ROIs. We follow the schedule, and differ in the association: a
detection is matched to a tracked person by face position (the detector's box is a face box), because the
whole-body ROIs of people side by side overlap more than MediaPipe's threshold (see FACE_MATCH); and where a
detection is a tracked person the tracked one is kept (MediaPipe keeps the detection), so that the person keeps
their id and smoothing. Tracks that converge on one person are merged (the older one stays).

Ids: a track keeps its id while it is tracked. A lost track is remembered for `hold_ns`; a new detection whose
ROI overlaps the remembered one by at least `RETURN_IOU` (the same place and size) gets the id back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgepose.pose import Roi

F32 = npt.NDArray[np.float32]

FACE = np.arange(11)
# A detection is a tracked person when its box centre is within this fraction of its side from the tracked
# face. (The detector's box is the face; on two_people_hug.mp4 the whole-body ROIs of the two people overlap
# by IoU 0.71, above MediaPipe's 0.5, while their face centres are 0.75 face widths apart.)
FACE_MATCH = 0.5
# Two tracks whose poses are this close (mean keypoint distance / ROI side) follow the same person.
DUPLICATE_DISTANCE = 0.05
# A returning person: the ROI of the new detection overlaps the lost one this much. Lower than the association
# threshold because a person moves during the loss and a detector ROI is not a landmark ROI.
RETURN_IOU = 0.3


def roi_boxes(rois: list[Roi]) -> F32:
    """(N, 4) xmin, ymin, xmax, ymax of the ROIs, rotation ignored."""
    if not rois:
        return np.zeros((0, 4), np.float32)
    a = np.stack([r.as_array() for r in rois])
    half = a[:, 2:4] / np.float32(2)
    return np.concatenate([a[:, :2] - half, a[:, :2] + half], axis=1)


def box_iou(a: F32, b: F32) -> F32:
    """(N, M) IoU of two sets of boxes (xmin, ymin, xmax, ymax); 0 where the union is empty."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0).astype(np.float32)


def face_centres(xy_px: F32) -> F32:
    """(N, 2) pixel centre of the face keypoints (0-10: nose, eyes, ears, mouth) of (N, 33, 2) poses."""
    return xy_px[:, FACE].mean(axis=1)


def suppressed(det_boxes_px: F32, track_xy_px: F32, threshold: float = FACE_MATCH) -> npt.NDArray[np.bool_]:
    """For each detection (box in pixels, the detector's box is the face), whether it is a tracked person: its
    centre lies within `threshold` × its side of a tracked pose's face centre."""
    n = det_boxes_px.shape[0]
    if n == 0 or track_xy_px.shape[0] == 0:
        return np.zeros(n, bool)
    centre = (det_boxes_px[:, :2] + det_boxes_px[:, 2:]) / np.float32(2)
    side = np.max(det_boxes_px[:, 2:] - det_boxes_px[:, :2], axis=1)
    dist = np.linalg.norm(centre[:, None, :] - face_centres(track_xy_px)[None, :, :], axis=2)
    # A NaN distance (never expected: tracked poses are finite) counts as "the same person": no duplicate.
    return ~(dist >= threshold * side[:, None]).all(axis=1)


def duplicates(xy_px: F32, scales_px: F32, threshold: float = DUPLICATE_DISTANCE) -> npt.NDArray[np.bool_]:
    """For poses in priority order ((N, 33, 2) pixels, ROI sides (N,)), whether each is a kept earlier pose
    again: mean keypoint distance below `threshold` × the ROI side (two tracks that converged on one person;
    the later is dropped)."""
    n = xy_px.shape[0]
    drop = np.zeros(n, bool)
    if n < 2:
        return drop
    dist = np.linalg.norm(xy_px[:, None] - xy_px[None, :], axis=3).mean(axis=2)
    close = dist < threshold * np.minimum(scales_px[:, None], scales_px[None, :])
    for i in range(1, n):
        drop[i] = bool(close[i, :i][~drop[:i]].any())
    return drop


@dataclass(slots=True)
class Track:
    """One tracked person: id, the ROI for the next frame, its smoother (None in static mode), the last
    pose's keypoints in pixels (33, 2), and the score of the detection that started the track (pose validity
    weighs it)."""

    id: int
    roi: Roi
    smoother: Any = None
    xy_px: F32 | None = None
    score: float = float("nan")


@dataclass(slots=True)
class _Lost:
    id: int
    roi: Roi
    lost_ns: int
    smoother: Any


class TrackIds:
    """Hands out track ids and gives one back to a person found again soon at the same place and size."""

    def __init__(self, hold_ns: int, return_iou: float = RETURN_IOU) -> None:
        self.hold_ns = int(hold_ns)
        self.return_iou = float(return_iou)
        self._next = 0
        self._lost: list[_Lost] = []

    def reset(self) -> None:
        """Forget the lost tracks (ids keep counting up: an id is never reused for someone else)."""
        self._lost.clear()

    def lose(self, track: Track, roi: Roi, timestamp_ns: int) -> None:
        """`track` was not found in the frame at `timestamp_ns`; `roi` is where it was last seen."""
        self._lost.append(_Lost(track.id, roi, timestamp_ns, track.smoother))

    def assign(self, roi: Roi, timestamp_ns: int) -> tuple[int, Any]:
        """The id for a new detection at `roi`: a recently lost one at the same place (with its smoother), or
        a fresh one (smoother None)."""
        self._lost = [lost for lost in self._lost if timestamp_ns - lost.lost_ns <= self.hold_ns]
        if self._lost:
            iou = box_iou(roi_boxes([roi]), roi_boxes([lost.roi for lost in self._lost]))[0]
            best = int(np.argmax(iou))
            if iou[best] >= self.return_iou:
                found = self._lost.pop(best)
                return found.id, found.smoother
        self._next += 1
        return self._next - 1, None
