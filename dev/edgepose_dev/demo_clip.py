"""The clip `edgepose demo` runs on without a camera: scikit-image's photos of people moving in front of a wall,
with empty stretches so that presence events happen (entry point `people` of the group edgepose.demo_clips)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgepose.errors import EXIT_UNAVAILABLE, EdgeposeError

FPS = 30.0


class DemoClipError(EdgeposeError):
    """The demo clip cannot be written here."""

    exit_status = EXIT_UNAVAILABLE


def make_demo_clip(path: Path, width: int = 640, height: int = 480) -> Path:
    """A 24 s clip: empty room, the astronaut walking across, empty, the camera man swaying, empty."""
    import skimage  # a dependency of edgepose-dev: its data/ holds the photos
    data = Path(skimage.__file__).parent / "data"
    people = [cv2.imread(str(data / name)) for name in ("astronaut.png", "camera.png")]
    wall = np.full((height, width, 3), (96, 110, 120), np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    if not writer.isOpened():
        raise DemoClipError("OpenCV cannot write the demo clip (MJPG)")

    def empty(seconds: float) -> None:
        for _ in range(int(seconds * FPS)):
            writer.write(wall)

    def person(img: np.ndarray, seconds: float, motion: str) -> None:
        side = int(height * 0.9)
        small = cv2.resize(img, (side, side))
        n = int(seconds * FPS)
        for i in range(n):
            frame = wall.copy()
            phase = i / max(n - 1, 1)
            if motion == "walk":
                x = int((width - side) * phase)
            else:
                x = int((width - side) / 2 + 40 * np.sin(2 * np.pi * phase * 2))
            frame[height - side :, x : x + side] = small
            writer.write(frame)

    empty(3)
    person(people[0], 6, "walk")
    empty(4)
    person(people[1], 6, "sway")
    empty(5)
    writer.release()
    return path
