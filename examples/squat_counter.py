#!/usr/bin/env python3
"""Count squat repetitions from a live edgepose daemon, using the knee angle (hip-knee-ankle).

    python3 examples/squat_counter.py --host localhost --device livingroom

A repetition is one descent below `down_angle` followed by a return above `up_angle` (hysteresis, so that
jitter around a single threshold cannot count twice). The angle is measured in pixels (keypoints are
normalised to the frame, so x and y are scaled by its width and height first) and averaged over the legs
whose hip, knee and ankle are visible. The counting logic (`knee_angle`, `SquatCounter`) is importable and
tested on a real recorded sequence (tests/test_client.py).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgepose.topology import KEYPOINT_INDEX

LEGS = (
    (KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["left_knee"], KEYPOINT_INDEX["left_ankle"]),
    (KEYPOINT_INDEX["right_hip"], KEYPOINT_INDEX["right_knee"], KEYPOINT_INDEX["right_ankle"]),
)


def knee_angle(xy: npt.ArrayLike, visibility: npt.ArrayLike | None = None, min_visibility: float = 0.5) -> float:
    """Mean hip-knee-ankle angle in degrees over the visible legs; NaN if no leg is visible.

    xy: (33, 2) keypoints in pixels (or any isotropic unit); visibility: (33,) or None (all visible).
    """
    p = np.asarray(xy, dtype=np.float64)[:, :2]
    legs = np.array(LEGS)  # (2, 3)
    if visibility is not None:
        vis = np.asarray(visibility, dtype=np.float64)
        legs = legs[(vis[legs] >= min_visibility).all(axis=1)]
    if len(legs) == 0:
        return float("nan")
    hip, knee, ankle = p[legs[:, 0]], p[legs[:, 1]], p[legs[:, 2]]
    a, b = hip - knee, ankle - knee
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    ok = norm > 0
    if not ok.any():
        return float("nan")
    cos = np.clip((a * b).sum(axis=1)[ok] / norm[ok], -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).mean())


@dataclass
class SquatCounter:
    """Hysteresis counter: 'down' below `down_angle`, a repetition when back above `up_angle`."""

    down_angle: float = 110.0
    up_angle: float = 160.0
    count: int = 0
    phase: str = "up"

    def __post_init__(self) -> None:
        if not 0 < self.down_angle < self.up_angle <= 180:
            raise ValueError(f"need 0 < down_angle < up_angle <= 180, got {self.down_angle}, {self.up_angle}")

    def update(self, angle: float) -> bool:
        """Feed one angle (NaN = leg not visible: ignored); True when a repetition was just completed."""
        if not np.isfinite(angle):
            return False
        if self.phase == "up" and angle <= self.down_angle:
            self.phase = "down"
        elif self.phase == "down" and angle >= self.up_angle:
            self.phase = "up"
            self.count += 1
            return True
        return False


def main(argv: list[str] | None = None) -> int:
    from edgepose.client import Frame, Status, subscribe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--prefix", default="edgepose")
    ap.add_argument("--device", default="+", help="device id (default: any)")
    ap.add_argument("--down", type=float, default=110.0, help="knee angle that counts as 'down' (degrees)")
    ap.add_argument("--up", type=float, default=160.0, help="knee angle that counts as 'up' (degrees)")
    args = ap.parse_args(argv)
    counter = SquatCounter(args.down, args.up)
    print(f"Waiting for frames from {args.host}:{args.port} ({args.prefix}/{args.device}) ...", flush=True)
    with subscribe(args.host, args.port, args.device, args.prefix, kinds=("pose", "status")) as sub:
        try:
            for msg in sub:
                if isinstance(msg, Status):
                    print(f"[{msg.device_id} is {'online' if msg.online else 'offline'}]", flush=True)
                if not isinstance(msg, Frame) or not msg.poses:
                    continue
                pose = msg.poses[0]
                xy = pose.xy_pixels(msg.width, msg.height)
                angle = knee_angle(xy, pose.keypoints[:, 3])
                if counter.update(angle):
                    print(f"squat #{counter.count} (frame {msg.seq})", flush=True)
        except KeyboardInterrupt:
            pass
    print(f"total: {counter.count} squats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
