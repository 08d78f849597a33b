"""Camera faults against the real daemon: a file that ends, a source that disappears and returns, bad frames
mid-stream, and a network stream that stalls without closing (with the systemd watchdog listening).

No V4L2 device exists here: the "device disappears" case is played by a video file and an image folder that
vanish and come back, and the stall by a local MJPEG-over-HTTP stream (OpenCV's FFmpeg backend, the code
path of rtsp/http cameras) whose server stops sending while keeping the connection open.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import socketserver
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.daemon import daemon_config, log_lines, summary

PREFIX = "edgepose"


def _stats(sub, base: str) -> list[dict]:
    return [json.loads(m.payload) for m in sub.on(f"{base}/stats")]


def _poses(sub, base: str) -> list[dict]:
    return [json.loads(m.payload) for m in sub.on(f"{base}/pose")]


def test_file_source_ends_daemon_exits_cleanly(broker, subscriber_factory, daemon_factory, short_clip,
                                               tmp_path: Path) -> None:
    """A video file without loop: every frame is processed, then the daemon stops by itself (exit 0, offline)."""
    base = f"{PREFIX}/ends"
    sub = subscriber_factory(broker, [f"{base}/#"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=short_clip, device="ends")
    d = daemon_factory(config)
    code = d.wait(90)
    err = d.stderr()
    assert code == 0, err[-3000:]
    assert "source ended" in err and "Traceback" not in err
    assert sub.wait_for(lambda ms: bool(ms) and ms[-1].topic == f"{base}/status" and ms[-1].payload == b"offline")
    assert [p["seq"] for p in _poses(sub, base)] == list(range(1, 21))


def _vanish_video(path: Path, hidden: Path) -> None:
    path.rename(hidden)


def _vanish_folder(path: Path, hidden: Path) -> None:
    hidden.mkdir()
    for f in path.iterdir():
        f.rename(hidden / f.name)


def _restore_video(path: Path, hidden: Path) -> None:
    hidden.rename(path)


def _restore_folder(path: Path, hidden: Path) -> None:
    for f in hidden.iterdir():
        f.rename(path / f.name)


@pytest.mark.parametrize("kind", ["video", "folder"])
def test_source_disappears_and_returns(broker, subscriber_factory, daemon_factory, short_clip, dance_frames,
                                       tmp_path: Path, kind: str) -> None:
    """The looping source vanishes for 3 s: no crash, failures and a reopen in `stats`, frames resume."""
    if kind == "video":
        source = tmp_path / "clip.avi"
        shutil.copy(short_clip, source)
        vanish, restore = _vanish_video, _restore_video
    else:
        source = tmp_path / "frames"
        source.mkdir()
        for i, f in enumerate(dance_frames[:10]):
            cv2.imwrite(str(source / f"{i:03d}.jpg"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        vanish, restore = _vanish_folder, _restore_folder
    hidden = tmp_path / "hidden"
    base = f"{PREFIX}/gone-{kind}"
    sub = subscriber_factory(broker, [f"{base}/pose", f"{base}/stats"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=source, device=f"gone-{kind}",
                           sections={"source": {"pace": "realtime", "loop": True, "fps": 15.0}})
    d = daemon_factory(config)
    assert sub.wait_for(lambda ms: len(_poses(sub, base)) >= 10, timeout=60), d.stderr()[-3000:]
    vanish(source, hidden)
    assert sub.wait_for(lambda ms: any(s["capture"]["failures"] >= 1 for s in _stats(sub, base)), timeout=10), \
        d.stderr()[-3000:]
    time.sleep(3.0)
    n_gone = len(_poses(sub, base))
    time.sleep(1.0)
    assert len(_poses(sub, base)) == n_gone  # no frames while the source is away
    during = _stats(sub, base)[-1]["capture"]
    restore(source, hidden)
    assert sub.wait_for(lambda ms: any(s["capture"]["reopens"] >= 1 and s["capture"]["state"] == "running"
                                       for s in _stats(sub, base)), timeout=20), d.stderr()[-3000:]
    assert sub.wait_for(lambda ms: len(_poses(sub, base)) >= n_gone + 10, timeout=20)
    assert d.alive()
    code, _ = d.stop()
    err = d.stderr()
    print(f"{kind}: while away {during}; log: {log_lines(err, 'capture')}")
    assert code == 0 and "Traceback" not in err
    # Backoff (0.5 s doubling): a handful of failed reopens in ~4 s, not a busy loop.
    assert during["state"] == "reopening" and 1 <= during["failures"] <= 6, during
    # Each state change is logged once, not each failed attempt.
    assert len(log_lines(err, r"capture .*-> reopening")) <= 2


def test_bad_frames_mid_stream(broker, subscriber_factory, daemon_factory, dance_frames, tmp_path: Path) -> None:
    """An image folder with a 1×1 png, a 16-bit png, a grey png, an RGBA png and a corrupt file among
    good frames: the decodable frames are processed at their own size, the corrupt one is skipped."""
    folder = tmp_path / "frames"
    folder.mkdir()
    person = cv2.cvtColor(dance_frames[0], cv2.COLOR_RGB2BGR)
    h, w = person.shape[:2]
    cv2.imwrite(str(folder / "00_person.png"), person)
    cv2.imwrite(str(folder / "01_one_pixel.png"), np.full((1, 1, 3), 200, np.uint8))
    cv2.imwrite(str(folder / "02_sixteen_bit.png"), person.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "03_grey.png"), cv2.cvtColor(person, cv2.COLOR_BGR2GRAY))
    (folder / "04_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    cv2.imwrite(str(folder / "05_rgba.png"), cv2.cvtColor(person, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "06_tall.png"), np.full((900, 7, 3), 30, np.uint8))
    cv2.imwrite(str(folder / "07_person.jpg"), person)
    base = f"{PREFIX}/badframes"
    sub = subscriber_factory(broker, [f"{base}/pose"])
    # Validity off: the same still photo in every frame never moves, so the validity stage would (rightly) reject
    # it; this test is about decoding odd frames, and checks the raw engine's poses.
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=folder, device="badframes",
                           sections={"validity": {"enabled": False}})
    d = daemon_factory(config, "--summary")
    code = d.wait(90)
    err = d.stderr()
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    assert len(log_lines(err, r"cannot decode 04_corrupt\.png")) == 1
    assert sub.wait_for(lambda ms: len(ms) >= 7, timeout=5)
    frames = _poses(sub, base)
    assert [(f["width"], f["height"]) for f in frames] == [(w, h), (1, 1), (w, h), (w, h), (w, h), (7, 900), (w, h)]
    # The person is found in the 8-bit, 16-bit, grey and RGBA versions of the same image.
    assert [bool(f["poses"]) for f in frames] == [True, False, True, True, True, False, True]
    stats = summary(d)
    assert stats["inference_errors"] == 0


# ---- a stalled stream and the systemd watchdog --------------------------------------------------------


class MjpegServer:
    """An MJPEG-over-HTTP camera on 127.0.0.1; `stall()` stops sending frames but keeps connections open."""

    def __init__(self, frame_bgr: np.ndarray, fps: float = 15.0) -> None:
        ok, jpg = cv2.imencode(".jpg", frame_bgr)
        assert ok
        self.jpg = jpg.tobytes()
        self.period = 1.0 / fps
        self.stalled = threading.Event()
        self.closed = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(server.jpg)
                try:
                    while not server.closed.is_set():
                        if not server.stalled.is_set():
                            self.wfile.write(part + server.jpg + b"\r\n")
                        time.sleep(server.period)
                except OSError:
                    pass  # the client went away (the daemon reopening the stream)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/camera.mjpg"

    def stall(self) -> None:
        self.stalled.set()

    def resume(self) -> None:
        self.stalled.clear()

    def close(self) -> None:
        self.closed.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class NotifyListener:
    """A fake systemd: an AF_UNIX datagram socket collecting sd_notify messages with arrival times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode(errors="replace")))

    def times(self, field: str) -> list[float]:
        return [t for t, m in list(self.messages) if field in m.split("\n")]

    def wait(self, field: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.times(field):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self.thread.join(2)


@pytest.fixture
def mjpeg(dance_frames):
    server = MjpegServer(cv2.cvtColor(dance_frames[0], cv2.COLOR_RGB2BGR))
    yield server
    server.close()


@pytest.mark.slow
def test_stalled_stream_stops_watchdog_pings_then_recovers(broker, subscriber_factory, daemon_factory, mjpeg,
                                                          tmp_path: Path) -> None:
    listener = NotifyListener(tmp_path / "notify.sock")
    try:
        base = f"{PREFIX}/stall"
        sub = subscriber_factory(broker, [f"{base}/stats", f"{base}/pose"])
        config = daemon_config(tmp_path / "c.toml", port=broker.port, source=mjpeg.url, device="stall")
        # WATCHDOG_PID is left unset: the daemon cannot be told its pid before it exists, and sd_watchdog_enabled
        # treats a missing WATCHDOG_PID as "this process".
        d = daemon_factory(config, env={"NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": "1000000"})
        assert listener.wait("READY=1", timeout=60), d.stderr()[-3000:]
        time.sleep(3.0)
        t_stall = time.monotonic()
        pings_running = [t for t in listener.times("WATCHDOG=1") if t_stall - 3.0 <= t < t_stall]
        mjpeg.stall()
        time.sleep(8.0)
        t_resume = time.monotonic()
        frames_at_stall = [m for m in sub.on(f"{base}/pose") if m.timestamp <= t_stall + 1.0]
        frames_in_stall = [m for m in sub.on(f"{base}/pose") if t_stall + 1.0 < m.timestamp <= t_resume]
        pings_stalled = [t for t in listener.times("WATCHDOG=1") if t_stall + 1.0 < t <= t_resume]
        stalled_stats = [json.loads(m.payload)["capture"] for m in sub.on(f"{base}/stats")
                         if t_stall < m.timestamp <= t_resume]
        mjpeg.resume()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [t for t in listener.times("WATCHDOG=1") if t > t_resume]:
            time.sleep(0.1)
        pings_back = [t for t in listener.times("WATCHDOG=1") if t > t_resume]
        code, took = d.stop()
        err = d.stderr()
        print(f"watchdog pings: {len(pings_running)} in the 3 s before the stall, {len(pings_stalled)} during "
              f"{t_resume - t_stall - 1.0:.1f} s of stall, first ping {pings_back[0] - t_resume:.1f} s after resume"
              if pings_back else "no ping after resume")
        print(f"capture stats during the stall: {stalled_stats[-1] if stalled_stats else None}")
        assert code == 0 and took < 5.0, err[-3000:]
        assert frames_at_stall and not frames_in_stall
        assert len(pings_running) >= 4  # every 0.5 s (half of WATCHDOG_USEC) while frames are processed
        assert pings_stalled == []
        assert pings_back, err[-3000:]
        assert any(s["failures"] >= 1 for s in stalled_stats), stalled_stats
        assert listener.wait("STOPPING=1", timeout=2)
        assert any("stalled" in line or "timed out" in line for line in log_lines(err, r"capture")), err[-3000:]
        assert "Traceback" not in err
    finally:
        listener.close()
