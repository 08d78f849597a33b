"""The frame handed from a source to the pose engine, and the normalisation of any image to RGB uint8.

`to_rgb_uint8` is the single gate every image passes (camera, file, user array): whatever it returns is a
C-contiguous ``(H, W, 3)`` uint8 RGB array, or it raises `FrameError` naming what is wrong with the input.
Conversion rules:

- grey ``(H, W)`` / ``(H, W, 1)`` is replicated to three channels; grey + alpha ``(H, W, 2)`` keeps the grey;
- RGBA / BGRA: alpha is dropped (not composited: a camera has no transparency to honour);
- ``bgr=True`` swaps the colour order (OpenCV's ``imread``/``VideoCapture`` give BGR);
- uint16 keeps the high byte (``>> 8``); other integer types are read as 8-bit values and clipped to
  [0, 255]; bool maps to 0/255;
- floating point is read as [0, 1]: NaN → 0, +inf → 1, -inf → 0, then clipped and rounded;
- complex, object, string and other dtypes, empty arrays, 1-D and >3-D arrays, and more than 4 channels
  are errors.

Large frames (10000 × 10000 and more) are kept at full size (the engine crops its ROI from them); every
conversion is a constant number of linear passes, and uint8 RGB input that is already contiguous is
returned without a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgepose.errors import EXIT_DATAERR, EdgeposeError

U8 = npt.NDArray[np.uint8]


class FrameError(EdgeposeError, ValueError):
    """An image that cannot be turned into an RGB uint8 frame; the message says why."""

    exit_status = EXIT_DATAERR


@dataclass(slots=True)
class Frame:
    """One captured image.

    Attributes:
        rgb: ``(H, W, 3)`` uint8 RGB, C-contiguous.
        timestamp_ns: capture time in ns: the sensor timestamp (picamera2), the frame position (files
            read with ``pace="fast"``), or ``time.monotonic_ns()`` at capture otherwise. Strictly
            increasing within one source object, across loops and reopens.
        index: running frame number within the source object (0-based, continues across loops).
        source: the source's name (for logs and stats).
    """

    rgb: U8
    timestamp_ns: int
    index: int
    source: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _describe(a: np.ndarray) -> str:
    return f"shape {a.shape}, dtype {a.dtype}"


def _to_uint8_values(a: np.ndarray) -> U8:
    """Map the array's values to uint8 (same shape), following the module rules."""
    kind = a.dtype.kind
    if a.dtype == np.uint8:
        return a
    if kind == "b":
        return a.astype(np.uint8) * np.uint8(255)
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8)
    if kind in "ui":
        return np.clip(a, 0, 255).astype(np.uint8)
    if kind == "f":
        # fmax/fmin return the non-NaN operand, so NaN → 0 and ±inf clip without boolean temporaries;
        # a float32 working copy is enough for 8-bit output and halves the memory of float64 input.
        work = np.fmax(a, np.float32(0.0), dtype=np.float32)
        np.fmin(work, np.float32(1.0), out=work)
        work *= 255.0
        work += 0.5
        return work.astype(np.uint8)
    raise FrameError(f"unsupported image dtype {a.dtype} ({_describe(a)}): expected uint8, uint16, bool, "
                     "another integer type or a float array in [0, 1]")


def to_rgb_uint8(image: Any, *, bgr: bool = False) -> U8:
    """Return ``image`` as a C-contiguous ``(H, W, 3)`` uint8 RGB array (see the module docstring).

    Args:
        image: a numpy array (or anything ``np.asarray`` accepts) of shape ``(H, W)``, ``(H, W, C)``
            with C in 1..4.
        bgr: the colour channels are in OpenCV's B, G, R(, A) order.

    Raises:
        FrameError: empty, wrongly shaped or non-numeric input.
    """
    try:
        a = np.asarray(image)
    except (ValueError, TypeError) as e:  # ragged nested lists and the like
        raise FrameError(f"not an image array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise FrameError(f"unsupported image dtype {a.dtype} ({_describe(a)}): expected uint8, uint16, "
                         "bool, another integer type or a float array in [0, 1]")
    if a.size == 0:
        raise FrameError(f"empty image ({_describe(a)})")
    if a.ndim == 2:
        a = a[:, :, np.newaxis]
    elif a.ndim != 3:
        raise FrameError(f"image must be 2-D (grey) or 3-D (H, W, C), got {a.ndim}-D ({_describe(a)})")
    channels = a.shape[2]
    if channels > 4:
        raise FrameError(f"image has {channels} channels, at most 4 are supported ({_describe(a)})")

    # Select channels before converting values, so the value pass touches only what is kept.
    if channels in (1, 2):
        a = a[:, :, :1]
    elif bgr:
        a = a[:, :, 2::-1]
    elif channels == 4:
        a = a[:, :, :3]
    a = _to_uint8_values(a)
    if a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)  # a new C-contiguous array
    return np.ascontiguousarray(a)
