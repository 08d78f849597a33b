"""TFLite flatbuffer access through the schema module that ships with ai-edge-litert (no extra dependency).

The runtime uses it to prune the landmark model's unused outputs (inference/pruning.py); the model build of the
development distribution uses it to rewrite and check models."""

from __future__ import annotations

from functools import cache

import numpy as np

TFLITE_IDENTIFIER = b"TFL3"


@cache
def schema():
    """The generated flatbuffer schema module (object API: ModelT, SubGraphT, ...)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@cache
def _builtin_names() -> dict[int, str]:
    return {v: k for k, v in vars(schema().BuiltinOperator).items() if not k.startswith("_")}


@cache
def tensor_type_names() -> dict[int, str]:
    return {v: k for k, v in vars(schema().TensorType).items() if not k.startswith("_")}


def load_model_t(data: bytes):
    """Unpack a model; buffers stored after the flatbuffer (offset/size, as ai-edge-quantizer writes them)
    are pulled inline so that `pack_model_t` keeps them."""

    model = schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    for b in model.buffers:
        if getattr(b, "offset", 0) > 1:
            end = b.offset + b.size
            if end > len(data):
                raise ValueError(f"buffer at offset {b.offset} (+{b.size}) is beyond the end of the file")
            b.data = np.frombuffer(data[b.offset : end], dtype=np.uint8)
            b.offset, b.size = 0, 0
    return model


def pack_model_t(model) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=TFLITE_IDENTIFIER)
    return bytes(b.Output())


def tensor_name(t) -> str:
    """A tensor's name as str (the object API gives bytes)."""
    return t.name.decode() if isinstance(t.name, bytes) else str(t.name)


def op_names(model) -> list[str]:
    """Builtin op name of every operator of subgraph 0, in order (custom ops as CUSTOM:<name>)."""
    names = _builtin_names()
    codes = []
    for c in model.operatorCodes:
        code = max(int(c.builtinCode), int(c.deprecatedBuiltinCode))
        n = names.get(code, f"OP_{code}")
        if n == "CUSTOM" and c.customCode:
            n = f"CUSTOM:{c.customCode.decode() if isinstance(c.customCode, bytes) else c.customCode}"
        codes.append(n)
    return [codes[op.opcodeIndex] for op in model.subgraphs[0].operators]


def compact_model(model) -> None:
    """Drop tensors no op or graph input/output uses, and buffers no tensor or metadata uses; renumber
    (signature defs included)."""
    g = model.subgraphs[0]
    used = {int(x) for op in g.operators for x in list(op.inputs) + list(op.outputs) if x >= 0}
    used |= {int(x) for x in g.inputs} | {int(x) for x in g.outputs}
    old_to_new = {old: new for new, old in enumerate(sorted(used))}
    g.tensors = [g.tensors[i] for i in sorted(used)]

    def remap(seq):
        return np.array([old_to_new[int(x)] if x >= 0 else -1 for x in seq], dtype=np.int32)

    for op in g.operators:
        op.inputs = remap(op.inputs)
        op.outputs = remap(op.outputs)
        if op.intermediates is not None and len(op.intermediates):
            op.intermediates = remap(op.intermediates)
    g.inputs = remap(g.inputs)
    g.outputs = remap(g.outputs)
    for sig in model.signatureDefs or []:
        for m in list(sig.inputs or []) + list(sig.outputs or []):
            m.tensorIndex = old_to_new[int(m.tensorIndex)]
    used_buffers = {0} | {t.buffer for t in g.tensors} | {m.buffer for m in (model.metadata or [])}
    buf_map = {old: new for new, old in enumerate(sorted(used_buffers))}
    model.buffers = [model.buffers[i] for i in sorted(used_buffers)]
    for t in g.tensors:
        t.buffer = buf_map[t.buffer]
    for m in model.metadata or []:
        m.buffer = buf_map[m.buffer]
    # Operator codes: keep only those still used.
    used_codes = sorted({op.opcodeIndex for op in g.operators})
    code_map = {old: new for new, old in enumerate(used_codes)}
    model.operatorCodes = [model.operatorCodes[i] for i in used_codes]
    for op in g.operators:
        op.opcodeIndex = code_map[op.opcodeIndex]
