"""The pose data model, used from inference to the MQTT payload.

One `Pose` holds numpy arrays only, with the person's track `id`; `FramePoses` is what the engine returns for
one frame (a list of poses, one per person). `Poses` is the same people as arrays with a leading person axis
(N, ...), for vectorised work on several people (validated shapes, `empty()`, boolean masks and index arrays).
`Pose.to_dict()` is the pose object of the JSON Lines output and of the MQTT `pose` payload (docs/mqtt.md);
`Pose.from_dict()` is its inverse, used by `edgepose.client`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edgepose.topology import KEYPOINT_INDEX, KEYPOINT_NAMES, NUM_KEYPOINTS

F32 = npt.NDArray[np.float32]

# Columns of Pose.keypoints.
X, Y, Z, VISIBILITY, PRESENCE = range(5)

# Decimal places kept in serialised payloads: 1e-5 of the frame is 0.02 px at 1920 px, far below model noise.
PAYLOAD_DECIMALS = 5


@dataclass(frozen=True, slots=True)
class Roi:
    """A rotated rectangle, normalised to the frame (centre, size, rotation in radians, clockwise on screen).

    Stored as float32 because MediaPipe keeps its ROI in float and a 1e-7 difference already moves the
    landmark outputs (spec §9, pitfall 9).
    """

    x_center: np.float32
    y_center: np.float32
    width: np.float32
    height: np.float32
    rotation: np.float32

    @classmethod
    def from_values(cls, x_center: float, y_center: float, width: float, height: float, rotation: float) -> Roi:
        v = np.asarray([x_center, y_center, width, height, rotation], dtype=np.float32)
        return cls(v[0], v[1], v[2], v[3], v[4])

    def as_array(self) -> F32:
        return np.array(
            [self.x_center, self.y_center, self.width, self.height, self.rotation], dtype=np.float32
        )

    def is_finite(self) -> bool:
        return bool(np.isfinite(self.as_array()).all())


@dataclass(slots=True)
class Pose:
    """One person.

    keypoints: (33, 5) float32 = x, y normalised to the frame (may lie outside [0, 1]), z on the scale of x
        (relative to the hip centre, negative towards the camera), visibility and presence in [0, 1].
    world: (33, 3) float32, metres, origin at the hip centre, x right, y down, z away from the camera.
    score: pose-presence probability from the landmark model.
    roi: the region of interest the landmarks were computed in.
    aux: (2, 5) float32, the auxiliary tracking points (hip centre and size/rotation point), same columns.
    segmentation: optional float32 mask of the frame's size, values in [0, 1].
    id: the track id (stable while the person is tracked, edgepose.engine.tracks); the index in the frame for
        photos; None when unknown (a payload from before ids existed).
    """

    keypoints: F32
    world: F32
    score: float
    roi: Roi
    aux: F32 = field(default_factory=lambda: np.zeros((2, 5), np.float32))
    segmentation: F32 | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.keypoints.shape != (NUM_KEYPOINTS, 5):
            raise ValueError(f"keypoints must have shape (33, 5), got {self.keypoints.shape}")
        if self.world.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"world must have shape (33, 3), got {self.world.shape}")

    @property
    def xy(self) -> F32:
        """(33, 2) normalised image coordinates."""
        return self.keypoints[:, :2]

    def keypoint(self, name: str) -> F32:
        """The row [x, y, z, visibility, presence] of keypoint `name` (e.g. "left_knee")."""
        try:
            return self.keypoints[KEYPOINT_INDEX[name]]
        except KeyError:
            raise KeyError(f"unknown keypoint {name!r}; names: {', '.join(KEYPOINT_NAMES)}") from None

    def xy_pixels(self, width: int, height: int) -> F32:
        return self.keypoints[:, :2] * np.array([width, height], dtype=np.float32)

    def is_finite(self) -> bool:
        return bool(np.isfinite(self.keypoints).all() and np.isfinite(self.world).all())

    def to_dict(self, decimals: int = PAYLOAD_DECIMALS) -> dict[str, Any]:
        """The public pose object: {"id", "score", "keypoints": 33 x [x, y, z, visibility, presence], "world"}
        ("id" only when known)."""
        body: dict[str, Any] = {} if self.id is None else {"id": int(self.id)}
        body.update({
            "score": round(float(self.score), decimals),
            "keypoints": np.round(self.keypoints.astype(np.float64), decimals).tolist(),
            "world": np.round(self.world.astype(np.float64), decimals).tolist(),
        })
        return body

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Pose:
        """Parse a pose object; raises ValueError naming the problem for malformed input."""
        if not isinstance(obj, dict):
            raise ValueError(f"pose must be an object, got {type(obj).__name__}")
        try:
            keypoints = np.asarray(obj["keypoints"], dtype=np.float32)
            world = np.asarray(obj["world"], dtype=np.float32)
            score = float(obj["score"])
        except KeyError as e:
            raise ValueError(f"pose object lacks {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise ValueError(f"pose object has a non-numeric field: {e}") from None
        pose_id = obj.get("id")
        if pose_id is not None and (isinstance(pose_id, bool) or not isinstance(pose_id, int) or pose_id < 0):
            raise ValueError(f"pose id must be an integer >= 0, got {pose_id!r}")
        nan_roi = Roi.from_values(np.nan, np.nan, np.nan, np.nan, np.nan)
        return cls(keypoints=keypoints, world=world, score=score, roi=nan_roi, id=pose_id)


@dataclass(slots=True)
class FramePoses:
    """The engine's result for one frame."""

    width: int
    height: int
    poses: list[Pose]
    timestamp_ns: int = 0
    detector_ran: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage, summed over the people
    landmark_runs: int = 0  # landmark invokes in this frame (one per person tried)
    # Per pose (aligned with `poses`): the score of the detection that started its track (NaN when unknown).
    track_scores: list[float] = field(default_factory=list)
    # Per pose, photos only (`PoseEngine(mirror=True)`): the pose on the mirrored crop, mapped back (None: not
    # finite); empty when not computed. Evidence for pose validity, never published.
    mirrored: list[Pose | None] = field(default_factory=list)
    detector_tiles: int = 0  # detector invokes on tiles of this wide frame (edgepose.engine.tiles)

    @property
    def ids(self) -> list[int | None]:
        return [p.id for p in self.poses]

    def batch(self) -> Poses:
        """The frame's poses as arrays (N people)."""
        return Poses.from_poses(self.poses)

    def to_dict(self, decimals: int = PAYLOAD_DECIMALS) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "poses": [p.to_dict(decimals) for p in self.poses],
        }


