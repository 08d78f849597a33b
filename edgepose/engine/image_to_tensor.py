"""MediaPipe's ImageToTensor on the CPU (spec §1.2, §3.3): a rotated ROI warped into a square tensor.

Reproduced exactly: the ROI is padded to the tensor's aspect ratio in float32, its corner points (OpenCV's
rotated-rect order: bottom-left, top-left, top-right, bottom-right) map to the tensor corners, and the uint8
image is warped with OpenCV's bilinear warpPerspective before it is converted to float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edgepose.inference.backends.base import BackendError, TensorSpec
from edgepose.pose import Roi

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Padding of the ROI inside the tensor, as fractions of the tensor side (left, top, right, bottom)."""

    left: np.float32
    top: np.float32
    right: np.float32
    bottom: np.float32


def pad_roi(width_px: np.float32, height_px: np.float32, tensor_w: int, tensor_h: int) -> tuple[
    np.float32, np.float32, Letterbox
]:
    """keep_aspect_ratio: grow the ROI to the tensor's aspect ratio; returns the new size and the padding."""
    f = np.float32
    tensor_aspect = f(tensor_h) / f(tensor_w)
    roi_aspect = f(height_px) / f(width_px)
    zero = f(0.0)
    if tensor_aspect > roi_aspect:
        vertical = (f(1.0) - roi_aspect / tensor_aspect) / f(2.0)
        return f(width_px), f(width_px) * tensor_aspect, Letterbox(zero, vertical, zero, vertical)
    horizontal = (f(1.0) - tensor_aspect / roi_aspect) / f(2.0)
    return f(height_px) / tensor_aspect, f(height_px), Letterbox(horizontal, zero, horizontal, zero)


def warp_roi(
    image: U8,
    center_px: tuple[np.float32, np.float32],
    size_px: tuple[np.float32, np.float32],
    rotation: np.float32,
    tensor_size: int,
    border: int,
) -> U8:
    """Sample the rotated rectangle into a tensor_size² uint8 image (rectangle edges map to tensor edges)."""
    angle_deg = float(np.float32(rotation) * np.float32(180.0) / np.float32(np.pi))
    src = cv2.boxPoints(((float(center_px[0]), float(center_px[1])), (float(size_px[0]), float(size_px[1])), angle_deg))
    s = float(tensor_size)
    dst = np.array([[0.0, s], [0.0, 0.0], [s, 0.0], [s, s]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src.astype(np.float32), dst)
    return cv2.warpPerspective(
        image, matrix, (tensor_size, tensor_size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0
    )


def roi_to_tensor_u8(
    image: U8, roi: Roi, tensor_size: int, border: int
) -> tuple[U8, Letterbox]:
    """Warp a normalised ROI of `image` into the tensor (keep_aspect_ratio), as uint8, plus its letterbox."""
    h, w = image.shape[:2]
    f = np.float32
    width_px, height_px, letterbox = pad_roi(roi.width * f(w), roi.height * f(h), tensor_size, tensor_size)
    center = (roi.x_center * f(w), roi.y_center * f(h))
    return warp_roi(image, center, (width_px, height_px), roi.rotation, tensor_size, border), letterbox


def whole_image_roi() -> Roi:
    return Roi.from_values(0.5, 0.5, 1.0, 1.0, 0.0)


def to_float(tensor_u8: U8, low: float, high: float) -> F32:
    """uint8 → float in [low, high] with a batch axis, as MediaPipe's convertTo(scale, offset) does."""
    scale = np.float32((high - low) / 255.0)
    out = tensor_u8.astype(np.float32)
    out *= scale
    out += np.float32(low)
    return out[np.newaxis]


class InputConverter:
    """uint8 tensor → a model's input: floats in [low, high] for a float model; for a quantized input, the
    quantized values straight from the bytes through one 256-entry table. That equals `spec.quantize(to_float(...))`
    bit for bit (the table is made by exactly that), at a third of the cost and without a float copy."""

    def __init__(self, spec: TensorSpec, low: float, high: float, model: object = "model") -> None:
        """`model` names the file in the error a wrong input type gives (BackendError, exit 66)."""
        self.low, self.high = low, high
        self.dtype = spec.dtype
        self._table: U8 | None = None
        if spec.quantized:
            if spec.dtype.itemsize != 1:
                raise BackendError(f"{model}: quantized input of type {spec.dtype} (expected int8 or uint8): "
                                   "not a model of this pipeline")
            every_byte = np.arange(256, dtype=np.uint8).reshape(1, 1, 256)
            # cv2.LUT maps uint8 → uint8: keep the quantized values' bit patterns, view them back afterwards.
            self._table = spec.quantize(to_float(every_byte, low, high)).reshape(256).view(np.uint8)

    def __call__(self, tensor_u8: U8) -> npt.NDArray[Any]:
        if self._table is None:
            return to_float(tensor_u8, self.low, self.high)
        return cv2.LUT(tensor_u8, self._table).view(self.dtype)[np.newaxis]
