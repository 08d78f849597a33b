"""The frame-source interface: `FrameSource`, its errors and the `Pacer` of file sources.

The implementations (edgepose.io.opencv_source, edgepose.io.picamera2_source) build on this module, and
edgepose.io.sources picks one for a source string; nothing here imports either of them.
"""

from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from edgepose.errors import EXIT_DATAERR, EXIT_UNAVAILABLE, EdgeposeError
from edgepose.io.frames import Frame

log = logging.getLogger(__name__)

Pace = Literal["realtime", "fast"]
PACES: tuple[str, ...] = ("realtime", "fast")

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm"}
)
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")

class SourceError(EdgeposeError, RuntimeError):
    """A source that cannot be created or opened; the message names it and what was tried."""

    exit_status = EXIT_UNAVAILABLE


class UnreadableFileError(SourceError):
    """A file source (video, image folder) that failed before yielding a single frame: bad data, exit 65.

    Retrying cannot help a zero-byte or truncated file, unlike a camera or a stream that may come back.
    """

    exit_status = EXIT_DATAERR


class FrameSource(ABC):
    """A camera, stream or file that yields `Frame` objects.

    Subclasses implement `_open`, `_read` and `_close`. The public methods add the open/closed bookkeeping:
    `read` opens the source if needed, `close` is idempotent, and a closed source can be opened again
    (the capture thread reopens it after a failure). Frame indices and timestamps keep increasing across
    reopens of the same object.

    Attributes:
        name: a short description for logs and stats (never contains credentials of a stream URL).
        live: frames come from a clock we do not control (camera, stream); False for files and folders.
        lossless: every frame should reach the consumer (files read with ``pace="fast"``); the capture
            thread then hands frames over one by one instead of keeping only the newest.
    """

    name: str = "source"
    live: bool = True
    lossless: bool = False

    def __init__(self) -> None:
        self._is_open = False

    # Properties known after open (None when the source does not say).
    @property
    def fps(self) -> float | None:
        return None

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the frames, when fixed and known."""
        return None

    @property
    def is_open(self) -> bool:
        return self._is_open

    def open(self) -> None:
        """Open the device or file; raises `SourceError` when that fails."""
        if self._is_open:
            return
        self._open()
        self._is_open = True

    def read(self) -> Frame | None:
        """The next frame, or None at the end of a file (never None for a live source).

        Raises:
            SourceError: the source failed (device gone, stream broken).
            FrameError: this one frame could not be converted (the source may still work).
        """
        if not self._is_open:
            self.open()
        return self._read()

    def close(self) -> None:
        """Release the device or file; safe to call twice and from a failed state."""
        if not self._is_open:
            return
        self._is_open = False
        self._close()

    def interrupt(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Ask a `read` blocked in another thread to return soon (best effort; default: nothing).

        Called by the capture thread when it stops or detects a stall. Implementations must be safe to call
        from another thread while `read` runs, so they only set flags or wake waits.
        """

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _read(self) -> Frame | None: ...

    @abstractmethod
    def _close(self) -> None: ...

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Pacer:
    """Spaces frames of a file at its frame rate (``pace="realtime"``) using an injectable clock.

    The schedule is anchored at the first frame; if the consumer falls more than `max_lag` seconds behind
    (paused process, slow disk), the schedule is re-anchored instead of replaying the backlog in a burst.
    """

    def __init__(
        self,
        fps: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        max_lag: float = 1.0,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period = 1.0 / fps
        self._clock = clock
        self._sleep = sleep
        self._max_lag = max_lag
        self._anchor: float | None = None
        self._n = 0

    def reset(self) -> None:
        self._anchor = None
        self._n = 0

    def wait(self) -> None:
        """Block until the next frame is due."""
        now = self._clock()
        if self._anchor is None:
            self._anchor = now
            self._n = 1
            return
        due = self._anchor + self._n * self.period
        if now - due > self._max_lag:
            self._anchor, self._n = now, 1
            return
        if due > now:
            self._sleep(due - now)
        self._n += 1


def redact_url(uri: str) -> str:
    """`uri` with any ``user:password@`` removed, for logs and stats."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1***@", uri)
