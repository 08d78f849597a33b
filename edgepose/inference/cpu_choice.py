"""`precision = "auto"`: the model form each stage runs in, chosen from the CPU's features.

On a Raspberry Pi the choice is, per landmark model, the detector and landmark forms that docs/pi.md's estimate
(instruction counts under qemu as the Pi's core, turned into time by tools/aarch64/cost_model.py) finds fastest
among those meeting the accuracy criterion on that core: within 1.0 PCK@0.2 point of float on the 17 annotated
photos under qemu (tests/dev/models_build/test_int8_accuracy.py's measure) and on the PARSE photos (issue 10's
confirming part). An estimated difference under 5 % is a tie that goes to float. The features come from
/proc/cpuinfo's "Features" line, which is the kernel's HWCAP list: `asimddp` (the dot-product instructions
int8 kernels need to be fast) and `fphp` (FP16 arithmetic).
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from pathlib import Path

# CPU part numbers (MIDR) of Arm's cores in the boards edgepose is measured for.
KNOWN_PARTS = {"0xd08": "Cortex-A72", "0xd0b": "Cortex-A76"}

# (detector, landmark) per landmark model, by CPU class: the fastest pair by docs/pi.md's estimate among those
# meeting the accuracy criterion under qemu (the figures behind each entry are in docs/pi.md §5-§6).
# "neon": ASIMD without dot product (Pi 4's A72): the float detector's sparse kernels beat int8, and float
# landmark models cost about what int8 costs. "dotprod" (Pi 5's A76): SDOT makes int8 landmark models the
# fastest, but the int8 detector fails the criterion on the annotated photos; full's int8 file fails it on PARSE.
AUTO_FORMS: dict[str, dict[str, tuple[str, str]]] = {
    "neon": {"lite": ("float", "float"), "full": ("float", "float"), "heavy": ("float", "int8")},
    "dotprod": {"lite": ("float", "int8"), "full": ("float", "fp16"), "heavy": ("float", "int8")},
}


@dataclass(frozen=True, slots=True)
class CpuInfo:
    machine: str  # platform.machine(): aarch64, x86_64, ...
    part: str | None  # "CPU part" of the first core, e.g. 0xd08
    features: frozenset[str]

    @property
    def core(self) -> str | None:
        return KNOWN_PARTS.get(self.part or "")


@dataclass(frozen=True, slots=True)
class PrecisionChoice:
    detector: str  # "float" or "int8"
    landmark: str
    why: str  # one line, logged at start and published in stats


def parse_cpuinfo(text: str, machine: str) -> CpuInfo:
    """The first core's part and features from the text of /proc/cpuinfo."""
    part = re.search(r"^CPU part\s*:\s*(\S+)", text, re.M)
    feats = re.search(r"^(?:Features|flags)\s*:\s*(.*)$", text, re.M)
    return CpuInfo(machine, part.group(1).lower() if part else None,
                   frozenset(feats.group(1).split()) if feats else frozenset())  # fmt: skip


def host_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    return parse_cpuinfo(text, platform.machine())


def choose_precision(requested: str, model: str, cpu: CpuInfo, *, edgetpu: bool = False) -> PrecisionChoice:
    """The form of the detector and of the landmark model `model` for `requested` ("auto", "float", "fp16",
    "int8")."""
    if requested != "auto":
        # The detector has no fp16 form (edgepose.inference.fp16): with fp16 it runs its float file.
        detector = "float" if requested == "fp16" else requested
        return PrecisionChoice(detector, requested, f"precision {requested} (explicit)")
    if edgetpu:
        return PrecisionChoice("int8", "int8", "auto: int8 (the Edge TPU runs only int8 models)")
    if cpu.machine in ("x86_64", "AMD64", "i686"):
        # Not a Pi: keep the shipped default (int8 detector + int8_mixed landmarks, docs/int8.md); on x86 the
        # two forms are within a few per cent of each other (docs/benchmarks.md), and the tests assume it.
        return PrecisionChoice("int8", "int8", f"auto: int8 on {cpu.machine} (not a Pi's CPU; docs/pi.md)")
    if cpu.core is None:
        known = ", ".join(KNOWN_PARTS.values())
        why = f"auto: float: cpuinfo names no known CPU (part {cpu.part}, {cpu.machine}); known: {known}"
        return PrecisionChoice("float", "float", why)
    kind = "dotprod" if "asimddp" in cpu.features else "neon"
    detector, landmark = AUTO_FORMS[kind][model]
    has = "asimddp" if kind == "dotprod" else "no asimddp"
    return PrecisionChoice(detector, landmark,
                           f"auto: detector {detector}, landmark {landmark} ({cpu.core}, {has}; fastest by "
                           "docs/pi.md's estimate among the forms within 1 PCK point of float)")  # fmt: skip
