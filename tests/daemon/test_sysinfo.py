"""System statistics: parsing of a fake /proc and /sys tree, a fake vcgencmd, and the real process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from edgepose.daemon import sysinfo
from edgepose.daemon.sysinfo import (
    CpuMeter,
    SysInfo,
    ThrottleFlags,
    count_open_fds,
    is_raspberry_pi,
    parse_throttled,
    read_board_model,
    read_cpu_seconds,
    read_edgetpu_temperatures,
    read_num_threads,
    read_rss_bytes,
    read_soc_temperature,
    read_throttled,
)

STATUS = """Name:\tpython3
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t  900000 kB
VmRSS:\t  123456 kB
RssAnon:\t   100000 kB
Threads:\t7
"""
# comm with spaces and parentheses; utime=250, stime=50 are fields 14 and 15.
STAT = "4242 (edge (pose) d) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 7 0 100 900000 30864\n"


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def pi_root(tmp_path: Path) -> Path:
    write(tmp_path, "proc/self/status", STATUS)
    write(tmp_path, "proc/self/stat", STAT)
    for fd in range(5):
        write(tmp_path, f"proc/self/fd/{fd}", "")
    write(tmp_path, "proc/device-tree/model", "Raspberry Pi 4 Model B Rev 1.4\0")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "48312\n")
    write(tmp_path, "sys/devices/platform/soc/soc:firmware/get_throttled", "50005\n")
    write(tmp_path, "sys/class/apex/apex_0/temp", "51250\n")
    write(tmp_path, "sys/class/apex/apex_1/temp", "49000\n")
    return tmp_path


def test_proc_parsing(pi_root):
    assert read_rss_bytes(pi_root) == 123456 * 1024
    assert read_num_threads(pi_root) == 7
    assert count_open_fds(pi_root) == 5
    assert read_cpu_seconds(pi_root) == pytest.approx(300 / os.sysconf("SC_CLK_TCK"))


def test_sys_parsing(pi_root):
    assert read_soc_temperature(pi_root) == pytest.approx(48.312)
    assert read_edgetpu_temperatures(pi_root) == {"apex_0": 51.25, "apex_1": 49.0}
    assert is_raspberry_pi(pi_root)
    assert read_board_model(pi_root) == "Raspberry Pi 4 Model B Rev 1.4"
    flags = read_throttled(pi_root, vcgencmd=None)
    assert flags is not None and flags.raw == 0x50005
    assert flags.under_voltage and flags.throttled and not flags.freq_capped and not flags.soft_temp_limit
    assert flags.under_voltage_occurred and flags.throttled_occurred
    assert not flags.freq_capped_occurred and not flags.soft_temp_limit_occurred
    assert flags.any_now and flags.any_since_boot


def test_absent_values_are_none(tmp_path):
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "garbage\n")
    write(tmp_path, "proc/self/stat", "1 (x) S 1 2\n")  # truncated
    assert read_rss_bytes(tmp_path) is None
    assert read_num_threads(tmp_path) is None
    assert count_open_fds(tmp_path) is None
    assert read_cpu_seconds(tmp_path) is None
    assert read_soc_temperature(tmp_path) is None
    assert read_edgetpu_temperatures(tmp_path) == {}
    assert read_throttled(tmp_path, vcgencmd=None) is None
    assert read_throttled(tmp_path, vcgencmd=str(tmp_path / "no-such-vcgencmd")) is None
    assert not is_raspberry_pi(tmp_path) and read_board_model(tmp_path) is None
    sample = SysInfo(tmp_path, vcgencmd=None).sample()
    assert {k: v for k, v in sample.items() if k != "cpu_percent"} == {
        "rss_mb": None, "threads": None, "open_fds": None, "soc_temp_c": None, "throttled": None,
        "edgetpu_temp_c": None}


@pytest.mark.parametrize(
    ("text", "raw", "now", "since_boot"),
    [
        ("throttled=0x0\n", 0x0, False, False),
        ("throttled=0x50000", 0x50000, False, True),
        ("throttled=0x80008", 0x80008, True, True),
        ("0x20002", 0x20002, True, True),
        ("e000e", 0xE000E, True, True),
    ],
)
def test_parse_throttled(text, raw, now, since_boot):
    flags = parse_throttled(text)
    assert flags is not None and flags.raw == raw
    assert flags.any_now is now and flags.any_since_boot is since_boot


def test_parse_throttled_rejects_garbage_and_flag_names():
    assert parse_throttled("error=1 error_msg=\"Command not registered\"") is None
    assert parse_throttled("") is None
    d = ThrottleFlags.from_int(0x80008).to_dict()
    assert d["raw"] == "0x80008" and d["soft_temp_limit"] and d["soft_temp_limit_occurred"]
    assert not d["under_voltage"]
    with pytest.raises(ValueError):
        ThrottleFlags.from_int(-1)


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_vcgencmd_fallback_runs_the_command(tmp_path):
    ok = _script(tmp_path / "vcgencmd", '[ "$1" = get_throttled ] && echo throttled=0x20002\n')
    flags = read_throttled(tmp_path, vcgencmd=ok)
    assert flags is not None and flags.freq_capped and flags.freq_capped_occurred and not flags.throttled
    failing = _script(tmp_path / "vcgencmd-broken", "echo 'VCHI initialization failed' >&2; exit 1\n")
    assert read_throttled(tmp_path, vcgencmd=failing) is None


def test_cpu_meter_on_injected_clock():
    t = [100.0]
    cpu = [10.0]
    meter = CpuMeter(clock=lambda: t[0], cpu_seconds=lambda: cpu[0])
    t[0], cpu[0] = 102.0, 11.0
    assert meter.percent() == 50.0
    t[0], cpu[0] = 103.0, 13.0
    assert meter.percent() == 200.0  # two busy cores
    assert meter.percent() is None  # no time passed


def test_cpu_meter_on_this_process():
    meter = CpuMeter()
    start = read_cpu_seconds()
    assert start is not None
    deadline = time.monotonic() + 5.0
    while read_cpu_seconds() - start < 0.05 and time.monotonic() < deadline:
        sum(i * i for i in range(10_000))
    assert meter.percent() > 0


def test_sample_of_a_fake_pi(pi_root):
    sample = SysInfo(pi_root, vcgencmd=None).sample()
    assert sample["rss_mb"] == pytest.approx(123456 / 1024, abs=0.05)
    assert sample["threads"] == 7 and sample["open_fds"] == 5
    assert sample["soc_temp_c"] == pytest.approx(48.312)
    assert sample["throttled"]["raw"] == "0x50005" and sample["throttled"]["under_voltage"]
    assert sample["edgetpu_temp_c"] == {"apex_0": 51.25, "apex_1": 49.0}


def test_sample_of_this_process():
    info = SysInfo()
    sample = info.sample()
    assert 1 < sample["rss_mb"] < 4096
    assert sample["threads"] >= 1 and sample["open_fds"] >= 3
    if not sysinfo.is_raspberry_pi():
        assert sample["throttled"] is None  # throttling is only looked up on a Raspberry Pi
