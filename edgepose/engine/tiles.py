"""Square detector tiles of a wide frame (issue 9, docs/presence.md "Wide frames").

The detector sees the whole frame letterboxed into 224²: in a 16:9 frame people shrink by the long side, so a
person across a room is a few pixels of head, below what BlazePose's detector finds. When the whole-frame pass
finds nobody (video only, `engine.wide_frame_tiles`), the detector looks at one of the frame's square tiles of
the short side, spaced evenly along the long side with overlap, a different one each such frame (the tracker
keeps the turn): at 16:9 two tiles, people 1.78× larger. Frames narrower than `MIN_ASPECT` are left alone: at 4:3
a tile would enlarge people by only 1.33 for another detector run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
MIN_ASPECT = 1.5  # 3:2 and wider


@dataclass(frozen=True, slots=True)
class Tile:
    """A square of `side` pixels at (`x0`, `y0`) in a `width` × `height` frame."""

    x0: int
    y0: int
    side: int
    width: int
    height: int

    def crop(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        return np.ascontiguousarray(frame[self.y0 : self.y0 + self.side, self.x0 : self.x0 + self.side])

    def to_frame(self, points: F32) -> F32:
        """Tile-normalised (…, 2) x, y → frame-normalised."""
        scale = np.array([self.side / self.width, self.side / self.height], np.float32)
        offset = np.array([self.x0 / self.width, self.y0 / self.height], np.float32)
        return (points * scale + offset).astype(np.float32)


def square_tiles(width: int, height: int, min_aspect: float = MIN_ASPECT) -> list[Tile]:
    """The tiles of a frame: none if it is narrower than `min_aspect`; else ⌈long / short⌉ squares of the short
    side, the first at one end, the last at the other, the rest evenly between (so every pixel is in one)."""
    short, long = min(width, height), max(width, height)
    if short < 1 or long < min_aspect * short:
        return []
    n = math.ceil(long / short)
    starts = np.linspace(0, long - short, n).round().astype(int)
    if width >= height:
        return [Tile(int(s), 0, short, width, height) for s in starts]
    return [Tile(0, int(s), short, width, height) for s in starts]
