"""Is an int8 model Edge-TPU-compilable in form? And the exact `edgetpu_compiler` command.

Checks (coral.ai/docs/edgetpu/models-intro, "Model requirements" and "Supported operations"):
- every activation tensor is int8/uint8 (int32 is allowed only for constant biases and shape operands);
- static shapes (no -1 in shape_signature), and only the innermost 3 dimensions may exceed 1;
- every op is in the Edge TPU's supported list. The compiler maps ops to the TPU in graph order and the first
  unsupported op ends the TPU part: it and everything after it run on the CPU. We list those ops.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgepose.inference.tflite_schema import load_model_t, op_names, tensor_name, tensor_type_names
from edgepose_dev.models_build.model_bytes import read_model_bytes

# Published Edge TPU supported operations (coral.ai/docs/edgetpu/models-intro#supported-operations), as TFLite
# builtin names. DEPTH_TO_SPACE and DEQUANTIZE are not in it.
EDGETPU_OPS = frozenset(
    {
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
        "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM", "MAXIMUM",
        "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN",
        "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT",
        "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM",
        "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
    }
)  # fmt: skip
ACTIVATION_TYPES = frozenset({"INT8", "UINT8"})
EDGETPU_COMPILER = "edgetpu_compiler"


@dataclass
class EdgeTpuReport:
    """Result of the form check for one model."""

    path: str
    float_tensors: list[str] = field(default_factory=list)
    other_type_tensors: list[str] = field(default_factory=list)
    dynamic_shapes: list[str] = field(default_factory=list)
    too_many_dims: list[str] = field(default_factory=list)
    unsupported_ops: list[str] = field(default_factory=list)
    cpu_ops: list[str] = field(default_factory=list)
    ops_total: int = 0

    @property
    def compilable(self) -> bool:
        """Fully integer with static shapes: the compiler accepts it (unsupported ops just run on the CPU)."""
        return not (self.float_tensors or self.other_type_tensors or self.dynamic_shapes)

    @property
    def fully_mapped(self) -> bool:
        return self.compilable and not self.cpu_ops and not self.too_many_dims

    def problems(self) -> list[str]:
        out = []
        if self.float_tensors:
            out.append(f"{len(self.float_tensors)} float tensors (e.g. {', '.join(self.float_tensors[:3])})")
        if self.other_type_tensors:
            out.append(f"non-8-bit activation tensors: {', '.join(self.other_type_tensors[:3])}")
        if self.dynamic_shapes:
            out.append(f"dynamic shapes: {', '.join(self.dynamic_shapes[:3])}")
        return out

    def summary(self) -> str:
        if not self.compilable:
            return f"{self.path}: NOT Edge-TPU-compilable: " + "; ".join(self.problems())
        if not self.cpu_ops:
            return f"{self.path}: Edge-TPU form OK, all {self.ops_total} ops supported"
        return (
            f"{self.path}: Edge-TPU form OK; first unsupported op {self.unsupported_ops[0]} → "
            f"{len(self.cpu_ops)} of {self.ops_total} ops would run on the CPU"
        )


def check_edgetpu_form(path: Path) -> EdgeTpuReport:
    """Form check of the model at `path` (raises ModelBuildError if it is not a readable TFLite model)."""
    data = read_model_bytes(Path(path))
    model = load_model_t(data)
    g = model.subgraphs[0]
    types = tensor_type_names()
    names = op_names(model)
    report = EdgeTpuReport(str(path), ops_total=len(names))
    constant = {i for i, t in enumerate(g.tensors) if t.buffer > 0 and model.buffers[t.buffer].data is not None
                and len(model.buffers[t.buffer].data) > 0}  # fmt: skip
    for i, t in enumerate(g.tensors):
        name = tensor_name(t)
        ttype = types[t.type]
        if ttype in ("FLOAT32", "FLOAT16", "FLOAT64"):
            report.float_tensors.append(name)
        elif ttype not in ACTIVATION_TYPES and not (ttype == "INT32" and i in constant):
            report.other_type_tensors.append(f"{name} ({ttype})")
        sig = t.shapeSignature if t.shapeSignature is not None and len(t.shapeSignature) else t.shape
        if sig is not None and any(int(d) < 0 for d in sig):
            report.dynamic_shapes.append(name)
        # Filters are 4-D by nature; the rule is about activations.
        if i not in constant and t.shape is not None and len(t.shape) > 3 and any(int(d) > 1 for d in t.shape[:-3]):
            report.too_many_dims.append(name)
    first_bad = next((k for k, n in enumerate(names) if n not in EDGETPU_OPS), None)
    report.unsupported_ops = sorted({n for n in names if n not in EDGETPU_OPS})
    if first_bad is not None:
        report.unsupported_ops = [names[first_bad]] + [n for n in report.unsupported_ops if n != names[first_bad]]
        report.cpu_ops = [f"{k}:{names[k]}" for k in range(first_bad, len(names))]
    return report


def compiler_command(models: Sequence[Path], out_dir: Path) -> list[str]:
    """One invocation for the detector and the landmark model(s): they then share the on-chip parameter cache.

    `-a` is not used: it needs the models' inputs to be fed in one call. `-s` prints the op mapping summary.
    """
    return [EDGETPU_COMPILER, "-s", "-o", str(out_dir), *[str(m) for m in models]]


def compiler_command_text(models: Sequence[Path], out_dir: Path) -> str:
    return shlex.join(compiler_command(models, out_dir))


def compiler_available() -> bool:
    return shutil.which(EDGETPU_COMPILER) is not None
