"""The pose data model, used from inference to the MQTT payload.

One `Pose` holds numpy arrays only; `FramePoses` is what the engine returns for one frame (a list of poses,
one today, several later). `Pose.to_dict()` is the pose object of the JSON Lines output and of the MQTT
`pose` payload (docs/mqtt.md); `Pose.from_dict()` is its inverse, used by `edgepose.client`.
"""

from __future__ import annotations

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
    """

    keypoints: F32
    world: F32
    score: float
    roi: Roi
    aux: F32 = field(default_factory=lambda: np.zeros((2, 5), np.float32))
    segmentation: F32 | None = None

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
        """The public pose object: {"score", "keypoints": 33 x [x, y, z, visibility, presence], "world"}."""
        return {
            "score": round(float(self.score), decimals),
            "keypoints": np.round(self.keypoints.astype(np.float64), decimals).tolist(),
            "world": np.round(self.world.astype(np.float64), decimals).tolist(),
        }

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
        nan_roi = Roi.from_values(np.nan, np.nan, np.nan, np.nan, np.nan)
        return cls(keypoints=keypoints, world=world, score=score, roi=nan_roi)


@dataclass(slots=True)
class FramePoses:
    """The engine's result for one frame."""

    width: int
    height: int
    poses: list[Pose]
    timestamp_ns: int = 0
    detector_ran: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Per pose (aligned with `poses`): the score of the detection that started its track (NaN when unknown).
    track_scores: list[float] = field(default_factory=list)

    def to_dict(self, decimals: int = PAYLOAD_DECIMALS) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "poses": [p.to_dict(decimals) for p in self.poses],
        }
