"""The live view page in a real headless Chromium: the token gate, frames arriving, and what is drawn.

The server runs in-process on a frame of the shared dance video with the real engine's pose; a feeder thread
offers that frame 10 times a second, like the daemon's pose loop does. Pixels are read back from the page
(the <img> of the MJPEG stream drawn into a canvas) at the pose's keypoints and on the zones.
"""

from __future__ import annotations

import dataclasses
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support.broker import free_port
from support.browser import Browser, require_browser
from support.engine import engine
from support.paths import SHARED_DATA

from edgepose.commands.common import read_video
from edgepose.config import LiveViewConfig, Secret
from edgepose.live_view import LiveView
from edgepose.live_view.overlay import ACCEPTED_RGB, INCLUDE_RGB, MASK_ALPHA, MASK_RGB, REJECTED_RGB
from edgepose.pose import Pose

TOKEN = "0123456789abcdef0123"
FRAME_INDEX = 11  # the 12th frame: the tracker has settled on the dancer (x 0.38-0.61, y 0.37-0.78)


@dataclass(frozen=True)
class Zone:
    name: str
    kind: str
    points: tuple[tuple[float, float], ...]


INCLUDE = Zone("door", "include", ((0.05, 0.30), (0.30, 0.30), (0.30, 0.90), (0.05, 0.90)))
MASK = Zone("tv", "mask", ((0.70, 0.82), (0.95, 0.82), (0.95, 0.97), (0.70, 0.97)))


@dataclass(frozen=True)
class Scene:
    frame: np.ndarray
    pose: Pose
    rejected: Pose


@pytest.fixture(scope="module")
def scene() -> Scene:
    video = SHARED_DATA / "videos/dance_tfjs_pose_1.mp4"
    if not video.is_file():
        pytest.skip(f"shared video missing: {video}")
    require_browser()
    eng = engine(model="lite", threads=1)
    for f in read_video(video, max_frames=FRAME_INDEX + 1):
        result = eng.process(f.rgb, f.timestamp_ns)
    assert result.poses, "no pose on the dance frame"
    pose = result.poses[0]
    # A second, "rejected" skeleton: the same pose moved to the upper right, clear of the first and the zones.
    kp = pose.keypoints.copy()
    kp[:, 0] += 0.32
    kp[:, 1] -= 0.2
    return Scene(f.rgb, pose, dataclasses.replace(pose, keypoints=kp))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.close()


@pytest.fixture
def live_view(scene: Scene) -> Iterator[LiveView]:
    cfg = LiveViewConfig(enabled=True, port=free_port(), max_fps=10.0, quality=80, token=Secret(TOKEN))
    lv = LiveView(cfg, zones=(INCLUDE, MASK)).start()
    stop = threading.Event()

    class Presence:
        present, count = True, 1

    def feed() -> None:
        while not stop.wait(0.1):
            lv.offer(scene.frame, [scene.pose], rejected=[(scene.rejected, "outside the include zones")],
                     presence=Presence(), fps=9.5)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    yield lv
    stop.set()
    t.join(2)
    lv.close()


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


READ_PIXELS = """
const img = document.getElementById("view");
if (!img.complete && img.naturalWidth === 0) return null;
const c = document.createElement("canvas");
c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext("2d");
ctx.drawImage(img, 0, 0);
return arguments[0].map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)));
"""


def _near(rgb: list[int] | np.ndarray, want: tuple[int, int, int] | np.ndarray, tol: int) -> bool:
    return bool(np.all(np.abs(np.asarray(rgb, float) - np.asarray(want, float)) <= tol))


