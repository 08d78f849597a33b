"""`CaptureThread`: runs a `FrameSource` in its own thread, hands frames to the pose loop, survives faults.

Hand-off modes:

- ``"latest"`` (live cameras, streams, files paced in real time): a one-frame slot that the capture thread
  overwrites. `CaptureThread.get` always returns the newest frame; frames overwritten before the consumer
  took them are counted as ``skipped``. Latency stays bounded when inference is slower than the camera.
- ``"all"`` (files read with ``pace="fast"``): a blocking hand-off; the capture thread waits until the
  consumer has taken the previous frame, so every frame of the file is processed (benchmarks, tests,
  offline runs) and ``skipped`` stays 0.

``mode="auto"`` (the default) picks ``"all"`` for sources that declare ``lossless``, else ``"latest"``.

Faults: an exception from ``open``/``read``, a read that takes longer than ``stall_timeout`` (the source
is interrupted and the read counts as failed even if it returns later), ``max_bad_frames`` unconvertible
frames in a row, and the end of a file (unless ``on_eof="stop"``) close the source and reopen it after an
exponential backoff with jitter. Every fault is counted in `stats`, each state change is logged once, and
nothing is raised into the consumer. `stop` returns within about a second and closes the source.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Literal

from edgepose.io.frame_source import FrameSource, SourceError
from edgepose.io.frames import Frame, FrameError

log = logging.getLogger(__name__)

# States reported in stats()["state"].
STARTING = "starting"  # opening the source for the first time
RUNNING = "running"  # frames arrive
STALLED = "stalled"  # a read has been blocked for longer than stall_timeout
REOPENING = "reopening"  # the source failed; waiting (backoff) or trying to reopen it
ENDED = "ended"  # a file ended and on_eof="stop"
STOPPED = "stopped"  # stop() was called

Mode = Literal["auto", "latest", "all"]


class Backoff:
    """Exponential backoff: ``initial * factor**n`` capped at `maximum`, each delay scaled by ±`jitter`."""

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {initial}, {maximum}")
        if factor < 1 or not 0 <= jitter < 1:
            raise ValueError(f"backoff needs factor >= 1 and 0 <= jitter < 1, got {factor}, {jitter}")
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self._rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        base = min(self.maximum, self.initial * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return base * (1.0 + self._rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempt = 0


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """A snapshot of the capture thread's counters (all since `CaptureThread.start`)."""

    state: str
    source: str
    mode: str
    captured: int  # frames read from the source
    skipped: int  # frames overwritten before the consumer took them ("latest" mode)
    bad_frames: int  # frames the source could not convert (FrameError)
    failures: int  # open/read failures, stalls and file ends that led to a reopen
    reopens: int  # successful reopens after a failure
    fps: float  # frames per second arriving from the source over the last few seconds
    last_error: str | None
    last_error_age_s: float | None
    last_frame_age_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CaptureThread:
    """Read `source` in a background thread; see the module docstring for modes and fault handling.

    Args:
        source: the frame source (closed or open).
        mode: ``"auto"``, ``"latest"`` or ``"all"``.
        stall_timeout: seconds a single read may take before the source is declared stalled (raised to
            three frame periods for slow sources).
        backoff_min, backoff_max, backoff_jitter: reopen delays (seconds, fraction).
        on_eof: ``"reopen"`` (treat the end of a file as a fault: reopen after backoff) or ``"stop"``
            (the thread ends, `get` returns None once the last frame is taken, `ended` is True).
        max_bad_frames: unconvertible frames in a row that count as a failure of the source.
        stable_after: seconds of uninterrupted frames after which the backoff starts again at its minimum.
        rng: random generator for the jitter (tests).
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        mode: Mode | str = "auto",
        stall_timeout: float = 5.0,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        backoff_jitter: float = 0.1,
        on_eof: Literal["reopen", "stop"] | str = "reopen",
        max_bad_frames: int = 30,
        stable_after: float = 10.0,
        rng: random.Random | None = None,
        fail_before_first_frame: bool = False,
    ) -> None:
        if mode not in ("auto", "latest", "all"):
            raise ValueError(f"mode must be 'auto', 'latest' or 'all', got {mode!r}")
        if on_eof not in ("reopen", "stop"):
            raise ValueError(f"on_eof must be 'reopen' or 'stop', got {on_eof!r}")
        if not stall_timeout > 0:
            raise ValueError(f"stall_timeout must be > 0, got {stall_timeout}")
        if max_bad_frames < 1:
            raise ValueError(f"max_bad_frames must be >= 1, got {max_bad_frames}")
        self.source = source
        self.mode = ("all" if source.lossless else "latest") if mode == "auto" else mode
        self._stall_timeout = stall_timeout
        self._backoff = Backoff(backoff_min, backoff_max, jitter=backoff_jitter, rng=rng)
        self._on_eof = on_eof
        self._max_bad_frames = max_bad_frames
        self._stable_after = stable_after
        # A file that fails before its first frame is bad data: the thread ends and `fatal_error` says why.
        self._fail_fast = fail_before_first_frame
        self.fatal_error: str | None = None

        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._first_frame = threading.Event()
        self._slot: Frame | None = None
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None

        # Guarded by _cond.
        self._state = STARTING
        self._captured = 0
        self._skipped = 0
        self._bad = 0
        self._failures = 0
        self._reopens = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_frame_at: float | None = None
        self._arrivals: deque[float] = deque(maxlen=240)
        self._read_started: float | None = None
        self._stall_declared = False
        self._running_since: float | None = None

    # ---- consumer side -------------------------------------------------------------------------------

    def start(self) -> CaptureThread:
        if self._thread is not None:
            raise RuntimeError("CaptureThread already started")
        self._thread = threading.Thread(target=self._run, name="edgepose-capture", daemon=True)
        self._watcher = threading.Thread(target=self._watch, name="edgepose-capture-watch", daemon=True)
        self._thread.start()
        self._watcher.start()
        return self

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet taken; None after `timeout` seconds, after `stop`, or at the end (with
        ``on_eof="stop"`` the frames still waiting are handed out first).

        Never raises because of the source.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._stop.is_set():
                return None
            while self._slot is None:
                if self._stop.is_set() or self._state in (ENDED, STOPPED):
                    return None
                if deadline is None:
                    self._cond.wait(0.5)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame, self._slot = self._slot, None
            self._cond.notify_all()  # wake a producer blocked in "all" mode
            return frame

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the first frame has been captured (True) or `timeout`/stop/end (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._first_frame.is_set():
            if self._stop.is_set() or self.ended:
                return self._first_frame.is_set()
            wait = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if wait <= 0:
                return False
            self._first_frame.wait(wait)
        return True

    @property
    def state(self) -> str:
        with self._cond:
            return self._state

    @property
    def ended(self) -> bool:
        """The source reached its end with ``on_eof="stop"`` (no more frames will come)."""
        with self._cond:
            return self._state == ENDED

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> CaptureStats:
        now = time.monotonic()
        with self._cond:
            window = [t for t in self._arrivals if now - t <= 3.0]
            fps = 0.0
            if len(window) >= 2 and window[-1] > window[0]:
                fps = (len(window) - 1) / (window[-1] - window[0])
            return CaptureStats(
                state=self._state,
                source=self.source.name,
                mode=self.mode,
                captured=self._captured,
                skipped=self._skipped,
                bad_frames=self._bad,
                failures=self._failures,
                reopens=self._reopens,
                fps=round(fps, 2),
                last_error=self._last_error,
                last_error_age_s=None if self._last_error_at is None else round(now - self._last_error_at, 3),
                last_frame_age_s=None if self._last_frame_at is None else round(now - self._last_frame_at, 3),
            )

    def stop(self, timeout: float = 1.0) -> None:
        """Stop reading, close the source and join the thread (waits at most about `timeout` seconds)."""
        self._stop.set()
        self._interrupt_source()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in (self._thread, self._watcher):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread is not None and self._thread.is_alive():
            # Closing from here would race the blocked read (OpenCV and libcamera are not safe for that);
            # the daemon thread is abandoned and the process exit releases the device.
            log.warning("%s: capture thread still blocked in the source after %.1f s; abandoning it",
                        self.source.name, timeout)
        with self._cond:
            if self._state != ENDED:
                self._state = STOPPED
            self._cond.notify_all()

    def __enter__(self) -> CaptureThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- capture thread ------------------------------------------------------------------------------

    def _effective_stall_timeout(self) -> float:
        fps = self.source.fps
        return max(self._stall_timeout, 3.0 / fps) if fps else self._stall_timeout

    def _interrupt_source(self) -> None:
        try:
            self.source.interrupt()
        except Exception as e:
            log.debug("%s: interrupt() failed: %s", self.source.name, e)

    def _set_state(self, state: str, detail: str = "", level: int = logging.INFO) -> None:
        """Change state (lock held by caller); log only on a change."""
        if state == self._state:
            return
        previous, self._state = self._state, state
        log.log(level, "capture %s: %s -> %s%s", self.source.name, previous, state,
                f" ({detail})" if detail else "")

    def _run(self) -> None:
        consecutive_bad = 0
        had_failure = False
        try:
            while not self._stop.is_set():
                if not self.source.is_open:
                    try:
                        self.source.open()
                    except Exception as e:
                        self._fail(e)
                        had_failure = True
                        continue
                    if had_failure:
                        had_failure = False
                        with self._cond:
                            self._reopens += 1
                with self._cond:
                    self._read_started = time.monotonic()
                    self._stall_declared = False
                try:
                    frame = self.source.read()
                    error: BaseException | None = None
                except Exception as e:  # FrameError included: handled below
                    frame, error = None, e
                with self._cond:
                    self._read_started = None
                    stalled, self._stall_declared = self._stall_declared, False
                if self._stop.is_set():
                    break
                if stalled:
                    limit = self._effective_stall_timeout()
                    self._fail(SourceError(f"read blocked for more than {limit:g} s (stalled)"),
                               already_counted=True)
                    had_failure = True
                    continue
                if isinstance(error, FrameError):
                    consecutive_bad += 1
                    with self._cond:
                        self._bad += 1
                        total = self._bad
                        self._last_error, self._last_error_at = f"bad frame: {error}", time.monotonic()
                    if total in (1, 10, 100, 1000) or total % 10_000 == 0:  # bounded log volume
                        log.warning("capture %s: dropped a bad frame (%d so far): %s", self.source.name, total,
                                    error)
                    if consecutive_bad >= self._max_bad_frames:
                        consecutive_bad = 0
                        self._fail(SourceError(f"{self._max_bad_frames} bad frames in a row ({error})"))
                        had_failure = True
                    continue
                if error is not None:
                    self._fail(error)
                    had_failure = True
                    continue
                if frame is None:
                    if self._on_eof == "stop":
                        with self._cond:
                            self._set_state(ENDED, "end of file")
                            self._cond.notify_all()
                        return
                    self._fail(SourceError("end of file (loop is off)"), level=logging.INFO)
                    had_failure = True
                    continue
                consecutive_bad = 0
                self._publish(frame)
        except Exception:  # a bug here must not pass silently, and must not kill the process
            log.exception("capture %s: capture thread crashed", self.source.name)
            with self._cond:
                self._last_error, self._last_error_at = "capture thread crashed", time.monotonic()
        finally:
            try:
                self.source.close()
            except Exception as e:
                log.warning("capture %s: close failed: %s", self.source.name, e)
            with self._cond:
                if self._state != ENDED:
                    self._set_state(STOPPED, level=logging.DEBUG)
                self._cond.notify_all()

    def _publish(self, frame: Frame) -> None:
        now = time.monotonic()
        with self._cond:
            if self._state != RUNNING:
                self._set_state(RUNNING, f"{frame.width}x{frame.height}")
                self._running_since = now
            elif (self._backoff.attempt and self._running_since is not None
                  and now - self._running_since >= self._stable_after):
                self._backoff.reset()
            if self.mode == "all":
                while self._slot is not None and not self._stop.is_set():
                    self._cond.wait(0.1)
                if self._stop.is_set():
                    return
            elif self._slot is not None:
                self._skipped += 1
            self._slot = frame
            self._captured += 1
            self._last_frame_at = now
            self._arrivals.append(now)
            self._cond.notify_all()
        self._first_frame.set()

    def _fail(
        self, error: BaseException, *, already_counted: bool = False, level: int = logging.WARNING
    ) -> None:
        """Record a failure, close the source and wait out the backoff (interrupted by stop)."""
        message = str(error) if isinstance(error, SourceError) else f"{type(error).__name__}: {error}"
        if self._fail_fast and not self._first_frame.is_set():
            with self._cond:
                self._failures += 0 if already_counted else 1
                self._last_error, self._last_error_at = message, time.monotonic()
                self.fatal_error = message
                self._set_state(ENDED, f"{message}; a file is not retried", logging.ERROR)
                self._cond.notify_all()
            self._stop.set()
            return
        delay = self._backoff.next()
        with self._cond:
            if not already_counted:
                self._failures += 1
            self._last_error, self._last_error_at = message, time.monotonic()
            if self._state == REOPENING:
                log.debug("capture %s: still failing: %s", self.source.name, message)
            self._set_state(REOPENING, f"{message}; retrying with backoff, next in {delay:.2f} s", level)
            self._running_since = None
        try:
            self.source.close()
        except Exception as e:
            log.debug("capture %s: close after failure failed: %s", self.source.name, e)
        self._stop.wait(delay)

    def _watch(self) -> None:
        """Declare a stall when one read takes longer than the stall timeout, and interrupt the source."""
        while not self._stop.wait(min(0.25, self._stall_timeout / 4)):
            if self._thread is not None and not self._thread.is_alive():
                return
            limit = self._effective_stall_timeout()
            with self._cond:
                started = self._read_started
                if started is None or self._stall_declared or time.monotonic() - started <= limit:
                    continue
                self._stall_declared = True
                self._failures += 1
                self._last_error = f"no frame for {limit:g} s (stalled)"
                self._last_error_at = time.monotonic()
                self._set_state(STALLED, self._last_error, logging.WARNING)
            self._interrupt_source()
