"""The Edge TPU form of a landmark model: its `int8_mixed` graph cut into float stem → int8 body → float heads.

The compiler maps a graph to the Edge TPU up to its first unsupported (e.g. float) op and runs the rest on the
CPU, so the `int8_mixed` file (float stem and heads around an int8 body) cannot go to the TPU whole. Cut at the
tensors where int8_mixed already changes type, the three graphs compute exactly what the mixed file computes:
- **stem** (CPU): the model's int8 input → DEQUANTIZE → the float ops → the QUANTIZE ops that feed the body; its
  outputs are the body's int8 inputs (with their scale and zero point). Absent when the recipe keeps no stem float.
- **body** (Edge TPU compiler input): only int8 ops, int8 in and out. Its outputs are the int8 tensors the heads
  DEQUANTIZE, plus the int8 graph outputs (the heatmap).
- **heads** (CPU): DEQUANTIZE → the float heads → the float graph outputs.
The segmentation output (unused unless a mask is asked for) is pruned first: on the TPU it would cost the
128² stem input and the 256² output over USB on every frame.

Op versions are set as the TF converter sets them (`op_versions`); ai-edge-quantizer writes the float model's.
The body's ops are put in an order where everything that does not depend on a RESIZE_BILINEAR comes first
(`resize_last_order`): compiler 16's mapping of half-pixel-centre resizes (version 3) is not documented
(docs/int8.md, "Edge TPU form"), and if it refuses them the CPU then only gets the decoder, not the regression
branch too.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from edgepose.inference.chain import PARTS, split_file_name
from edgepose.inference.pruning import PruningUnavailable, is_mask_output, prune_outputs
from edgepose.inference.tflite_schema import (
    compact_model,
    load_model_t,
    op_names,
    pack_model_t,
    schema,
    tensor_name,
    tensor_type_names,
)
from edgepose_dev.models_build.errors import ModelBuildError

_INT = ("INT8", "UINT8")


@dataclass(frozen=True)
class SplitGraphs:
    """The three graphs (stem/heads None when the recipe keeps that end int8) and the cut tensors' names."""

    stem: bytes | None
    body: bytes
    heads: bytes | None
    body_inputs: tuple[str, ...]
    body_outputs: tuple[str, ...]

    def parts(self) -> dict[str, bytes]:
        """{part: graph} of the parts that exist, in PARTS order."""
        return {p: g for p, g in (("stem", self.stem), ("body", self.body), ("heads", self.heads)) if g is not None}


def _is_constant(model, t: int) -> bool:
    b = model.buffers[model.subgraphs[0].tensors[t].buffer]
    return b.data is not None and len(b.data) > 0


def split_mixed(mixed: bytes) -> SplitGraphs:
    """Cut an int8_mixed landmark model into stem, body and heads (see the module docstring). Raises
    ModelBuildError if the model is not float → int8 → float in that order (a float op between int8 ops)."""
    try:
        mixed, _ = prune_outputs(mixed, is_mask_output)
    except PruningUnavailable:
        pass  # no segmentation output
    model = load_model_t(mixed)
    g = model.subgraphs[0]
    names = op_names(model)
    types = tensor_type_names()
    ttype = [types[t.type] for t in g.tensors]
    producer = {int(o): i for i, op in enumerate(g.operators) for o in op.outputs}

    def activations(op) -> list[int]:
        return [int(x) for x in op.inputs if x >= 0 and not _is_constant(model, int(x))]

    part: list[str] = []
    for i, op in enumerate(g.operators):
        out_int = ttype[int(op.outputs[0])] in _INT
        ins = activations(op)
        upstream = {part[producer[x]] for x in ins if x in producer}
        if out_int and names[i] == "QUANTIZE" and ttype[ins[0]] not in _INT:
            where = "stem"  # float → int8: the stem hands int8 tensors to the body
        elif out_int:
            where = "body"
        else:
            where = "heads" if upstream & {"body", "heads"} else "stem"
        if where == "stem" and upstream & {"body", "heads"}:
            raise ModelBuildError(f"op {i} {names[i]} feeds the body from after it: not float → int8 → float")
        if where == "body" and "heads" in upstream:
            raise ModelBuildError(f"op {i} {names[i]} is int8 after a float head op: not float → int8 → float")
        part.append(where)
    if "body" not in part:
        raise ModelBuildError("no int8 ops: not an int8_mixed model")
    body_ops = resize_last_order([i for i, p in enumerate(part) if p == "body"], g, names, producer)
    subsets = {
        "stem": [i for i, p in enumerate(part) if p == "stem"],
        "body": body_ops,
        "heads": [i for i, p in enumerate(part) if p == "heads"],
    }
    graphs = {p: extract(mixed, ops) if ops else None for p, ops in subsets.items()}
    body = load_model_t(graphs["body"])
    bg = body.subgraphs[0]
    return SplitGraphs(
        stem=graphs["stem"],
        body=graphs["body"],
        heads=graphs["heads"],
        body_inputs=tuple(tensor_name(bg.tensors[int(i)]) for i in bg.inputs),
        body_outputs=tuple(tensor_name(bg.tensors[int(o)]) for o in bg.outputs),
    )


