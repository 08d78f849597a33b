"""What the adversarial run of issue 15 broke, each through the real CLI or daemon process: bad TLS files,
secrets readable by others, errors blaming the wrong source of a value, SIGHUP, a file source that can never
be read. The broker-side items (stalled and strict brokers, frame accounting) are in
tests/mqtt/test_publisher_limits.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.broker import make_ca, make_cert
from support.daemon import daemon_config
from support.paths import REPO

EXIT_DATAERR = 65
EXIT_CONFIG = 78


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPOSE_") or k == "EDGEPOSE_TEST_DATA"}
    return subprocess.run([sys.executable, "-m", "edgepose", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**clean, **(env or {})})


def _one_line(res: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    assert res.returncode == status, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d, "ca")
    client = make_cert(d, "client", ca, server=False)
    other = make_cert(d, "other", ca, server=False)
    junk = d / "junk.pem"
    junk.write_text("junk\n")
    junk_key = d / "junk.key"
    junk_key.write_text("junk\n")
    junk_key.chmod(0o600)
    return {"ca": ca[0], "cert": client[0], "key": client[1], "other_key": other[1], "junk": junk,
            "junk_key": junk_key}


@pytest.mark.parametrize(("ca", "cert", "key", "bad_key", "bad_file"), [
    ("junk", None, None, "mqtt.tls.ca_file", "junk"),
    ("ca", "junk", "key", "mqtt.tls.cert_file", "junk"),
    ("ca", "cert", "junk_key", "mqtt.tls.key_file", "junk_key"),
    ("ca", "cert", "other_key", "mqtt.tls.key_file", "other_key"),  # a key that is not the certificate's
])
def test_bad_tls_files_are_a_configuration_error_naming_the_file(pki, tmp_path: Path, ca, cert, key, bad_key,
                                                                 bad_file) -> None:
    """Issue 15 #1: a CA file holding `junk` crashed the daemon at connect time (traceback, exit 1, after the
    models loaded) and `config check` called the file valid."""
    tls = {"enabled": True, "ca_file": str(pki[ca])}
    if cert:
        tls |= {"cert_file": str(pki[cert]), "key_file": str(pki[key])}
    config = daemon_config(tmp_path / "c.toml", port=1, source="0", device="tls", sections={"mqtt": {"tls": tls}})
    _one_line(_cli("config", "check", str(config)), EXIT_CONFIG, bad_key, str(pki[bad_file]))
    t0 = time.monotonic()
    res = _cli("run", "--config", str(config))
    line = _one_line(res, EXIT_CONFIG, bad_key, str(pki[bad_file]))
    print(f"{bad_key}: {line} ({time.monotonic() - t0:.1f} s)")
    assert "engine:" not in res.stderr  # refused before any model loaded


def test_secrets_readable_by_others_are_refused(pki, tmp_path: Path) -> None:
    """Issue 15 #5: a world-readable password file (0644) was used without a word. Also the TLS private key."""
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    pw.chmod(0o644)
    config = daemon_config(tmp_path / "c.toml", port=1, source="0", device="pw",
                           sections={"mqtt": {"username": "u", "password_file": str(pw)}})
    _one_line(_cli("config", "check", str(config)), EXIT_CONFIG, "mqtt.password_file", "readable by",
              "chmod 600")
    pw.chmod(0o640)
    _one_line(_cli("run", "--config", str(config)), EXIT_CONFIG, "mqtt.password_file", "readable by group")
    pw.chmod(0o600)
    assert _cli("config", "check", "-q", str(config)).returncode == 0
    key = tmp_path / "client.key"
    key.write_bytes(pki["key"].read_bytes())
    key.chmod(0o644)
    tls = {"enabled": True, "ca_file": str(pki["ca"]), "cert_file": str(pki["cert"]), "key_file": str(key)}
    config = daemon_config(tmp_path / "t.toml", port=1, source="0", device="pw", sections={"mqtt": {"tls": tls}})
    _one_line(_cli("config", "check", str(config)), EXIT_CONFIG, "mqtt.tls.key_file", "readable by")


def test_errors_name_the_option_not_an_environment_variable(tmp_path: Path) -> None:
    """Issue 15 #6: errors about --device-id or --broker blamed an EDGEPOSE_* variable nobody set."""
    cases = [
        (["--device-id", "bad id"], "device.id", "--device-id"),
        (["--broker", "localhost:70000"], "mqtt.port", "--broker"),
        (["--broker", "bad host:1883"], "mqtt.host", "--broker"),
        (["--stats-interval", "0"], "stats.interval_seconds", "--stats-interval"),
    ]
    for args, key, option in cases:
        line = _one_line(_cli("run", *args), EXIT_CONFIG, key, f"(from {option})")
        assert "EDGEPOSE_" not in line, line
    # A real environment variable is still named as such, and an option beats it.
    _one_line(_cli("run", env={"EDGEPOSE_DEVICE_ID": "bad id"}), EXIT_CONFIG, "EDGEPOSE_DEVICE_ID")
    line = _one_line(_cli("run", "--device-id", "also bad", env={"EDGEPOSE_DEVICE_ID": "ok"}), EXIT_CONFIG,
                     "--device-id")
    assert "EDGEPOSE_" not in line


def test_sighup_is_logged_and_ignored(broker, subscriber_factory, daemon_factory, dance_video,
                                      tmp_path: Path) -> None:
    """Issue 15 #4: SIGHUP killed the daemon silently (exit 129, which systemd counts as clean)."""
    base = "edgepose/hup"
    sub = subscriber_factory(broker, [f"{base}/pose"])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=dance_video, device="hup",
                           sections={"source": {"pace": "realtime", "loop": True}})
    d = daemon_factory(config)
    assert sub.wait_for(lambda ms: len(ms) >= 5, timeout=90), d.stderr()[-3000:]
    d.send(signal.SIGHUP)
    assert d.wait_log(r"received SIGHUP: ignored", timeout=10), d.stderr()[-3000:]
    n = len(sub.messages)
    assert sub.wait_for(lambda ms: len(ms) >= n + 10, timeout=20), "no frames after SIGHUP"
    assert d.alive()
    code, _ = d.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in d.stderr(), d.stderr()[-3000:]


@pytest.mark.parametrize("kind", ["empty", "truncated"])
def test_a_file_source_that_cannot_be_read_exits_65(broker, daemon_factory, dance_video, tmp_path: Path,
                                                    kind: str) -> None:
    """Issue 15 #8: a zero-byte or truncated mp4 was retried forever; for a file that is bad data."""
    clip = tmp_path / f"{kind}.mp4"
    clip.write_bytes(b"" if kind == "empty" else dance_video.read_bytes()[:4096])
    config = daemon_config(tmp_path / "c.toml", port=broker.port, source=clip, device=f"bad-{kind}",
                           sections={"source": {"loop": True}})
    d = daemon_factory(config)
    code = d.wait(120)
    err = d.stderr()
    print(f"{kind}: exit {code}; {[line for line in err.splitlines() if 'source' in line][-1:]}")
    assert code == EXIT_DATAERR, err[-3000:]
    assert "Traceback" not in err and str(clip) in err.strip().splitlines()[-1]
    assert err.count("retrying") == 0  # no second attempt
