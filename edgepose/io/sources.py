"""The frame-source interface and `open_source`, which picks the implementation for a source string.

Source strings (the config's ``source`` / ``--source``):

=====================================  ==========================================================
``auto``                               picamera2 if it imports and lists a camera, else
                                       ``/dev/video0`` if it exists, else `SourceError`
``picamera2`` / ``picamera2:N``        Raspberry Pi camera N through picamera2 (imported lazily)
``0``, ``1``, … / ``/dev/videoN``      V4L2 / USB camera through OpenCV
``rtsp://…``, ``http(s)://…``, …       network stream through OpenCV (FFmpeg)
a directory                            every image in it, sorted by name, one frame each
an image file (``.jpg``, ``.png`` …)   that image as a single frame
any other file (``file://`` optional)  a video file through OpenCV
=====================================  ==========================================================

`open_source` builds the source and checks that a file or device exists; it does not open it (the capture
thread opens, and reopens after failures). `FrameSource.read` opens a source that is not open yet, so a
plain ``with open_source(...) as src: src.read()`` works too.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Literal

from edgepose.errors import EXIT_UNAVAILABLE, EdgeposeError
from edgepose.io.frames import Frame

log = logging.getLogger(__name__)

Pace = Literal["realtime", "fast"]
PACES: tuple[str, ...] = ("realtime", "fast")

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm"}
)
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")

_DEV = Path("/dev")


class SourceError(EdgeposeError, RuntimeError):
    """A source that cannot be created or opened; the message names it and what was tried."""

    exit_status = EXIT_UNAVAILABLE


class UnreadableFileError(SourceError):
    """A file source (video, image folder) that failed before yielding a single frame: bad data, exit 65.

    Retrying cannot help a zero-byte or truncated file, unlike a camera or a stream that may come back.
    """


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


def _picamera2_status() -> tuple[bool, str]:
    """(usable, reason): picamera2 imports and lists at least one camera."""
    try:
        module = importlib.import_module("picamera2")
    except Exception as e:  # ImportError, or the numpy ABI ValueError of platform notes §5
        return False, f"picamera2 not importable ({type(e).__name__}: {e})"
    try:
        cameras = module.Picamera2.global_camera_info()
    except Exception as e:
        return False, f"picamera2 could not list cameras ({type(e).__name__}: {e})"
    if not cameras:
        return False, "picamera2 lists no camera"
    return True, f"picamera2 lists {len(cameras)} camera(s)"


def open_source(
    uri: str | int,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    loop: bool = False,
    pace: Pace | str = "realtime",
) -> FrameSource:
    """Build the `FrameSource` for `uri` (see the module docstring); it is returned closed.

    Args:
        uri: source string or camera index.
        width, height: requested frame size for cameras (picamera2: the inference ``lores`` stream); files
            and folders keep their own size.
        fps: requested camera frame rate; for image folders the rate used for pacing and timestamps
            (default 30); ignored for video files, which use their own rate.
        loop: restart files and folders at the end instead of ending.
        pace: ``"realtime"`` (sleep to the file's frame rate) or ``"fast"`` (as fast as possible, every
            frame handed over, timestamps from the frame position). Files and folders only.

    Raises:
        SourceError: unknown pace, missing file or device, no camera found for ``auto``.
    """
    if pace not in PACES:
        raise SourceError(f"pace must be one of {', '.join(PACES)}, got {pace!r}")
    if (width is None) != (height is None):
        raise SourceError("width and height must be given together")
    from edgepose.io import opencv_source  # cv2 import is deferred until a source is built

    if isinstance(uri, bool) or not isinstance(uri, (str, int)):
        raise SourceError(f"source must be a string or a camera index, got {type(uri).__name__}")
    text = str(uri).strip()
    if not text:
        raise SourceError("source is empty: expected 'auto', 'picamera2', a camera index, /dev/videoN, "
                          "a stream URL, a video file, an image file or a folder")

    if text == "auto":
        ok, why = _picamera2_status()
        if ok:
            from edgepose.io.picamera2_source import Picamera2Source

            return Picamera2Source(0, width=width, height=height, fps=fps)
        dev0 = _DEV / "video0"
        if dev0.exists():
            return opencv_source.OpenCVCameraSource(str(dev0), width=width, height=height, fps=fps)
        raise SourceError(f"no camera found for source 'auto': tried picamera2 ({why}) and {dev0} (absent)")

    m = re.fullmatch(r"picamera2(?::(\d+))?", text)
    if m:
        from edgepose.io.picamera2_source import Picamera2Source

        return Picamera2Source(int(m.group(1) or 0), width=width, height=height, fps=fps)

    if re.fullmatch(r"\d+", text):
        device = _DEV / f"video{int(text)}"
        if os.name == "posix" and not device.exists():
            raise SourceError(f"camera {text}: {device} does not exist (no V4L2 device with that index)")
        return opencv_source.OpenCVCameraSource(str(device), width=width, height=height, fps=fps)

    if text.lower().startswith(STREAM_SCHEMES):
        return opencv_source.OpenCVStreamSource(text, width=width, height=height)

    path = Path(text.removeprefix("file://")).expanduser()
    if str(path).startswith(str(_DEV) + "/"):
        if not path.exists():
            raise SourceError(f"camera device {path} does not exist")
        return opencv_source.OpenCVCameraSource(str(path), width=width, height=height, fps=fps)
    if path.is_dir():
        return opencv_source.ImageFolderSource(path, fps=fps, loop=loop, pace=pace)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return opencv_source.ImageFolderSource(path, fps=fps, loop=loop, pace=pace)
        return opencv_source.VideoFileSource(path, loop=loop, pace=pace)
    if path.exists():
        raise SourceError(f"source {str(path)!r} is neither a regular file nor a directory")
    raise SourceError(
        f"source {text!r}: no such file or directory ({path.resolve()}); it is also not 'auto', "
        "'picamera2[:N]', a camera index, a /dev path or a stream URL"
    )