def resize_last_order(ops: list[int], g, names: list[str], producer: dict[int, int]) -> list[int]:
    """`ops` (graph order) with every op that depends on a RESIZE_BILINEAR moved after the others: still a valid
    execution order (an op that depends on a moved op is moved too)."""
    after: set[int] = set()
    for i in ops:
        deps = (producer.get(int(x)) for x in g.operators[i].inputs if x >= 0)
        if names[i] == "RESIZE_BILINEAR" or any(d in after for d in deps if d is not None):
            after.add(i)
    return [i for i in ops if i not in after] + [i for i in ops if i in after]


def extract(model_bytes: bytes, ops: list[int]) -> bytes:
    """A model of the ops `ops` (in that order): its inputs are the non-constant tensors they read and do not
    make; its outputs those they make that other ops read or that are graph outputs (graph outputs first)."""
    model = load_model_t(model_bytes)
    g = model.subgraphs[0]
    chosen = set(ops)
    made = {int(o) for i in ops for o in g.operators[i].outputs}
    read_outside = {int(x) for k, op in enumerate(g.operators) if k not in chosen for x in op.inputs if x >= 0}
    inputs: list[int] = []
    for i in ops:
        for x in (int(v) for v in g.operators[i].inputs if v >= 0):
            if x not in made and x not in inputs and not _is_constant(model, x):
                inputs.append(x)
    graph_out = [int(o) for o in g.outputs if int(o) in made]
    inner_out = [
        int(o) for i in ops for o in g.operators[i].outputs if int(o) in read_outside and int(o) not in graph_out
    ]
    g.operators = [g.operators[i] for i in ops]
    g.inputs = np.array(inputs, dtype=np.int32)
    g.outputs = np.array(graph_out + inner_out, dtype=np.int32)
    model.signatureDefs = []  # the signature names the whole model's tensors; the parts are run by tensor name
    compact_model(model)
    set_op_versions(model)
    return pack_model_t(model)


def op_version(name: str, op, g, types: dict[int, str]) -> int:
    """The version the TF converter (tensorflow/lite/tools/versioning/op_version.cc) gives these ops; 1 for the
    others. Only the cases that occur in int8/float graphs without int16/int4 or hybrid ops."""
    t_in = types[g.tensors[int(op.inputs[0])].type] if len(op.inputs) and op.inputs[0] >= 0 else ""
    t_w = types[g.tensors[int(op.inputs[1])].type] if len(op.inputs) > 1 and op.inputs[1] >= 0 else ""
    t_out = types[g.tensors[int(op.outputs[0])].type]
    int8 = t_in == "INT8"
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        if int8 and t_w == "INT8" and t_out == "INT8":
            return 3
        opts = op.builtinOptions
        dilated = name == "DEPTHWISE_CONV_2D" and (opts.dilationWFactor != 1 or opts.dilationHFactor != 1)
        return 2 if dilated else 1
    if name == "RESIZE_BILINEAR":
        return 3 if op.builtinOptions.halfPixelCenters else (2 if int8 else 1)
    if name == "RESIZE_NEAREST_NEIGHBOR":
        opts = op.builtinOptions
        return 3 if (opts.halfPixelCenters or opts.alignCorners) else (2 if int8 else 1)
    if name == "TRANSPOSE_CONV":
        if len(op.inputs) == 4 and op.inputs[3] >= 0:
            return 3
        return 2 if t_w == "INT8" else 1
    if name == "FULLY_CONNECTED":
        return 4 if int8 and t_w == "INT8" and t_out == "INT8" else 1
    if name == "DEQUANTIZE":
        return 2 if int8 else 1
    if name in ("ADD", "SUB", "MUL", "MAX_POOL_2D", "AVERAGE_POOL_2D", "PAD", "PADV2", "CONCATENATION", "LOGISTIC",
                "TANH", "MAXIMUM", "MINIMUM", "MEAN", "SOFTMAX", "RELU", "RELU6", "TRANSPOSE", "SLICE",
                "STRIDED_SLICE", "SPLIT", "PACK", "REDUCE_MAX"):  # fmt: skip
        return 2 if int8 else 1
    return 1


def with_converter_op_versions(model_bytes: bytes) -> bytes:
    """`model_bytes` with every op at its TF converter version (`set_op_versions`)."""
    model = load_model_t(model_bytes)
    set_op_versions(model)
    return pack_model_t(model)


def set_op_versions(model) -> None:
    """Give each op its converter version (`op_version`): one operator code per (builtin, custom code, version),
    as the converter writes them."""
    s = schema()
    g = model.subgraphs[0]
    names = op_names(model)
    types = tensor_type_names()
    codes: dict[tuple[int, bytes | None, int], int] = {}
    new_codes = []
    for k, op in enumerate(g.operators):
        old = model.operatorCodes[op.opcodeIndex]
        builtin = max(int(old.builtinCode), int(old.deprecatedBuiltinCode))
        is_custom = builtin == s.BuiltinOperator.CUSTOM
        version = int(old.version) if is_custom else op_version(names[k], op, g, types)
        key = (builtin, old.customCode, version)
        if key not in codes:
            code = copy.deepcopy(old)
            code.version = version
            codes[key] = len(new_codes)
            new_codes.append(code)
        op.opcodeIndex = codes[key]
    model.operatorCodes = new_codes


__all__ = ["PARTS", "SplitGraphs", "extract", "op_version", "set_op_versions", "split_file_name", "split_mixed",
           "with_converter_op_versions"]  # fmt: skip
