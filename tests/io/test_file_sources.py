"""Video files, image folders and `open_source` dispatch, on the shared videos and photos."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.io import sources
from edgepose.io.capture import CaptureThread
from edgepose.io.opencv_source import (
    ImageFolderSource,
    OpenCVCameraSource,
    OpenCVStreamSource,
    VideoFileSource,
)
from edgepose.io.sources import Pacer, SourceError, open_source, redact_url

DANCE = ("videos", "dance_tfjs_pose_1.mp4", 120, 30.0, (576, 576))
SQUATS = ("videos", "fitness_squats_tfjs.mp4", 65, 5.0, (720, 1280))


class FakeClock:
    """A clock that only moves when the code under test sleeps (or the test advances it)."""

    def __init__(self, start_ns: int = 1_000_000_000_000) -> None:
        self.now_ns = start_ns
        self.sleeps: list[float] = []

    def clock_ns(self) -> int:
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_ns += round(seconds * 1e9)


def _video(shared_data: Path, spec: tuple) -> Path:
    path = shared_data.joinpath(spec[0], spec[1])
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def _read_all(source, limit: int = 10_000) -> list:
    frames = []
    with source:
        while len(frames) < limit:
            frame = source.read()
            if frame is None:
                break
            frames.append(frame)
    return frames


@pytest.mark.parametrize("spec", [DANCE, SQUATS], ids=["dance", "squats"])
def test_fast_file_reads_every_frame_with_position_timestamps(shared_data, spec):
    path = _video(shared_data, spec)
    _, _, count, fps, size = spec
    source = open_source(str(path), pace="fast")
    assert isinstance(source, VideoFileSource) and source.lossless and not source.live
    frames = _read_all(source)
    assert len(frames) == count
    assert [f.index for f in frames] == list(range(count))
    assert source.fps == pytest.approx(fps)
    assert frames[0].rgb.shape == (size[1], size[0], 3) and frames[0].rgb.dtype == np.uint8
    steps = np.diff([f.timestamp_ns for f in frames])
    assert np.all(np.abs(steps - 1e9 / fps) <= 1)  # rounding of index / fps only


def test_fast_file_frames_match_opencv_decode(shared_data):
    path = _video(shared_data, DANCE)
    frames = _read_all(open_source(str(path), pace="fast"), limit=3)
    cap = cv2.VideoCapture(str(path))
    for frame in frames:
        ok, bgr = cap.read()
        assert ok
        np.testing.assert_array_equal(frame.rgb, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()


def test_fast_loop_keeps_timestamps_strictly_increasing_across_loops(shared_data):
    path = _video(shared_data, DANCE)
    count, fps = DANCE[2], DANCE[3]
    source = open_source(str(path), pace="fast", loop=True)
    frames = _read_all(source, limit=count + 10)  # into the second pass
    assert len(frames) == count + 10
    ts = np.array([f.timestamp_ns for f in frames])
    steps = np.diff(ts)
    assert np.all(steps > 0)
    # The loop boundary is one frame period like every other step: smoothing sees a continuous clock.
    assert np.all(np.abs(steps - 1e9 / fps) <= 1)
    np.testing.assert_array_equal(frames[count].rgb, frames[0].rgb)  # the second pass starts over


def _write_clip(path: Path, n: int = 10, fps: float = 10.0) -> Path:
    """A small MJPEG clip written by OpenCV (decoded by the same FFmpeg backend as the shared videos)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


def test_reopen_after_end_continues_the_timeline(tmp_path):
    source = VideoFileSource(_write_clip(tmp_path / "clip.avi"), pace="fast")
    first = _read_all(source)
    again = _read_all(source)  # closed and opened again: what the capture thread does after the end
    assert len(first) == len(again) == 10
    assert source.fps == 10.0
    assert again[0].timestamp_ns > first[-1].timestamp_ns
    assert again[0].index == first[-1].index + 1


def test_realtime_pacing_follows_the_file_rate_on_an_injected_clock(shared_data):
    path = _video(shared_data, SQUATS)
    clock = FakeClock()
    source = VideoFileSource(path, pace="realtime", clock_ns=clock.clock_ns, sleep=clock.sleep)
    assert not source.lossless
    with source:
        frames = [source.read() for _ in range(10)]
        assert sum(clock.sleeps) == pytest.approx(9 * 0.2)
        steps = np.diff([f.timestamp_ns for f in frames])
        assert np.all(np.abs(steps - 200_000_000) <= 1)
        # The consumer was away for 5 s: no burst of catch-up frames, the schedule restarts.
        clock.now_ns += 5_000_000_000
        n_sleeps = len(clock.sleeps)
        late = source.read()
        assert len(clock.sleeps) == n_sleeps  # delivered at once
        nxt = source.read()
        assert nxt.timestamp_ns - late.timestamp_ns == pytest.approx(200_000_000, abs=1)


def test_pacer_validates_and_sleeps_only_when_early():
    clock = FakeClock(0)
    pacer = Pacer(10.0, clock=lambda: clock.now_ns / 1e9, sleep=clock.sleep)
    pacer.wait()
    clock.now_ns += 30_000_000  # 30 ms of work
    pacer.wait()
    assert clock.sleeps == [pytest.approx(0.07)]
    clock.now_ns += 150_000_000  # slower than the frame period: no sleep
    pacer.wait()
    assert len(clock.sleeps) == 1
    with pytest.raises(ValueError, match="fps"):
        Pacer(0.0)


