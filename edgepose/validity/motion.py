"""A low-resolution motion model: did the picture change here lately? (Frigate's idea: a person moves.)

The frame is sampled on a fixed 64 × 48 grid (not resized: a strided gather costs microseconds), its green
channel standing for grey, and compared with a running average of the recent frames (time constant
`background_seconds`, 1 s by default). A cell is "moving" when it differs from that average by more than
`pixel_threshold` grey levels. A short time constant makes this a frame difference over about a second: a moved
chair stops counting as soon as it stands still, while a person, even seated, moves a hand or the head every few
seconds (the stage's `still_seconds`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
GRID_W, GRID_H = 64, 48


_GRID_CACHE: dict[tuple[int, int], tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]] = {}


def _grid(h: int, w: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The 48 × 64 grid of an h × w frame: sample rows, columns, and the flat byte index of each sample's green
    value in a C-contiguous RGB frame (cached per size)."""
    grid = _GRID_CACHE.get((h, w))
    if grid is None:
        ys = np.arange(GRID_H) * h // GRID_H
        xs = np.arange(GRID_W) * w // GRID_W
        flat = ((ys[:, None] * w + xs[None, :]) * 3 + 1).ravel().astype(np.intp)
        grid = _GRID_CACHE[(h, w)] = (ys, xs, flat)
    return grid


def grey_grid(rgb: npt.NDArray[np.uint8]) -> F32:
    """The 48 × 64 grey samples of an RGB frame: the green value of the nearest pixel.

    Green carries most of the luminance (0.59 of it in BT.601), and one channel is a third of the gathers: on a
    frame after the engine has run, reading the mean of the three channels took 2.5 times as long (about 0.11
    against 0.04 ms, docs/presence.md "Cost"), and the stage's time is mostly this sampling.
    """
    h, w = rgb.shape[:2]
    ys, xs, flat = _grid(h, w)
    if rgb.flags.c_contiguous:
        samples = rgb.reshape(-1).take(flat)
    else:  # a padded or cropped frame (picamera2 strides): index it as it is rather than copy it whole
        samples = rgb[ys[:, None], xs[None, :], 1]
    return samples.astype(np.float32).reshape(GRID_H, GRID_W)


class MotionModel:
    """Running average at 64 × 48: `observe` a frame, score boxes with `foreground_fraction`, then `learn`."""

    def __init__(self, pixel_threshold: float = 18.0, background_seconds: float = 1.0,
                 scene_change_fraction: float = 0.6) -> None:
        self.pixel_threshold = np.float32(pixel_threshold)
        self.background_seconds = background_seconds
        self.scene_change_fraction = scene_change_fraction
        self._bg: F32 | None = None
        self._fg = np.zeros((GRID_H, GRID_W), np.bool_)
        self._diff = np.zeros((GRID_H, GRID_W), np.float32)
        self._abs = np.zeros((GRID_H, GRID_W), np.float32)
        self._grey: F32 | None = None
        self._last_ns: int | None = None

    def reset(self) -> None:
        self._bg = None
        self._last_ns = None

    def observe(self, grey: F32, timestamp_ns: int | None = None) -> None:
        """Compare a grey grid (`grey_grid`) with the background; the foreground mask is kept for scoring.

        A timestamp before the last learned one (a new source, a file looped) starts a new background; without
        a timestamp, the caller checks that with `went_back` once it knows the frame's time."""
        self._grey = grey
        if self._bg is None or (timestamp_ns is not None and self.went_back(timestamp_ns)):
            self._restart(grey)
            return
        # `_diff` (grey − background) is kept for `learn`, which moves the background by a share of it.
        np.subtract(grey, self._bg, out=self._diff)
        np.abs(self._diff, out=self._abs)
        np.greater(self._abs, self.pixel_threshold, out=self._fg)
        if np.count_nonzero(self._fg) > self.scene_change_fraction * self._fg.size:
            # The whole picture changed (lights, exposure, camera moved): start a new background rather
            # than see motion everywhere.
            self._restart(grey)

    def went_back(self, timestamp_ns: int) -> bool:
        """Is `timestamp_ns` before the last learned frame's?"""
        return self._last_ns is not None and timestamp_ns < self._last_ns

    def restart(self) -> None:
        """Start a new background from the last observed grid (nothing moving)."""
        assert self._grey is not None
        self._restart(self._grey)

    def _restart(self, grey: F32) -> None:
        self._bg = grey.copy()
        self._fg[:] = False
        self._diff[:] = 0.0

    def foreground_fraction(self, boxes: Sequence[Sequence[float]]) -> list[float]:
        """Share of moving cells inside each normalised box x0, y0, x1, y1 (at least one cell)."""
        out = []
        for x0, y0, x1, y1 in boxes:  # a handful of people at most
            c0 = min(max(int(x0 * GRID_W), 0), GRID_W - 1)
            r0 = min(max(int(y0 * GRID_H), 0), GRID_H - 1)
            c1 = min(max(math.ceil(x1 * GRID_W), c0 + 1), GRID_W)
            r1 = min(max(math.ceil(y1 * GRID_H), r0 + 1), GRID_H)
            out.append(np.count_nonzero(self._fg[r0:r1, c0:c1]) / ((r1 - r0) * (c1 - c0)))
        return out

    def learn(self, timestamp_ns: int) -> None:
        """Move the running average towards the last observed frame (by the time since the previous one)."""
        assert self._grey is not None and self._bg is not None
        dt = 0.0 if self._last_ns is None else max(0.0, (timestamp_ns - self._last_ns) / 1e9)
        self._last_ns = timestamp_ns
        rate = min(1.0, dt / self.background_seconds) if self.background_seconds > 0 else 1.0
        if rate > 0:
            self._diff *= np.float32(rate)  # `observe` left grey − background here
            self._bg += self._diff
