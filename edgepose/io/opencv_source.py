"""OpenCV sources: V4L2/USB cameras, network streams, video files and image folders.

Live sources (cameras, streams) stamp frames with ``time.monotonic_ns()`` at capture. File sources
(videos, folders, single images) are paced to their frame rate (``pace="realtime"``) or read as fast as
possible (``pace="fast"``); in fast mode a frame's timestamp is derived from its position
(``start + index / fps``), the index running on across loops and reopens, so timestamps stay strictly
increasing and the One-Euro filter and presence timing see the file's real time base.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edgepose.io.frame_source import IMAGE_SUFFIXES, FrameSource, Pace, Pacer, SourceError, redact_url
from edgepose.io.frames import Frame, to_rgb_uint8

log = logging.getLogger(__name__)

DEFAULT_FILE_FPS = 30.0
# FFmpeg waits 30 s by default on a dead stream; these bound open and read so a stall becomes an error.
STREAM_OPEN_TIMEOUT_MS = 10_000
STREAM_READ_TIMEOUT_MS = 5_000


def _monotonic_after(last: int | None, now: int) -> int:
    """`now`, bumped to stay strictly after `last` (two reads within one clock tick)."""
    return now if last is None or now > last else last + 1


class _OpenCVLiveSource(FrameSource):
    """A cv2.VideoCapture on a camera or stream; a failed read is a `SourceError` (the thread reopens)."""

    live = True
    lossless = False

    def __init__(self, target: str, name: str, *, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        super().__init__()
        self._target = target
        self.name = name
        self._clock_ns = clock_ns
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._last_ts: int | None = None
        self._fps: float | None = None
        self._size: tuple[int, int] | None = None

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def size(self) -> tuple[int, int] | None:
        return self._size

    def _create_capture(self) -> cv2.VideoCapture:
        raise NotImplementedError

    def _open_hint(self) -> str:
        return ""

    def _open(self) -> None:
        cap = self._create_capture()
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: OpenCV could not open it{self._open_hint()}")
        self._cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._fps = fps if 0.0 < fps < 1000.0 else None
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._size = (w, h) if w > 0 and h > 0 else None

    def _read(self) -> Frame | None:
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.name}: no frame (device unplugged, stream ended or timed out)")
        ts = _monotonic_after(self._last_ts, self._clock_ns())
        rgb = to_rgb_uint8(image, bgr=True)
        frame = Frame(rgb=rgb, timestamp_ns=ts, index=self._index, source=self.name)
        self._last_ts = ts
        self._index += 1
        return frame

    def _close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


class OpenCVCameraSource(_OpenCVLiveSource):
    """A V4L2 camera (``/dev/videoN`` or a ``/dev/v4l/by-id/…`` link) through OpenCV."""

    def __init__(
        self,
        device: str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(device, f"camera {device}", clock_ns=clock_ns)
        self._want = (width, height, fps)

    def _open_hint(self) -> str:
        return " with V4L2 (in use by another process, unplugged, or no permission: group 'video')"

    def _create_capture(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self._target, cv2.CAP_V4L2)
        if cap.isOpened():
            width, height, fps = self._want
            if width and height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(width))
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(height))
            if fps:
                cap.set(cv2.CAP_PROP_FPS, float(fps))
            # One driver buffer: the capture thread already keeps only the newest frame.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1.0)
        return cap


class OpenCVStreamSource(_OpenCVLiveSource):
    """An RTSP/HTTP/… stream through OpenCV's FFmpeg backend, with bounded open and read timeouts."""

    def __init__(self, url: str, *, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        """A stream's frame size is the sender's: there is nothing to ask for, unlike a camera."""
        super().__init__(url, f"stream {redact_url(url)}", clock_ns=clock_ns)

    def _open_hint(self) -> str:
        return " (unreachable, wrong URL or credentials, or unsupported codec)"

    def _create_capture(self) -> cv2.VideoCapture:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_OPEN_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_READ_TIMEOUT_MS,
        ]
        return cv2.VideoCapture(self._target, cv2.CAP_FFMPEG, params)


class _FileSource(FrameSource):
    """Shared pacing, looping and timestamping of video files and image folders."""

    live = False

    def __init__(
        self,
        name: str,
        *,
        loop: bool,
        pace: Pace | str,
        clock_ns: Callable[[], int],
        sleep: Callable[[float], object] | None,
    ) -> None:
        super().__init__()
        if pace not in ("realtime", "fast"):
            raise SourceError(f"pace must be 'realtime' or 'fast', got {pace!r}")
        self.name = name
        self.loop = loop
        self.pace = pace
        self.lossless = pace == "fast"
        self._clock_ns = clock_ns
        self._wake = threading.Event()
        self._sleep = sleep if sleep is not None else self._wake.wait
        self._pacer: Pacer | None = None
        self._index = 0  # frames emitted by this object, across loops and reopens
        self._start_ns: int | None = None
        self._last_ts: int | None = None
        self._ended = False

    def _file_fps(self) -> float:
        raise NotImplementedError

    @property
    def fps(self) -> float | None:
        """The file's frame rate, known once the source has been opened."""
        return self._file_fps() if self._start_ns is not None else None

    def interrupt(self) -> None:
        self._wake.set()  # cut a pacing sleep short

    def _begin(self, fps: float) -> None:
        """Called by subclasses at the end of `_open`."""
        self._wake.clear()
        self._ended = False
        if self._start_ns is None:
            self._start_ns = self._clock_ns()
        if self.pace == "realtime":
            if self._pacer is None or abs(self._pacer.period * fps - 1.0) > 1e-9:
                self._pacer = Pacer(fps, clock=lambda: self._clock_ns() / 1e9, sleep=self._sleep)
            self._pacer.reset()

    def _emit(self, image: np.ndarray) -> Frame:
        """Wrap one decoded BGR image as the next frame (after pacing)."""
        rgb = to_rgb_uint8(image, bgr=True)
        if self._pacer is not None and self.pace == "realtime":
            self._pacer.wait()
        if self.pace == "fast":
            assert self._start_ns is not None
            ts = self._start_ns + round(self._index * 1e9 / self._file_fps())
            ts = _monotonic_after(self._last_ts, ts)
        else:
            ts = _monotonic_after(self._last_ts, self._clock_ns())
        frame = Frame(rgb=rgb, timestamp_ns=ts, index=self._index, source=self.name)
        self._index += 1
        self._last_ts = ts
        return frame


