"""The live view and the snapshots in the real daemon (`edgepose run` as a process, real models, real video,
a real Mosquitto): no listening socket unless enabled; bad settings fail the start with one line; an enter
publishes a retained JPEG of the configured size and Home Assistant's discovery names the camera."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.broker import free_port
from support.daemon import DaemonProcess, daemon_config, inet_sockets
from support.paths import REPO

from edgepose.config import ConfigError, parse_config

PREFIX = "edgepose"


def _listening_ports(pid: int) -> list[int]:
    """Local ports of the process's TCP sockets in LISTEN state (0A), from /proc/<pid>/net/tcp{,6}."""
    from support.daemon import socket_inodes

    mine = {str(i) for i in socket_inodes(pid)}
    rows = inet_sockets(pid, "tcp") + inet_sockets(pid, "tcp6")
    return sorted(int(r["local"].rsplit(":", 1)[1], 16) for r in rows if r["state"] == "0A" and r["inode"] in mine)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgepose", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_no_listening_socket_while_off_and_one_while_on(broker, dance_video: Path, tmp_path: Path) -> None:
    common = {"source": {"pace": "realtime", "loop": True}}
    off = daemon_config(tmp_path / "off.toml", port=broker.port, source=dance_video, device="lvoff",
                        sections=common)
    d = DaemonProcess(off, workdir=tmp_path / "off")
    try:
        assert d.wait_log(r"presence: enter", timeout=90), d.stderr()[-2000:]
        assert _listening_ports(d.pid) == []
    finally:
        d.stop()

    port = free_port()
    on = daemon_config(tmp_path / "on.toml", port=broker.port, source=dance_video, device="lvon",
                       sections={**common, "live_view": {"enabled": True, "port": port}})
    d = DaemonProcess(on, workdir=tmp_path / "on")
    try:
        assert d.wait_log(r"presence: enter", timeout=90), d.stderr()[-2000:]
        assert _listening_ports(d.pid) == [port]  # the detector finds the listener it must not find above
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/", timeout=10) as r:  # loopback without a token: open
            assert b"edgepose live view" in r.read()
        with urllib.request.urlopen(base + "/frame.jpg", timeout=10) as r:
            img = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (576, 576, 3)
        with urllib.request.urlopen(base + "/state.json", timeout=10) as r:
            state = json.loads(r.read())
        assert state["present"] is True and state["frames"] >= 1 and state["width"] == 576
        code, _ = d.stop()
        assert code == 0, d.stderr()[-2000:]
    finally:
        d.kill()


def test_port_in_use_and_foreign_address_fail_the_start(broker, dance_video: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = daemon_config(tmp_path / "busy.toml", port=broker.port, source=dance_video, device="busy",
                            sections={"live_view": {"enabled": True, "port": port}})
        r = _cli("run", "--config", str(cfg))
    assert r.returncode == 69, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"edgepose run: cannot start the live view: live_view.port: 127.0.0.1:{port} is already in use"]

    token = tmp_path / "token"
    token.write_text("0123456789abcdef\n")
    token.chmod(0o600)  # a secret readable by others is refused
    cfg = daemon_config(tmp_path / "foreign.toml", port=broker.port, source=dance_video, device="foreign",
                        sections={"live_view": {"enabled": True, "bind": "192.0.2.7", "port": free_port(),
                                                "token_file": str(token)}})
    r = _cli("run", "--config", str(cfg))
    assert r.returncode == 78, r.stderr
    assert "live_view.bind: 192.0.2.7 is not an address of this machine" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("table", "message"), [
    ({"bind": "localhost"}, "live_view.bind: 'localhost' is not an IP address"),
    ({"bind": "0.0.0.0"}, "live_view.token_file: live_view.bind = '0.0.0.0' is not a loopback address, so a token "
                          "file is required"),
    ({"bind": "::", "token_file": "/nonexistent/token"}, "live_view.token_file: cannot read the token file "
                                                         "'/nonexistent/token'"),
    ({"token_file": "SHORT"}, "must be at least 16 characters"),
    ({"port": 0}, "live_view.port: 0 is out of range"),
])
def test_bad_live_view_settings(table: dict[str, object], message: str, tmp_path: Path) -> None:
    if table.get("token_file") == "SHORT":
        (tmp_path / "t").write_text("abc\n")
        (tmp_path / "t").chmod(0o600)
        table = {**table, "token_file": str(tmp_path / "t")}
    with pytest.raises(ConfigError) as e:
        parse_config({"live_view": {"enabled": True, **table}}, env={})
    assert message in str(e.value)


