"""precision = "auto" on each Pi's cpuinfo (the texts tools/aarch64 puts in the qemu root), on x86, on an unknown
CPU, and explicit precisions winning; and, on an arm64 CPU (the aarch64 CI stage, under qemu), on the CPU itself."""

from __future__ import annotations

import ctypes
import platform

import pytest
from support.paths import REPO

from edgepose.inference.cpu_choice import choose_precision, host_cpu, parse_cpuinfo

CPUINFO = REPO / "tools" / "aarch64" / "cpuinfo"
PI4 = parse_cpuinfo((CPUINFO / "pi4.txt").read_text(), "aarch64")
PI5 = parse_cpuinfo((CPUINFO / "pi5.txt").read_text(), "aarch64")
# (detector, landmark) per model: docs/pi.md §5's table (the fastest forms meeting the criterion under qemu).
EXPECTED = {
    "Cortex-A72": {"lite": ("float", "float"), "full": ("float", "float"), "heavy": ("float", "int8")},
    "Cortex-A76": {"lite": ("float", "int8"), "full": ("float", "fp16"), "heavy": ("float", "int8")},
}
# AT_HWCAP bits of arm64 (the kernel's uapi asm/hwcap.h): what the CPU itself reports, apart from cpuinfo's text.
AT_HWCAP, HWCAP_FPHP, HWCAP_ASIMDDP = 16, 1 << 9, 1 << 20


def test_cpuinfo_texts_parse_to_the_pis_cores() -> None:
    assert (PI4.core, PI5.core) == ("Cortex-A72", "Cortex-A76")
    assert "asimddp" not in PI4.features and "fphp" not in PI4.features
    assert {"asimddp", "fphp", "asimdhp"} <= PI5.features


@pytest.mark.parametrize("cpu", [PI4, PI5], ids=["pi4", "pi5"])
def test_auto_on_each_pi(cpu) -> None:
    for model, pair in EXPECTED[cpu.core].items():
        c = choose_precision("auto", model, cpu)
        assert (c.detector, c.landmark) == pair, c
        assert cpu.core in c.why and ("no asimddp" in c.why) == (cpu is PI4)


def test_explicit_precision_wins_and_the_edge_tpu_takes_int8() -> None:
    assert choose_precision("float", "lite", PI5).landmark == "float"
    assert choose_precision("int8", "lite", PI4).detector == "int8"
    assert choose_precision("int8", "full", PI5).landmark == "int8"
    fp16 = choose_precision("fp16", "heavy", PI4)
    assert (fp16.detector, fp16.landmark) == ("float", "fp16")  # the detector has no fp16 form
    assert choose_precision("auto", "lite", PI4, edgetpu=True).detector == "int8"


def test_unknown_cpu_falls_back_to_float_and_says_so() -> None:
    pi3 = (CPUINFO / "pi4.txt").read_text().replace("0xd08", "0xd03")  # a Cortex-A53
    c = choose_precision("auto", "lite", parse_cpuinfo(pi3, "aarch64"))
    assert (c.detector, c.landmark) == ("float", "float")
    assert "no known CPU" in c.why and "0xd03" in c.why
    c = choose_precision("auto", "lite", parse_cpuinfo("", "riscv64"))
    assert c.landmark == "float" and "no known CPU" in c.why


def test_x86_keeps_int8() -> None:
    c = choose_precision("auto", "full", parse_cpuinfo("flags\t\t: fpu sse2 avx2\n", "x86_64"))
    assert (c.detector, c.landmark) == ("int8", "int8") and "x86_64" in c.why


ARM64_ONLY = "arm64 only (tools/aarch64/ci_stage.sh runs it under qemu as a Pi 4 and a Pi 5)"


@pytest.mark.skipif(platform.machine() != "aarch64", reason=ARM64_ONLY)
def test_auto_on_this_arm64_cpu() -> None:
    cpu = host_cpu()
    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    libc.getauxval.argtypes = [ctypes.c_ulong]
    hwcap = libc.getauxval(AT_HWCAP)
    # auto reads cpuinfo's Features, LiteRT picks its kernels from the CPU: the two must agree (under qemu the
    # text is tools/aarch64/cpuinfo/<board>.txt, the HWCAPs the emulated core's).
    assert ("asimddp" in cpu.features) == bool(hwcap & HWCAP_ASIMDDP), (sorted(cpu.features), hex(hwcap))
    assert ("fphp" in cpu.features) == bool(hwcap & HWCAP_FPHP), (sorted(cpu.features), hex(hwcap))
    expected = EXPECTED.get(cpu.core or "")
    for model in ("lite", "full", "heavy"):
        c = choose_precision("auto", model, cpu)
        assert (c.detector, c.landmark) == (expected[model] if expected else ("float", "float")), (model, c)
