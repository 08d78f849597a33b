"""The daemon with its validity stage: rejected poses are neither published nor counted, and stats say why.

`edgepose run` as a real process on a real person-free clip (a road seen from above: the raw int8 lite pipeline
holds a car ghost on 48 of its 374 frames with the bias-corrected detector; the EPFL lab clip this test used before
has no ghost left with it), lite int8 as shipped, a real Mosquitto.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.daemon import daemon_config
from support.paths import MODELS_DIR, REPO, SHARED_DATA

CLIP = SHARED_DATA / "videos" / "presence" / "bgslibrary_road_cars_topview.avi"


def run_daemon(broker, subscriber_factory, tmp_path: Path, device: str, validity: bool) -> tuple[list, list, dict]:
    if not CLIP.is_file():
        pytest.skip(f"presence clip missing: {CLIP}")
    if not any(MODELS_DIR.glob("pose_landmark_lite_int8*.tflite")):
        pytest.skip(f"int8 lite model not found in {MODELS_DIR}")
    sub = subscriber_factory(broker, [f"edgepose/{device}/#"])
    config = daemon_config(tmp_path / f"{device}.toml", port=broker.port, source=CLIP, device=device, sections={
        "engine": {"precision": "int8", "models_dir": str(MODELS_DIR)},
        "validity": {"enabled": validity},
        "stats": {"interval_seconds": 3600.0},  # the final stats then cover the whole run (first one after 5 s)
    })  # fmt: skip
    p = subprocess.run([sys.executable, "-m", "edgepose", "run", "--config", str(config), "--summary"], cwd=REPO,
                       capture_output=True, text=True, timeout=180)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert sub.wait_for(lambda ms: any(m.topic.endswith("/status") and m.payload == b"offline" for m in ms))
    frames = [json.loads(m.payload) for m in sub.on(f"edgepose/{device}/pose")]
    events = [json.loads(m.payload) for m in sub.on(f"edgepose/{device}/event")]
    return frames, events, json.loads(p.stdout.strip().splitlines()[-1])


def test_ghosts_rejected_not_published_not_present(broker, subscriber_factory, tmp_path: Path) -> None:
    frames, events, stats = run_daemon(broker, subscriber_factory, tmp_path, "val-on", validity=True)
    assert len(frames) == 374
    assert sum(bool(f["poses"]) for f in frames) == 0
    assert events == []
    rejected = stats["validity_rejected"]
    assert sum(rejected.values()) >= 20, rejected  # the ghosts the raw engine publishes (below), by reason
    assert rejected.get("detection", 0) >= 5, rejected  # the slow car, its detection at 0.500
    assert "validity" in stats["stage_ms"] and stats["stage_ms"]["validity"] >= 0.0


def test_validity_off_publishes_the_ghosts(broker, subscriber_factory, tmp_path: Path) -> None:
    frames, events, stats = run_daemon(broker, subscriber_factory, tmp_path, "val-off", validity=False)
    assert sum(bool(f["poses"]) for f in frames) >= 20
    assert any(e["type"] == "enter" for e in events), events
    assert stats["validity_rejected"] == {}
