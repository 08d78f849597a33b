"""The landmark model (spec §3): ROI crop, decoding, presence gate, heatmap refinement, projection; and, for
photos only, the same model on the mirrored crop (`LandmarkModel.run_mirrored`, evidence for pose validity)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edgepose.engine.detector import raise_input_shape
from edgepose.engine.image_to_tensor import InputConverter, Letterbox, roi_to_tensor_u8, to_float
from edgepose.inference.backends.base import Backend
from edgepose.inference.loading import match_by_shape, shape_is
from edgepose.inference.pruning import is_mask_output
from edgepose.pose import Pose, Roi
from edgepose.topology import MIRRORED, NUM_KEYPOINTS, NUM_MODEL_LANDMARKS

F32 = npt.NDArray[np.float32]
INPUT_SIZE = 256
HEATMAP_SIZE = 64
MIN_PRESENCE = 0.5
MIN_CONFIDENCE_TO_REFINE = 0.5
DEFAULT_HEATMAP_KERNEL = 7  # the legacy C++ graph and Tasks; the legacy Python wheel behaves as 9 (spec §3.5)


def sigmoid(x: F32) -> F32:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


INPUT_RANGE = (0.0, 1.0)
_MIRRORED = np.asarray(MIRRORED, np.intp)


def landmark_crop_u8(image_rgb: npt.NDArray[np.uint8], roi: Roi) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """The ROI warped to 256², replicated border, still uint8."""
    return roi_to_tensor_u8(image_rgb, roi, INPUT_SIZE, cv2.BORDER_REPLICATE)


def landmark_input(image_rgb: npt.NDArray[np.uint8], roi: Roi) -> tuple[F32, Letterbox]:
    """The landmark tensor: the ROI warped to 256², replicated border, values in [0, 1]."""
    tensor, letterbox = landmark_crop_u8(image_rgb, roi)
    return to_float(tensor, *INPUT_RANGE), letterbox


def decode_landmarks(raw: F32) -> F32:
    """(195,) raw → (39, 5): x, y, z normalised to the tensor (z on x's scale), sigmoid visibility/presence."""
    lm = raw.reshape(NUM_MODEL_LANDMARKS, 5).astype(np.float32)
    out = np.empty_like(lm)
    out[:, :3] = lm[:, :3] / np.float32(INPUT_SIZE)
    out[:, 3:] = sigmoid(lm[:, 3:])
    return out


def refine_from_heatmap(landmarks: F32, heatmap: F32, kernel_size: int = DEFAULT_HEATMAP_KERNEL) -> F32:
    """RefineLandmarksFromHeatmap, vectorised over the 39 landmarks (spec §3.5).

    Uses the integer cell index (MediaPipe's −½-cell bias is kept) and MediaPipe's bounds check exactly: it
    tests `col` against the width and, by a slip in the C++ source, `col` again instead of `row` against the
    height, so a row just below the heatmap (64 … 63+offset) is still refined from the clipped window.
    """
    hm = heatmap.reshape(HEATMAP_SIZE, HEATMAP_SIZE, -1)
    n = landmarks.shape[0]
    offset = (kernel_size - 1) // 2
    col = np.trunc(landmarks[:, 0] * np.float32(HEATMAP_SIZE))
    row = np.trunc(landmarks[:, 1] * np.float32(HEATMAP_SIZE))
    finite = np.isfinite(col) & np.isfinite(row)
    col = np.where(finite, col, -1).astype(np.int64)
    row = np.where(finite, row, -1).astype(np.int64)
    eligible = (col >= 0) & (col < HEATMAP_SIZE) & (row >= 0)
    d = np.arange(-offset, offset + 1)
    rows = row[:, None] + d  # (n, k)
    cols = col[:, None] + d
    rows_ok = (rows >= 0) & (rows < HEATMAP_SIZE)
    cols_ok = (cols >= 0) & (cols < HEATMAP_SIZE)
    # min/max rather than np.clip: the same values, without np.clip's per-call overhead (this runs every frame).
    r = np.minimum(np.maximum(rows, 0), HEATMAP_SIZE - 1)
    c = np.minimum(np.maximum(cols, 0), HEATMAP_SIZE - 1)
    window = hm[r[:, :, None], c[:, None, :], np.arange(n)[:, None, None]]  # (n, k, k)
    mask = rows_ok[:, :, None] & cols_ok[:, None, :]
    conf = np.where(mask, sigmoid(window), np.float32(0))
    total = conf.sum(axis=(1, 2), dtype=np.float32)
    peak = conf.max(axis=(1, 2))
    wcol = (conf * cols[:, None, :]).sum(axis=(1, 2), dtype=np.float32)
    wrow = (conf * rows[:, :, None]).sum(axis=(1, 2), dtype=np.float32)
    refine = eligible & (peak >= np.float32(MIN_CONFIDENCE_TO_REFINE)) & (total > 0)
    out = landmarks.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 0] = np.where(refine, wcol / np.float32(HEATMAP_SIZE) / total, landmarks[:, 0])
        out[:, 1] = np.where(refine, wrow / np.float32(HEATMAP_SIZE) / total, landmarks[:, 1])
    return out


