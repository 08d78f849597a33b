"""The daemon on a Pi's CPU: `edgepose run` as an arm64 process under qemu-user (tools/aarch64/run.sh) as a
Cortex-A72 (Pi 4) or Cortex-A76 (Pi 5), with precision = "auto", against a real Mosquitto on the host.

Runs only in the aarch64 CI stage (tools/aarch64/ci_stage.sh sets EDGEPOSE_AARCH64_BOARD=pi4|pi5), which builds
the arm64 root first; elsewhere it is skipped with that reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.clips import write_clip
from support.daemon import daemon_config
from support.paths import REPO

BOARD = os.environ.get("EDGEPOSE_AARCH64_BOARD", "")
# What precision = "auto" must choose on each Pi for the lite model (edgepose.inference.cpu_choice, docs/pi.md).
EXPECTED = {"pi4": ("float", "float"), "pi5": ("float", "int8")}
FRAMES = 12

pytestmark = pytest.mark.skipif(BOARD not in EXPECTED, reason="aarch64 stage only (EDGEPOSE_AARCH64_BOARD=pi4|pi5, "
                                "set by tools/aarch64/ci_stage.sh)")  # fmt: skip


@pytest.fixture(scope="module")
def pi_clip(tmp_path_factory: pytest.TempPathFactory, dance_frames: list[np.ndarray]) -> Path:
    """The first FRAMES frames of the dance video (few: the daemon runs under emulation)."""
    return write_clip(tmp_path_factory.mktemp("clip") / "pi.avi", dance_frames[:FRAMES])


def test_daemon_publishes_poses_on_the_pi_cpu_with_auto_precision(broker, subscriber_factory, pi_clip,
                                                                  tmp_path) -> None:  # fmt: skip
    device = f"qemu-{BOARD}"
    sub = subscriber_factory(broker, [f"edgepose/{device}/#"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=pi_clip, device=device,
                           sections={"engine": {"precision": "auto", "threads": 2}})
    proc = subprocess.run([str(REPO / "tools/aarch64/run.sh"), BOARD, "-m", "edgepose", "run", "--config",
                           str(config), "--summary"], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    detector, landmark = EXPECTED[BOARD]
    assert f"precision: auto: detector {detector}, landmark {landmark}" in proc.stderr
    frames = [json.loads(m.payload) for m in sub.on(f"edgepose/{device}/pose")]
    assert [f["seq"] for f in frames] == list(range(1, FRAMES + 1))
    with_pose = [f for f in frames if f["poses"]]
    assert all(len(f["poses"][0]["keypoints"]) == 33 for f in with_pose)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    # The engine must find the dancer on all frames but two. Validity (on, as on a device) holds a new track
    # back at the start: `young` for its first frame, `still` until the motion model has seen its box move,
    # which on the clip's first frames is a matter of a few grey levels (docs/presence.md). Those frames count
    # as found; once a frame is published the rest must be, and no other rule may reject the dancer.
    rejected = summary["validity_rejected"]
    assert set(rejected) <= {"young", "still"}, rejected
    assert len(with_pose) + sum(rejected.values()) >= FRAMES - 2, (len(with_pose), rejected)
    published = [bool(f["poses"]) for f in frames]
    first = published.index(True)
    assert first <= 4 and all(published[first:]), published
    assert summary["precision_stages"]["detector"] == detector
    assert summary["precision_stages"]["landmark"] == landmark
    assert summary["inference_errors"] == 0
    assert sub.wait_for(lambda ms: any(m.topic.endswith("/status") and m.payload == b"offline" for m in ms))
