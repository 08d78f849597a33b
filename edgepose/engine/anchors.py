"""SSD anchors of the pose detector (spec §1.3): 2254 anchor centres, normalised to the 224² tensor."""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

INPUT_SIZE = 224
STRIDES: tuple[int, ...] = (8, 16, 32, 32, 32)
# One anchor of aspect 1.0 plus the interpolated one (interpolated_scale_aspect_ratio = 1.0) per layer.
ANCHORS_PER_LAYER = 2
OFFSET = 0.5


@functools.cache
def ssd_anchors() -> npt.NDArray[np.float32]:
    """(2254, 2) anchor centres (x, y). Anchor sizes are fixed to 1, so only centres are kept."""
    centres: list[npt.NDArray[np.float32]] = []
    layer = 0
    while layer < len(STRIDES):
        # Consecutive layers with the same stride share one grid (their anchors are interleaved per cell).
        last = layer
        while last < len(STRIDES) and STRIDES[last] == STRIDES[layer]:
            last += 1
        per_cell = ANCHORS_PER_LAYER * (last - layer)
        fm = math.ceil(INPUT_SIZE / STRIDES[layer])
        ys, xs = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")
        grid = np.stack([(xs + OFFSET) / fm, (ys + OFFSET) / fm], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2).astype(np.float32))
        layer = last
    anchors = np.concatenate(centres)
    anchors.setflags(write=False)
    return anchors
