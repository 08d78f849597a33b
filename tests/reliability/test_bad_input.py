"""Bad input: configuration files through the real CLI, junk on the topics the daemon subscribes to, and
images that are empty, tiny, huge, grey, 16-bit or NaN-filled through `to_rgb_uint8` and the engine.

The config property tests at the function level (random TOML documents, random keys and values, random text)
are in tests/test_config.py, with `edgepose config check` run on a few bad files; here the same guarantees
are checked end to end on `edgepose run --config` and on random documents through the `config check` process.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.publish as mqtt_publish
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.daemon import daemon_config, log_lines, summary
from support.engine import engine
from support.paths import REPO

from edgepose.config import iter_keys
from edgepose.io.frames import FrameError, to_rgb_uint8

EXIT_CONFIG = 78


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPOSE_") or k == "EDGEPOSE_TEST_DATA"}
    return subprocess.run([sys.executable, "-m", "edgepose", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**clean, **(env or {})})


def _assert_config_error(res: subprocess.CompletedProcess[str], key: str) -> None:
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert key in lines[0] and "Traceback" not in res.stderr, lines[0]


@pytest.mark.parametrize(
    ("content", "env", "key"),
    [
        ("[mqtt]\nport = 70000\n", {}, "mqtt.port"),
        ("[mqtt]\npassword = 'hunter2'\n", {}, "mqtt.password"),
        ("[engine]\nmodel = 'huge'\n", {}, "engine.model"),
        ("[sourc]\nuri = 'x'\n", {}, "sourc"),
        ("[mqtt.tls]\nenabled = 'yes'\n", {}, "mqtt.tls.enabled"),
        ("[presence]\nleave_seconds = nan\n", {}, "presence.leave_seconds"),
        ("[stats\n", {}, "invalid TOML"),
        ("", {"EDGEPOSE_MQTT_PORT": "eighty"}, "EDGEPOSE_MQTT_PORT"),
        ("", {"EDGEPOSE_MQTT_NOPE": "1"}, "mqtt.nope"),
    ],
)
def test_run_with_a_bad_config_exits_78_with_one_line(tmp_path: Path, content: str, env: dict, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    res = _cli("run", "--config", str(path), env=env)
    _assert_config_error(res, key)
    assert "hunter2" not in res.stderr


def test_run_with_a_missing_config_file_exits_78(tmp_path: Path) -> None:
    _assert_config_error(_cli("run", "--config", str(tmp_path / "missing.toml")), "missing.toml")


def test_run_with_a_bad_broker_option_is_a_usage_error() -> None:
    # A command-line mistake, not a configuration one (issue 12): 64, one line naming the option.
    res = _cli("run", "--broker", "no-port-here")
    assert res.returncode == 64, (res.returncode, res.stderr)
    assert res.stderr.strip() == "edgepose run: --broker must be HOST:PORT, got 'no-port-here'"


_SECTIONS = sorted({k.split(".")[0] for k, _, _ in iter_keys()})
_KEYS = [k for k, _, _ in iter_keys()]
_scalar = st.one_of(st.booleans(), st.integers(-(10**6), 10**6), st.floats(), st.text(max_size=12),
                    st.sampled_from(["5", "lite", "fast", "usb:1", "a+b", "#", "/dev/video0"]))


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(v)  # a TOML basic string (an escaped lone surrogate makes the file invalid TOML)


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(_KEYS) | st.builds(lambda s, k: f"{s}.{k}", st.sampled_from(_SECTIONS),
                                                      st.text("abcdefgh_", min_size=1, max_size=6)))
        section, name = key.rsplit(".", 1)
        value = draw(_scalar | st.lists(_scalar, max_size=2))
        lines.append(f"[{section}]\n{json.dumps(name)} = {_toml_value(value)}\n")
    return "\n".join(lines)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_documents())
def test_random_documents_through_config_check_process(tmp_path: Path, doc: str) -> None:
    """Random keys and values through the real `edgepose config check` process: valid, or exit 78 with one
    line naming the key path (or the TOML error), never a traceback."""
    path = tmp_path / "random.toml"
    path.write_text(doc, errors="surrogatepass")
    res = _cli("config", "check", str(path))
    assert "Traceback" not in res.stderr
    if res.returncode != 0:
        assert res.returncode == EXIT_CONFIG, res.stderr
        line = res.stderr.strip()
        assert "\n" not in line and "invalid configuration" in line, line
        sections = re.findall(r"^\[(.+)\]$", doc, re.M)  # the error names a key path inside one of them
        assert "invalid TOML" in line or any(f"{sect}." in line or f" {sect}:" in line for sect in sections), line


# ---- messages on subscribed topics -------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_junk_on_homeassistant_status_is_ignored_and_logged_once(broker, subscriber_factory, daemon_factory,
                                                                 dance_video, tmp_path: Path, protocol: str) -> None:
    base = "edgepose/junk"
    sub = subscriber_factory(broker, [f"{base}/pose", "homeassistant/#"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=dance_video, device="junk",
                           sections={"source": {"pace": "realtime", "loop": True},
                                     "mqtt": {"protocol": protocol}})
    d = daemon_factory(config, "--summary")
    discovery = lambda: [m for m in sub.messages if m.topic.endswith("/config")]  # noqa: E731
    assert sub.wait_for(lambda ms: bool(discovery()), timeout=60), d.stderr()[-2000:]
    rng = np.random.default_rng(6)
    junk = [rng.bytes(64), b"\xff\xfe\x00\x01", b"", b"ONLINE", b"1", b'{"status": "online"}', b"null",
            b"online\n", b"x" * 60_000, rng.bytes(2_000_000)]
    for payload in junk:
        mqtt_publish.single("homeassistant/status", payload, hostname=broker.host, port=broker.port)
    time.sleep(1.0)
    n_disc = len(discovery())
    assert d.alive(), d.stderr()[-3000:]
    # Home Assistant's real announcement still works afterwards.
    mqtt_publish.single("homeassistant/status", b"online", hostname=broker.host, port=broker.port)
    assert sub.wait_for(lambda ms: len(discovery()) > n_disc, timeout=5)
    n_pose = len(sub.on(f"{base}/pose"))
    assert sub.wait_for(lambda ms: len(sub.on(f"{base}/pose")) > n_pose + 5, timeout=10)
    code, _ = d.stop()
    err = d.stderr()
    stats = summary(d)
    ignored = stats["mqtt"]["ignored_messages"]
    print(f"MQTT {protocol}: {ignored} junk messages ignored; log: {log_lines(err, 'ignored')}")
    assert code == 0 and "Traceback" not in err
    assert n_disc == 1  # junk never triggers a republish
    # MQTT 5: the broker drops the 2 MB message (our maximum packet size is 64 kB) before it reaches us.
    assert ignored == (len(junk) - 1 if protocol == "5" else len(junk))
    assert len(log_lines(err, r"ignored a message")) == 1


# ---- images ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def static_lite():
    return engine(model="lite", static=True)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("empty", lambda p: np.zeros((0, 0, 3), np.uint8), "empty image"),
        ("empty rows", lambda p: np.zeros((0, 640, 3), np.uint8), "empty image"),
        ("1-D", lambda p: np.zeros(640, np.uint8), "2-D (grey) or 3-D"),
        ("complex", lambda p: np.zeros((4, 4, 3), np.complex64), "unsupported image dtype"),
        ("5 channels", lambda p: np.zeros((4, 4, 5), np.uint8), "at most 4"),
    ],
)
def test_unusable_images_are_a_frame_error_naming_the_problem(dance_frames, name, make, message) -> None:
    with pytest.raises(FrameError, match=re.escape(message)):
        to_rgb_uint8(make(dance_frames[0]))


def _upscale(p: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(p, (size, size), interpolation=cv2.INTER_NEAREST)


@pytest.mark.parametrize(
    ("name", "make", "person"),
    [
        ("1x1", lambda p: np.full((1, 1, 3), 200, np.uint8), False),
        ("1x1 grey", lambda p: np.full((1, 1), 0.5, np.float32), False),
        ("2x3000", lambda p: np.zeros((2, 3000, 3), np.uint8), False),
        ("grey", lambda p: cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), True),
        ("16-bit", lambda p: p.astype(np.uint16) * 257, True),
        ("float [0,1]", lambda p: p.astype(np.float32) / 255, True),
        ("NaN-filled", lambda p: np.full(p.shape, np.nan, np.float32), False),
        ("NaN-sprinkled", lambda p: np.where(np.arange(p.size).reshape(p.shape) % 97 == 0, np.nan,
                                             p / 255.0), True),
        ("+inf", lambda p: np.full(p.shape[:2], np.inf), False),
        ("10000x10000", lambda p: _upscale(p, 10_000), True),
    ],
)
def test_odd_images_give_a_frame_and_a_clear_engine_outcome(static_lite, dance_frames, name, make, person) -> None:
    """Every convertible image becomes uint8 RGB of its own size and goes through the engine without error:
    the person is found in the grey, 16-bit, float and huge versions of the photo, nothing in blank input."""
    image = make(dance_frames[0])
    rgb = to_rgb_uint8(image)
    assert rgb.dtype == np.uint8 and rgb.shape == (*image.shape[:2], 3) and rgb.flags.c_contiguous
    result = static_lite.process(rgb)
    assert (result.width, result.height) == (image.shape[1], image.shape[0])
    assert bool(result.poses) == person, name
    for pose in result.poses:
        assert pose.is_finite()
        assert np.all((pose.keypoints[:, :2] > -0.5) & (pose.keypoints[:, :2] < 1.5))


def test_the_engine_refuses_what_to_rgb_uint8_would_have_converted(static_lite) -> None:
    """The engine's own gate names the problem instead of crashing deep inside OpenCV or LiteRT."""
    for bad in (np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8)):
        with pytest.raises(ValueError, match="uint8 H×W×3"):
            static_lite.process(bad)
