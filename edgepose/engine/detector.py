"""The pose detector (spec §1): letterboxed input, SSD decoding, weighted NMS, letterbox removal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edgepose.engine.anchors import INPUT_SIZE, ssd_anchors
from edgepose.engine.image_to_tensor import InputConverter, Letterbox, roi_to_tensor_u8, to_float, whole_image_roi
from edgepose.engine.tiles import square_tiles
from edgepose.inference.backends.base import Backend
from edgepose.inference.loading import match_by_shape, shape_is

F32 = npt.NDArray[np.float32]
NUM_ANCHORS = 2254
NUM_COORDS = 12
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
NMS_IOU = 0.3  # legacy graph; the Tasks API uses 0.5


@dataclass(frozen=True, slots=True)
class Detections:
    """N detections: boxes (N, 4) xmin, ymin, xmax, ymax; keypoints (N, 4, 2); scores (N,). Highest first."""

    boxes: F32
    keypoints: F32
    scores: F32

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32))


INPUT_RANGE = (-1.0, 1.0)


def detector_crop_u8(image_rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """The whole frame letterboxed into 224², zero border, still uint8."""
    return roi_to_tensor_u8(image_rgb, whole_image_roi(), INPUT_SIZE, cv2.BORDER_CONSTANT)


def detector_input(image_rgb: npt.NDArray[np.uint8]) -> tuple[F32, Letterbox]:
    """The detector tensor: the whole frame letterboxed into 224², zero border, values in [−1, 1]."""
    tensor, letterbox = detector_crop_u8(image_rgb)
    return to_float(tensor, *INPUT_RANGE), letterbox


def decode(raw_boxes: F32, raw_scores: F32, min_score: float = MIN_SCORE) -> Detections:
    """Decode the SSD outputs (reverse_output_order: [xc, yc, w, h, kp0x, kp0y, …]) in tensor coordinates."""
    raw = raw_boxes.reshape(NUM_ANCHORS, NUM_COORDS).astype(np.float32, copy=False)
    logits = np.clip(raw_scores.reshape(NUM_ANCHORS).astype(np.float32), -SCORE_CLIP, SCORE_CLIP)
    with np.errstate(over="ignore"):
        scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    keep = scores >= np.float32(min_score)
    if not keep.any():
        return Detections.empty()
    r = raw[keep]
    anchors = ssd_anchors()[keep]
    size = np.float32(INPUT_SIZE)
    centre = r[:, 0:2] / size + anchors
    wh = r[:, 2:4] / size
    # NaN or negative sizes are the pipeline's only NaN guard in MediaPipe (spec §1.4).
    ok = (wh >= 0).all(axis=1)
    boxes = np.concatenate([centre - wh / np.float32(2), centre + wh / np.float32(2)], axis=1)
    keypoints = r[:, 4:12].reshape(-1, 4, 2) / size + anchors[:, None, :]
    return Detections(boxes[ok], keypoints[ok], scores[keep][ok])


def _iou(box: F32, boxes: F32) -> F32:
    inter_wh = np.clip(np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2]), 0, None)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0).astype(np.float32)


def weighted_nms(dets: Detections, iou_threshold: float = NMS_IOU) -> Detections:
    """MediaPipe's WEIGHTED non-maximum suppression: each cluster's box and keypoints are score-weighted means,
    its score is the cluster top's. Loops over clusters (a handful), not over boxes or keypoints."""
    if len(dets) == 0:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    boxes, kps, scores = dets.boxes[order], dets.keypoints[order], dets.scores[order]
    remaining = np.arange(len(scores))
    out_b, out_k, out_s = [], [], []
    while remaining.size:
        top = remaining[0]
        members = _iou(boxes[top], boxes[remaining]) > np.float32(iou_threshold)
        cand = remaining[members]
        if cand.size:
            w = scores[cand]
            total = w.sum(dtype=np.float32)
            out_b.append((boxes[cand] * w[:, None]).sum(axis=0) / total)
            out_k.append((kps[cand] * w[:, None, None]).sum(axis=0) / total)
        else:
            out_b.append(boxes[top])
            out_k.append(kps[top])
        out_s.append(scores[top])
        if not members.any():  # a degenerate zero-area box removes nothing: MediaPipe stops here too
            break
        remaining = remaining[~members]
    return Detections(
        np.asarray(out_b, np.float32), np.asarray(out_k, np.float32), np.asarray(out_s, np.float32)
    )


def remove_letterbox(dets: Detections, lb: Letterbox) -> Detections:
    """Tensor coordinates → frame-normalised coordinates (may fall outside [0, 1])."""
    offset = np.array([lb.left, lb.top], np.float32)
    scale = np.array([np.float32(1) - lb.left - lb.right, np.float32(1) - lb.top - lb.bottom], np.float32)
    boxes = ((dets.boxes.reshape(-1, 2, 2) - offset) / scale).reshape(-1, 4)
    return Detections(boxes, (dets.keypoints - offset) / scale, dets.scores)


class PoseDetector:
    """Runs `pose_detection.tflite` (float or int8) on a frame and returns detections, best first."""

    def __init__(self, backend: Backend, min_score: float = MIN_SCORE, iou_threshold: float = NMS_IOU) -> None:
        self.backend = backend
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        if backend.inputs[0].shape != (1, INPUT_SIZE, INPUT_SIZE, 3):
            raise_input_shape(backend, (1, INPUT_SIZE, INPUT_SIZE, 3), "pose detector")
        self._out = match_by_shape(
            backend.path,
            backend.outputs,
            {"boxes": shape_is(1, NUM_ANCHORS, NUM_COORDS), "scores": shape_is(1, NUM_ANCHORS, 1)},
            "pose detector",
        )
        self._convert = InputConverter(backend.inputs[0], *INPUT_RANGE, model=backend.path)

    def detect(self, image_rgb: npt.NDArray[np.uint8]) -> Detections:
        # detector_input, in the model's own input type (float32, or int8 for an int8 model).
        tensor, letterbox = detector_crop_u8(image_rgb)
        return self.detect_tensor(self._convert(tensor), letterbox)

    def detect_tensor(self, tensor: npt.NDArray[Any], letterbox: Letterbox) -> Detections:
        outputs = self.backend.run(tensor)
        raw = decode(outputs[self._out["boxes"]], outputs[self._out["scores"]], self.min_score)
        return remove_letterbox(weighted_nms(raw, self.iou_threshold), letterbox)

    def detect_tile(self, image_rgb: npt.NDArray[np.uint8], turn: int) -> tuple[Detections, bool]:
        """The detector on tile `turn` (modulo their number) of a wide frame's square tiles
        (edgepose.engine.tiles), its detections in frame coordinates; and whether the frame has tiles."""
        tiles = square_tiles(image_rgb.shape[1], image_rgb.shape[0])
        if not tiles:
            return Detections.empty(), False
        tile = tiles[turn % len(tiles)]
        d = self.detect(tile.crop(image_rgb))
        boxes = tile.to_frame(d.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        return Detections(boxes, tile.to_frame(d.keypoints), d.scores), True


def raise_input_shape(backend: Backend, expected: tuple[int, ...], what: str) -> None:
    from edgepose.inference.backends.base import BackendError

    raise BackendError(
        f"{backend.path} is not a {what} model: input shape {list(backend.inputs[0].shape)}, "
        f"expected {list(expected)}"
    )
