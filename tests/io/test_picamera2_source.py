"""Picamera2Source against a fake `picamera2` module (no Pi camera here).

The fake mimics the picamera2 API the source uses (Picamera2.global_camera_info, Picamera2(camera_num),
create_video_configuration, configure, camera_configuration, start, capture_request(wait=...),
CompletedRequest.make_array/get_metadata/release, cancel_all_and_flush, stop, close, Picamera2.platform)
and picamera2's buffer layout: YUV420 arrays of shape (height * 3 // 2, stride) with padded rows.
"""

from __future__ import annotations

import enum
import itertools
import sys
import types
from typing import ClassVar

import cv2
import numpy as np
import pytest

from edgepose.io.capture import CaptureThread
from edgepose.io.frames import FrameError
from edgepose.io.picamera2_source import Picamera2Source, yuv420_to_rgb
from edgepose.io.sources import SourceError, open_source

SENSOR_T0 = 7_000_000_000
PERIOD_NS = 33_333_333


class Platform(enum.Enum):  # picamera2.platform.Platform
    VC4 = 0
    PISP = 1


def scene(n: int, width: int, height: int) -> np.ndarray:
    """A smooth RGB test picture that changes with the frame number."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(1, width - 1)).astype(np.uint8)
    g = (y * 255 // max(1, height - 1)).astype(np.uint8)
    b = np.full_like(r, (40 + 10 * n) % 256)
    return np.stack([r, g, b], axis=2)


def padded_yuv420(rgb: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(picamera2-style padded buffer, the unpadded I420 image) for an RGB picture."""
    h, w = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    y = i420[: w * h].reshape(h, w)
    u = i420[w * h : w * h + w * h // 4].reshape(h // 2, w // 2)
    v = i420[w * h + w * h // 4 :].reshape(h // 2, w // 2)
    planes = []
    for plane, plane_stride in ((y, stride), (u, stride // 2), (v, stride // 2)):
        padded = np.full((plane.shape[0], plane_stride), 99, np.uint8)  # junk in the padding
        padded[:, : plane.shape[1]] = plane
        planes.append(padded.reshape(-1))
    return np.concatenate(planes).reshape(h * 3 // 2, stride), i420.reshape(h * 3 // 2, w)


def make_fake_module(platform: Platform = Platform.VC4) -> types.ModuleType:
    class FakeRequest:
        def __init__(self, cam, arrays, metadata):
            self._cam, self._arrays, self._metadata = cam, arrays, metadata

        def make_array(self, name):
            if name not in self._arrays:
                raise RuntimeError(f"Stream {name!r} is not defined")
            return self._arrays[name].copy()

        def get_metadata(self):
            return dict(self._metadata)

        def release(self):
            self._cam.released += 1

    class Picamera2:
        cameras: ClassVar[list[dict]] = [{"Model": "imx708", "Location": 2, "Rotation": 180,
                    "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a", "Num": 0}]
        instances: ClassVar[list] = []
        init_error: Exception | None = None
        capture_errors: ClassVar[dict[int, Exception]] = {}  # global capture call number -> exception
        calls = 0

        @staticmethod
        def global_camera_info():
            return list(Picamera2.cameras)

        def __init__(self, camera_num=0):
            if Picamera2.init_error is not None:
                raise Picamera2.init_error
            self.camera_num = camera_num
            self.camera_config = None
            self.started = self.stopped = self.closed = self.flushed = False
            self.released = 0
            self.waits = []
            self.frame = 0
            Picamera2.instances.append(self)

        def create_video_configuration(self, main=None, lores=None, raw=None, transform=None,
                                       colour_space=None, buffer_count=6, controls=None, display="main",
                                       encode="main", queue=True, sensor=None, use_case="video"):
            return {"use_case": use_case, "buffer_count": buffer_count, "queue": queue,
                    "main": dict(main or {}), "lores": dict(lores) if lores else None,
                    "controls": dict(controls or {})}

        def configure(self, config):
            lores, main = config["lores"], config["main"]
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if type(self).platform == Platform.VC4 and lores["format"] != "YUV420":
                raise RuntimeError("lores stream must be YUV")
            cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
            for name in ("main", "lores"):
                w = cfg[name]["size"][0]
                bpp = 1 if cfg[name]["format"] in ("YUV420", "YVU420") else 3
                cfg[name]["stride"] = -(-w * bpp // 64) * 64  # rows padded to 64 bytes like the ISP
            self.camera_config = cfg

        def camera_configuration(self):
            return self.camera_config

        def start(self, config=None, show_preview=False):
            self.started = True

        def capture_request(self, wait=None, signal_function=None, flush=None):
            self.waits.append(wait)
            Picamera2.calls += 1
            error = Picamera2.capture_errors.get(Picamera2.calls)
            if error is not None:
                raise error
            lores = self.camera_config["lores"]
            w, h = lores["size"]
            rgb = scene(self.frame, w, h)
            if lores["format"] == "YUV420":
                array, _ = padded_yuv420(rgb, lores["stride"])
            else:  # "RGB888" is B, G, R in memory
                array = np.ascontiguousarray(rgb[:, :, ::-1])
            metadata = {"SensorTimestamp": SENSOR_T0 + self.frame * PERIOD_NS, "ExposureTime": 10000}
            self.frame += 1
            return FakeRequest(self, {"lores": array, "main": np.zeros((2, 2), np.uint8)}, metadata)

        def cancel_all_and_flush(self):
            self.flushed = True

        def stop(self):
            self.stopped = True

        def close(self):
            self.closed = True

    Picamera2.platform = platform
    module = types.ModuleType("picamera2")
    module.Picamera2 = Picamera2
    return module


@pytest.fixture
def fake_picamera2(monkeypatch):
    def install(platform: Platform = Platform.VC4):
        module = make_fake_module(platform)
        monkeypatch.setitem(sys.modules, "picamera2", module)
        return module.Picamera2

    return install


def test_vc4_converts_the_yuv420_lores_stream_with_stride(fake_picamera2):
    cam_class = fake_picamera2(Platform.VC4)
    source = Picamera2Source(0, width=100, height=60, fps=15)
    with source:
        frames = [source.read() for _ in range(3)]
        cam = cam_class.instances[0]
        config = cam.camera_config
        assert config["lores"]["format"] == "YUV420" and config["lores"]["size"] == (100, 60)
        assert config["lores"]["stride"] == 128  # padded rows: the conversion must drop the padding
        assert config["controls"] == {"FrameRate": 15.0}
        assert source.size == (100, 60) and source.fps == 15.0
    for n, frame in enumerate(frames):
        assert frame.rgb.shape == (60, 100, 3) and frame.rgb.dtype == np.uint8
        _, i420 = padded_yuv420(scene(n, 100, 60), 128)
        np.testing.assert_array_equal(frame.rgb, cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420))
        diff = np.abs(frame.rgb.astype(int) - scene(n, 100, 60).astype(int))
        assert diff.mean() < 4  # round trip through YUV420 keeps the picture
    assert [f.timestamp_ns for f in frames] == [SENSOR_T0 + n * PERIOD_NS for n in range(3)]
    assert [f.index for f in frames] == [0, 1, 2]
    assert cam.released == 3  # every request went back to the camera
    assert cam.waits == [2.0] * 3  # bounded waits: a stalled camera becomes an error
    assert cam.stopped and cam.closed and not cam.flushed


def test_pi5_uses_an_rgb_lores_stream(fake_picamera2):
    cam_class = fake_picamera2(Platform.PISP)
    with Picamera2Source(0, width=64, height=48) as source:
        frame = source.read()
        assert source.lores_format == "RGB888"
    np.testing.assert_array_equal(frame.rgb, scene(0, 64, 48))
    assert cam_class.instances[0].closed


def test_odd_sizes_are_made_even_and_default_size(fake_picamera2):
    fake_picamera2()
    with Picamera2Source(0, width=101, height=75) as source:
        assert source.read().rgb.shape == (74, 100, 3)
    assert Picamera2Source(0).size == (640, 480)


def test_capture_timeout_is_a_source_error_and_flushes_on_close(fake_picamera2):
    cam_class = fake_picamera2()
    cam_class.capture_errors = {2: TimeoutError()}
    source = Picamera2Source(0, width=64, height=48, read_timeout=0.5)
    source.open()
    source.read()
    with pytest.raises(SourceError, match=r"no frame within 0\.5 s"):
        source.read()
    source.close()
    cam = cam_class.instances[0]
    assert cam.flushed and cam.stopped and cam.closed


def test_missing_busy_and_unimportable_camera(fake_picamera2, monkeypatch):
    cam_class = fake_picamera2()
    with pytest.raises(SourceError, match=r"camera 1: not found \(1 camera"):
        Picamera2Source(1).open()
    cam_class.init_error = RuntimeError("Failed to acquire camera: Device or resource busy")
    with pytest.raises(SourceError, match="Device or resource busy"):
        Picamera2Source(0).open()
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match="python3-picamera2"):
        Picamera2Source(0).open()


def test_open_source_names(fake_picamera2):
    fake_picamera2()
    source = open_source("picamera2:0", width=320, height=240)
    assert isinstance(source, Picamera2Source) and source.live and not source.lossless
    assert open_source("picamera2").camera_num == 0


def test_capture_thread_reopens_a_failing_camera(fake_picamera2):
    cam_class = fake_picamera2()
    cam_class.capture_errors = {3: RuntimeError("Camera frontend has timed out!")}
    capture = CaptureThread(Picamera2Source(0, width=64, height=48), backoff_min=0.01, backoff_jitter=0.0,
                            stall_timeout=30.0).start()
    try:
        stamps = []
        while len(stamps) < 4:
            frame = capture.get(timeout=5.0)
            assert frame is not None
            stamps.append(frame.timestamp_ns)
        stats = capture.stats()
        assert stats.failures == 1 and stats.reopens == 1
        assert "frontend has timed out" in stats.last_error
    finally:
        capture.stop()
    first, second = cam_class.instances[:2]
    assert first.closed and second.closed  # the failed camera was released before the reopen
    assert all(b > a for a, b in itertools.pairwise(stamps))


def test_yuv420_to_rgb_rejects_bad_buffers():
    with pytest.raises(FrameError, match="even"):
        yuv420_to_rgb(np.zeros((9, 8), np.uint8), 8, 5)
    with pytest.raises(FrameError, match="too small"):
        yuv420_to_rgb(np.zeros((3, 8), np.uint8), 8, 4)
    with pytest.raises(FrameError, match="stride"):
        yuv420_to_rgb(np.zeros((6, 4), np.uint8), 8, 4)
    rgb = scene(0, 8, 4)
    buf, i420 = padded_yuv420(rgb, 8)
    np.testing.assert_array_equal(yuv420_to_rgb(buf, 8, 4), cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420))
