"""Tracks over frames: which pose of this frame is which pose of the last ones (by hip-centre distance).

A track survives gaps of up to `gap_seconds`, so a pose that vanishes and comes back on the same spot again
and again keeps its history (never moved → still rejected) instead of starting fresh each time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


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
    """Greedy nearest matching of per-frame hip centres to live tracks."""

    def __init__(self, match_distance: float, gap_seconds: float) -> None:
        self.match_distance = match_distance
        self.gap_ns = round(gap_seconds * 1e9)
        self.tracks: list[Track] = []

    def reset(self) -> None:
        self.tracks.clear()

    def assign(self, centres: F32, timestamp_ns: int, aspect: float = 1.0) -> list[Track]:
        """The track of each centre (new tracks for unmatched ones); drops tracks unseen for too long.
        `aspect` = frame width / height (for the speed)."""
        self.tracks = [t for t in self.tracks if timestamp_ns - t.last_ns <= self.gap_ns
                       and timestamp_ns >= t.last_ns]
        out: list[Track | None] = [None] * centres.shape[0]
        if self.tracks and centres.shape[0]:
            old = np.asarray([(t.x, t.y) for t in self.tracks], np.float32)
            dist = np.linalg.norm(centres[:, None, :] - old[None, :, :], axis=2)
            dist = np.where(np.isfinite(dist), dist, np.inf)
            for flat in np.argsort(dist, axis=None):
                i, j = divmod(int(flat), len(self.tracks))
                if dist[i, j] > self.match_distance:
                    break
                if out[i] is None and all(o is not self.tracks[j] for o in out):
                    out[i] = self.tracks[j]
        result: list[Track] = []
        for i, track in enumerate(out):
            x, y = float(centres[i, 0]), float(centres[i, 1])
            if track is None:
                track = Track(x, y, timestamp_ns, timestamp_ns)
                self.tracks.append(track)
            dt = (timestamp_ns - track.last_ns) / 1e9
            if track.frames and dt > 0:
                # Normalised x is a share of the width: scale it to frame heights with `aspect`.
                inst = float(np.hypot((x - track.x) * aspect, y - track.y)) / dt
                track.speed = inst if track.frames == 1 else 0.5 * (track.speed + inst)
            track.x, track.y, track.last_ns = x, y, timestamp_ns
            track.frames += 1
            result.append(track)
        return result