def test_image_folder_source_on_shared_photos(shared_data):
    folder = shared_data / "images" / "unannotated" / "hmr"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    source = open_source(str(folder), pace="fast", fps=10)
    assert isinstance(source, ImageFolderSource)
    names = [p.name for p in source.files]
    assert names == sorted(names, key=lambda n: n.lower())
    frames = _read_all(source)
    assert len(frames) == len(names) == 9
    for frame, path in zip(frames, source.files, strict=True):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(frame.rgb, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    steps = np.diff([f.timestamp_ns for f in frames])
    assert np.all(steps == 100_000_000)


def test_image_folder_order_bad_files_and_16_bit(tmp_path, caplog):
    rng = np.random.default_rng(1)
    expected = {}
    for n in (10, 2, 1):
        img = rng.integers(0, 256, (12 + n, 16, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"frame_{n}.png"), img)
        expected[n] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    deep = (rng.integers(0, 65536, (8, 8), dtype=np.uint16))
    cv2.imwrite(str(tmp_path / "frame_3.png"), deep)
    (tmp_path / "frame_4.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden.png").write_bytes(b"ignored")
    source = ImageFolderSource(tmp_path, pace="fast")
    assert [p.name for p in source.files] == ["frame_1.png", "frame_2.png", "frame_3.png", "frame_4.jpg",
                                             "frame_10.png"]
    with caplog.at_level("WARNING"):
        frames = _read_all(source)
    assert len(frames) == 4
    np.testing.assert_array_equal(frames[0].rgb, expected[1])
    np.testing.assert_array_equal(frames[1].rgb, expected[2])
    assert frames[2].rgb.shape == (8, 8, 3)
    np.testing.assert_array_equal(frames[2].rgb[..., 0], (deep >> 8).astype(np.uint8))
    np.testing.assert_array_equal(frames[3].rgb, expected[10])
    assert "frame_4.jpg" in caplog.text


def test_single_image_and_loop(tmp_path):
    img = np.full((6, 4, 3), 77, np.uint8)
    path = tmp_path / "one.png"
    cv2.imwrite(str(path), img)
    assert len(_read_all(open_source(str(path), pace="fast"))) == 1
    looped = _read_all(open_source(str(path), pace="fast", loop=True, fps=5), limit=4)
    assert [f.index for f in looped] == [0, 1, 2, 3]
    assert np.all(np.diff([f.timestamp_ns for f in looped]) == 200_000_000)


def test_unreadable_folder_is_a_source_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.raises(SourceError, match="none of the 1 image"):
        _read_all(ImageFolderSource(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match=f"{empty}.*no image files"):
        open_source(str(empty))


def test_missing_file_is_a_source_error_naming_it(tmp_path):
    missing = tmp_path / "nope" / "clip.mp4"
    with pytest.raises(SourceError) as info:
        open_source(str(missing))
    assert str(missing) in str(info.value)
    assert "camera index" in str(info.value)  # says what else was tried


def test_not_a_video_fails_on_open_naming_it(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello")
    source = open_source(str(fake))
    with pytest.raises(SourceError, match=r"fake\.mp4.*could not open"):
        source.open()


def test_missing_devices_name_the_device(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_DEV", tmp_path)
    with pytest.raises(SourceError, match=re.escape(str(tmp_path / "video7"))):
        open_source("7")
    with pytest.raises(SourceError, match=re.escape(str(tmp_path / "video3"))):
        open_source(str(tmp_path / "video3"))


def test_auto_without_any_camera(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_DEV", tmp_path)
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails like on a non-Pi machine
    with pytest.raises(SourceError, match=r"no camera found.*picamera2 not importable.*video0"):
        open_source("auto")


def test_auto_falls_back_to_video0(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_DEV", tmp_path)
    monkeypatch.setitem(sys.modules, "picamera2", None)
    (tmp_path / "video0").touch()
    source = open_source("auto", width=640, height=480)
    assert isinstance(source, OpenCVCameraSource) and source.live
    assert str(tmp_path / "video0") in source.name


def test_auto_prefers_a_listed_picamera2_camera(monkeypatch):
    from edgepose.io.picamera2_source import Picamera2Source

    class Picamera2:
        @staticmethod
        def global_camera_info():
            return [{"Model": "imx708", "Num": 0, "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a"}]

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Picamera2))
    assert isinstance(open_source("auto"), Picamera2Source)


def test_stream_urls_are_streams_with_credentials_hidden():
    source = open_source("rtsp://user:secret@192.0.2.1:554/stream1")
    assert isinstance(source, OpenCVStreamSource) and source.live
    assert "secret" not in source.name and "192.0.2.1" in source.name
    assert redact_url("http://cam.local/mjpg") == "http://cam.local/mjpg"


def test_bad_options_are_source_errors():
    with pytest.raises(SourceError, match="pace"):
        open_source("auto", pace="slow")
    with pytest.raises(SourceError, match="together"):
        open_source("auto", width=640)
    with pytest.raises(SourceError, match="empty"):
        open_source("  ")


def test_capture_thread_hands_over_every_frame_of_a_fast_file(shared_data):
    path = _video(shared_data, DANCE)
    capture = CaptureThread(open_source(str(path), pace="fast"), on_eof="stop").start()
    try:
        assert capture.mode == "all"
        indices = []
        while (frame := capture.get(timeout=5.0)) is not None:
            indices.append(frame.index)
        assert indices == list(range(DANCE[2]))
        stats = capture.stats()
        assert stats.state == "ended" and stats.captured == DANCE[2] and stats.skipped == 0
        assert capture.ended
    finally:
        capture.stop()
