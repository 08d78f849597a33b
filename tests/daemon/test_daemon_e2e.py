"""The daemon end to end: `edgepose run` as a real process, real models, real video, a real Mosquitto.

Covers issue 4's evidence: pose frames with 33 keypoints; exact enter/leave events and retained state on a clip
with empty stretches spliced in; SIGTERM publishes `offline` itself; kill -9 makes the broker publish the last
will; a broker restart mid-run is survived (reconnect, frames resume, presence intact).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.engine import require_float_models
from support.paths import REPO

PREFIX = "edgepose"


def write_config(path: Path, broker, source: Path, device: str, **extra: str) -> Path:
    sections = {
        "device": f'id = "{device}"',
        "source": f'uri = "{source}"\npace = "{extra.get("pace", "fast")}"\nloop = {extra.get("loop", "false")}',
        "engine": 'model = "lite"\nprecision = "float"\nbackend = "cpu"\nthreads = 1\n'
        f'models_dir = "{require_float_models()}"',
        "presence": f'leave_seconds = {extra.get("leave_seconds", "0.5")}',
        "mqtt": f'host = "127.0.0.1"\nport = {broker.port}\nreconnect_min = 0.1\nreconnect_max = 0.5',
        "stats": "interval_seconds = 1.0",
    }  # fmt: skip
    path.write_text("".join(f"[{k}]\n{v}\n\n" for k, v in sections.items()))
    return path


def start_daemon(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edgepose", "run", "--config", str(config), *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_frames_events_retained_state_and_clean_stop(broker, subscriber_factory, spliced_clip, tmp_path) -> None:
    sub = subscriber_factory(broker, [f"{PREFIX}/e2e/#"])
    config = write_config(tmp_path / "c.toml", broker, spliced_clip, "e2e")
    code, out, err = finish(start_daemon(config, "--summary"), timeout=180)
    assert code == 0, err[-3000:]
    frames = [json.loads(m.payload) for m in sub.on(f"{PREFIX}/e2e/pose")]
    assert sub.wait_for(lambda ms: any(m.topic.endswith("/status") and m.payload == b"offline" for m in ms))
    # Every processed frame was published, in order, with 33 keypoints when a person is there.
    assert [f["seq"] for f in frames] == list(range(1, 141))
    with_pose = [f for f in frames if f["poses"]]
    assert 70 <= len(with_pose) <= 80
    assert all(len(f["poses"][0]["keypoints"]) == 33 and len(f["poses"][0]["world"]) == 33 for f in with_pose)
    events = [json.loads(m.payload) for m in sub.on(f"{PREFIX}/e2e/event")]
    assert [(e["type"], e["count"]) for e in events] == [("enter", 1), ("leave", 0), ("enter", 1), ("leave", 0)]
    # The retained state, as a new subscriber sees it after the daemon has gone.
    late = subscriber_factory(broker, [f"{PREFIX}/e2e/presence", f"{PREFIX}/e2e/status"])
    assert late.wait_for(lambda ms: len(ms) >= 2, timeout=5)
    state = json.loads(late.payloads(f"{PREFIX}/e2e/presence")[-1])
    assert state["present"] is False and state["count"] == 0 and state["v"] == 1
    assert late.payloads(f"{PREFIX}/e2e/status")[-1] == b"offline"
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["inference_errors"] == 0 and summary["mqtt"]["frames_dropped"] == 0


def test_sigterm_publishes_offline(broker, subscriber_factory, shared_data, tmp_path) -> None:
    sub = subscriber_factory(broker, [f"{PREFIX}/term/status", f"{PREFIX}/term/pose"])
    config = write_config(tmp_path / "c.toml", broker, shared_data / "videos/dance_tfjs_pose_1.mp4", "term",
                          pace="realtime", loop="true")  # fmt: skip
    proc = start_daemon(config)
    assert sub.wait_for(lambda ms: len([m for m in ms if m.topic.endswith("/pose")]) >= 5, timeout=60), proc.stderr
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc, timeout=10)
    assert time.monotonic() - t0 < 5.0
    assert code == 0, err[-2000:]
    assert sub.payloads(f"{PREFIX}/term/status")[-1] == b"offline"
    assert "received SIGTERM" in err


def test_kill_9_leaves_the_last_will(broker, subscriber_factory, shared_data, tmp_path) -> None:
    sub = subscriber_factory(broker, [f"{PREFIX}/kill/status"])
    config = write_config(tmp_path / "c.toml", broker, shared_data / "videos/dance_tfjs_pose_1.mp4", "kill",
                          pace="realtime", loop="true")  # fmt: skip
    proc = start_daemon(config)
    assert sub.wait_payload(f"{PREFIX}/kill/status", b"online", timeout=60)
    proc.kill()
    proc.wait(10)
    # The broker notices the dead connection at once (socket closed) and publishes the will.
    assert sub.wait_for(lambda ms: ms[-1].payload == b"offline", timeout=10)


def test_broker_restart_mid_run(broker, subscriber_factory, shared_data, tmp_path) -> None:
    sub = subscriber_factory(broker, [f"{PREFIX}/rs/#"])
    config = write_config(tmp_path / "c.toml", broker, shared_data / "videos/dance_tfjs_pose_1.mp4", "rs",
                          pace="realtime", loop="true", leave_seconds="30")  # fmt: skip
    proc = start_daemon(config)
    try:
        assert sub.wait_for(lambda ms: any(m.topic.endswith("/event") for m in ms), timeout=60)
        broker.stop()
        time.sleep(2.0)
        sub.clear()
        broker.start()
        # Reconnected: online again, the retained presence state republished, frames resume.
        assert sub.wait_payload(f"{PREFIX}/rs/status", b"online", timeout=15)
        assert sub.wait_for(lambda ms: len([m for m in ms if m.topic.endswith("/pose")]) >= 5, timeout=15)
        assert sub.wait_for(lambda ms: any(m.topic.endswith("/presence") for m in ms), timeout=10)
        state = json.loads(sub.payloads(f"{PREFIX}/rs/presence")[-1])
        assert state["present"] is True and state["count"] == 1
        assert sub.on(f"{PREFIX}/rs/event") == []  # no duplicate enter after the reconnect
    finally:
        proc.send_signal(signal.SIGTERM)
        code, _, err = finish(proc, timeout=15)
    assert code == 0, err[-2000:]
