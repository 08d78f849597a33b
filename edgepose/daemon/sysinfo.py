"""Process and board statistics for the MQTT ``stats`` topic: CPU %, RSS, SoC and Edge TPU temperatures,
Raspberry Pi throttling flags.

Every reader takes ``root`` (default ``/``) so tests can point it at a fake /proc and /sys tree; a value
that is not available on this machine is None, never an error.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

THROTTLED_SYSFS = "sys/devices/platform/soc/soc:firmware/get_throttled"
SOC_THERMAL = "sys/class/thermal/thermal_zone0/temp"
APEX_CLASS = "sys/class/apex"
DT_MODELS = ("proc/device-tree/model", "sys/firmware/devicetree/base/model")


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _millidegrees(path: Path) -> float | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return int(text.strip()) / 1000.0
    except ValueError:
        return None


def read_rss_bytes(root: str | Path = "/", pid: int | str = "self") -> int | None:
    """Resident set size from ``/proc/<pid>/status`` (VmRSS, kB)."""
    text = _read_text(Path(root, "proc", str(pid), "status"))
    m = re.search(r"^VmRSS:\s*(\d+)\s*kB", text or "", re.MULTILINE)
    return int(m.group(1)) * 1024 if m else None


def read_num_threads(root: str | Path = "/", pid: int | str = "self") -> int | None:
    """Thread count from ``/proc/<pid>/status``."""
    text = _read_text(Path(root, "proc", str(pid), "status"))
    m = re.search(r"^Threads:\s*(\d+)", text or "", re.MULTILINE)
    return int(m.group(1)) if m else None


def count_open_fds(root: str | Path = "/", pid: int | str = "self") -> int | None:
    """Number of open file descriptors (entries of ``/proc/<pid>/fd``)."""
    try:
        return len(os.listdir(Path(root, "proc", str(pid), "fd")))
    except OSError:
        return None


def read_cpu_seconds(root: str | Path = "/", pid: int | str = "self") -> float | None:
    """User + system CPU seconds of the process (all threads) from ``/proc/<pid>/stat``."""
    text = _read_text(Path(root, "proc", str(pid), "stat"))
    if not text or ")" not in text:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    try:
        ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    except (IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Process CPU % between successive `percent` calls (100 % = one core fully busy).

    Uses ``/proc/self/stat`` under `root` when present, else `os.times` (user + system).
    """

    def __init__(
        self,
        root: str | Path = "/",
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu_seconds: Callable[[], float | None] | None = None,
    ) -> None:
        self._clock = clock
        self._cpu = cpu_seconds or (lambda: self._default_cpu(root))
        self._last = (self._clock(), self._cpu())

    @staticmethod
    def _default_cpu(root: str | Path) -> float | None:
        value = read_cpu_seconds(root)
        if value is not None:
            return value
        t = os.times()
        return t.user + t.system

    def percent(self) -> float | None:
        """CPU % since the previous call (or since construction); None if unknown or no time passed."""
        now, cpu = self._clock(), self._cpu()
        (then, cpu_then), self._last = self._last, (now, cpu)
        if cpu is None or cpu_then is None or now <= then:
            return None
        return round(max(0.0, (cpu - cpu_then) / (now - then) * 100.0), 1)


def read_soc_temperature(root: str | Path = "/") -> float | None:
    """SoC temperature in °C from ``thermal_zone0`` (the CPU zone on a Raspberry Pi)."""
    return _millidegrees(Path(root, SOC_THERMAL))


def read_edgetpu_temperatures(root: str | Path = "/") -> dict[str, float]:
    """Temperatures in °C of the PCIe/M.2 Edge TPUs (gasket driver ``/sys/class/apex/apex_N/temp``)."""
    out: dict[str, float] = {}
    base = Path(root, APEX_CLASS)
    try:
        devices = sorted(base.iterdir(), key=lambda p: p.name)
    except OSError:
        return out
    for device in devices:
        value = _millidegrees(device / "temp")
        if value is not None:
            out[device.name] = value
    return out