@dataclass(frozen=True, slots=True)
class Poses:
    """N people as arrays: keypoints (N, 33, 5), world (N, 33, 3), scores (N,), ids (N,) int64 (-1: unknown),
    rois (N, 5) x_center, y_center, width, height, rotation (NaN: unknown). Shapes are checked on creation.

    `poses[mask]` / `poses[indices]` select people, `poses[i]` is one `Pose`, iteration yields `Pose`s.
    """

    keypoints: F32
    world: F32
    scores: F32
    ids: npt.NDArray[np.int64]
    rois: F32

    def __post_init__(self) -> None:
        n = self.keypoints.shape[0] if self.keypoints.ndim == 3 else -1
        expected = {"keypoints": (n, NUM_KEYPOINTS, 5), "world": (n, NUM_KEYPOINTS, 3), "scores": (n,),
                    "ids": (n,), "rois": (n, 5)}
        for name, shape in expected.items():
            value = getattr(self, name)
            if n < 0 or value.shape != shape:
                raise ValueError(f"Poses.{name} must have shape {shape if n >= 0 else '(N, 33, 5)'}, "
                                 f"got {value.shape}")

    @classmethod
    def empty(cls) -> Poses:
        return cls(np.zeros((0, NUM_KEYPOINTS, 5), np.float32), np.zeros((0, NUM_KEYPOINTS, 3), np.float32),
                   np.zeros((0,), np.float32), np.zeros((0,), np.int64), np.zeros((0, 5), np.float32))

    @classmethod
    def from_poses(cls, poses: list[Pose]) -> Poses:
        if not poses:
            return cls.empty()
        return cls(
            np.stack([p.keypoints for p in poses]).astype(np.float32, copy=False),
            np.stack([p.world for p in poses]).astype(np.float32, copy=False),
            np.array([p.score for p in poses], np.float32),
            np.array([-1 if p.id is None else p.id for p in poses], np.int64),
            np.stack([p.roi.as_array() for p in poses]),
        )

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @property
    def xy(self) -> F32:
        """(N, 33, 2) normalised image coordinates."""
        return self.keypoints[:, :, :2]

    @property
    def visibility(self) -> F32:
        """(N, 33) keypoint visibility."""
        return self.keypoints[:, :, VISIBILITY]

    def visible(self, threshold: float = 0.5) -> npt.NDArray[np.bool_]:
        """(N, 33) mask of the keypoints with visibility ≥ `threshold`."""
        return self.keypoints[:, :, VISIBILITY] >= np.float32(threshold)

    def pose(self, i: int) -> Pose:
        r = self.rois[i]
        pose_id = int(self.ids[i])
        return Pose(self.keypoints[i], self.world[i], float(self.scores[i]),
                    Roi.from_values(*(float(v) for v in r)), id=None if pose_id < 0 else pose_id)

    def to_poses(self) -> list[Pose]:
        return [self.pose(i) for i in range(len(self))]

    def __iter__(self) -> Iterator[Pose]:
        return iter(self.to_poses())

    def __getitem__(self, index: int | slice | npt.NDArray[Any]) -> Any:
        """An int gives one Pose; a slice, boolean mask or index array gives Poses."""
        if isinstance(index, int | np.integer):
            return self.pose(int(index))
        sel = np.asarray(index) if not isinstance(index, slice) else index
        if isinstance(sel, np.ndarray) and sel.dtype == bool and sel.shape != (len(self),):
            raise IndexError(f"mask must have shape ({len(self)},), got {sel.shape}")
        return Poses(self.keypoints[sel], self.world[sel], self.scores[sel], self.ids[sel], self.rois[sel])