def project_to_frame(landmarks: F32, letterbox: Letterbox, roi: Roi) -> F32:
    """Letterbox removal, then rotation and scaling from ROI space to the frame (spec §3.7)."""
    f = np.float32
    sx = f(1) - letterbox.left - letterbox.right
    sy = f(1) - letterbox.top - letterbox.bottom
    x = (landmarks[:, 0] - letterbox.left) / sx - f(0.5)
    y = (landmarks[:, 1] - letterbox.top) / sy - f(0.5)
    z = landmarks[:, 2] / sx
    cos, sin = np.cos(roi.rotation), np.sin(roi.rotation)
    out = landmarks.copy()
    out[:, 0] = (cos * x - sin * y) * roi.width + roi.x_center
    out[:, 1] = (sin * x + cos * y) * roi.height + roi.y_center
    out[:, 2] = z * roi.width
    return out


def unrotate_world(world: F32, rotation: np.float32) -> F32:
    """World landmarks turned by the ROI angle so that world "up" matches the image (spec §3.8)."""
    cos, sin = np.cos(rotation), np.sin(rotation)
    out = world.copy()
    out[:, 0] = cos * world[:, 0] - sin * world[:, 1]
    out[:, 1] = sin * world[:, 0] + cos * world[:, 1]
    return out