def is_raspberry_pi(root: str | Path = "/") -> bool:
    """True when the device-tree model says Raspberry Pi."""
    for rel in DT_MODELS:
        text = _read_text(Path(root, rel))
        if text is not None and text.startswith("Raspberry Pi"):
            return True
    return False


def read_board_model(root: str | Path = "/") -> str | None:
    for rel in DT_MODELS:
        text = _read_text(Path(root, rel))
        if text:
            return text.rstrip("\0\n ")
    return None


@dataclass(frozen=True, slots=True)
class ThrottleFlags:
    """Raspberry Pi firmware throttling bits (``vcgencmd get_throttled``): now (bits 0-3) and since boot
    (bits 16-19)."""

    raw: int
    under_voltage: bool
    freq_capped: bool
    throttled: bool
    soft_temp_limit: bool
    under_voltage_occurred: bool
    freq_capped_occurred: bool
    throttled_occurred: bool
    soft_temp_limit_occurred: bool

    @classmethod
    def from_int(cls, value: int) -> ThrottleFlags:
        if value < 0:
            raise ValueError(f"throttled value must be >= 0, got {value}")

        def bit(n: int) -> bool:
            return bool(value >> n & 1)

        return cls(value, bit(0), bit(1), bit(2), bit(3), bit(16), bit(17), bit(18), bit(19))

    @property
    def any_now(self) -> bool:
        return bool(self.raw & 0xF)

    @property
    def any_since_boot(self) -> bool:
        return bool(self.raw & 0xF0000)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["raw"] = f"0x{self.raw:x}"
        return d


def parse_throttled(text: str) -> ThrottleFlags | None:
    """Parse ``throttled=0x50005`` (vcgencmd), ``0x50005`` or ``50005`` (sysfs: hex without 0x)."""
    m = re.fullmatch(r"\s*(?:throttled=)?(?:0[xX])?([0-9a-fA-F]+)\s*", text or "")
    return ThrottleFlags.from_int(int(m.group(1), 16)) if m else None


def read_throttled(
    root: str | Path = "/", *, vcgencmd: str | None = "vcgencmd", timeout: float = 2.0
) -> ThrottleFlags | None:
    """Throttling flags from the firmware sysfs node, else ``vcgencmd get_throttled``; None if neither."""
    text = _read_text(Path(root, THROTTLED_SYSFS))
    if text is not None:
        flags = parse_throttled(text)
        if flags is not None:
            return flags
    exe = shutil.which(vcgencmd) if vcgencmd else None
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.SubprocessError) as e:
        log.debug("vcgencmd get_throttled failed: %s", e)
        return None
    if done.returncode != 0:
        log.debug("vcgencmd get_throttled exited %s: %s", done.returncode, done.stderr.strip())
        return None
    return parse_throttled(done.stdout)


class SysInfo:
    """Collects the system part of the ``stats`` payload; one instance per daemon (it keeps the CPU
    baseline)."""

    def __init__(self, root: str | Path = "/", *, vcgencmd: str | None = "vcgencmd") -> None:
        self.root = Path(root)
        self._vcgencmd = vcgencmd
        self._cpu = CpuMeter(root)
        self.raspberry_pi = is_raspberry_pi(root)

    def sample(self) -> dict[str, Any]:
        """A JSON-ready dict; absent values are None (throttling is only looked up on a Raspberry Pi)."""
        rss = read_rss_bytes(self.root)
        throttled = read_throttled(self.root, vcgencmd=self._vcgencmd) if self.raspberry_pi else None
        return {
            "cpu_percent": self._cpu.percent(),
            "rss_mb": None if rss is None else round(rss / 2**20, 1),
            "threads": read_num_threads(self.root),
            "open_fds": count_open_fds(self.root),
            "soc_temp_c": read_soc_temperature(self.root),
            "throttled": None if throttled is None else throttled.to_dict(),
            "edgetpu_temp_c": read_edgetpu_temperatures(self.root) or None,
        }
