"""CaptureThread: latest-frame and lossless hand-off, fault handling with backoff, stalls, clean stop.

The sources here are scripted in-process sources behind the real FrameSource interface (the faults they
inject, such as an unplugged camera or a stalled stream, cannot be produced on demand with real hardware).
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from edgepose.io.capture import Backoff, CaptureThread
from edgepose.io.frames import Frame, FrameError
from edgepose.io.sources import FrameSource, SourceError

BLOCK = "block"  # read blocks until interrupt()
EOF = "eof"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


class ScriptedSource(FrameSource):
    """Each read() performs the next action pushed by the test: "frame", EOF, BLOCK, an exception to raise,
    or ("late", seconds) = a frame delivered after that many seconds, ignoring interrupt()."""

    live = True

    def __init__(self, *, lossless: bool = False, open_failures: int = 0) -> None:
        super().__init__()
        self.name = "scripted"
        self.lossless = lossless
        self.actions: queue.Queue = queue.Queue()
        self.open_failures = open_failures
        self.open_times: list[float] = []
        self.close_calls = 0
        self.interrupts = 0
        self._interrupted = threading.Event()
        self._next = 0

    def push(self, *actions) -> None:
        for action in actions:
            self.actions.put(action)

    def interrupt(self) -> None:
        self.interrupts += 1
        self._interrupted.set()

    def _frame(self) -> Frame:
        frame = Frame(np.full((2, 2, 3), self._next % 256, np.uint8), 1000 + self._next, self._next, self.name)
        self._next += 1
        return frame

    def _open(self) -> None:
        self.open_times.append(time.monotonic())
        self._interrupted.clear()
        if self.open_failures > 0:
            self.open_failures -= 1
            raise SourceError("camera busy")

    def _read(self) -> Frame | None:
        while True:
            try:
                action = self.actions.get(timeout=0.01)
            except queue.Empty:
                if self._interrupted.is_set():
                    self._interrupted.clear()
                    raise SourceError("interrupted") from None
                continue
            if action == "frame":
                return self._frame()
            if action == EOF:
                return None
            if action == BLOCK:
                self._interrupted.wait()
                self._interrupted.clear()
                raise SourceError("interrupted while blocked")
            if isinstance(action, tuple) and action[0] == "late":
                frame = self._frame()
                time.sleep(action[1])
                return frame
            if isinstance(action, BaseException):
                raise action
            raise AssertionError(f"unknown action {action!r}")

    def _close(self) -> None:
        self.close_calls += 1


class FreeRunningSource(FrameSource):
    """A camera-like source producing a frame every `period` seconds."""

    live = True
    name = "free-running"

    def __init__(self, period: float = 0.001) -> None:
        super().__init__()
        self.period = period
        self._next = 0
        self._wake = threading.Event()

    def interrupt(self) -> None:
        self._wake.set()

    def _open(self) -> None:
        pass

    def _read(self) -> Frame | None:
        self._wake.wait(self.period)
        frame = Frame(np.zeros((2, 2, 3), np.uint8), time.monotonic_ns(), self._next, self.name)
        self._next += 1
        return frame

    def _close(self) -> None:
        pass


@pytest.fixture
def started():
    threads: list[CaptureThread] = []

    def start(source: FrameSource, **kwargs) -> CaptureThread:
        kwargs.setdefault("stall_timeout", 30.0)
        kwargs.setdefault("backoff_min", 0.01)
        kwargs.setdefault("backoff_max", 0.05)
        kwargs.setdefault("backoff_jitter", 0.0)
        capture = CaptureThread(source, **kwargs).start()
        threads.append(capture)
        return capture

    yield start
    for capture in threads:
        capture.stop()


def test_latest_frame_wins_and_overwritten_frames_are_counted(started):
    src = ScriptedSource()
    capture = started(src)
    assert capture.mode == "latest"
    src.push("frame", "frame", "frame")
    wait_until(lambda: capture.stats().captured == 3)
    frame = capture.get(timeout=1.0)
    assert frame is not None and frame.index == 2
    assert capture.stats().skipped == 2
    assert capture.get(timeout=0.05) is None  # nothing newer yet
    src.push("frame")
    assert capture.get(timeout=1.0).index == 3
    stats = capture.stats()
    assert (stats.captured, stats.skipped, stats.state) == (4, 2, "running")


def test_slow_consumer_always_gets_newer_frames(started):
    capture = started(FreeRunningSource())
    taken = []
    for _ in range(15):
        frame = capture.get(timeout=2.0)
        assert frame is not None
        taken.append(frame.index)
        time.sleep(0.02)  # inference slower than the camera
    capture.stop()
    stats = capture.stats()
    assert all(b > a for a, b in itertools.pairwise(taken))
    assert stats.skipped > 0
    # Every captured frame was either taken, overwritten, or is still waiting in the slot.
    assert stats.captured - stats.skipped - len(taken) in (0, 1)
    assert stats.captured >= taken[-1] + 1


def test_lossless_mode_blocks_the_producer_and_skips_nothing(started):
    src = ScriptedSource(lossless=True)
    capture = started(src)
    assert capture.mode == "all"
    src.push("frame", "frame", "frame")
    wait_until(lambda: capture.stats().captured == 1)
    time.sleep(0.1)
    assert capture.stats().captured == 1  # the next frame waits until the consumer took this one
    assert [capture.get(timeout=1.0).index for _ in range(3)] == [0, 1, 2]
    assert capture.stats().skipped == 0


def test_open_failures_are_retried_with_growing_backoff(started, caplog):
    src = ScriptedSource(open_failures=3)
    with caplog.at_level(logging.DEBUG, logger="edgepose.io.capture"):
        capture = started(src, backoff_min=0.02, backoff_max=1.0)
        src.push("frame")
        assert capture.wait_ready(timeout=5.0)
    stats = capture.stats()
    assert (stats.failures, stats.reopens, stats.state) == (3, 1, "running")
    assert stats.last_error == "camera busy"
    gaps = np.diff(src.open_times)
    assert np.all(gaps >= np.array([0.02, 0.04, 0.08]) * 0.95)  # lower bounds only: sleeps never end early
    # One log line per state change, not one per attempt.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "reopening" in warnings[0].getMessage()
    assert any("-> running" in r.getMessage() for r in caplog.records)


def test_read_errors_close_and_reopen_the_source(started):
    src = ScriptedSource()
    capture = started(src)
    src.push("frame", RuntimeError("unplugged"), "frame", OSError("gone"), "frame")
    wait_until(lambda: capture.stats().captured == 3)
    stats = capture.stats()
    assert (stats.failures, stats.reopens) == (2, 2)
    assert stats.last_error == "OSError: gone"
    assert src.close_calls == 2 and len(src.open_times) == 3
    assert capture.get(timeout=1.0).index == 2


def test_a_stalled_read_is_interrupted_and_the_source_reopened(started):
    src = ScriptedSource()
    capture = started(src, stall_timeout=0.2)
    src.push("frame", BLOCK, "frame")
    wait_until(lambda: capture.stats().captured == 2)
    stats = capture.stats()
    assert stats.failures == 1 and stats.reopens == 1
    assert "stalled" in stats.last_error
    assert src.interrupts >= 1 and stats.state == "running"


def test_a_frame_arriving_after_a_stall_is_discarded(started):
    src = ScriptedSource(lossless=True)
    capture = started(src, stall_timeout=0.1)
    src.push("frame", ("late", 0.5), "frame")
    taken = [capture.get(timeout=5.0).index, capture.get(timeout=5.0).index]
    assert taken == [0, 2]
    stats = capture.stats()
    assert stats.captured == 2 and stats.failures == 1 and stats.reopens == 1


def test_bad_frames_are_dropped_and_many_in_a_row_reopen(started):
    src = ScriptedSource()
    capture = started(src, max_bad_frames=3)
    src.push(FrameError("empty image"), FrameError("empty image"), "frame")
    wait_until(lambda: capture.stats().captured == 1)
    stats = capture.stats()
    assert (stats.bad_frames, stats.failures, stats.reopens) == (2, 0, 0)
    src.push(FrameError("x"), FrameError("x"), FrameError("x"), "frame")
    wait_until(lambda: capture.stats().captured == 2)
    stats = capture.stats()
    assert (stats.bad_frames, stats.failures, stats.reopens) == (5, 1, 1)


def test_end_of_file_with_stop(started):
    src = ScriptedSource(lossless=True)
    capture = started(src, on_eof="stop")
    src.push("frame", "frame", EOF)
    assert capture.get(timeout=2.0).index == 0
    assert capture.get(timeout=2.0).index == 1
    assert capture.get(timeout=2.0) is None
    wait_until(lambda: not capture.alive)
    assert capture.ended and capture.stats().state == "ended"
    assert not src.is_open and src.close_calls == 1
    assert capture.stats().captured == 2


def test_end_of_file_without_loop_is_reopened(started):
    src = ScriptedSource()
    capture = started(src)
    src.push("frame", EOF, "frame")
    wait_until(lambda: capture.stats().captured == 2)
    stats = capture.stats()
    assert stats.failures == 1 and stats.reopens == 1 and "end of file" in stats.last_error


def test_stop_interrupts_a_blocked_read_and_closes(started):
    src = ScriptedSource()
    capture = started(src)
    src.push("frame", BLOCK)
    wait_until(lambda: capture.stats().captured == 1)
    capture.stop(timeout=1.0)
    assert not capture.alive
    assert src.close_calls == 1 and not src.is_open
    assert capture.get() is None  # returns at once after stop
    assert capture.stats().state == "stopped"


def test_stop_during_a_long_backoff(started):
    src = ScriptedSource(open_failures=100)
    capture = started(src, backoff_min=30.0, backoff_max=60.0)
    wait_until(lambda: capture.stats().failures == 1)
    capture.stop(timeout=1.0)
    assert not capture.alive


def test_a_dead_source_never_raises_into_the_consumer(started):
    src = ScriptedSource(open_failures=10**6)
    capture = started(src)
    assert capture.get(timeout=0.2) is None
    assert not capture.wait_ready(timeout=0.05)
    stats = capture.stats()
    assert stats.state == "reopening" and stats.failures >= 1 and stats.captured == 0
    assert stats.to_dict()["last_error"] == "camera busy"


def test_backoff_sequence_cap_jitter_and_reset():
    b = Backoff(0.5, 30.0, jitter=0.0)
    assert [b.next() for _ in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    b.reset()
    assert b.next() == 0.5
    jittered = Backoff(1.0, 1.0, jitter=0.1, rng=random.Random(3))
    delays = [jittered.next() for _ in range(200)]
    assert min(delays) >= 0.9 and max(delays) <= 1.1 and len(set(delays)) > 100
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(1.0, 2.0, jitter=1.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        CaptureThread(ScriptedSource(), mode="newest")
    with pytest.raises(ValueError, match="on_eof"):
        CaptureThread(ScriptedSource(), on_eof="exit")
