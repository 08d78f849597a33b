"""Fixtures of the reliability tests: clips built from the shared videos, and daemons that are always reaped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.daemon import DaemonProcess
from support.paths import SHARED_DATA

from edgepose.commands.common import read_video

DANCE = "videos/dance_tfjs_pose_1.mp4"


def _shared_video() -> Path:
    src = SHARED_DATA / DANCE
    if not src.is_file():
        pytest.skip(f"shared video missing: {src} (set EDGEPOSE_TEST_DATA)")
    return src


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="session")
def dance_frames() -> list[np.ndarray]:
    """The first 80 frames of the shared dance video (one person, RGB)."""
    return [f.rgb for f in read_video(_shared_video(), max_frames=80)]


@pytest.fixture(scope="session")
def spliced_clip(tmp_path_factory: pytest.TempPathFactory, dance_frames: list[np.ndarray]) -> Path:
    """40 frames person, 30 empty, 40 person, 30 empty (4.7 s at 30 fps): 4 presence events per pass."""
    empty = np.full_like(dance_frames[0], 128)
    seq = dance_frames[:40] + [empty] * 30 + dance_frames[40:80] + [empty] * 30
    return write_clip(tmp_path_factory.mktemp("clips") / "spliced.avi", seq)


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory, dance_frames: list[np.ndarray]) -> Path:
    """20 frames with a person (0.67 s at 30 fps)."""
    return write_clip(tmp_path_factory.mktemp("clips") / "short.avi", dance_frames[:20])


@pytest.fixture(scope="session")
def dance_video() -> Path:
    return _shared_video()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Start daemons; any still running at the end of the test is killed (only those started here)."""
    started: list[DaemonProcess] = []

    def start(config: Path, *args: str, name: str = "daemon", **kw: object) -> DaemonProcess:
        d = DaemonProcess(config, *args, workdir=tmp_path / name, **kw)  # type: ignore[arg-type]
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()
