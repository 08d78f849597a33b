"""Video clips of the daemon tests, built from the shared dance video (skipped with the reason when it is absent).

`write_clip` writes frames as an MJPEG clip; the fixtures `dance_video`, `dance_frames`, `spliced_clip` (person and
empty stretches: 4 presence events per pass) and `short_clip` are shared by the daemon, live view and reliability
tests.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.commands.common import read_video
from support.paths import SHARED_DATA

DANCE = "videos/dance_tfjs_pose_1.mp4"


def shared_video() -> Path:
    src = SHARED_DATA / DANCE
    if not src.is_file():
        pytest.skip(f"shared video missing: {src} (set EDGEPOSE_TEST_DATA)")
    return src


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    """RGB `frames` as an MJPEG clip (decoded by the same FFmpeg backend as the shared videos)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="session")
def dance_video() -> Path:
    return shared_video()


@pytest.fixture(scope="session")
def dance_frames() -> list[np.ndarray]:
    """The first 80 frames of the shared dance video (one person, RGB)."""
    return [f.rgb for f in read_video(shared_video(), max_frames=80)]


@pytest.fixture(scope="session")
def spliced_clip(tmp_path_factory: pytest.TempPathFactory, dance_frames: list[np.ndarray]) -> Path:
    """40 frames person, 30 empty (a grey wall), 40 person, 30 empty (4.7 s at 30 fps): 4 presence events a pass."""
    empty = np.full_like(dance_frames[0], 128)
    seq = dance_frames[:40] + [empty] * 30 + dance_frames[40:80] + [empty] * 30
    return write_clip(tmp_path_factory.mktemp("clips") / "spliced.avi", seq)


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory, dance_frames: list[np.ndarray]) -> Path:
    """20 frames with a person (0.67 s at 30 fps)."""
    return write_clip(tmp_path_factory.mktemp("clips") / "short.avi", dance_frames[:20])
