"""Inference faults: a landmark model that raises, or returns NaN, on one frame.

There is no fault-injection hook in the product (by design: nothing in production can be told to fail), so the
fault is injected by wrapping the real LiteRT backend, as tests/engine/test_tracking.py::_PoisonOnce does:
at the engine level, and in the real `Daemon` (run in this process, real broker, real video) by replacing the
backend of its engine after start-up.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
from support.daemon import daemon_config
from support.engine import engine

from edgepose.config import load_config
from edgepose.daemon.runner import Daemon


class FaultyBackend:
    """The real backend, except that landmark call number `raise_on` raises and `nan_on` returns NaN."""

    def __init__(self, inner: Any, *, raise_on: int | None = None, nan_on: int | None = None) -> None:
        self.inner, self.raise_on, self.nan_on, self.calls = inner, raise_on, nan_on, 0
        self.name, self.path, self.inputs, self.outputs = inner.name, inner.path, inner.inputs, inner.outputs
        self.note = getattr(inner, "note", "")

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        self.calls += 1
        if self.calls == self.raise_on:
            raise RuntimeError("injected fault: the interpreter failed on this frame")
        out = self.inner.run(x)
        return [np.full_like(o, np.nan) for o in out] if self.calls == self.nan_on else out


def _count_detector_frames(eng: Any) -> list[int]:
    """Record the engine frame number at each detector run (wraps the real detector)."""
    frames: list[int] = []
    detect = eng.detector.detect

    def spy(image: np.ndarray) -> Any:
        frames.append(eng.stats.frames - 1)
        return detect(image)

    eng.detector.detect = spy
    return frames


def test_engine_recovers_from_a_raising_frame_by_resetting(dance_frames) -> None:
    """At the engine level the exception reaches the caller (the daemon's loop); after `reset()` the next
    frame runs the detector and tracking continues."""
    eng = engine(model="lite")
    eng.landmarks.backend = FaultyBackend(eng.landmarks.backend, raise_on=4)
    detector_frames = _count_detector_frames(eng)
    poses = []
    for i, f in enumerate(dance_frames[:10]):
        try:
            poses.append(bool(eng.process(f, (i + 1) * 33_333_333).poses))
        except RuntimeError:
            poses.append(None)
            eng.reset()
    assert poses == [True, True, True, None, True, True, True, True, True, True]
    assert detector_frames == [0, 4]


def test_daemon_drops_the_frame_counts_it_and_continues(broker, subscriber_factory, short_clip,
                                                        tmp_path: Path) -> None:
    base = "edgepose/faulty"
    sub = subscriber_factory(broker, [f"{base}/pose"])
    # The raw engine's frames (validity off): this test counts which frames carry the person around the faults;
    # the validity stage would hold back the first frames of the track (tests/validity, docs/presence.md).
    cfg = load_config(daemon_config(tmp_path / "c.toml", port=broker.port, source=short_clip, device="faulty",
                                    sections={"validity": {"enabled": False}}), env={})
    class FaultyDaemon(Daemon):
        def _start(self) -> None:
            super()._start()
            assert self.engine is not None
            # Landmark call 6 is frame 5 (tracking from frame 0); call 13 is frame 12 (frame 6 re-detects).
            self.engine.landmarks.backend = FaultyBackend(self.engine.landmarks.backend, raise_on=6, nan_on=13)
            self.detector_frames = _count_detector_frames(self.engine)

    daemon = FaultyDaemon(cfg)
    done = threading.Event()
    result: list[int] = []

    def target() -> None:
        result.append(daemon.run())
        done.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert done.wait(60), "the daemon did not finish the 20-frame clip"
    assert result == [0]
    stats = daemon.final_stats
    assert stats is not None and daemon.engine is not None
    assert stats["inference_errors"] == 1 and stats["non_finite_dropped"] == 1
    assert sub.wait_for(lambda ms: len(ms) >= 19, timeout=5)
    frames = [json.loads(m.payload) for m in sub.on(f"{base}/pose")]
    # 20 frames, the raising one dropped: 19 published with consecutive sequence numbers.
    assert [f["seq"] for f in frames] == list(range(1, 20))
    with_pose = [bool(f["poses"]) for f in frames]
    # Published frame k is source frame k (k < 5) or k+1 (after the dropped frame 5); the NaN frame (source
    # frame 12, published 11) carries no pose; every other frame has the person.
    assert with_pose == [i != 11 for i in range(19)], with_pose
    assert daemon.engine.stats.dropped_non_finite == 1
    # Tracking was reset after each fault: the detector ran on the frame that followed it.
    assert daemon.detector_frames == [0, 6, 13], daemon.detector_frames
