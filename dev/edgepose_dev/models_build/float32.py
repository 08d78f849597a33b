"""Rewrite a MediaPipe float model into plain float32: fold the fp16 DEQUANTIZE and sparse DENSIFY constants.

MediaPipe ships its pose models with fp16 weights behind DEQUANTIZE ops (the detector's weights are also sparse,
behind DENSIFY ops). Quantizers and the Edge TPU compiler want plain float32 constants, and ai-edge-quantizer
wants a signature def. The folded values are taken from LiteRT itself (the interpreter computes DEQUANTIZE and
DENSIFY of constants once, and `experimental_preserve_all_tensors` lets us read them), so the rewritten model
computes with exactly the numbers the original one computes with. `verify_rewrite` checks that on real inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepose.inference.tflite_schema import compact_model, load_model_t, op_names, pack_model_t, schema, tensor_name
from edgepose_dev.models_build.errors import ModelBuildError

# Ops whose output is a pure function of constant inputs and that the rewrite folds into constants.
FOLDABLE_OPS = frozenset({"DEQUANTIZE", "DENSIFY"})
# Metadata that only makes sense for the fp16 original (lets delegates compute in fp16).
DROP_METADATA = frozenset({b"reduced_precision_support"})
SIGNATURE_KEY = "serving_default"


@dataclass(frozen=True)
class RewriteReport:
    """What the rewrite changed."""

    folded_ops: dict[str, int]
    remaining_ops: dict[str, int]
    size_in: int
    size_out: int


def _interpreter(model: bytes | str | Path, preserve: bool = False, xnnpack: bool = True):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {"experimental_preserve_all_tensors": preserve, "num_threads": 1}
    if not xnnpack:
        # Reference kernels: every tensor is computed by the interpreter itself, so all are readable.
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if isinstance(model, bytes):
        return Interpreter(model_content=model, **kwargs)
    return Interpreter(model_path=str(model), **kwargs)


def _tensor_name(t) -> str:
    return tensor_name(t).split(":")[0]


def rewrite_float32(src: bytes) -> tuple[bytes, RewriteReport]:
    """Return (float32 model bytes, report) for the flatbuffer `src`."""
    s = schema()
    model = load_model_t(src)
    if len(model.subgraphs) != 1:
        raise ModelBuildError(f"expected 1 subgraph, found {len(model.subgraphs)}")
    g = model.subgraphs[0]
    names = op_names(model)

    def is_const(ti: int) -> bool:
        t = g.tensors[ti]
        return t.buffer > 0 and model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data) > 0

    # Fold in graph order: DENSIFY feeds DEQUANTIZE, whose output becomes constant once DENSIFY is folded.
    folded_outputs: set[int] = set()
    fold: list[int] = []
    for i, op in enumerate(g.operators):
        if names[i] in FOLDABLE_OPS and all(is_const(x) or x in folded_outputs for x in op.inputs if x >= 0):
            fold.append(i)
            folded_outputs.update(int(x) for x in op.outputs)
    # Only the outputs that a remaining op (or the graph) reads need values.
    fold_set = set(fold)
    keep_ops = [i for i in range(len(g.operators)) if i not in fold_set]
    needed = {int(x) for i in keep_ops for x in g.operators[i].inputs if x >= 0} | {int(x) for x in g.outputs}
    to_materialise = sorted(folded_outputs & needed)

    interp = _interpreter(src, preserve=True, xnnpack=False)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=inp["dtype"]))
    interp.invoke()
    for ti in to_materialise:
        value = np.ascontiguousarray(interp.get_tensor(ti))
        if value.dtype != np.float32:
            raise ModelBuildError(f"folded tensor {_tensor_name(g.tensors[ti])} is {value.dtype}, not float32")
        t = g.tensors[ti]
        buf = s.BufferT()
        buf.data = np.frombuffer(value.tobytes(), dtype=np.uint8)
        model.buffers.append(buf)
        t.buffer = len(model.buffers) - 1
        t.type = s.TensorType.FLOAT32
        t.shape = np.array(value.shape, dtype=np.int32)
        t.sparsity = None
        t.quantization = None
    folded_counts: dict[str, int] = {}
    for i in fold:
        folded_counts[names[i]] = folded_counts.get(names[i], 0) + 1
    g.operators = [g.operators[i] for i in keep_ops]
    compact_model(model)
    model.metadata = [m for m in (model.metadata or []) if m.name not in DROP_METADATA] or None
    _set_signature(model)
    out = pack_model_t(model)
    remaining: dict[str, int] = {}
    for n in op_names(load_model_t(out)):
        remaining[n] = remaining.get(n, 0) + 1
    return out, RewriteReport(folded_counts, remaining, len(src), len(out))


def _set_signature(model) -> None:
    s = schema()
    g = model.subgraphs[0]

    def tmap(ti: int):
        m = s.TensorMapT()
        m.name = _tensor_name(g.tensors[ti])
        m.tensorIndex = int(ti)
        return m

    sig = s.SignatureDefT()
    sig.signatureKey = SIGNATURE_KEY
    sig.subgraphIndex = 0
    sig.inputs = [tmap(i) for i in g.inputs]
    sig.outputs = [tmap(i) for i in g.outputs]
    model.signatureDefs = [sig]


@dataclass(frozen=True)
class RewriteCheck:
    """Largest absolute output difference, rewritten vs original, over the inputs tried."""

    max_abs_diff: float
    bit_exact: bool
    n_inputs: int


def verify_rewrite(
    original: bytes, rewritten: bytes, inputs: Sequence[np.ndarray], tol: float = 1e-6, xnnpack: bool = True
) -> RewriteCheck:
    """Run both models on `inputs` and compare every output; raise ModelBuildError beyond `tol`."""
    a, b = _interpreter(original, xnnpack=xnnpack), _interpreter(rewritten, xnnpack=xnnpack)
    a.allocate_tensors()
    b.allocate_tensors()
    worst, exact = 0.0, True
    for x in inputs:
        outs = []
        for it in (a, b):
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], x.astype(np.float32, copy=False).reshape(d["shape"]))
            it.invoke()
            outs.append({tuple(o["shape"]): it.get_tensor(o["index"]) for o in it.get_output_details()})
        if outs[0].keys() != outs[1].keys():
            raise ModelBuildError(f"output shapes differ: {sorted(outs[0])} vs {sorted(outs[1])}")
        for k, va in outs[0].items():
            vb = outs[1][k]
            exact &= bool(np.array_equal(va, vb))
            worst = max(worst, float(np.max(np.abs(va.astype(np.float64) - vb))))
    if worst > tol:
        raise ModelBuildError(f"float32 rewrite differs from the original by {worst:.3g} (> {tol})")
    return RewriteCheck(worst, exact, len(inputs))
