"""Temporal filters: MediaPipe-exact One-Euro / low-pass (one_euro) and per-person pose smoothing."""

from __future__ import annotations

from edgepose.filters.one_euro import LowPassFilter, OneEuroFilter, OneEuroParams, one_euro_alpha
from edgepose.filters.pose_smoothing import PoseSmoother, object_scale

__all__ = [
    "LowPassFilter",
    "OneEuroFilter",
    "OneEuroParams",
    "PoseSmoother",
    "object_scale",
    "one_euro_alpha",
]
