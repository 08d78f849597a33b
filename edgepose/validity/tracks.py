"""Tracks over frames: which pose of this frame is which pose of the last ones (by hip-centre distance).

A track survives gaps of up to `gap_seconds`, so a pose that vanishes and comes back on the same spot again
and again keeps its history (never moved → still rejected) instead of starting fresh each time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Track:
    x: float
    y: float
    first_ns: int
    last_ns: int
    frames: int = 0
    last_motion_ns: int | None = None  # last frame whose box held enough foreground
    accepted: bool = False
    speed: float = 0.0  # hip-centre speed, frame heights per second (low-passed)


class TrackBook:
    """Greedy nearest matching of per-frame hip centres to live tracks.

    A frame has a handful of poses and tracks at most, so the pairwise distances are plain Python floats: a
    numpy array of 1 × 1 to 5 × 5 distances would cost more in call overhead than the arithmetic.
    """

    def __init__(self, match_distance: float, gap_seconds: float) -> None:
        self.match_distance = match_distance
        self.gap_ns = round(gap_seconds * 1e9)
        self.tracks: list[Track] = []

    def reset(self) -> None:
        self.tracks.clear()

    def assign(self, centres: Sequence[Sequence[float]], timestamp_ns: int, aspect: float = 1.0) -> list[Track]:
        """The track of each (x, y) centre (new tracks for unmatched ones); drops tracks unseen for too long.
        `aspect` = frame width / height (for the speed)."""
        self.tracks = [t for t in self.tracks if timestamp_ns - t.last_ns <= self.gap_ns
                       and timestamp_ns >= t.last_ns]
        points = [(float(x), float(y)) for x, y in centres]
        out: list[Track | None] = [None] * len(points)
        if self.tracks and points:
            # (distance, pose, track) for every finite pair, nearest first; ties in pose-then-track order.
            pairs = sorted((d, i, j) for i, (x, y) in enumerate(points) for j, t in enumerate(self.tracks)
                           if math.isfinite(d := math.hypot(x - t.x, y - t.y)))
            taken: set[int] = set()
            for d, i, j in pairs:
                if d > self.match_distance:
                    break
                if out[i] is None and j not in taken:
                    out[i] = self.tracks[j]
                    taken.add(j)
        result: list[Track] = []
        for (x, y), track in zip(points, out, strict=True):
            if track is None:
                track = Track(x, y, timestamp_ns, timestamp_ns)
                self.tracks.append(track)
            dt = (timestamp_ns - track.last_ns) / 1e9
            if track.frames and dt > 0:
                # Normalised x is a share of the width: scale it to frame heights with `aspect`.
                inst = math.hypot((x - track.x) * aspect, y - track.y) / dt
                track.speed = inst if track.frames == 1 else 0.5 * (track.speed + inst)
            track.x, track.y, track.last_ns = x, y, timestamp_ns
            track.frames += 1
            result.append(track)
        return result
