"""Replace int8 DEPTH_TO_SPACE by an exactly equivalent TRANSPOSE_CONV, so the Edge TPU can run the whole detector.

DEPTH_TO_SPACE is not on the Edge TPU's supported-op list (coral.ai/docs/edgetpu/models-intro#supported-operations):
the compiler would put it and every op after it on the CPU. TRANSPOSE_CONV is on the list. With stride b, kernel
b×b, VALID padding and one-hot weights it moves each input channel to one output pixel offset and channel:

    out[y·b+dy, x·b+dx, c] = in[y, x, (dy·b+dx)·C_out + c]        (TFLite's DCR channel order)

The int8 arithmetic is exact: weights are 127 with per-channel scale 1/127 (real weight 1.0, the symmetric range
the Edge TPU and TFLite expect of int8 filters), bias is 0, and the output tensor keeps the input's scale and zero
point, so the accumulator is 127·(q_in − zp) and the requantisation multiplier 1/127 (error ~1e-7 relative)
rounds it back to q_in − zp exactly for every int8 value. Tests check bit-identical outputs on XNNPACK and on
the reference kernels.
"""

from __future__ import annotations

import numpy as np

from edgepose.inference.tflite_schema import compact_model, load_model_t, op_names, pack_model_t, schema, tensor_name
from edgepose_dev.models_build.errors import ModelBuildError

WEIGHT_Q = 127  # int8 weight value; with scale 1/WEIGHT_Q it is exactly 1.0
# TFLite op version of an int8 TRANSPOSE_CONV with a bias input and no fused activation (what the TFLite converter
# writes for a Keras Conv2DTranspose; op_version.cc).
TRANSPOSE_CONV_VERSION = 3


def depth_to_space_weights(block: int, c_in: int) -> np.ndarray:
    """One-hot TRANSPOSE_CONV filter [C_out, b, b, C_in] (OHWI) reproducing DEPTH_TO_SPACE's DCR order, as int8."""
    c_out = c_in // (block * block)
    w = np.zeros((c_out, block, block, c_in), dtype=np.int8)
    c, dy, dx = np.meshgrid(np.arange(c_out), np.arange(block), np.arange(block), indexing="ij")
    w[c, dy, dx, (dy * block + dx) * c_out + c] = WEIGHT_Q
    return w


def _per_tensor(q) -> tuple[float, int] | None:
    if q is None or q.scale is None or len(q.scale) != 1:
        return None
    return float(q.scale[0]), int(q.zeroPoint[0]) if q.zeroPoint is not None and len(q.zeroPoint) else 0


def depth_to_space_to_transpose_conv(model_bytes: bytes) -> tuple[bytes, int]:
    """Return (model, number of DEPTH_TO_SPACE ops replaced by TRANSPOSE_CONV), ops staying in graph order.

    Only int8 DEPTH_TO_SPACE ops are replaced; any other (float, uint8, int16) is left as it is and not counted,
    so a model with none to replace comes back byte-for-byte unchanged with count 0. An int8 one whose input and
    output quantisation differ (TFLite itself rejects that) raises ModelBuildError naming the op.
    """
    s = schema()
    model = load_model_t(model_bytes)
    if len(model.subgraphs) != 1:
        raise ModelBuildError(f"expected 1 subgraph, found {len(model.subgraphs)}")
    g = model.subgraphs[0]
    names = op_names(model)
    targets = [
        k for k, n in enumerate(names)
        if n == "DEPTH_TO_SPACE" and g.tensors[int(g.operators[k].inputs[0])].type == s.TensorType.INT8
    ]  # fmt: skip
    if not targets:
        return model_bytes, 0

    model.operatorCodes.append(s.OperatorCodeT())
    code = model.operatorCodes[-1]
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.TRANSPOSE_CONV
    code.version = TRANSPOSE_CONV_VERSION
    tc_code = len(model.operatorCodes) - 1

    def add_const(name: str, value: np.ndarray, ttype: int, scale=None, zero_point=None):
        buf = s.BufferT()
        buf.data = np.frombuffer(np.ascontiguousarray(value).tobytes(), dtype=np.uint8)
        model.buffers.append(buf)
        t = s.TensorT()
        t.name, t.type, t.buffer = name, ttype, len(model.buffers) - 1
        t.shape = np.array(value.shape, dtype=np.int32)
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = np.asarray(scale, dtype=np.float32)
            q.zeroPoint = np.asarray(zero_point, dtype=np.int64)
            q.quantizedDimension = 0
            t.quantization = q
        g.tensors.append(t)
        return len(g.tensors) - 1

    for k in targets:
        op = g.operators[k]
        ti, to = int(op.inputs[0]), int(op.outputs[0])
        t_in, t_out = g.tensors[ti], g.tensors[to]
        label = f"DEPTH_TO_SPACE op {k} ({tensor_name(t_out)})"
        q_in, q_out = _per_tensor(t_in.quantization), _per_tensor(t_out.quantization)
        if q_in is None or q_in != q_out:
            raise ModelBuildError(f"{label}: input and output quantisation differ ({q_in} vs {q_out})")
        block = int(op.builtinOptions.blockSize)
        n, h, w, c_in = (int(d) for d in t_in.shape)
        expected = (n, h * block, w * block, c_in // (block * block)) if block > 0 else ()
        if block < 1 or c_in % (block * block) or tuple(int(d) for d in t_out.shape) != expected:
            raise ModelBuildError(f"{label}: shapes {list(t_in.shape)} → {list(t_out.shape)} with block {block}")
        c_out = c_in // (block * block)
        base = tensor_name(t_out)
        w_scale = np.full(c_out, 1.0 / WEIGHT_Q, dtype=np.float32)
        i_shape = add_const(f"{base}/d2s_output_shape", np.array(t_out.shape, dtype=np.int32), s.TensorType.INT32)
        i_w = add_const(f"{base}/d2s_weights", depth_to_space_weights(block, c_in), s.TensorType.INT8,
                        w_scale, np.zeros(c_out))  # fmt: skip
        # Bias scale = input scale × weight scale, as TFLite's int8 kernels require.
        i_b = add_const(f"{base}/d2s_bias", np.zeros(c_out, dtype=np.int32), s.TensorType.INT32,
                        np.float32(q_in[0]) * w_scale, np.zeros(c_out))  # fmt: skip
        opts = s.TransposeConvOptionsT()
        opts.padding = s.Padding.VALID
        opts.strideW = opts.strideH = block
        opts.fusedActivationFunction = s.ActivationFunctionType.NONE
        new = s.OperatorT()
        new.opcodeIndex = tc_code
        # TRANSPOSE_CONV inputs: output_shape, weights, input, bias. The output tensor (and its quantisation) is
        # the DEPTH_TO_SPACE output itself, so every consumer and any signature stays as it was.
        new.inputs = np.array([i_shape, i_w, ti, i_b], dtype=np.int32)
        new.outputs = np.array([to], dtype=np.int32)
        new.builtinOptionsType = s.BuiltinOptions.TransposeConvOptions
        new.builtinOptions = opts
        g.operators[k] = new
    compact_model(model)  # drops the DEPTH_TO_SPACE operator code if no op uses it any more
    return pack_model_t(model), len(targets)