class VideoFileSource(_FileSource):
    """A video file decoded by OpenCV (FFmpeg)."""

    def __init__(
        self,
        path: str | Path,
        *,
        loop: bool = False,
        pace: Pace | str = "realtime",
        clock_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.path = Path(path)
        super().__init__(f"file {self.path}", loop=loop, pace=pace, clock_ns=clock_ns, sleep=sleep)
        self._cap: cv2.VideoCapture | None = None
        self._fps_value = DEFAULT_FILE_FPS
        self._size: tuple[int, int] | None = None
        self._frame_count: int | None = None
        self._in_pass = 0  # frames decoded since the file was (re)started

    def _file_fps(self) -> float:
        return self._fps_value

    @property
    def size(self) -> tuple[int, int] | None:
        return self._size

    @property
    def frame_count(self) -> int | None:
        """Frames in one pass as reported by the container (may be approximate)."""
        return self._frame_count

    def _open_capture(self) -> cv2.VideoCapture:
        if not self.path.is_file():
            raise SourceError(f"video file {self.path} does not exist or is not a regular file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"video file {self.path}: OpenCV could not open it (not a video, or the codec "
                              "is not supported by this OpenCV build)")
        return cap

    def _open(self) -> None:
        cap = self._open_capture()
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not 0.0 < fps < 1000.0:
            log.warning("%s: no usable frame rate in the file (%r), assuming %.0f fps", self.name, fps,
                        DEFAULT_FILE_FPS)
            fps = DEFAULT_FILE_FPS
        self._fps_value = fps
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._size = (w, h) if w > 0 and h > 0 else None
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._frame_count = count if count > 0 else None
        self._cap = cap
        self._in_pass = 0
        self._begin(fps)

    def _read(self) -> Frame | None:
        if self._ended:
            return None
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok or image is None:
            if self._in_pass == 0:
                raise SourceError(f"{self.name}: no frame could be decoded")
            if not self.loop:
                self._ended = True
                return None
            # Reopening is more robust than seeking to frame 0 with some containers.
            self._cap.release()
            self._cap = self._open_capture()
            self._in_pass = 0
            ok, image = self._cap.read()
            if not ok or image is None:
                raise SourceError(f"{self.name}: no frame after restarting the loop")
        self._in_pass += 1
        return self._emit(image)

    def _close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


def _natural_key(path: Path) -> list[object]:
    """Sort key so that frame_2.png comes before frame_10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """The image files of `folder` (not recursive, no hidden files), in natural name order."""
    return sorted(
        (p for p in folder.iterdir()
         if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=_natural_key,
    )


class ImageFolderSource(_FileSource):
    """Every image of a folder (natural name order), or one image file, as frames at `fps`."""

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float | None = None,
        loop: bool = False,
        pace: Pace | str = "realtime",
        clock_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.path = Path(path)
        kind = "image folder" if self.path.is_dir() else "image"
        super().__init__(f"{kind} {self.path}", loop=loop, pace=pace, clock_ns=clock_ns, sleep=sleep)
        if fps is not None and not fps > 0:
            raise SourceError(f"{self.name}: fps must be > 0, got {fps}")
        self._fps_value = float(fps) if fps else DEFAULT_FILE_FPS
        self._files = self._scan()
        self._pos = 0
        self._bad: set[Path] = set()

    def _scan(self) -> list[Path]:
        if self.path.is_dir():
            files = list_images(self.path)
            if not files:
                raise SourceError(f"{self.name}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            return files
        if self.path.is_file():
            return [self.path]
        raise SourceError(f"{self.name} does not exist")

    def _file_fps(self) -> float:
        return self._fps_value

    @property
    def fps(self) -> float | None:
        return self._fps_value

    @property
    def files(self) -> list[Path]:
        return list(self._files)

    def _open(self) -> None:
        self._files = self._scan()
        self._pos = 0
        self._begin(self._fps_value)

    def _read(self) -> Frame | None:
        if self._ended:
            return None
        failures_in_a_row = 0
        while True:
            if self._pos >= len(self._files):
                if not self.loop:
                    self._ended = True
                    return None
                self._pos = 0
            path = self._files[self._pos]
            self._pos += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return self._emit(image)
            failures_in_a_row += 1
            if path not in self._bad:
                self._bad.add(path)
                log.warning("%s: cannot decode %s, skipping it", self.name, path.name)
            if failures_in_a_row >= len(self._files):
                raise SourceError(f"{self.name}: none of the {len(self._files)} image(s) can be decoded")

    def _close(self) -> None:
        pass
