"""DEPTH_TO_SPACE → TRANSPOSE_CONV rewrite: bit-identical int8 outputs, and the detector maps fully to the Edge TPU."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support.paths import MODELS_DIR, skimage_photo

from edgepose.engine.detector import detector_input
from edgepose.inference.tflite_schema import load_model_t, op_names, pack_model_t, schema
from edgepose_dev.models_build.edgetpu_check import check_edgetpu_form
from edgepose_dev.models_build.edgetpu_rewrite import depth_to_space_to_transpose_conv

# XNNPACK (what the daemon's CPU backend uses) and TFLite's reference kernels.
RESOLVERS = ("AUTO", "BUILTIN_REF")


def _interpreter(model: bytes, resolver: str):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model, num_threads=1,
                     experimental_op_resolver_type=getattr(OpResolverType, resolver))  # fmt: skip
    it.allocate_tensors()
    return it


def _run(it, x: np.ndarray) -> list[np.ndarray]:
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(o["index"]).copy() for o in it.get_output_details()]


def _quantize_input(it, x: np.ndarray) -> np.ndarray:
    d = it.get_input_details()[0]
    scale, zp = d["quantization"]
    return np.clip(np.rint(x / np.float32(scale)) + zp, -128, 127).astype(np.int8)


@pytest.fixture(scope="module")
def detector() -> bytes:
    path = MODELS_DIR / "pose_detection_int8.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


@pytest.fixture(scope="module")
def rewritten(detector) -> bytes:
    out, n = depth_to_space_to_transpose_conv(detector)
    assert n == 3
    return out


@pytest.fixture(scope="module")
def photos(shared_data) -> list[np.ndarray]:
    """Astronaut (square) and three COCO photos of people (landscape and portrait: letterbox borders)."""
    paths = [skimage_photo("astronaut.png"), *sorted((shared_data / "images/annotated/coco").glob("*.jpg"))[:3]]
    assert len(paths) == 4
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def test_detector_ops_replaced_in_place(detector, rewritten) -> None:
    before, after = op_names(load_model_t(detector)), op_names(load_model_t(rewritten))
    assert len(after) == len(before)
    swapped = [k for k, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert [before[k] for k in swapped] == ["DEPTH_TO_SPACE"] * 3
    assert [after[k] for k in swapped] == ["TRANSPOSE_CONV"] * 3


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_rewritten_detector_is_bit_exact_on_real_photos(detector, rewritten, photos, resolver) -> None:
    a, b = _interpreter(detector, resolver), _interpreter(rewritten, resolver)
    for photo in photos:
        tensor, _ = detector_input(photo)
        x = _quantize_input(a, tensor)
        out_a, out_b = _run(a, x), _run(b, x)
        assert len(out_a) == 2
        for oa, ob in zip(out_a, out_b, strict=True):
            assert oa.dtype == np.int8 and np.array_equal(oa, ob)
        assert np.unique(out_a[1]).size > 10  # real detector output, not a constant


def test_rewritten_detector_maps_fully_to_edgetpu(rewritten, tmp_path) -> None:
    path = tmp_path / "pose_detection_int8_edgetpu_ready.tflite"
    path.write_bytes(rewritten)
    report = check_edgetpu_form(path)
    assert report.compilable, report.summary()
    assert report.unsupported_ops == [] and report.cpu_ops == []
    assert report.fully_mapped and report.ops_total == 118


def _d2s_model(shape: tuple[int, int, int, int], block: int, ttype: str, quant: tuple[float, int] | None) -> bytes:
    """A one-op model: input `shape` → DEPTH_TO_SPACE(block) → output."""
    s = schema()
    n, h, w, c = shape

    def tensor(name: str, shp: tuple[int, ...]):
        t = s.TensorT()
        t.name, t.type, t.buffer = name, getattr(s.TensorType, ttype), 0
        t.shape = np.array(shp, dtype=np.int32)
        if quant is not None:
            q = s.QuantizationParametersT()
            q.scale, q.zeroPoint = np.array([quant[0]], np.float32), np.array([quant[1]], np.int64)
            t.quantization = q
        return t

    g = s.SubGraphT()
    g.tensors = [tensor("x", shape), tensor("y", (n, h * block, w * block, c // block**2))]
    g.inputs, g.outputs = np.array([0], np.int32), np.array([1], np.int32)
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, np.array([0], np.int32), np.array([1], np.int32)
    op.builtinOptionsType = s.BuiltinOptions.DepthToSpaceOptions
    op.builtinOptions = s.DepthToSpaceOptionsT()
    op.builtinOptions.blockSize = block
    g.operators = [op]
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.DEPTH_TO_SPACE
    code.version = 1  # what the detector has; the reference resolver does not register version 2
    m = s.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [code], [g], [s.BufferT()]
    return pack_model_t(m)


def _numpy_d2s(x: np.ndarray, block: int, order: str) -> np.ndarray:
    """DCR: input channel (dy·b+dx)·C_out + c (TFLite, TensorFlow); CRD: c·b² + dy·b + dx (ONNX's other mode)."""
    n, h, w, c = x.shape
    c_out = c // block**2
    split = (n, h, w, block, block, c_out) if order == "DCR" else (n, h, w, c_out, block, block)
    perm = (0, 1, 3, 2, 4, 5) if order == "DCR" else (0, 1, 4, 2, 5, 3)
    return x.reshape(split).transpose(perm).reshape(n, h * block, w * block, c_out)


@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize(("shape", "block", "quant"), [
    ((1, 3, 5, 16), 2, (0.0235, -128)),
    ((1, 4, 2, 18), 3, (0.5, 7)),
    ((2, 2, 3, 8), 2, (1.0, 0)),
])  # fmt: skip
def test_channel_order_matches_numpy_dcr_on_random_int8(shape, block, quant, resolver) -> None:
    src = _d2s_model(shape, block, "INT8", quant)
    out, n = depth_to_space_to_transpose_conv(src)
    assert n == 1 and op_names(load_model_t(out)) == ["TRANSPOSE_CONV"]
    x = np.random.default_rng(block).integers(-128, 128, shape, dtype=np.int8)
    dcr = _numpy_d2s(x, block, "DCR")
    # The random tensor tells the two channel orders apart, so a wrong order cannot pass.
    assert not np.array_equal(dcr, _numpy_d2s(x, block, "CRD"))
    assert np.array_equal(_run(_interpreter(src, resolver), x)[0], dcr)  # the reference is TFLite's op
    assert np.array_equal(_run(_interpreter(out, resolver), x)[0], dcr)


def test_float_depth_to_space_is_left_unchanged() -> None:
    src = _d2s_model((1, 2, 2, 8), 2, "FLOAT32", None)
    out, n = depth_to_space_to_transpose_conv(src)
    assert n == 0 and out == src


def test_model_without_depth_to_space_is_unchanged() -> None:
    path = MODELS_DIR / "pose_landmark_lite_int8.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    src = path.read_bytes()
    assert depth_to_space_to_transpose_conv(src) == (src, 0)


def test_build_step_stages_a_verified_compiler_input(tmp_path, photos) -> None:
    """The build's Edge TPU step: the rewritten detector goes to edgetpu_src/ under the CPU file's name (so the
    compiler writes pose_detection_int8_edgetpu.tflite), verified bit-identical, fully mapped per the form check."""
    from edgepose.model_manifest import load_manifest
    from edgepose_dev.models_build.build import EDGETPU_SRC_DIR, _edgetpu_detector

    cpu = load_manifest(MODELS_DIR).models["pose_detection"]
    samples = [detector_input(rgb)[0] for rgb in photos]
    entry, part = _edgetpu_detector(MODELS_DIR / cpu.file, cpu, tmp_path, samples)
    assert entry.file == f"{EDGETPU_SRC_DIR}/pose_detection_int8.tflite"
    assert entry.verification == {"bit_identical_to": "pose_detection_int8.tflite", "inputs": 3}
    assert entry.edgetpu["fully_mapped"] and entry.edgetpu["cpu_ops"] == 0
    assert entry.recipe["edgetpu_rewrite"] == "3 DEPTH_TO_SPACE as TRANSPOSE_CONV"
    assert part.is_file() and entry.size == part.stat().st_size
