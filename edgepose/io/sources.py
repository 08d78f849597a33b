"""`open_source`: picks the `FrameSource` implementation for a source string (the interface and its errors are
in edgepose.io.frame_source; the implementations are imported only when a source is built).

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
import os
import re
from pathlib import Path

from edgepose.io.frame_source import (
    IMAGE_SUFFIXES,
    PACES,
    STREAM_SCHEMES,
    FrameSource,
    Pace,
    Pacer,
    SourceError,
    UnreadableFileError,
    redact_url,
)

__all__ = ["FrameSource", "Pace", "Pacer", "SourceError", "UnreadableFileError", "open_source", "redact_url"]

_DEV = Path("/dev")


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
        return opencv_source.OpenCVStreamSource(text)

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
