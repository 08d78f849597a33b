"""One frame through the daemon's path after capture: engine → validity (with zones) → presence.

The daemon (edgepose.daemon.runner), `edgepose presence replay`, `infer` and `eval` all go through
`PosePipeline.step`, so a clip replayed from a file gives the poses and events the daemon would publish.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from edgepose.config import Config
from edgepose.daemon import presence as presence_sm
from edgepose.engine.tracker import PoseEngine
from edgepose.pose import FramePoses
from edgepose.validity import ValidityConfig, ValidityResult, ValidityStage


def validity_config(cfg: Config, *, enabled: bool | None = None) -> ValidityConfig:
    """The stage's thresholds from the [validity] section (`enabled` overrides, e.g. `--no-validity`)."""
    return cfg.validity if enabled is None else replace(cfg.validity, enabled=enabled)


def validity_stage(cfg: Config, *, static: bool = False, enabled: bool | None = None) -> ValidityStage:
    return ValidityStage(validity_config(cfg, enabled=enabled), cfg.zones, static=static)


@dataclass(slots=True)
class FrameStep:
    """published: the engine's result with only the accepted poses; raw: the engine's result as it came;
    verdict: accepted/rejected/present; events: the presence changes this frame caused."""

    published: FramePoses
    raw: FramePoses
    verdict: ValidityResult
    events: list[presence_sm.PresenceEvent] = field(default_factory=list)


def accepted_only(raw: FramePoses, verdict: ValidityResult) -> FramePoses:
    """`raw` with the rejected poses (and their track scores and mirrored poses) removed."""
    if not verdict.rejected:
        return raw
    keep = [i for i, p in enumerate(raw.poses) if any(p is a for a in verdict.accepted)]
    scores = [raw.track_scores[i] for i in keep] if len(raw.track_scores) == len(raw.poses) else []
    mirrored = [raw.mirrored[i] for i in keep] if len(raw.mirrored) == len(raw.poses) else []
    return replace(raw, poses=[raw.poses[i] for i in keep], track_scores=scores, mirrored=mirrored)


class PosePipeline:
    """Engine, validity stage and presence tracker of one stream (each keeps its own state)."""

    def __init__(self, engine: PoseEngine, validity: ValidityStage,
                 presence: presence_sm.PresenceTracker | None = None) -> None:
        self.engine = engine
        self.validity = validity
        self.presence = presence

    def step(self, rgb: npt.NDArray[np.uint8], timestamp_ns: int | None = None) -> FrameStep:
        """Run one frame; raises what the engine raises (the daemon counts it and resets)."""
        self.validity.prepare(rgb)  # while the frame is still in the CPU cache (ValidityStage.prepare)
        raw = self.engine.process(rgb, timestamp_ns)
        verdict = self.validity.process(raw, rgb)
        events = self.presence.update(verdict.present, raw.timestamp_ns) if self.presence is not None else []
        return FrameStep(accepted_only(raw, verdict), raw, verdict, events)

    def reset(self) -> None:
        self.engine.reset()
        self.validity.reset()
