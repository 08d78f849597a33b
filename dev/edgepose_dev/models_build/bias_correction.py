"""Empirical bias correction of an int8 graph (issue 10, docs/int8.md "Why the int8 detector still finds more
people on the negatives").

Int8 rounding in every layer adds small per-channel *systematic* shifts, and the detector is very sensitive to
them (its per-anchor score logits spread ±0.7 around float's; the best anchor of a person-free photo is the
maximum of that noise). The correction runs the float32 graph and the int8 graph on real inputs, measures the
mean per-channel output error of each conv (int8 dequantized − float) and removes it from the conv's int32 bias:
`bias[c] -= round(mean_err[c] / (s_in · s_w[c]))` (the bias scale is s_in · s_w[c]). Sequentially, in graph order,
each conv's error is measured with the corrections of the convs before it applied (so a conv does not correct
an error its inputs no longer have); `one-shot` measures all convs once on the uncorrected graph.

Convs with a fused ReLU/ReLU6 are measured on their output, after the activation (the only tensor the graph
has; the mean error below zero is cut away by the activation in both graphs alike). The classifier (score)
convs have a fixed int8 range (`quantize.DETECTOR_SCORE_LOGIT_RANGE`): where the float logit is outside it the
int8 value is clipped and its "error" is the clip, not a shift, so their mean error counts only the positions
whose float logit is inside the range.

The tensors are read with LiteRT's `experimental_preserve_all_tensors` (layer_errors) and paired by name
(ai-edge-quantizer keeps the float names). The result is deterministic: same graphs and inputs, same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgepose.inference.tflite_schema import load_model_t, op_names, pack_model_t, schema, tensor_name
from edgepose_dev.models_build.errors import ModelBuildError
from edgepose_dev.models_build.layer_errors import _interp, _run

F32 = npt.NDArray[np.float32]
CONV_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})
MODES = ("sequential", "one-shot")


@dataclass(frozen=True)
class _Conv:
    op: int  # index in the int8 graph
    tensor: str  # output name (same in both graphs)
    bias_buffer: int
    bias_scale: npt.NDArray[np.float64]  # per output channel: s_in · s_w[c]
    clip: float | None  # classifier convs: only positions with |float| < clip count


@dataclass
class BiasCorrectionReport:
    """What was corrected (for the manifest's recipe and the build log)."""

    frames: int
    mode: str
    convs: int = 0
    classifier_convs: int = 0
    # per corrected conv: (output tensor name, mean over channels of |mean error| measured before its correction)
    mean_abs_error: list[tuple[str, float]] = field(default_factory=list)

    def describe(self) -> dict[str, object]:
        return {
            "method": "empirical per-channel bias correction (bias_correction.py)",
            "frames": self.frames,
            "mode": self.mode,
            "convs_corrected": self.convs,
            "classifier_convs_corrected": self.classifier_convs,
            "measured_on": "conv outputs after the fused activation"
            + ("; classifier convs where |float logit| < range" if self.classifier_convs else ""),
        }


def _convs(int8_model, float_names: set[str], classifier: dict[str, float]) -> list[_Conv]:
    g = int8_model.subgraphs[0]
    names = op_names(int8_model)
    out = []
    for i, op in enumerate(g.operators):
        if names[i] not in CONV_OPS or len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        t_out = g.tensors[int(op.outputs[0])]
        bias = g.tensors[int(op.inputs[2])]
        q = bias.quantization
        name = tensor_name(t_out)
        if bias.type != schema().TensorType.INT32 or q is None or q.scale is None or name not in float_names:
            continue
        scale = np.asarray(q.scale, dtype=np.float64)
        channels = int(t_out.shape[-1])
        if scale.size == 1:
            scale = np.full(channels, float(scale[0]))
        out.append(_Conv(i, name, int(bias.buffer), scale, classifier.get(name)))
    return out


def _bias_views(data: bytearray, convs: Sequence[_Conv]) -> dict[int, npt.NDArray[np.int32]]:
    """Writable int32 views of the bias buffers inside `data` (a packed model with inline buffers), so a
    correction is a write into the bytes, not a repack of the model."""
    model = schema().Model.GetRootAs(data, 0)
    views = {}
    for c in convs:
        raw = model.Buffers(c.bias_buffer).DataAsNumpy()
        if not isinstance(raw, np.ndarray) or raw.size != 4 * c.bias_scale.size:
            raise ModelBuildError(f"bias of {c.tensor} is not an inline int32 buffer of {c.bias_scale.size} values")
        views[c.bias_buffer] = raw.view(np.int32)
    return views


def _channel_sums(v: F32, clip: float | None, ref: F32 | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per last-axis channel: sum of v and the count of positions, over positions where |ref| < clip."""
    flat = v.reshape(-1, v.shape[-1]).astype(np.float64)
    if clip is None:
        return flat.sum(axis=0), np.full(flat.shape[1], flat.shape[0], dtype=np.float64)
    assert ref is not None
    mask = np.abs(ref.reshape(flat.shape)) < clip
    return np.where(mask, flat, 0.0).sum(axis=0), mask.sum(axis=0).astype(np.float64)


def correct_biases(
    float32_model: bytes,
    int8_model: bytes,
    inputs: Sequence[F32],
    classifier: dict[str, float] | None = None,
    mode: str = "sequential",
    leave: Collection[str] = (),
    progress: Callable[[str], None] | None = None,
    max_convs: int | None = None,
) -> tuple[bytes, BiasCorrectionReport]:
    """`int8_model` with every conv's int32 bias corrected by its mean per-channel error against `float32_model`
    on `inputs` (float inputs of the float graph; the int8 input is quantized with the model's own scale).
    `classifier`: {conv output name: clip} for the convs measured only where |float| < clip; a name missing from
    the graph is ignored. `mode`: `sequential` (graph order) or `one-shot`. `leave`: conv output names kept as they
are. `max_convs` (sequential only): correct the first N convs in graph order and keep the rest; their corrections
are those of the whole run, since a conv's correction depends only on the convs before it (the rebuild test
checks the shipped file's first biases this way, in a minute instead of the whole run's 20)."""
    if not inputs:
        raise ModelBuildError("bias correction needs calibration inputs; none were given")
    if mode not in MODES:
        raise ModelBuildError(f"unknown bias correction mode {mode!r}; choose one of {', '.join(MODES)}")
    if max_convs is not None and (mode != "sequential" or max_convs < 1):
        raise ModelBuildError(f"bias correction: max_convs needs the sequential mode and ≥ 1, not {max_convs}")
    say = progress or (lambda _msg: None)
    classifier = classifier or {}
    fi = _interp(float32_model)
    float_names = {t["name"] for t in fi.get_tensor_details()}
    model = load_model_t(int8_model)
    convs = [c for c in _convs(model, float_names, classifier) if c.tensor not in leave]
    if not convs:
        raise ModelBuildError("bias correction: no int8 conv of the int8 graph has a float counterpart by name")
    if max_convs is not None:
        convs = convs[:max_convs]
    data = bytearray(pack_model_t(model))  # buffers inline, so the bias views below are inside `data`
    biases = _bias_views(data, convs)

    # Float side once: per-channel sums over all inputs (the mean error is mean(int8) − mean(float), both over
    # the same positions), and the float classifier logits for the masks.
    f_sum = {c.tensor: np.zeros(c.bias_scale.size) for c in convs}
    f_cnt = {c.tensor: np.zeros(c.bias_scale.size) for c in convs}
    masks_ref: dict[str, list[F32]] = {c.tensor: [] for c in convs if c.clip is not None}
    wanted = {c.tensor for c in convs}
    for x in inputs:
        tf = _run(fi, x, only=wanted)
        for c in convs:
            s, n = _channel_sums(tf[c.tensor], c.clip, tf[c.tensor])
            f_sum[c.tensor] += s
            f_cnt[c.tensor] += n
            if c.clip is not None:
                masks_ref[c.tensor].append(tf[c.tensor])
    del fi

    def int8_means(targets: Sequence[_Conv]) -> dict[str, np.ndarray]:
        qi = _interp(bytes(data))
        q_sum = {c.tensor: np.zeros(c.bias_scale.size) for c in targets}
        for k, x in enumerate(inputs):
            tq = _run(qi, x, only={c.tensor for c in targets})
            for c in targets:
                ref = masks_ref[c.tensor][k] if c.clip is not None else None
                q_sum[c.tensor] += _channel_sums(tq[c.tensor], c.clip, ref)[0]
        return {c.tensor: (q_sum[c.tensor] - f_sum[c.tensor]) / np.maximum(f_cnt[c.tensor], 1.0) for c in targets}

    report = BiasCorrectionReport(frames=len(inputs), mode=mode)
    groups = [[c] for c in convs] if mode == "sequential" else [list(convs)]
    for gi, group in enumerate(groups):
        errors = int8_means(group)
        for c in group:
            err = errors[c.tensor]
            step = np.rint(err / c.bias_scale)
            b = biases[c.bias_buffer]
            b[:] = np.clip(b.astype(np.int64) - step.astype(np.int64), -(2**31), 2**31 - 1).astype(np.int32)
            report.mean_abs_error.append((c.tensor, float(np.mean(np.abs(err)))))
            report.convs += 1
            report.classifier_convs += c.clip is not None
        if mode == "sequential" and (gi + 1) % 10 == 0:
            say(f"      bias correction: {gi + 1}/{len(groups)} convs")
    return bytes(data), report


@dataclass(frozen=True)
class BiasCorrection:
    """A recipe's bias-correction step: on `frames` evenly spaced calibration inputs (0 = all), `mode`, and for the
    detector with or without the classifier (score-logit) convs (measured inside its fixed score range); for a
    landmark model (`detector=False`) every int8 conv on all positions."""

    frames: int = 32
    mode: str = "sequential"
    classifier: bool = True
    max_convs: int | None = None  # only the first N convs (a check of the first corrections; not a recipe)
    # The graph is the detector, whose score head has the fixed int8 range; False: a landmark model (no score
    # head, every int8 conv corrected on all positions; `classifier` does not apply).
    detector: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ModelBuildError(f"unknown bias correction mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.frames < 0:
            raise ModelBuildError(f"bias correction frames must be ≥ 0 (0 = all), not {self.frames}")

    def describe(self) -> dict[str, object]:
        # The detector's description is what its manifest entry has recorded since it shipped (same bytes,
        # same manifest on a rebuild), so the landmark models' form only adds keys.
        head = {"classifier_convs": self.classifier} if self.detector else {"graph": "landmark model (no score head)"}
        return {"frames": self.frames or "all", "mode": self.mode, **head,
                **({} if self.max_convs is None else {"max_convs": self.max_convs})}

    def inputs(self, samples: Sequence[F32]) -> list[F32]:
        """The frames used: every k-th sample, k = len // frames, the first `frames` of them."""
        if not samples:
            raise ModelBuildError("bias correction needs calibration frames; the calibration set has none")
        if not self.frames:
            return list(samples)
        step = max(1, len(samples) // self.frames)
        return list(samples[::step][: self.frames])

    def apply(self, float32_model: bytes, int8_model: bytes, samples: Sequence[F32],
              progress: Callable[[str], None] | None = None) -> tuple[bytes, dict[str, object]]:  # fmt: skip
        """The corrected graph and what the manifest records (frames used, which convs)."""
        from edgepose_dev.models_build.quantize import DETECTOR_SCORE_LOGIT_RANGE, score_head_tensors

        heads = score_head_tensors(float32_model) if self.detector else []
        classifier = {t: DETECTOR_SCORE_LOGIT_RANGE for t in heads} if self.classifier else {}
        out, report = correct_biases(float32_model, int8_model, self.inputs(samples), classifier, self.mode,
                                     () if self.classifier else heads, progress, self.max_convs)  # fmt: skip
        return out, {**self.describe(), **report.describe()}


def main(argv: list[str] | None = None) -> int:
    """python -m edgepose_dev.models_build.bias_correction OUT [--model M] [--int8 FILE] [--frames N] [--mode M]
    [--classifier inside|all|none]: a corrected graph from the build's calibration set (the variants of
    docs/int8.md). The detector by default (`inside` = the build's, `all` = classifier convs measured on every
    position, `none` = left); `--model pose_landmark_*` corrects that model's int8_mixed file on the landmark crops."""
    import argparse
    import tempfile
    from pathlib import Path

    from edgepose.model_files import default_models_dir
    from edgepose_dev.models_build import calibration as cal
    from edgepose_dev.models_build.build import _shared_data
    from edgepose_dev.models_build.float32 import rewrite_float32
    from edgepose_dev.models_build.model_bytes import read_model_bytes
    from edgepose_dev.models_build.quantize import (
        DETECTOR_SCORE_LOGIT_RANGE,
        calibration_set_for,
        score_head_tensors,
    )

    models = ("pose_detection", "pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy")
    ap = argparse.ArgumentParser(prog="python -m edgepose_dev.models_build.bias_correction")
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", choices=models, default="pose_detection")
    ap.add_argument("--int8", type=Path, default=None,
                    help="the int8 graph (default: models/pose_detection_int8.tflite, or the landmark model's "
                    "_int8_mixed.tflite)")
    ap.add_argument("--frames", type=int, default=32, help="0 = all calibration samples")
    ap.add_argument("--mode", choices=MODES, default="sequential")
    ap.add_argument("--classifier", choices=("inside", "all", "none"), default="inside", help="detector only")
    a = ap.parse_args(argv)
    detector = a.model == "pose_detection"
    int8 = a.int8 or default_models_dir() / f"{a.model}_int8{'' if detector else '_mixed'}.tflite"
    shared = _shared_data()
    if shared is None:
        raise SystemExit("bias_correction: no shared data directory (../shared/data or EDGEPOSE_TEST_DATA)")
    float_dir = default_models_dir() / "float"
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name in dict.fromkeys(("pose_detection", "pose_landmark_full", a.model)):
            paths[name] = Path(tmp) / f"{name}.tflite"
            paths[name].write_bytes(rewrite_float32(read_model_bytes(float_dir / f"{name}.tflite"))[0])
        cset = cal.build_calibration_set(cal.default_source(shared, subset=calibration_set_for(a.model)),
                                         paths["pose_detection"],
                                         paths["pose_landmark_full"])  # fmt: skip
        f32 = paths[a.model].read_bytes()
        heads = score_head_tensors(f32) if detector else []
        inputs = BiasCorrection(a.frames, a.mode).inputs(cset.detector if detector else cset.landmark)
        classifier = {t: DETECTOR_SCORE_LOGIT_RANGE for t in heads} if a.classifier == "inside" else {}
        out, report = correct_biases(f32, read_model_bytes(int8), inputs, classifier, a.mode,
                                     heads if a.classifier == "none" else (), print)  # fmt: skip
    a.out.write_bytes(out)
    print(f"{a.out}: {report.describe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
