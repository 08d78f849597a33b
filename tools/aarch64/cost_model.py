"""From instruction counts by class (tools/aarch64/plugin/insn_classes.c) to estimated milliseconds on a Pi's core.

A bottleneck model: an invoke takes as many cycles as its busiest resource needs (the decode width, the two
128-bit FP/ASIMD pipes, the load pipe(s), the store pipe, the integer ALUs, the branch unit), divided by a
sustained efficiency η for everything the counts cannot see (cache misses, dependency chains, the pipes'
latencies). The pipe counts and throughputs are the cores' Software Optimization Guides' (Arm, Cortex-A72:
UAN 0016A; Cortex-A76: PJDOC-466751330-7215); η, the clocks and the 4-thread speed-up are stated assumptions,
fixed before comparing with any published Pi figure. docs/pi.md gives the numbers, their sources and their
uncertainty (about ±40 %: counts rank forms well, the absolute time less so).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Core:
    name: str
    board: str
    ghz: float  # the board's default clock
    width: int  # instructions decoded per cycle
    fp_pipes: float  # 128-bit ASIMD/FP pipes (FMLA, SDOT, fp16 FMLA: one per pipe per cycle)
    load_pipes: float
    store_pipes: float
    int_pipes: float  # ALUs for scalar integer work
    branch_pipes: float
    efficiency: float  # η: sustained fraction of the bottleneck's peak (assumption, docs/pi.md)
    speedup_4_threads: float  # assumption for these small models (docs/pi.md)
    fp16: bool  # FP16 arithmetic (HWCAP fphp)


CORES: dict[str, Core] = {
    # Cortex-A72: 3-wide; F0/F1 ASIMD pipes; one load (L) and one store (S) pipe; I0/I1 integer; one branch.
    "pi4": Core("Cortex-A72", "Raspberry Pi 4", 1.5, 3, 2, 1, 1, 2, 1, 0.5, 2.5, False),
    # Cortex-A76: 4-wide; V0/V1 ASIMD pipes; two load/store AGUs (two loads, one store a cycle); 3 integer; 1 B.
    "pi5": Core("Cortex-A76", "Raspberry Pi 5", 2.4, 4, 2, 2, 1, 3, 1, 0.5, 2.5, True),
}

VECTOR = ("simd", "simd_mac", "fp16", "dot")


def resource_cycles(board: str, counts: dict[str, float]) -> dict[str, float]:
    """Cycles each resource of one core of `board` needs for instruction counts by class (plus "total")."""
    c = CORES[board]
    return {
        "decode": counts["total"] / c.width,
        "ASIMD/FP": sum(counts.get(k, 0.0) for k in VECTOR) / c.fp_pipes,
        "load": counts.get("load", 0.0) / c.load_pipes,
        "store": counts.get("store", 0.0) / c.store_pipes,
        "integer": counts.get("scalar", 0.0) / c.int_pipes,
        "branch": counts.get("branch", 0.0) / c.branch_pipes,
    }


def bottleneck(board: str, counts: dict[str, float]) -> str:
    r = resource_cycles(board, counts)
    return max(r, key=r.__getitem__)


def cycles(board: str, counts: dict[str, float]) -> float:
    """Estimated cycles on one core: the busiest resource's, over the sustained efficiency."""
    return max(resource_cycles(board, counts).values()) / CORES[board].efficiency


def estimate_ms(board: str, counts: dict[str, float], threads: int = 1) -> float:
    """Milliseconds for `counts` on `board` with 1 or 4 threads."""
    c = CORES[board]
    ms = cycles(board, counts) / (c.ghz * 1e6)
    return ms / c.speedup_4_threads if threads >= 4 else ms