def test_config_check_exits_78_on_a_missing_token_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[live_view]\nenabled = true\nbind = "0.0.0.0"\ntoken_file = "/nonexistent/token"\n')
    r = _cli("config", "check", str(cfg))
    assert r.returncode == 78
    assert r.stderr.strip().splitlines() == [
        "edgepose config: invalid configuration: live_view.token_file: cannot read the token file "
        "'/nonexistent/token': No such file or directory"]
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123\n")
    token.chmod(0o600)
    cfg.write_text(f'[live_view]\nenabled = true\nbind = "0.0.0.0"\ntoken_file = "{token}"\n')
    r = _cli("config", "check", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "0123456789abcdef" not in r.stdout and "# token = \"***\"" in r.stdout


def test_enter_publishes_a_snapshot_and_discovery_names_the_camera(broker, subscriber_factory, dance_video: Path,
                                                                   tmp_path: Path) -> None:
    base = f"{PREFIX}/snap"
    sub = subscriber_factory(broker, [f"{base}/#", "homeassistant/device/edgepose_snap/config"])
    cfg = daemon_config(tmp_path / "c.toml", port=broker.port, source=dance_video, device="snap",
                        sections={"snapshot": {"enabled": True, "width": 320, "quality": 85}})
    d = DaemonProcess(cfg, "--max-frames", "20", workdir=tmp_path / "d")
    assert d.wait(120) == 0, d.stderr()[-3000:]
    assert d.stderr().count("presence: enter") == 1
    assert sub.wait_for(lambda ms: any(m.topic == f"{base}/snapshot" for m in ms), timeout=10)
    snaps = sub.on(f"{base}/snapshot")
    assert len(snaps) == 1
    img = cv2.imdecode(np.frombuffer(snaps[0].payload, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (320, 320, 3)  # 576×576 scaled to width 320
    # The skeleton is drawn: pixels of the pose colour (pure green), which the dance video has none of.
    green = (img[:, :, 1] > 200) & (img[:, :, 0] < 90) & (img[:, :, 2] < 90)
    assert green.sum() > 50
    # Retained: a subscriber arriving later still gets the picture.
    late = subscriber_factory(broker, [f"{base}/snapshot"])
    assert late.wait_for(lambda ms: len(ms) == 1 and bool(ms[0].retain), timeout=10)
    disc = json.loads(sub.on("homeassistant/device/edgepose_snap/config")[-1].payload)
    cam = disc["cmps"]["snapshot"]
    assert cam["p"] == "camera" and cam["topic"] == f"{base}/snapshot"
    assert cam["unique_id"] == "edgepose_snap_snapshot" and cam["default_entity_id"] == "camera.edgepose_snap_snapshot"
    assert "image_encoding" not in cam  # raw JPEG bytes


def test_snapshots_are_off_by_default(broker, subscriber_factory, dance_video: Path, tmp_path: Path) -> None:
    base = f"{PREFIX}/nosnap"
    sub = subscriber_factory(broker, [f"{base}/#", "homeassistant/device/edgepose_nosnap/config"])
    cfg = daemon_config(tmp_path / "c.toml", port=broker.port, source=dance_video, device="nosnap")
    d = DaemonProcess(cfg, "--max-frames", "20", workdir=tmp_path / "d")
    assert d.wait(120) == 0, d.stderr()[-3000:]
    assert "presence: enter" in d.stderr()
    assert sub.wait_for(lambda ms: any(m.topic.endswith("/status") and m.payload == b"offline" for m in ms))
    assert sub.on(f"{base}/snapshot") == []
    disc = json.loads(sub.on("homeassistant/device/edgepose_nosnap/config")[-1].payload)
    assert "snapshot" not in disc["cmps"]
