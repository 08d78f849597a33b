"""The daemon's main loop: camera → pose engine (with One-Euro smoothing) → MQTT frames, presence, stats.

Threads: the capture thread (latest-frame hand-off), paho's network thread, and this loop. The loop never
blocks on the network: publishing only enqueues. systemd hears READY=1 once the models are loaded and the
first frame arrived, WATCHDOG=1 only when frames are being processed, STATUS= with the fps, STOPPING=1 on exit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgepose import __version__
from edgepose.config import Config
from edgepose.daemon import presence as presence_sm
from edgepose.daemon.notify import Notifier, watchdog_interval
from edgepose.daemon.pipeline import PosePipeline, validity_stage
from edgepose.daemon.sysinfo import SysInfo
from edgepose.engine.tracker import PoseEngine
from edgepose.errors import EXIT_CONFIG, EdgeposeError
from edgepose.filters.pose_smoothing import PoseSmoother
from edgepose.io.capture import CaptureThread
from edgepose.io.sources import UnreadableFileError, open_source
from edgepose.mqtt import contract
from edgepose.mqtt.publisher import Publisher

log = logging.getLogger(__name__)

STAGES = ("detector", "crop", "landmark_invoke", "decode", "smoothing", "validity", "total")
PER_PERSON_STAGES = ("crop", "landmark_invoke", "decode", "smoothing")


class StartupError(EdgeposeError):
    """The daemon cannot start with this configuration (models, backend); exit status 78."""

    exit_status = EXIT_CONFIG


def person_ms(stage_ms: dict[str, float]) -> float:
    """The per-person part of a frame's stage times: crop, landmark invoke, decode, smoothing."""
    return sum(stage_ms.get(k, 0.0) for k in PER_PERSON_STAGES)


def smoother(cfg: Config) -> PoseSmoother:
    return PoseSmoother.from_config(cfg.smoothing)


@dataclass
class LoopStats:
    """Counters of the pose loop over one stats interval (and totals)."""

    processed: int = 0
    processed_total: int = 0
    inference_errors: int = 0
    detector_runs: int = 0
    detector_tile_runs: int = 0  # detector invokes on tiles of wide frames (engine.wide_frame_tiles)
    landmark_runs: int = 0  # one per person per frame
    poses: int = 0
    stage_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2048))
    since: float = field(default_factory=time.monotonic)

    def reset_interval(self) -> None:
        self.processed = self.detector_runs = self.detector_tile_runs = self.landmark_runs = self.poses = 0
        self.stage_ms = dict.fromkeys(STAGES, 0.0)
        self.since = time.monotonic()


