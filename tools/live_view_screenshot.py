"""The screenshot of docs/live_view.md: the live view page on frame 12 of the shared dance video, with the
pose the engine finds, a made-up rejected pose and two zones, taken with headless Chromium.

    python tools/live_view_screenshot.py docs/live_view.png
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from edgepose.commands.common import read_video
from edgepose.config import EngineConfig, LiveViewConfig
from edgepose.engine.tracker import PoseEngine
from edgepose.live_view import LiveView

VIDEO = Path(__file__).resolve().parents[2] / "shared/data/videos/dance_tfjs_pose_1.mp4"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--force-device-scale-factor=1", "--hide-scrollbars"]


@dataclass(frozen=True)
class Zone:
    name: str
    kind: str
    points: tuple[tuple[float, float], ...]


class Present:
    present, count = True, 1


def main(out: Path) -> None:
    engine = PoseEngine.from_config(EngineConfig(model="lite", precision="float", backend="cpu", threads=1))
    for f in read_video(VIDEO, max_frames=12):
        result = engine.process(f.rgb, f.timestamp_ns)
    pose = result.poses[0]
    kp = pose.keypoints.copy()
    kp[:, 0] += 0.32
    kp[:, 1] -= 0.2
    rejected = dataclasses.replace(pose, keypoints=kp)
    zones = (Zone("door", "include", ((0.05, 0.30), (0.30, 0.30), (0.30, 0.90), (0.05, 0.90))),
             Zone("tv", "mask", ((0.70, 0.82), (0.95, 0.82), (0.95, 0.97), (0.70, 0.97))))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lv = LiveView(LiveViewConfig(enabled=True, port=port, max_fps=10.0), zones=zones).start()
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.1):
            lv.offer(f.rgb, [pose], rejected=[(rejected, "outside the include zones")], presence=Present(),
                     fps=9.5)

    threading.Thread(target=feed, daemon=True).start()
    # Watch before the page does, so that its first status poll already reports frames.
    lv.add_viewer()
    lv.next_jpeg(0, timeout=10.0)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=900,660",
                        "--timeout=6000", f"--screenshot={out.resolve()}", f"http://127.0.0.1:{port}/"],
                       check=True, capture_output=True, timeout=120)
    lv.remove_viewer()
    stop.set()
    lv.close()
    # A 256-colour palette keeps the PNG well under 200 kB (Pillow comes with scikit-image, a dev extra).
    from PIL import Image

    Image.open(out).convert("RGB").quantize(colors=256).save(out, optimize=True)
    print(out, out.stat().st_size, "bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/live_view.png"))