def mask_to_frame(logits: F32, roi: Roi, letterbox: Letterbox, width: int, height: int) -> F32:
    """Segmentation logits → a frame-size probability mask (spec §3.9), zero outside the ROI."""
    f = np.float32
    mask = sigmoid(logits.reshape(logits.shape[-3], logits.shape[-2]))
    size = np.float32(mask.shape[0])
    a = roi.width * f(width) / (f(1) - letterbox.left - letterbox.right)
    b = roi.height * f(height) / (f(1) - letterbox.top - letterbox.bottom)
    cx, cy = roi.x_center * f(width), roi.y_center * f(height)
    cos, sin = np.cos(roi.rotation), np.sin(roi.rotation)
    # ROI unit square → frame pixels; warpAffine with WARP_INVERSE_MAP samples the mask for each frame pixel.
    m = np.array(
        [
            [a * cos / size, -b * sin / size, -0.5 * a * cos + 0.5 * b * sin + cx],
            [a * sin / size, b * cos / size, -0.5 * b * cos - 0.5 * a * sin + cy],
        ],
        dtype=np.float64,
    )
    return cv2.warpAffine(mask, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


@dataclass(slots=True)
class LandmarkResult:
    """Raw outcome for one ROI: the presence score always; the pose only when it passed the gate."""

    presence: float
    pose: Pose | None


class LandmarkModel:
    """Runs a `pose_landmark_{lite,full,heavy}` model (float or int8) on an ROI of a frame."""

    def __init__(
        self,
        backend: Backend,
        heatmap_kernel: int = DEFAULT_HEATMAP_KERNEL,
        min_presence: float = MIN_PRESENCE,
        segmentation: bool = False,
    ) -> None:
        if heatmap_kernel < 1 or heatmap_kernel % 2 == 0:
            raise ValueError(f"heatmap kernel must be an odd positive size (7 or 9), got {heatmap_kernel}")
        self.backend = backend
        self.heatmap_kernel = heatmap_kernel
        self.min_presence = min_presence
        self.segmentation = segmentation
        self.last_invoke_ms = 0.0
        if backend.inputs[0].shape != (1, INPUT_SIZE, INPUT_SIZE, 3):
            raise_input_shape(backend, (1, INPUT_SIZE, INPUT_SIZE, 3), "pose landmark")
        n = NUM_MODEL_LANDMARKS
        self._out = match_by_shape(
            backend.path,
            backend.outputs,
            {
                "landmarks": shape_is(1, n * 5),
                "presence": shape_is(1, 1),
                "heatmap": shape_is(1, HEATMAP_SIZE, HEATMAP_SIZE, n),
                "world": shape_is(1, n * 3),
            },
            "pose landmark",
        )
        # The mask size differs between model builds (128² or 256²): read it from the model.
        masks = [i for i, s in enumerate(backend.outputs) if is_mask_output(s.shape)]
        self._mask = masks[0] if masks else None
        self._convert = InputConverter(backend.inputs[0], *INPUT_RANGE, model=backend.path)

    def input_tensor(self, image_rgb: npt.NDArray[np.uint8], roi: Roi) -> tuple[npt.NDArray[Any], Letterbox]:
        """`landmark_input` in the model's own input type (float32, or int8 for an int8 model)."""
        tensor, letterbox = landmark_crop_u8(image_rgb, roi)
        return self._convert(tensor), letterbox

    def run(self, image_rgb: npt.NDArray[np.uint8], roi: Roi) -> LandmarkResult:
        tensor, letterbox = self.input_tensor(image_rgb, roi)
        return self.run_tensor(tensor, letterbox, roi, image_rgb.shape[1], image_rgb.shape[0])

    def run_tensor(
        self, tensor: npt.NDArray[Any], letterbox: Letterbox, roi: Roi, width: int, height: int
    ) -> LandmarkResult:
        t0 = time.perf_counter()
        outputs = self.backend.run(tensor)
        self.last_invoke_ms = (time.perf_counter() - t0) * 1e3
        presence = float(outputs[self._out["presence"]].reshape(-1)[0])
        # Strict ">" as in MediaPipe's ThresholdingCalculator; a NaN score fails the gate as well.
        if not presence > self.min_presence:
            return LandmarkResult(presence, None)
        lm = decode_landmarks(outputs[self._out["landmarks"]])
        lm = refine_from_heatmap(lm, outputs[self._out["heatmap"]], self.heatmap_kernel)
        lm = project_to_frame(lm, letterbox, roi)
        world = unrotate_world(outputs[self._out["world"]].reshape(NUM_MODEL_LANDMARKS, 3), roi.rotation)
        if not (np.isfinite(lm[: NUM_KEYPOINTS + 2]).all() and np.isfinite(world[:NUM_KEYPOINTS]).all()):
            return LandmarkResult(presence, None)  # non-finite output never reaches a ROI or a payload
        mask = None
        if self.segmentation and self._mask is not None:
            mask = mask_to_frame(outputs[self._mask], roi, letterbox, width, height)
        pose = Pose(
            keypoints=np.ascontiguousarray(lm[:NUM_KEYPOINTS]),
            world=np.ascontiguousarray(world[:NUM_KEYPOINTS]),
            score=presence,
            roi=roi,
            aux=np.ascontiguousarray(lm[NUM_KEYPOINTS : NUM_KEYPOINTS + 2]),
            segmentation=mask,
        )
        return LandmarkResult(presence, pose)

    def run_mirrored(
        self, tensor: npt.NDArray[Any], letterbox: Letterbox, roi: Roi, width: int, height: int
    ) -> Pose | None:
        """The pose the model finds on the horizontally mirrored crop `tensor` (same ROI), mapped back: x mirrored
        back in the crop, left and right keypoints swapped back, world x negated. Not gated by presence (its
        score is evidence whatever it is); None when an output is not finite.

        A person's pose is much the same seen in a mirror, while a pose read into furniture or stones often
        changes (docs/presence.md, "Evidence: photos"); pose validity judges photos with it. Never part of the
        MediaPipe-equal output: the engine computes it only when asked to (`PoseEngine(mirror=True)`, photos).
        """
        t0 = time.perf_counter()
        outputs = self.backend.run(np.ascontiguousarray(tensor[:, :, ::-1]))
        self.last_invoke_ms = (time.perf_counter() - t0) * 1e3
        presence = float(outputs[self._out["presence"]].reshape(-1)[0])
        lm = decode_landmarks(outputs[self._out["landmarks"]])
        lm = refine_from_heatmap(lm, outputs[self._out["heatmap"]], self.heatmap_kernel)
        lm[:, 0] = np.float32(1.0) - lm[:, 0]  # the flipped crop's x → the crop's own (whatever the letterbox)
        lm = project_to_frame(lm, letterbox, roi)
        world = outputs[self._out["world"]].reshape(NUM_MODEL_LANDMARKS, 3).astype(np.float32)  # a copy
        world[:, 0] = -world[:, 0]
        world = unrotate_world(world, roi.rotation)
        keypoints, world = lm[:NUM_KEYPOINTS][_MIRRORED], world[:NUM_KEYPOINTS][_MIRRORED]
        if not (np.isfinite(keypoints).all() and np.isfinite(world).all() and np.isfinite(presence)):
            return None
        return Pose(keypoints=np.ascontiguousarray(keypoints), world=np.ascontiguousarray(world), score=presence,
                    roi=roi, aux=np.ascontiguousarray(lm[NUM_KEYPOINTS : NUM_KEYPOINTS + 2]))