class Daemon:
    """One camera, one engine, one publisher. `run()` returns when `stop()` is called or input ends."""

    def __init__(
        self,
        cfg: Config,
        *,
        notifier: Notifier | None = None,
        max_frames: int | None = None,
        duration: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.device_id = cfg.device.id
        self.notifier = notifier or Notifier()
        self.max_frames = max_frames
        self.duration = duration
        self._stop = threading.Event()
        self.loop_stats = LoopStats()
        self.presence = presence_sm.PresenceTracker(cfg.presence, cfg.zones)  # per-zone counts
        self.validity = validity_stage(cfg)
        self.engine: PoseEngine | None = None
        self.pipeline: PosePipeline | None = None
        self.capture: CaptureThread | None = None
        self.publisher: Publisher | None = None
        self.sysinfo = SysInfo()
        self._last_watchdog = 0.0
        self._watchdog_every = watchdog_interval()
        self._since_wall = time.time()
        self._last_frame_ts: int | None = None
        self._last_frame_mono = 0
        self.final_stats: dict[str, Any] | None = None
        self.live_view: Any = None  # edgepose.live_view.LiveView when [live_view] enabled
        self.snapshots: Any = None  # edgepose.live_view.snapshot.SnapshotWorker when [snapshot] enabled
        self.zones: tuple[Any, ...] = cfg.zones  # [[zones]], drawn by the live view

    def stop(self) -> None:
        self._stop.set()

    # ---- start-up --------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self.cfg.live_view.enabled:  # first: a port in use fails the start before the models load
            from edgepose.live_view import LiveView

            self.live_view = LiveView(self.cfg.live_view, zones=self.zones).start()
        try:
            self.engine = PoseEngine.from_config(self.cfg.engine, smoother=smoother(self.cfg))
        except EdgeposeError as e:  # models, backend (the settings were validated with the configuration)
            raise StartupError(str(e)) from None
        self.pipeline = PosePipeline(self.engine, self.validity, self.presence)
        backend = self.engine.landmarks.backend
        if self.engine.precision is not None:
            log.info("precision: %s", self.engine.precision.why)
        log.info("engine: %s %s on %s%s", self.cfg.engine.model, self.cfg.engine.precision, backend.name,
                 f" ({backend.note})" if getattr(backend, "note", "") else "")  # fmt: skip
        self.publisher = Publisher(self.cfg.mqtt, self.device_id, self.cfg.homeassistant, model=self.cfg.engine.model,
                                   snapshot=self.cfg.snapshot.enabled)
        self.publisher.start()
        if self.cfg.snapshot.enabled:
            from edgepose.live_view.snapshot import SnapshotWorker

            self.snapshots = SnapshotWorker(self.cfg.snapshot, self.publisher.publish_snapshot)
        self._publish_presence(None)  # retained "absent" until a person is seen
        src = self.cfg.source
        source = open_source(src.uri, width=src.width, height=src.height, fps=src.fps, loop=src.loop, pace=src.pace)
        self.capture = CaptureThread(source, on_eof="reopen" if src.loop else "stop",
                                     fail_before_first_frame=not source.live).start()

    # ---- the loop --------------------------------------------------------------------------------------

    def run(self) -> int:
        try:
            self._start()
        except BaseException:
            if self.live_view is not None:
                self.live_view.close()
            raise
        assert self.engine is not None and self.capture is not None and self.publisher is not None
        started = time.monotonic()
        next_stats = started + min(5.0, self.cfg.stats.interval_seconds)
        ready = False
        self.notifier.status("starting: waiting for the first frame")
        try:
            while not self._stop.is_set():
                if self.duration is not None and time.monotonic() - started >= self.duration:
                    break
                frame = self.capture.get(timeout=0.5)
                now = time.monotonic()
                if now >= next_stats:
                    self._publish_stats()
                    next_stats = now + self.cfg.stats.interval_seconds
                if frame is None:
                    if self.capture.fatal_error is not None:
                        raise UnreadableFileError(self.capture.fatal_error)  # names the file
                    if self.capture.ended:
                        log.info("source ended")
                        break
                    self._presence_tick()
                    continue
                if not ready:
                    ready = True
                    self.notifier.ready(f"running: {self.cfg.engine.model} {self.cfg.engine.precision}")
                self._process(frame)
                if self.max_frames is not None and self.loop_stats.processed_total >= self.max_frames:
                    break
        finally:
            self._shutdown()
        return 0

    def _process(self, frame: Any) -> None:
        assert self.engine is not None and self.publisher is not None and self.pipeline is not None
        taken_wall = time.time()
        # Live sources stamp frames with the monotonic clock: the difference is the capture-to-now age.
        age_s = (time.monotonic_ns() - frame.timestamp_ns) / 1e9
        capture_wall = taken_wall - age_s if 0.0 <= age_s < 10.0 else taken_wall
        before = self.presence.state
        try:
            step = self.pipeline.step(frame.rgb, frame.timestamp_ns)
        except Exception:  # a model that raises on one frame must not stop the daemon
            self.loop_stats.inference_errors += 1
            log.exception("inference failed on frame %d; frame dropped, tracking reset", frame.index)
            self.engine.reset()
            return
        result, events = step.published, step.events
        self.publisher.publish_pose(result, capture_wall)
        st = self.loop_stats
        st.latency_ms.append((time.time() - capture_wall) * 1e3)
        st.processed += 1
        st.processed_total += 1
        st.detector_runs += result.detector_ran
        st.detector_tile_runs += result.detector_tiles
        st.landmark_runs += result.landmark_runs
        st.poses += len(result.poses)
        for k, v in result.timings_ms.items():
            st.stage_ms[k] = st.stage_ms.get(k, 0.0) + v
        self._last_frame_ts, self._last_frame_mono = frame.timestamp_ns, time.monotonic_ns()
        for event in events:
            self._publish_presence(event)
        after = self.presence.state
        if not events and (after.present, after.count, after.zones) != (before.present, before.count, before.zones):
            self._publish_presence(None)  # the person count or a zone's count changed while present
        if self.live_view is not None:  # hands over references only; nothing happens while nobody watches
            self.live_view.offer(frame.rgb, result.poses, rejected=step.verdict.rejected, zones=self.zones,
                                 presence=after, fps=self._processed_fps())
        if self.snapshots is not None and any(e.kind == "enter" for e in events):
            self.snapshots.submit(frame.rgb, result.poses, zones=self.zones)
        self._ping_watchdog()

    def _presence_tick(self) -> None:
        """No frame arrived (camera stalled or gone): let presence time out on the frames' own clock, advanced
        by the time that has passed since the last frame."""
        if self._last_frame_ts is None:
            return
        now_ns = self._last_frame_ts + (time.monotonic_ns() - self._last_frame_mono)
        for event in self.presence.update([], now_ns):
            self._publish_presence(event)

    def _publish_presence(self, event: presence_sm.PresenceEvent | None) -> None:
        """Publish the retained state (wall-clock `since`) and, for a change, the event."""
        assert self.publisher is not None
        if event is not None and event.kind != "count":  # `since` is when presence began, not the count
            self._since_wall = time.time()
            log.info("presence: %s (count %d)", event.kind, event.count)
        s = self.presence.state
        state = contract.PresenceState(present=s.present, count=s.count, since=self._since_wall, zones=s.zones)
        wire_ts = self._since_wall if event is None or event.kind != "count" else time.time()
        wire_event = contract.PresenceEvent(event.kind, wire_ts, event.count) if event else None
        self.publisher.publish_presence(state, wire_event)

    def _ping_watchdog(self) -> None:
        now = time.monotonic()
        every = self._watchdog_every if self._watchdog_every is not None else 1.0
        if now - self._last_watchdog >= every:
            self._last_watchdog = now
            self.notifier.watchdog()
            if self.capture is not None:
                self.notifier.status(f"running: {self.capture.stats().fps:.1f} camera fps, "
                                     f"{self._processed_fps():.1f} processed fps")  # fmt: skip

    def _processed_fps(self) -> float:
        dt = time.monotonic() - self.loop_stats.since
        return self.loop_stats.processed / dt if dt > 0 else 0.0

    def stats(self) -> dict[str, Any]:
        assert self.engine is not None and self.capture is not None and self.publisher is not None
        st = self.loop_stats
        elapsed = max(time.monotonic() - st.since, 1e-9)
        lat = np.asarray(st.latency_ms, dtype=np.float64)
        cap = self.capture.stats()
        backend = self.engine.landmarks.backend
        return {
            "camera_fps": cap.fps,
            "processed_fps": round(st.processed / elapsed, 2),
            "skipped_frames": cap.skipped,
            "stage_ms": {k: round(v / st.processed, 3) for k, v in st.stage_ms.items()} if st.processed else {},
            "detector_runs_per_min": round(st.detector_runs * 60.0 / elapsed, 2),
            "detector_tile_runs_per_min": round(st.detector_tile_runs * 60.0 / elapsed, 2),
            # Several people (engine.max_poses): mean people per frame, and the landmark stages' cost per person.
            "people_per_frame": round(st.poses / st.processed, 3) if st.processed else None,
            "ms_per_person": round(person_ms(st.stage_ms) / st.landmark_runs, 3) if st.landmark_runs else None,
            "inference_errors": st.inference_errors,
            "non_finite_dropped": self.engine.stats.dropped_non_finite,  # poses dropped for NaN/inf output
            "validity_rejected": dict(sorted(self.validity.rejections.items())),  # since start, by reason
            "latency_ms": (
                {"p50": round(float(np.percentile(lat, 50)), 2), "p99": round(float(np.percentile(lat, 99)), 2)}
                if lat.size
                else None
            ),
            "backend": backend.name,
            "backend_note": getattr(backend, "note", "") or None,
            "model": self.cfg.engine.model,
            "precision": self.cfg.engine.precision,
            # What "auto" (or an explicit precision) chose for each stage, and why (docs/pi.md).
            "precision_stages": {"detector": ch.detector, "landmark": ch.landmark, "why": ch.why}
            if (ch := self.engine.precision) is not None
            else None,
            # The same wall-clock `since` as the retained presence topic (the tracker counts in frame time).
            "presence": {"present": self.presence.state.present, "count": self.presence.state.count,
                         "since": round(self._since_wall, 3)},
            "capture": cap.to_dict(),
            "mqtt": self.publisher.stats(),
            "version": __version__,
            **self.sysinfo.sample(),
        }

    def _publish_stats(self) -> None:
        if self.engine is None or self.capture is None or self.publisher is None:
            return
        self.publisher.publish_stats(self.stats())
        self.loop_stats.reset_interval()

    def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        if self.capture is not None:
            self.capture.stop(timeout=1.0)
        if self.live_view is not None:
            self.live_view.close()
        if self.snapshots is not None:
            self.snapshots.close()  # the last enter's picture still goes out before the publisher closes
        if self.publisher is not None:
            if self.engine is not None and self.capture is not None:
                self.final_stats = self.stats()
            self.publisher.close(timeout=3.0)
            if self.final_stats is not None:  # close() settles the frames the broker had not yet confirmed
                c = self.publisher.counters
                self.final_stats["mqtt"].update(frames_published=c.frames_published, frames_dropped=c.frames_dropped)
