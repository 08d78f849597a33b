"""Frame sources (picamera2, OpenCV cameras/streams/files/folders) and the capture thread.

Typical use::

    from edgepose.io import CaptureThread, open_source

    with CaptureThread(open_source("auto", width=640, height=480)) as capture:
        frame = capture.get(timeout=1.0)   # newest frame or None
"""

from __future__ import annotations

from edgepose.io.capture import CaptureStats, CaptureThread
from edgepose.io.frame_source import FrameSource, SourceError
from edgepose.io.frames import Frame, FrameError, to_rgb_uint8
from edgepose.io.sources import open_source

__all__ = [
    "CaptureStats",
    "CaptureThread",
    "Frame",
    "FrameError",
    "FrameSource",
    "SourceError",
    "open_source",
    "to_rgb_uint8",
]
