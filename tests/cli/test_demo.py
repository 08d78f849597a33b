"""`edgepose demo` (the README's first command) against a broker started by the test: the generated clip's
person is tracked, and frames, the enter event and the final `offline` are printed as they arrive."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from support.broker import Subscriber
from support.paths import REPO


def test_demo_prints_frames_and_presence(broker) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edgepose", "demo", "--duration", "9", "--broker", f"127.0.0.1:{broker.port}",
         "--model", "lite"],
        capture_output=True, text=True, cwd=REPO, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "demo clip (scikit-image photos)" in out
    assert "demo status online" in out
    assert "1 pose(s) score=" in out  # the astronaut walks in after 3 s of empty room
    assert "demo event ENTER" in out and "demo presence present count=1" in out
    lines = out.rstrip().splitlines()
    assert lines[-2] == "demo status OFFLINE"
    # The user's broker (here: the test's) keeps nothing of the demo (issue 12).
    cleared = "edgepose/demo/status, edgepose/demo/presence"
    assert lines[-1] == f"demo: cleared the retained {cleared} on 127.0.0.1:{broker.port}"
    sub = Subscriber(broker, "edgepose/#")
    try:
        time.sleep(1.5)  # retained messages arrive right after subscribing
        assert [m.topic for m in sub.messages] == []
    finally:
        sub.close()
    # The stats line is readable: no Python reprs of None or of nested objects.
    (stats,) = [line for line in lines if line.startswith("demo stats ")][:1]
    assert "None" not in stats and "{" not in stats and "'" not in stats, stats
    assert "fps=" in stats
