"""`edgepose demo` (the README's first command) against a broker started by the test: the generated clip's
person is tracked, and frames, the enter event and the final `offline` are printed as they arrive."""

from __future__ import annotations

import os
import subprocess
import sys

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
    assert out.rstrip().splitlines()[-1] == "demo status OFFLINE"
