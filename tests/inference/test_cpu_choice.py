"""precision = "auto" on each Pi's cpuinfo (the texts tools/aarch64 puts in the qemu root), on x86, on an unknown
CPU, and explicit precisions winning."""

from __future__ import annotations

from support.paths import REPO

from edgepose.inference.cpu_choice import choose_precision, parse_cpuinfo

CPUINFO = REPO / "tools" / "aarch64" / "cpuinfo"
PI4 = parse_cpuinfo((CPUINFO / "pi4.txt").read_text(), "aarch64")
PI5 = parse_cpuinfo((CPUINFO / "pi5.txt").read_text(), "aarch64")


def test_cpuinfo_texts_parse_to_the_pis_cores() -> None:
    assert (PI4.core, PI5.core) == ("Cortex-A72", "Cortex-A76")
    assert "asimddp" not in PI4.features and "fphp" not in PI4.features
    assert {"asimddp", "fphp", "asimdhp"} <= PI5.features


def test_pi4_runs_the_sparse_float_detector_and_float_lite_and_full() -> None:
    for model, landmark in (("lite", "float"), ("full", "float"), ("heavy", "int8")):
        c = choose_precision("auto", model, PI4)
        assert (c.detector, c.landmark) == ("float", landmark), c
        assert "Cortex-A72" in c.why and "no asimddp" in c.why


def test_pi5_runs_int8_everywhere() -> None:
    for model in ("lite", "full", "heavy"):
        c = choose_precision("auto", model, PI5)
        assert (c.detector, c.landmark) == ("int8", "int8"), c
        assert "Cortex-A76" in c.why


def test_explicit_precision_wins_and_the_edge_tpu_takes_int8() -> None:
    assert choose_precision("float", "lite", PI5).landmark == "float"
    assert choose_precision("int8", "lite", PI4).detector == "int8"
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
