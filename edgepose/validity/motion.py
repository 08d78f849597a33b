"""A low-resolution motion model: did the picture change here lately? (Frigate's idea: a person moves.)

The frame is sampled on a fixed 64 × 48 grid (not resized: a strided gather costs microseconds), turned grey and
compared with a running average of the recent frames (time constant `background_seconds`, 1 s by default). A
cell is "moving" when it differs from that average by more than `pixel_threshold` grey levels. A short time
constant makes this a frame difference over about a second: a moved chair stops counting as soon as it stands
still, while a person, even seated, moves a hand or the head every few seconds (the stage's `still_seconds`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
GRID_W, GRID_H = 64, 48


def grey_grid(rgb: npt.NDArray[np.uint8]) -> F32:
    """The 48 × 64 grey samples of an RGB frame (nearest sample, mean of the three channels)."""
    h, w = rgb.shape[:2]
    ys = (np.arange(GRID_H) * h // GRID_H).astype(np.intp)
    xs = (np.arange(GRID_W) * w // GRID_W).astype(np.intp)
    return rgb[ys[:, None], xs[None, :]].mean(axis=2, dtype=np.float32)


class MotionModel:
    """Running average at 64 × 48: `observe` a frame, score boxes with `foreground_fraction`, then `learn`."""

    def __init__(self, pixel_threshold: float = 18.0, background_seconds: float = 1.0,
                 scene_change_fraction: float = 0.6) -> None:
        self.pixel_threshold = np.float32(pixel_threshold)
        self.background_seconds = background_seconds
        self.scene_change_fraction = scene_change_fraction
        self._bg: F32 | None = None
        self._fg = np.zeros((GRID_H, GRID_W), np.bool_)
        self._integral = np.zeros((GRID_H + 1, GRID_W + 1), np.float32)
        self._grey: F32 | None = None
        self._last_ns: int | None = None

    def reset(self) -> None:
        self._bg = None
        self._last_ns = None

    def observe(self, grey: F32, timestamp_ns: int) -> None:
        """Compare a grey grid (`grey_grid`) with the background; the foreground mask is kept for scoring."""
        self._grey = grey
        if self._bg is None or (self._last_ns is not None and timestamp_ns < self._last_ns):
            self._bg = grey.copy()
            self._fg[:] = False
        else:
            np.greater(np.abs(grey - self._bg), self.pixel_threshold, out=self._fg)
            if self._fg.mean() > self.scene_change_fraction:
                # The whole picture changed (lights, exposure, camera moved): start a new background rather
                # than see motion everywhere.
                self._bg = grey.copy()
                self._fg[:] = False
        np.cumsum(np.cumsum(self._fg, axis=0, dtype=np.float32), axis=1, out=self._integral[1:, 1:])

    def foreground_fraction(self, boxes: F32) -> F32:
        """(N,) share of foreground cells inside each normalised box x0, y0, x1, y1 (at least one cell)."""
        if boxes.shape[0] == 0:
            return np.zeros(0, np.float32)
        c0 = np.clip((boxes[:, 0] * GRID_W).astype(np.intp), 0, GRID_W - 1)
        r0 = np.clip((boxes[:, 1] * GRID_H).astype(np.intp), 0, GRID_H - 1)
        c1 = np.clip(np.ceil(boxes[:, 2] * GRID_W).astype(np.intp), c0 + 1, GRID_W)
        r1 = np.clip(np.ceil(boxes[:, 3] * GRID_H).astype(np.intp), r0 + 1, GRID_H)
        s = self._integral
        total = s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]
        return (total / ((r1 - r0) * (c1 - c0))).astype(np.float32)

    def learn(self, timestamp_ns: int) -> None:
        """Move the running average towards the last observed frame (by the time since the previous one)."""
        assert self._grey is not None and self._bg is not None
        dt = 0.0 if self._last_ns is None else max(0.0, (timestamp_ns - self._last_ns) / 1e9)
        self._last_ns = timestamp_ns
        rate = min(1.0, dt / self.background_seconds) if self.background_seconds > 0 else 1.0
        if rate > 0:
            self._bg += np.float32(rate) * (self._grey - self._bg)
