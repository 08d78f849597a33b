"""Raspberry Pi cameras through picamera2 (imported lazily: it exists only on Raspberry Pi OS).

The camera runs a ``main`` stream and a low-resolution ``lores`` stream; the pose engine gets the ``lores``
stream. On Pi ≤ 4 (VC4 ISP) ``lores`` must be YUV420, which is converted here (honouring the row stride);
on Pi 5 (PiSP) ``lores`` is RGB and needs no conversion. Frames carry the sensor timestamp
(``SensorTimestamp`` metadata, ns), the right time base for the One-Euro filter (platform notes §5).
Requests are released as soon as their buffer is copied, so the camera pipeline never starves.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgepose.io.frame_source import FrameSource, SourceError
from edgepose.io.frames import Frame, FrameError, to_rgb_uint8

log = logging.getLogger(__name__)

DEFAULT_LORES_SIZE = (640, 480)
# picamera2's stream formats are named by the libcamera (DRM) fourcc, so "RGB888" is B, G, R in memory.
_BGR_ORDER_FORMATS = frozenset({"RGB888", "XRGB8888"})
_RGB_ORDER_FORMATS = frozenset({"BGR888", "XBGR8888"})


def yuv420_to_rgb(array: np.ndarray, width: int, height: int, *, yvu: bool = False) -> np.ndarray:
    """Convert a picamera2 YUV420 buffer (``make_array`` shape ``(height * 3 // 2, stride)``) to RGB.

    The Y plane has `stride` bytes per row and the two chroma planes ``stride // 2``; the padding on the
    right of each row is dropped before OpenCV's conversion. ``yvu=True`` for YVU420 (V plane first).
    """
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise FrameError(f"YUV420 needs a positive even size, got {width}x{height}")
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise FrameError(f"YUV420 buffer must be uint8, got {a.dtype}")
    stride = int(a.shape[1]) if a.ndim == 2 else width
    if stride < width:
        raise FrameError(f"YUV420 stride {stride} is smaller than the width {width}")
    flat = a.reshape(-1)
    y_size = stride * height
    c_stride, c_rows = stride // 2, height // 2
    c_size = c_stride * c_rows
    if flat.size < y_size + 2 * c_size:
        raise FrameError(f"YUV420 buffer of {flat.size} bytes is too small for {width}x{height} "
                         f"with stride {stride}")
    q = (width // 2) * c_rows
    i420 = np.empty((height * 3 // 2, width), dtype=np.uint8)
    packed = i420.reshape(-1)
    i420[:height] = flat[:y_size].reshape(height, stride)[:, :width]
    packed[width * height : width * height + q] = (
        flat[y_size : y_size + c_size].reshape(c_rows, c_stride)[:, : width // 2].reshape(-1))
    packed[width * height + q :] = (
        flat[y_size + c_size : y_size + 2 * c_size].reshape(c_rows, c_stride)[:, : width // 2].reshape(-1))
    return cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_YV12 if yvu else cv2.COLOR_YUV2RGB_I420)


def _even(n: int) -> int:
    return max(2, int(n) - int(n) % 2)


def _is_pisp(picamera2_class: Any, sys_root: Path) -> bool:
    """Pi 5 (PiSP) rather than VC4: picamera2's own platform probe, else the V4L2 device names."""
    platform = getattr(picamera2_class, "platform", None)
    if platform is not None:
        return "PISP" in str(getattr(platform, "name", platform)).upper()
    for name_file in sorted((sys_root / "class" / "video4linux").glob("video*/name")):
        try:
            text = name_file.read_text(errors="replace")
        except OSError:
            continue
        if "pispbe" in text or "rp1-cfe" in text:
            return True
    return False


class Picamera2Source(FrameSource):
    """Camera `camera_num` through picamera2; frames are the ``lores`` stream as RGB.

    Args:
        camera_num: index in ``Picamera2.global_camera_info()``.
        width, height: ``lores`` (inference) size; rounded down to even numbers. Default 640×480.
        fps: requested frame rate (``FrameRate`` control); None leaves the camera default.
        main_size: ``main`` stream size; default the ``lores`` size (same field of view, no scaling).
        read_timeout: seconds to wait for a frame before the read fails (a stalled camera).
    """

    live = True
    lossless = False

    def __init__(
        self,
        camera_num: int = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        main_size: tuple[int, int] | None = None,
        read_timeout: float = 2.0,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        sys_root: str | Path = "/sys",
    ) -> None:
        super().__init__()
        if camera_num < 0:
            raise SourceError(f"picamera2 camera number must be >= 0, got {camera_num}")
        w, h = (width, height) if width and height else DEFAULT_LORES_SIZE
        self.camera_num = camera_num
        self.name = f"picamera2 camera {camera_num}"
        self._lores_size = (_even(w), _even(h))
        self._main_size = main_size or self._lores_size
        if self._main_size[0] < self._lores_size[0] or self._main_size[1] < self._lores_size[1]:
            raise SourceError(f"{self.name}: main size {self._main_size} must not be smaller than the "
                              f"lores size {self._lores_size}")
        self._fps_request = fps
        self._read_timeout = read_timeout
        self._clock_ns = clock_ns
        self._sys_root = Path(sys_root)
        self._cam: Any = None
        self._lores: dict[str, Any] = {}
        self._index = 0
        self._last_ts: int | None = None
        self._timed_out = False

    @property
    def fps(self) -> float | None:
        return float(self._fps_request) if self._fps_request else None

    @property
    def size(self) -> tuple[int, int] | None:
        size = self._lores.get("size")
        return (int(size[0]), int(size[1])) if size else self._lores_size

    @property
    def lores_format(self) -> str | None:
        return self._lores.get("format")

    def _open(self) -> None:
        try:
            picamera2_class = importlib.import_module("picamera2").Picamera2
        except Exception as e:
            raise SourceError(f"{self.name}: picamera2 is not importable ({type(e).__name__}: {e}); "
                              "install python3-picamera2 and use a venv with --system-site-packages") from e
        try:
            cameras = picamera2_class.global_camera_info()
        except Exception as e:
            raise SourceError(f"{self.name}: cannot list cameras ({type(e).__name__}: {e})") from e
        if self.camera_num >= len(cameras):
            raise SourceError(f"{self.name}: not found ({len(cameras)} camera(s) listed by libcamera)")
        try:
            cam = picamera2_class(self.camera_num)
        except Exception as e:
            raise SourceError(f"{self.name}: cannot open it ({type(e).__name__}: {e}); is another process "
                              "using the camera?") from e
        try:
            lores_format = "RGB888" if _is_pisp(picamera2_class, self._sys_root) else "YUV420"
            controls = {"FrameRate": float(self._fps_request)} if self._fps_request else {}
            config = cam.create_video_configuration(
                main={"size": self._main_size, "format": "YUV420"},
                lores={"size": self._lores_size, "format": lores_format},
                controls=controls,
            )
            cam.configure(config)
            self._lores = dict(cam.camera_configuration()["lores"])
            cam.start()
        except Exception as e:
            self._shutdown(cam)
            raise SourceError(f"{self.name}: cannot configure or start it ({type(e).__name__}: {e})") from e
        self._cam = cam
        self._timed_out = False
        log.info("%s: lores %s %s, main %s", self.name, self._lores.get("size"), self._lores.get("format"),
                 self._main_size)

    def _read(self) -> Frame | None:
        cam = self._cam
        try:
            # A number for `wait` makes picamera2 raise TimeoutError instead of blocking forever.
            request = cam.capture_request(wait=self._read_timeout)
        except TimeoutError as e:
            self._timed_out = True
            raise SourceError(f"{self.name}: no frame within {self._read_timeout} s (camera stalled)") from e
        except Exception as e:
            raise SourceError(f"{self.name}: capture failed ({type(e).__name__}: {e})") from e
        try:
            array = request.make_array("lores")  # a copy: the request can go back at once
            metadata = request.get_metadata()
        finally:
            request.release()
        rgb = self._to_rgb(array)
        sensor_ts = metadata.get("SensorTimestamp") if isinstance(metadata, dict) else None
        ts = int(sensor_ts) if sensor_ts else self._clock_ns()
        if self._last_ts is not None and ts <= self._last_ts:
            ts = self._last_ts + 1
        frame = Frame(rgb=rgb, timestamp_ns=ts, index=self._index, source=self.name)
        self._index += 1
        self._last_ts = ts
        return frame

    def _to_rgb(self, array: np.ndarray) -> np.ndarray:
        fmt = str(self._lores.get("format", ""))
        if fmt in ("YUV420", "YVU420"):
            w, h = self._lores.get("size", self._lores_size)
            return yuv420_to_rgb(array, int(w), int(h), yvu=fmt == "YVU420")
        if fmt in _BGR_ORDER_FORMATS:
            return to_rgb_uint8(array, bgr=True)
        if fmt in _RGB_ORDER_FORMATS:
            return to_rgb_uint8(array)
        raise FrameError(f"{self.name}: unsupported lores format {fmt!r}")

    def _shutdown(self, cam: Any) -> None:
        # After a timed-out capture, picamera2 wants pending jobs cancelled before the camera can close.
        steps = ("cancel_all_and_flush", "stop", "close") if self._timed_out else ("stop", "close")
        for step in steps:
            method = getattr(cam, step, None)
            if method is None:
                continue
            try:
                method()
            except Exception as e:  # closing must not fail: the daemon is shutting down or reopening
                log.debug("%s: %s() failed: %s", self.name, step, e)

    def _close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            self._shutdown(cam)