def test_page_needs_the_token_and_shows_frames(browser: Browser, live_view: LiveView) -> None:
    base = f"http://127.0.0.1:{live_view.port}"
    # Without the token: refused, in the browser and for every resource.
    browser.get(base + "/")  # Chromium gets 401 + a basic-auth challenge, which headless cannot answer
    assert browser.js("return [document.title, document.getElementById('view')]") == ["", None]
    for path in ("/", "/stream.mjpg", "/state.json", "/frame.jpg"):
        assert _status(base + path) == 401, path
    assert _status(base + "/state.json", {"Authorization": "Bearer wrong-token-wrong-token"}) == 401
    assert _status(base + "/state.json", {"Authorization": f"Bearer {TOKEN}"}) == 200
    assert live_view.viewers == 0

    # With the token once in the URL: a cookie, a redirect to "/", and frames arrive.
    browser.get(f"{base}/?token={TOKEN}")
    assert browser.js("return location.pathname + location.search") == "/"
    assert browser.js("return document.title") == "edgepose live view"
    first = int(browser.wait("return Number(document.body.dataset.frames || 0) > 0 && "
                             "document.body.dataset.frames"))
    later = int(browser.wait(f"return Number(document.body.dataset.frames) >= {first + 5} && "
                             "document.body.dataset.frames"))
    assert later >= first + 5
    assert browser.wait("return document.getElementById('view').naturalWidth") == scene_width(live_view)
    assert "present" in browser.js("return document.getElementById('status').innerText")
    assert live_view.viewers == 1  # the page's stream


def scene_width(lv: LiveView) -> int:
    return int(lv.state()["width"])


def test_skeleton_rejected_pose_and_zones_are_drawn(browser: Browser, live_view: LiveView, scene: Scene) -> None:
    base = f"http://127.0.0.1:{live_view.port}"
    browser.get(f"{base}/?token={TOKEN}")
    browser.wait("return document.getElementById('view').naturalWidth > 0")
    h, w = scene.frame.shape[:2]

    def px(x: float, y: float) -> list[int]:
        return [round(x * w), round(y * h)]

    names = ("left_shoulder", "right_hip", "nose")
    points = [px(*scene.pose.keypoint(n)[:2]) for n in names]
    points += [px(*scene.rejected.keypoint(n)[:2]) for n in names]
    include_edge = px(0.05, 0.60)  # the middle of the include zone's left edge
    mask_inside = px(0.825, 0.90)
    points += [include_edge, mask_inside]
    got = browser.wait(f"return (function() {{ {READ_PIXELS} }}).apply(null, [{points}])")
    raw = [scene.frame[y, x].tolist() for x, y in points]

    for i, name in enumerate(names):
        assert _near(got[i], ACCEPTED_RGB, 70), f"{name}: {got[i]} is not the pose colour (frame: {raw[i]})"
        assert not _near(raw[i], ACCEPTED_RGB, 70)  # the colour comes from the overlay, not the video
        j = i + len(names)
        assert _near(got[j], REJECTED_RGB, 70), f"rejected {name}: {got[j]} (frame: {raw[j]})"
        assert not _near(raw[j], REJECTED_RGB, 70)
    edge, inside = got[-2], got[-1]
    assert _near(edge, INCLUDE_RGB, 80), f"include zone edge: {edge} (frame: {raw[-2]})"
    assert not _near(raw[-2], INCLUDE_RGB, 80)
    blend = MASK_ALPHA * np.asarray(MASK_RGB) + (1 - MASK_ALPHA) * np.asarray(raw[-1])
    assert _near(inside, blend, 30), f"mask: {inside}, expected about {blend.round()} (frame: {raw[-1]})"
    assert not _near(raw[-1], blend, 30)


def test_a_vanished_viewer_frees_its_slot(live_view: LiveView, tmp_path: Path) -> None:
    import socket

    s = socket.create_connection(("127.0.0.1", live_view.port))
    s.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    data = b""
    while b"Content-Type: image/jpeg" not in data:
        chunk = s.recv(65536)
        assert chunk, "stream closed"
        data += chunk
    assert live_view.viewers == 1
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    s.close()
    for _ in range(100):
        if live_view.viewers == 0:
            break
        threading.Event().wait(0.1)
    assert live_view.viewers == 0
    frames = live_view.state()["frames"]
    assert live_view.next_jpeg(frames, timeout=1.0) is None  # nobody watches: nothing is encoded


def test_a_stalled_viewer_does_not_hold_up_the_others(live_view: LiveView) -> None:
    import socket

    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills after a fraction of one frame
    stalled.connect(("127.0.0.1", live_view.port))
    stalled.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{live_view.port}/stream.mjpg",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        parts = 0
        with urllib.request.urlopen(req, timeout=10) as r:
            assert live_view.viewers == 2
            while parts < 10:  # 10 frames at 10 fps while the other viewer reads nothing
                line = r.readline()
                assert line, "stream ended"
                parts += line.startswith(b"--edgepose-frame")
        assert parts == 10
    finally:
        stalled.close()
