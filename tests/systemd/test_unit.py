"""systemd/edgepose.service: systemd's own checks (verify, security exposure) plus the directives we rely on.

`systemd-analyze verify` and `security --offline=true` work without a running systemd. verify runs with
`--root` on a throwaway tree that holds the unit, the distribution's units (so that dependencies like
network-online.target resolve) and an executable at the ExecStart path, because verify rejects a unit whose
ExecStart binary is missing. Parse errors are only warnings to verify (exit status 0), so a clean run must also be
silent; the negative tests prove both kinds of breakage are caught.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.paths import REPO

UNIT = REPO / "systemd" / "edgepose.service"
ANALYZE = shutil.which("systemd-analyze")
SYSTEM_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)
MAX_EXPOSURE = 2.5

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (Debian package 'systemd')")


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order (repeated keys kept)."""
    out, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(key: str, section: str | None = None) -> list[str]:
    return [v for s, k, v in directives(UNIT.read_text()) if k == key and (section is None or s == section)]


def verify_root(tmp_path: Path, unit_text: str, *, with_exec: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `systemd-analyze verify --root` on a tree holding `unit_text` as edgepose.service."""
    assert SYSTEM_UNITS is not None
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    unit_dir = root / "etc/systemd/system"
    unit_dir.mkdir(parents=True)
    (unit_dir / "edgepose.service").write_text(unit_text)
    if with_exec:
        exe = root / "opt/edgepose/current/venv/bin/edgepose"
        exe.parent.mkdir(parents=True)
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return subprocess.run([ANALYZE, "verify", f"--root={root}", "edgepose.service"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@needs_analyze
def test_verify_passes_cleanly(tmp_path: Path) -> None:
    r = verify_root(tmp_path, UNIT.read_text())
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "" and r.stderr.strip() == "", f"verify printed warnings:\n{r.stdout}{r.stderr}"


@needs_analyze
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Type=notify", "Type=notifyy"),  # a bad value
        ("DevicePolicy=closed", "DevicePolicyy=closed"),  # an unknown key
        ("RestartPreventExitStatus=78", "RestartPreventExitStatus=seventy-eight"),
    ],
)
def test_verify_reports_a_broken_copy(tmp_path: Path, old: str, new: str) -> None:
    text = UNIT.read_text()
    assert old in text
    r = verify_root(tmp_path, text.replace(old, new, 1))
    output = r.stdout + r.stderr
    assert r.returncode != 0 or "edgepose.service" in output, "verify accepted a broken unit"
    assert new.split("=")[0] in output or new.split("=")[1] in output, output


@needs_analyze
def test_verify_fails_without_the_executable(tmp_path: Path) -> None:
    r = verify_root(tmp_path, UNIT.read_text(), with_exec=False)
    assert r.returncode != 0
    assert "/opt/edgepose/current/venv/bin/edgepose" in r.stderr


def security(unit: Path, threshold: float) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "security", "--offline=true", f"--threshold={round(threshold * 10)}", "--no-pager", str(unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def exposure(output: str) -> float:
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)", output)
    assert m, f"no exposure line in:\n{output}"
    return float(m.group(1))


@needs_analyze
def test_security_exposure_is_in_the_ok_band() -> None:
    r = security(UNIT, MAX_EXPOSURE)
    score = exposure(r.stdout + r.stderr)
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}:\n{r.stdout}"
    assert r.returncode == 0, r.stdout + r.stderr


@needs_analyze
def test_security_threshold_catches_a_weakened_unit(tmp_path: Path) -> None:
    # Dropping the hardening must push the score over the threshold and make the command fail.
    weak = tmp_path / "edgepose.service"
    kept = [line for line in UNIT.read_text().splitlines()
            if not line.startswith(("Protect", "Restrict", "SystemCall", "Capability", "DynamicUser",
                                    "NoNewPrivileges", "PrivateTmp", "DevicePolicy", "DeviceAllow"))]  # fmt: skip
    weak.write_text("\n".join(kept) + "\n")
    r = security(weak, MAX_EXPOSURE)
    assert exposure(r.stdout) > MAX_EXPOSURE
    assert r.returncode != 0


def test_service_contract() -> None:
    assert values("Type") == ["notify"]
    assert values("NotifyAccess") == ["main"]
    assert values("WatchdogSec") and values("WatchdogSec")[0] not in ("0", "infinity")
    assert values("Restart") == ["on-failure"]
    assert values("RestartPreventExitStatus") == ["78"]
    assert values("TimeoutStopSec") == ["15s"]
    assert values("ExecStart") == ["/opt/edgepose/current/venv/bin/edgepose run --config /etc/edgepose/edgepose.toml"]
    assert "EDGEPOSE_MODELS_DIR=/opt/edgepose/current/models" in values("Environment")
    assert values("LoadCredential") == ["mqtt_password:/etc/edgepose/mqtt_password"]
    assert values("StateDirectory") == ["edgepose"]
    assert values("WantedBy", "Install") == ["multi-user.target"]


def seconds(span: str) -> float:
    units = {"ms": 1e-3, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert m, span
    return float(m.group(1)) * units[m.group(2) or "s"]


def test_restart_policy_does_not_leave_a_flapping_unit_dead_within_seconds() -> None:
    # Start limits live in [Unit] (in [Service], systemd 252 ignores StartLimitIntervalSec= as an unknown key).
    interval = seconds(values("StartLimitIntervalSec", "Unit")[0])
    burst = int(values("StartLimitBurst", "Unit")[0])
    delay = seconds(values("RestartSec", "Service")[0])
    assert delay >= 1, "a restart delay of at least a second"
    # Time before systemd gives up on a unit that fails instantly: burst restarts, delay apart.
    assert burst * delay >= 30, f"a crashing unit would be given up after {burst * delay} s"
    assert interval >= burst * delay, "the interval must cover the whole burst, else the limit never triggers"


def test_device_access_is_an_allow_list() -> None:
    assert values("DevicePolicy") == ["closed"]
    assert not values("PrivateDevices"), "PrivateDevices= hides /dev/video*, /dev/media*, /dev/apex_0"
    allowed = {v.split()[0]: v.split()[1] for v in values("DeviceAllow")}
    for group in ("char-video4linux", "char-media", "char-dma_heap", "char-usb_device", "char-apex"):
        assert allowed.get(group) == "rw", f"DeviceAllow={group} rw missing"
    assert set(values("SupplementaryGroups")[0].split()) == {"video", "plugdev"}


def test_privileges_are_dropped() -> None:
    assert values("CapabilityBoundingSet") == [""]
    assert values("AmbientCapabilities") == [""]
    assert values("NoNewPrivileges") == ["yes"]
    assert values("DynamicUser") == ["yes"]
    assert values("ProtectSystem") == ["strict"]
    assert values("ProtectHome") == ["yes"]
    assert values("UMask") == ["0077"]
    assert values("RestrictAddressFamilies") == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert values("SystemCallFilter")[0] == "@system-service"
