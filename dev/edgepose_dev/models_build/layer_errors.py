"""Per-layer int8-vs-float activation error: which layers cost accuracy.

Both models run on the same real inputs with `experimental_preserve_all_tensors` (reference kernels, so every
intermediate tensor is readable); tensors are matched by name (ai-edge-quantizer keeps the float names), the
int8 ones dequantized with their own scale/zero point. For each op output we report the relative RMS error
(RMS(int8 − float) / RMS(float)) and how much of it the op adds over its worst input (`added`), which points at
the layers where quantization loses information rather than the ones that merely inherit an upstream error.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgepose.inference.tflite_schema import load_model_t, op_names, tensor_name

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LayerError:
    index: int
    op: str
    tensor: str
    rel_rms: float
    added: float
    float_range: tuple[float, float]
    int8_scale: float


def _interp(model: Path | bytes):
    """A LiteRT interpreter that keeps every intermediate tensor (a model file or its bytes)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    source = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    it = Interpreter(
        **source,
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    return it


def _run(it, x: F32, only: Collection[str] | None = None) -> dict[str, F32]:
    """Every float or quantized tensor after one invoke, dequantized, by name (`only`: just these names)."""
    d = it.get_input_details()[0]
    scale, zp = d["quantization"]
    if d["dtype"] != np.float32 and scale:
        info = np.iinfo(d["dtype"])
        x = np.clip(np.rint(x / np.float32(scale)) + zp, info.min, info.max).astype(d["dtype"])
    it.set_tensor(d["index"], x)
    it.invoke()
    out = {}
    for t in it.get_tensor_details():
        if only is not None and t["name"] not in only:
            continue
        try:
            v = it.get_tensor(t["index"])
        except ValueError:
            continue
        s, z = t["quantization"]
        if v.dtype != np.float32 and s:
            v = (v.astype(np.float32) - np.float32(z)) * np.float32(s)
        elif v.dtype != np.float32:
            continue
        out[t["name"]] = v
    return out


def layer_errors(float_path: Path, int8_path: Path, inputs: Sequence[F32]) -> list[LayerError]:
    """Error of every op output of the float graph that also exists (by name) in the int8 graph."""
    model = load_model_t(Path(float_path).read_bytes())
    g = model.subgraphs[0]
    names = op_names(model)
    q_scales = {t["name"]: float(t["quantization"][0]) for t in _interp(int8_path).get_tensor_details()}
    fi, qi = _interp(float_path), _interp(int8_path)
    sq_err: dict[str, float] = {}
    sq_ref: dict[str, float] = {}
    ranges: dict[str, list[float]] = {}
    for x in inputs:
        tf, tq = _run(fi, x), _run(qi, x)
        for name, v in tf.items():
            if name in tq and tq[name].shape == v.shape:
                sq_err[name] = sq_err.get(name, 0.0) + float(np.mean((tq[name] - v) ** 2))
                sq_ref[name] = sq_ref.get(name, 0.0) + float(np.mean(v.astype(np.float64) ** 2))
                r = ranges.setdefault(name, [np.inf, -np.inf])
                r[0], r[1] = min(r[0], float(v.min())), max(r[1], float(v.max()))
    rel = {n: float(np.sqrt(sq_err[n] / max(sq_ref[n], 1e-30))) for n in sq_err}
    out = []
    for i, op in enumerate(g.operators):
        tname = tensor_name(g.tensors[int(op.outputs[0])])
        if tname not in rel:
            continue
        ins = [rel.get(tensor_name(g.tensors[int(x)]), 0.0) for x in op.inputs if x >= 0]
        out.append(
            LayerError(
                i, names[i], tname, rel[tname], rel[tname] - max(ins, default=0.0),
                (ranges[tname][0], ranges[tname][1]), q_scales.get(tname, 0.0),
            )
        )
    return out




def worst_layers(errors: Sequence[LayerError], n: int = 10) -> list[LayerError]:
    """The n layers that add the most error."""
    return sorted(errors, key=lambda e: -e.added)[:n]


def format_report(errors: Sequence[LayerError], n: int = 15) -> str:
    lines = [f"{'idx':>4} {'op':<18} {'rel_rms':>8} {'added':>8} {'float range':>22}  tensor"]
    for e in worst_layers(errors, n):
        lines.append(
            f"{e.index:>4} {e.op:<18} {e.rel_rms:8.4f} {e.added:8.4f} "
            f"{f'[{e.float_range[0]:.3g}, {e.float_range[1]:.3g}]':>22}  {e.tensor[:90]}"
        )
    outputs = [e for e in errors if e.index == max(x.index for x in errors)]
    if outputs:
        lines.append(f"last op: {outputs[0].op} rel_rms {outputs[0].rel_rms:.4f}")
    return "\n".join(lines)


def main() -> None:
    """python -m edgepose_dev.models_build.layer_errors FLOAT.tflite INT8.tflite [--samples N]: per-layer report on
    real landmark crops (or letterboxed frames, for the detector) of ../shared/data."""
    import argparse
    import os
    import tempfile

    from edgepose_dev.models_build import calibration as cal
    from edgepose_dev.models_build.float32 import rewrite_float32
    from edgepose_dev.models_build.model_bytes import read_model_bytes
    from edgepose_dev.models_build.quantize import calibration_set_for

    ap = argparse.ArgumentParser(description="per-layer int8-vs-float activation error")
    ap.add_argument("float_model", type=Path)
    ap.add_argument("int8_model", type=Path)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()
    float_dir = a.float_model.parent
    shared = Path(os.environ.get("EDGEPOSE_TEST_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name in ("pose_detection", "pose_landmark_full"):
            paths[name] = Path(tmp) / f"{name}.tflite"
            paths[name].write_bytes(rewrite_float32(read_model_bytes(float_dir / f"{name}.tflite"))[0])
        f32 = Path(tmp) / "model_f32.tflite"
        f32.write_bytes(rewrite_float32(read_model_bytes(a.float_model))[0])
        source = cal.default_source(shared, subset=calibration_set_for(a.float_model.stem))
        cset = cal.build_calibration_set(source, paths["pose_detection"], paths["pose_landmark_full"])
        samples = cset.detector if "detection" in a.float_model.name else cset.landmark
        step = max(1, len(samples) // a.samples)
        print(format_report(layer_errors(f32, a.int8_model, samples[::step][: a.samples]), a.top))


if __name__ == "__main__":
    main()
