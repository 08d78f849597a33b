"""How a rebuilt int8 file differs from the shipped one (`edgepose models build` on another machine).

The build is deterministic on one kind of CPU: the shipped files come back byte for byte. On another, the float
inference that calibrates the activation ranges (LiteRT's optimized kernels, chosen by CPU features) rounds
differently, so activation scales move in their last digits (seen: 1.6e-4 relative on an AVX-512 machine
against files built with AVX2 kernels) and the int32 biases, which are stored in units of input scale × weight
scale, follow. Everything else must be equal: operators, tensors, shapes, types, the int8 weights and every
other constant. `compare_rebuild` separates the two, so a test can accept the rounding and still fail on a
changed recipe, calibration set or graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgepose.inference.tflite_schema import load_model_t, op_names, tensor_name, tensor_type_names

_INT32 = next(k for k, v in tensor_type_names().items() if v == "INT32")


@dataclass(frozen=True)
class RebuildDifference:
    """`structure`: differences that are not calibration rounding (empty for a faithful rebuild)."""

    identical: bool
    structure: list[str] = field(default_factory=list)
    max_scale_rel: float = 0.0  # largest relative difference of a quantization scale
    max_zero_point: int = 0  # largest |Δ| of a zero point
    max_bias_rel: float = 0.0  # largest |Δ| in an int32 constant, relative to that constant's largest |value|
    scales_differing: int = 0  # tensors whose scales or zero points differ
    biases_differing: int = 0  # int32 constants that differ

    def within(self, scale_rel: float, zero_point: int, bias_rel: float) -> bool:
        return not self.structure and self.max_scale_rel <= scale_rel and self.max_zero_point <= zero_point \
            and self.max_bias_rel <= bias_rel  # fmt: skip


def _quant(t) -> tuple[np.ndarray, np.ndarray, int]:
    q = t.quantization
    if q is None or q.scale is None:
        return np.zeros(0), np.zeros(0, np.int64), 0
    zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else [], np.int64)
    return np.asarray(q.scale, np.float64), zp, int(q.quantizedDimension or 0)


def compare_rebuild(ours: bytes, theirs: bytes) -> RebuildDifference:
    """`ours` (rebuilt) against `theirs` (shipped): see the module docstring."""
    if ours == theirs:
        return RebuildDifference(identical=True)
    a, b = load_model_t(ours), load_model_t(theirs)
    structure: list[str] = []
    if op_names(a) != op_names(b):
        structure.append(f"operators differ: {len(op_names(a))} against {len(op_names(b))}")
    if len(a.subgraphs) != len(b.subgraphs) or len(a.buffers) != len(b.buffers):
        structure.append(f"{len(a.subgraphs)}/{len(a.buffers)} subgraphs/buffers against "
                         f"{len(b.subgraphs)}/{len(b.buffers)}")  # fmt: skip
        return RebuildDifference(identical=False, structure=structure)
    scale_rel, zero_point, scales_differing = 0.0, 0, 0
    int32_buffers: set[int] = set()
    for ga, gb in zip(a.subgraphs, b.subgraphs, strict=True):
        if len(ga.tensors) != len(gb.tensors) or len(ga.operators) != len(gb.operators):
            structure.append(f"subgraph sizes differ: {len(ga.tensors)}/{len(ga.operators)} tensors/operators "
                             f"against {len(gb.tensors)}/{len(gb.operators)}")  # fmt: skip
            continue
        for oa, ob in zip(ga.operators, gb.operators, strict=True):
            if (oa.opcodeIndex, list(oa.inputs), list(oa.outputs)) != (ob.opcodeIndex, list(ob.inputs),
                                                                       list(ob.outputs)):  # fmt: skip
                structure.append(f"an operator's code or tensors differ (outputs {list(ob.outputs)})")
        for ta, tb in zip(ga.tensors, gb.tensors, strict=True):
            name = tensor_name(tb)
            if (tensor_name(ta), ta.type, list(ta.shape), ta.buffer) != (name, tb.type, list(tb.shape), tb.buffer):
                structure.append(f"tensor {name}: name, type, shape or buffer differs")
                continue
            if ta.type == _INT32:
                int32_buffers.add(tb.buffer)
            (sa, za, da), (sb, zb, db) = _quant(ta), _quant(tb)
            if sa.shape != sb.shape or za.shape != zb.shape or da != db:
                structure.append(f"tensor {name}: quantization layout differs")
                continue
            if sa.size and not (np.array_equal(sa, sb) and np.array_equal(za, zb)):
                scales_differing += 1
                scale_rel = max(scale_rel, float(np.max(np.abs(sa - sb) / np.maximum(np.abs(sb), 1e-30))))
                zero_point = max(zero_point, int(np.max(np.abs(za - zb))) if za.size else 0)
    bias_rel, biases_differing = 0.0, 0
    for i, (ba, bb) in enumerate(zip(a.buffers, b.buffers, strict=True)):
        xa = np.asarray(ba.data if ba.data is not None else [], np.uint8)
        xb = np.asarray(bb.data if bb.data is not None else [], np.uint8)
        if xa.shape == xb.shape and np.array_equal(xa, xb):
            continue
        if i not in int32_buffers or xa.size != xb.size or xa.size % 4:
            structure.append(f"buffer {i} differs and is not an int32 constant of the same size")
            continue
        va, vb = xa.view(np.int32).astype(np.int64), xb.view(np.int32).astype(np.int64)
        biases_differing += 1
        bias_rel = max(bias_rel, float(np.abs(va - vb).max() / max(int(np.abs(vb).max()), 1)))
    return RebuildDifference(identical=False, structure=structure, max_scale_rel=scale_rel,
                             max_zero_point=zero_point, max_bias_rel=bias_rel, scales_differing=scales_differing,
                             biases_differing=biases_differing)  # fmt: skip
