"""Pose validity: decides, per pose the engine returns, whether it is a person (docs/presence.md).

`ValidityStage.process(frame_poses, rgb)` → `ValidityResult(accepted, rejected)`; `prepare(rgb)`, called before
the engine, samples the frame for the motion model while it is still in the CPU cache. The engine stays
MediaPipe-equal; this layer sits between it and smoothing-consumers (presence, publishing).
"""

from edgepose.validity.stage import ValidityConfig, ValidityResult, ValidityStage
from edgepose.zones import Zone, ZoneError, parse_zones

__all__ = ["ValidityConfig", "ValidityResult", "ValidityStage", "Zone", "ZoneError", "parse_zones"]
