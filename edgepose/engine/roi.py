"""ROI maths (spec §2, §4.1 step 5), in float32 as MediaPipe does it (a 1e-7 change moves the landmarks)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from edgepose.pose import Roi

ROI_SCALE = 1.25
TARGET_ANGLE = np.float32(math.pi * 90.0 / 180.0)


def normalize_radians(angle: np.float32) -> np.float32:
    """Wrap to [−π, π), computed in double and stored as float like MediaPipe's NormalizeRadians."""
    a = float(angle)
    return np.float32(a - 2 * math.pi * math.floor((a - (-math.pi)) / (2 * math.pi)))


def alignment_rect(
    center: npt.ArrayLike, scale_point: npt.ArrayLike, width: int, height: int
) -> tuple[np.float32, np.float32, np.float32, np.float32, np.float32]:
    """AlignmentPointsRects: centre = `center`, square side = 2·|center→scale_point| px, rotation so that the
    vector points up. Returns (x_center, y_center, width, height, rotation), normalised, un-expanded."""
    f = np.float32
    w, h = f(width), f(height)
    c = np.asarray(center, dtype=np.float32)
    s = np.asarray(scale_point, dtype=np.float32)
    x0, y0 = c[0] * w, c[1] * h
    x1, y1 = s[0] * w, s[1] * h
    box = np.sqrt((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0)) * f(2.0)
    rotation = normalize_radians(TARGET_ANGLE - np.arctan2(-(y1 - y0), x1 - x0))
    return x0 / w, y0 / h, box / w, box / h, rotation


def transform_rect(
    rect: tuple[np.float32, np.float32, np.float32, np.float32, np.float32],
    width: int,
    height: int,
    scale: float = ROI_SCALE,
) -> Roi:
    """RectTransformation with square_long and ×scale, no shift."""
    f = np.float32
    xc, yc, rw, rh, rotation = rect
    long_side = max(rw * f(width), rh * f(height))
    rw, rh = long_side / f(width), long_side / f(height)
    return Roi(f(xc), f(yc), rw * f(scale), rh * f(scale), f(rotation))


def roi_from_points(center: npt.ArrayLike, scale_point: npt.ArrayLike, width: int, height: int) -> Roi:
    """The expanded landmark ROI from two alignment points (detector kp0/kp1 or landmarks 33/34)."""
    return transform_rect(alignment_rect(center, scale_point, width, height), width, height)


def object_scale(center: npt.ArrayLike, scale_point: npt.ArrayLike, width: int, height: int) -> float:
    """The un-expanded alignment box side in pixels: the One-Euro value scale (spec §5.1)."""
    _, _, rw, rh, _ = alignment_rect(center, scale_point, width, height)
    return float((rw * np.float32(width) + rh * np.float32(height)) / np.float32(2.0))
