"""The daemon with include zones: the retained presence state carries per-zone counts (issue 13).

`edgepose run` as a real process on the dance video, the float lite model, a real Mosquitto. The dancer's hip
centre sinks from y 0.545 (frame 0) to 0.569 (frames 20-30) at x 0.50 (measured with the same engine); two include
zones split the frame at y 0.557, so the person passes from "upper" to "lower" while the count stays 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.daemon import daemon_config
from support.paths import REPO

ZONES = """
[[zones]]
name = "upper"
kind = "include"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.557], [0.0, 0.557]]

[[zones]]
name = "lower"
kind = "include"
polygon = [[0.0, 0.557], [1.0, 0.557], [1.0, 1.0], [0.0, 1.0]]
"""


def test_retained_presence_carries_zone_counts(broker, subscriber_factory, shared_data: Path,
                                               tmp_path: Path) -> None:
    device = "zones"
    sub = subscriber_factory(broker, [f"edgepose/{device}/#"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=shared_data / "videos/dance_tfjs_pose_1.mp4",
                           device=device)  # fmt: skip
    config.write_text(config.read_text() + ZONES)
    p = subprocess.run([sys.executable, "-m", "edgepose", "run", "--config", str(config), "--max-frames", "30"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert sub.wait_for(lambda ms: any(m.topic.endswith("/status") and m.payload == b"offline" for m in ms))
    states = [json.loads(m.payload) for m in sub.on(f"edgepose/{device}/presence")]
    # Absent at the start: every include zone at 0, in the configuration's order.
    assert states[0]["present"] is False and list(states[0]["zones"].items()) == [("upper", 0), ("lower", 0)]
    present = [s for s in states if s["present"]]
    assert present and all(s["v"] == 1 and s["count"] == 1 for s in present), states
    # A change of a zone count alone republishes the state, and is no event.
    assert present[0]["zones"] == {"upper": 1, "lower": 0}, present
    assert present[-1]["zones"] == {"upper": 0, "lower": 1}, present
    events = [json.loads(m.payload)["type"] for m in sub.on(f"edgepose/{device}/event")]
    assert events == ["enter"]
    # The clean stop's message is no observation and carries no zone counts.
    assert states[-1].get("stopped") is True and "zones" not in states[-1]
