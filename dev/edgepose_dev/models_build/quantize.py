"""Quantization recipes on ai-edge-quantizer (the optional extra `quantize`), and the int8 graph fix-ups.

Recipes:
- `int8`: weights int8 per channel, activations int8, int8 model input/output (the backend reads scale and
  zero point from the model). This is the Edge TPU form.
- `int8_mixed`: like `int8`, but the ops that cost PCK stay float (CPU only): the output heads and the
  high-resolution stem (`MIXED_FLOAT`, docs/int8.md).

ai-edge-quantizer does not quantize DEPTH_TO_SPACE (the detector has three); it leaves them float between a
DEQUANTIZE and a QUANTIZE. DEPTH_TO_SPACE only moves values, so `requantize_data_movement` runs it on the int8
tensor directly (output keeps the input's scale; the following QUANTIZE becomes an int8→int8 requantize).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgepose.inference.tflite_schema import (
    compact_model,
    load_model_t,
    op_names,
    pack_model_t,
    tensor_name,
    tensor_type_names,
)
from edgepose_dev.models_build.bias_correction import BiasCorrection
from edgepose_dev.models_build.errors import ModelBuildError

RECIPES = ("int8", "int8_mixed")
# int8_mixed, per landmark model: (keep the stem float, number of last ops kept float). The last 20 ops are the
# regression, presence and world heads. Quantizing one block at a time (docs/int8.md) shows that the rest of the
# loss comes from the stem (the ops above 1/16 of the input resolution): all three need it float (full's heads-only
# file lost 3.6 points on LSP, 2.4 on PARSE). Heavy also needs a longer float tail (the last 2×2 stage of its
# regression branch); full takes it too since 2026-12-02, with its bias correction (MIXED_BIAS_CORRECTION): LSP
# 76.20 → 77.01, chosen there and on the even negatives (docs/int8.md "Full's landmark file: longer float tail").
MIXED_FLOAT = {
    "pose_landmark_lite": (True, 20),
    "pose_landmark_full": (True, 40),
    "pose_landmark_heavy": (True, 40),
}
# The calibration set of each model's recipe (calibration.DEFAULT_SETS; "all" unless named here). Lite's and
# heavy's files were chosen and confirmed on the 26-file "people" set (235 crops): rebuilt on "all" (1,442 crops)
# lite failed the aarch64 photo test and heavy lost 1.12 points on PARSE (docs/int8.md "Reproducibility"). The
# detector needs "all" (its empty rooms) and full was chosen on it. A --calibration DIR replaces every model's set.
CALIBRATION_SETS = {
    "pose_landmark_lite": "people",
    "pose_landmark_heavy": "people",
}
DEFAULT_CALIBRATION_SET = "all"
STEM_MIN_FRACTION = 16  # the stem ends at the first op whose output is 1/16 of the input size or smaller
SEGMENTATION_OUTPUT = "Identity_2"  # not used by the pipeline: stays int8
DATA_MOVEMENT_OPS = frozenset({"DEPTH_TO_SPACE"})


@dataclass(frozen=True)
class Recipe:
    """A quantization recipe: its name and the layer-name regexes that keep 16-bit activations."""

    name: str
    int16_layers: tuple[str, ...] = ()
    float_layers: tuple[str, ...] = ()
    algorithm: str = "min_max_uniform_quantize"
    notes: tuple[str, ...] = field(default_factory=tuple)
    # How per-sample min/max become a tensor's range (`combine_ranges`); "moving_average" is the quantizer's own.
    ranges: str = "moving_average"
    # Detector: the score logits' int8 range ([-r, r], `score_head_tensors`) instead of the calibrated one.
    score_logit_range: float | None = None
    # Empirical bias correction after quantizing (bias_correction.py): the detector, full's int8_mixed; None = off.
    bias_correction: BiasCorrection | None = None

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "weights": "int8 symmetric, per output channel",
            "activations": f"int8 asymmetric, per tensor (min/max calibration, ranges: {self.ranges})",
            "score_logit_range": self.score_logit_range,
            "int16_activation_layers": list(self.int16_layers),
            "float_layers": len(self.float_layers),
            "notes": list(self.notes),
            "algorithm": self.algorithm,
            "io": "int8 input and outputs (scale/zero point in the model)" if not self.float_layers
            else "int8 input (scale/zero point in the model), float32 outputs from the float heads (float_outputs)",
            "tool": _tool_version(),
            # Only when set: the recipes without it describe themselves as before (same manifest on a rebuild).
            **({} if self.bias_correction is None else {"bias_correction": self.bias_correction.describe()}),
        }


def _tool_version() -> str:
    try:
        from importlib.metadata import version

        return f"ai-edge-quantizer {version('ai-edge-quantizer')}"
    except Exception:
        return "ai-edge-quantizer (version unknown)"


def import_quantizer():
    try:
        from ai_edge_quantizer import qtyping, quantizer, recipe
    except ImportError as e:
        raise ModelBuildError(
            f"ai-edge-quantizer is not installed ({e}); install the build extra: pip install 'edgepose-dev[quantize]' "
            "(in a checkout: pip install -e './dev[quantize]')"
        ) from None
    return quantizer, recipe, qtyping


def quantize_model(
    float32_model: bytes,
    calibration: dict[str, list[dict[str, np.ndarray]]],
    recipe: Recipe,
    samples: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> bytes:
    """Calibrate and quantize a float32 model (with signature def) and apply the int8 fix-ups. `samples`
    (`sample_ranges` of a full-int8 calibration) skips the calibration, for recipes other than moving_average."""
    quantizer, recipes, qtyping = import_quantizer()
    qt = quantizer.Quantizer(bytearray(float32_model))
    qt.load_quantization_recipe(recipes.static_wi8_ai8())
    for regex in recipe.int16_layers:
        # Later entries override earlier ones for the layers they match.
        qt.add_static_config(
            regex=f"^{re.escape(regex)};$",
            operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
            activation_num_bits=16,
            weight_num_bits=8,
        )
    for name in recipe.float_layers:
        # Kept float (the quantizer wraps them in DEQUANTIZE/QUANTIZE): CPU only, not Edge TPU form.
        qt.update_quantization_recipe(
            regex=f"^{re.escape(name)};$",
            operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
            algorithm_key="no_quantize",
        )
    qsv = calibrate_ranges(qt, float32_model, calibration, recipe.ranges) if samples is None \
        else ranges_from_samples(samples, recipe.ranges)
    if recipe.score_logit_range is not None:
        r = float(recipe.score_logit_range)
        for name in score_head_tensors(float32_model):
            qsv[name] = {"min": np.full_like(qsv[name]["min"], -r), "max": np.full_like(qsv[name]["max"], r)}
    result = qt.quantize(qsv, enable_progress_bar=False, enable_progress_report=False)
    out = requantize_data_movement(bytes(result.quantized_model))
    return float_outputs(out) if recipe.float_layers else out


RANGE_METHODS = ("moving_average", "global", "mean", "p99", "p95")


def combine_ranges(mins: np.ndarray, maxs: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """One range from the per-sample minima and maxima (stacked on axis 0), independent of their order:
    `global` = the extremes of all samples; `mean` = the mean of the per-sample extremes; `pNN` = the NN-th
    percentile of the per-sample maxima (and the (100 − NN)-th of the minima)."""
    if method == "global":
        return mins.min(axis=0), maxs.max(axis=0)
    if method == "mean":
        return mins.mean(axis=0), maxs.mean(axis=0)
    if method in ("p99", "p95"):
        q = float(method[1:])
        return np.percentile(mins, 100.0 - q, axis=0), np.percentile(maxs, q, axis=0)
    raise ModelBuildError(f"unknown range method {method!r}; choose one of {', '.join(RANGE_METHODS)}")


def calibrate_ranges(
    qt, float32_model: bytes, calibration: dict[str, list[dict[str, np.ndarray]]], method: str
) -> dict[str, dict]:
    """The tensors' min/max ranges. ai-edge-quantizer's own update is a moving average (factor 0.95) of the
    per-sample min/max, so the result depends on the order of the samples; the other methods combine every
    sample's min/max (`sample_ranges`) with `combine_ranges`."""
    if method == "moving_average":
        return qt.calibrate(calibration, num_threads=1)
    if method not in RANGE_METHODS:
        raise ModelBuildError(f"unknown range method {method!r}; choose one of {', '.join(RANGE_METHODS)}")
    return ranges_from_samples(sample_ranges(qt, float32_model, calibration), method)


def sample_ranges(
    qt, float32_model: bytes, calibration: dict[str, list[dict[str, np.ndarray]]]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{tensor: (per-sample minima, maxima)}, stacked on axis 0, from the quantizer's own calibrator (its
    preserve-all-tensors interpreter and the quantizer's recipe) with an update function that keeps them all."""
    from ai_edge_quantizer import calibrator

    seen: dict[int, tuple[dict, list, list]] = {}  # id(current qsv) → (that qsv, per-sample minima, maxima)

    def collect(old: dict, new: dict) -> dict:
        kept = seen.pop(id(old), None)
        mins, maxs = (kept[1], kept[2]) if kept is not None and kept[0] is old else ([old["min"]], [old["max"]])
        mins.append(new["min"])
        maxs.append(new["max"])
        out = {"min": np.minimum(old["min"], new["min"]), "max": np.maximum(old["max"], new["max"])}
        seen[id(out)] = (out, mins, maxs)
        return out

    calib = calibrator.Calibrator(float32_model, num_threads=1, qsv_update_func=collect)
    calib.calibrate(calibration, qt._recipe_manager)  # the recipe the quantizer was given (private in 0.10)
    out = {}
    for name, v in calib.get_model_qsvs().items():
        if not v:
            continue
        kept = seen.get(id(v))
        mins, maxs = (kept[1], kept[2]) if kept is not None and kept[0] is v else ([v["min"]], [v["max"]])
        out[name] = (np.stack(mins), np.stack(maxs))
    return out


def ranges_from_samples(samples: dict[str, tuple[np.ndarray, np.ndarray]], method: str) -> dict[str, dict]:
    qsv = {}
    for name, (mins, maxs) in samples.items():
        lo, hi = combine_ranges(mins, maxs, method)
        qsv[name] = {"min": lo.astype(np.float32), "max": hi.astype(np.float32)}
    return qsv


def score_head_tensors(float32_model: bytes) -> list[str]:
    """The detector's score-logit tensors: the classifier convs, their reshapes and the concatenation that
    forms the score output (the graph output whose last dimension is 1). They share one int8 scale; calibrated,
    its range is about [−512, 2] (2 logits per step: scores came out as 0.500 or 0.907 only)."""
    model = load_model_t(float32_model)
    g = model.subgraphs[0]
    names = op_names(model)
    producer = {int(o): i for i, op in enumerate(g.operators) for o in op.outputs}
    score = [int(o) for o in g.outputs if int(g.tensors[int(o)].shape[-1]) == 1]
    if len(score) != 1:
        raise ModelBuildError("not a detector: no single score output (last dimension 1)")
    out: list[str] = []
    todo = score
    while todo:
        t = todo.pop()
        out.append(tensor_name(g.tensors[t]))
        i = producer.get(t)
        if i is not None and names[i] in ("CONCATENATION", "RESHAPE"):
            todo.extend(int(x) for x in (g.operators[i].inputs if names[i] == "CONCATENATION"
                                          else g.operators[i].inputs[:1]))  # fmt: skip
    return out


def float_outputs(model_bytes: bytes) -> bytes:
    """Return float outputs as float: drop the QUANTIZE that ai-edge-quantizer puts between a float head and a
    graph output (it would throw the head's precision away again: the landmark regression output came out in
    1.27-pixel steps). The backend reads each output's type from the model, so nothing else changes."""
    model = load_model_t(model_bytes)
    g = model.subgraphs[0]
    names = op_names(model)
    tnames = tensor_type_names()
    producer = {int(o): i for i, op in enumerate(g.operators) for o in op.outputs}
    replace: dict[int, int] = {}
    for o in (int(x) for x in g.outputs):
        i = producer.get(o)
        if i is None or names[i] != "QUANTIZE":
            continue
        src = int(g.operators[i].inputs[0])
        if tnames[g.tensors[src].type] == "FLOAT32":
            replace[o] = src
            g.tensors[src].name = g.tensors[o].name  # keep the output's name (signature, reports)
    if not replace:
        return model_bytes
    drop = {producer[o] for o in replace}
    g.operators = [op for i, op in enumerate(g.operators) if i not in drop]
    g.outputs = np.array([replace.get(int(x), int(x)) for x in g.outputs], dtype=np.int32)
    for sig in model.signatureDefs or []:
        for m in sig.outputs or []:
            m.tensorIndex = replace.get(int(m.tensorIndex), int(m.tensorIndex))
    compact_model(model)
    return pack_model_t(model)


def requantize_data_movement(model_bytes: bytes) -> bytes:
    """Run float-only data-movement ops (DEPTH_TO_SPACE) on int8: remove their DEQUANTIZE/QUANTIZE sandwich."""
    model = load_model_t(model_bytes)
    g = model.subgraphs[0]
    names = op_names(model)
    tnames = tensor_type_names()
    producer = {int(o): i for i, op in enumerate(g.operators) for o in op.outputs}
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(g.operators):
        for x in op.inputs:
            consumers.setdefault(int(x), []).append(i)
    drop: set[int] = set()
    for i, op in enumerate(g.operators):
        if names[i] not in DATA_MOVEMENT_OPS:
            continue
        src = int(op.inputs[0])
        p = producer.get(src)
        if p is None or names[p] != "DEQUANTIZE":
            continue
        q_in = int(g.operators[p].inputs[0])
        if tnames[g.tensors[q_in].type] not in ("INT8", "INT16"):
            continue
        out = g.tensors[int(op.outputs[0])]
        op.inputs = np.array([q_in, *[int(x) for x in op.inputs[1:]]], dtype=np.int32)
        out.type = g.tensors[q_in].type
        out.quantization = copy.deepcopy(g.tensors[q_in].quantization)
        if consumers.get(src, []) == [i]:
            drop.add(p)
    if drop:
        g.operators = [op for i, op in enumerate(g.operators) if i not in drop]
        compact_model(model)
    return pack_model_t(model)


def mixed_float_layers(float32_model: bytes, stem: bool, tail: int) -> list[str]:
    """Output tensor names of the ops int8_mixed keeps float: the last `tail` ops (graph order) and, with `stem`,
    the leading ops up to the first one at 1/16 of the input size; never the segmentation head."""
    model = load_model_t(float32_model)
    g = model.subgraphs[0]
    ops = list(g.operators[-tail:]) if tail else []
    if stem:
        limit = int(g.tensors[int(g.inputs[0])].shape[1]) // STEM_MIN_FRACTION
        for op in g.operators:
            shape = g.tensors[int(op.outputs[0])].shape
            if len(shape) == 4 and int(shape[1]) <= limit:
                break
            ops.append(op)
    names = []
    for op in ops:
        t = g.tensors[int(op.outputs[0])]
        name = tensor_name(t)
        if name != SEGMENTATION_OUTPUT and name not in names:
            names.append(name)
    return names


# The detector's score logits get this int8 range instead of the calibrated one (about [−512, 2]: 2 logits per
# step). On the calibration frames the largest logit is 4.5; ±8 keeps every score between 0.0003 and 0.9997 at
# 0.063 logits per step (0.016 in score at the 0.5 threshold), all in int8, so it stays the Edge TPU form.
DETECTOR_SCORE_LOGIT_RANGE = 8.0


# The detector's bias correction (docs/int8.md, "Why the int8 detector still finds more people on the negatives"):
# chosen on LSP and the even negatives among 32/128/all frames, sequential/one-shot, classifier convs or not. On by
# default since 2026-12-02 (`--no-detector-bias-correction` leaves it out): confirmed on the odd negatives (lite 21 →
# 9, float 8) and the 17 photos; on PARSE full's int8 loses 1.40 points against float (the uncorrected 0.93).
DETECTOR_BIAS_CORRECTION = BiasCorrection(frames=128, mode="sequential", classifier=True)


def detector_recipe(bias_correction: BiasCorrection | None = None) -> Recipe:
    """Full int8 (also the Edge TPU's): global ranges (the moving average put the logits near the threshold a
    median 0.71 below float's on the calibration frames, global ranges 0.02), the fixed score range, and the
    empirical bias correction (the shipped detector: DETECTOR_BIAS_CORRECTION; None: off)."""
    notes = [f"score logits: fixed int8 range ±{DETECTOR_SCORE_LOGIT_RANGE:g}"]
    if bias_correction is not None:
        notes.append(f"int32 biases corrected by the mean per-channel error on {bias_correction.frames} frames")
    return Recipe("int8", ranges="global", score_logit_range=DETECTOR_SCORE_LOGIT_RANGE,
                  bias_correction=bias_correction, notes=tuple(notes))  # fmt: skip


def recipe_for(name: str, int16_layers: Iterable[str] = (), float_layers: Iterable[str] = ()) -> Recipe:
    if name not in RECIPES:
        raise ModelBuildError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return Recipe(name, tuple(int16_layers), tuple(float_layers))


# The int8_mixed files whose int8 body gets the detector's empirical bias correction, on landmark crops (docs/int8.md
# "Full's landmark file: longer float tail and bias correction"). Full only: 32 crops, chosen on LSP and the even
# negatives (32/128/256 crops within 0.15 points there). Lite was measured and did not gain (LSP 73.45 → 73.22, even
# negatives unchanged; with the 40-op tail 73.39 and 15 against 73.57 and 15 without it, 2026-12-02); nor did
# heavy (LSP 79.80 → 79.64, even negatives 6 → 8, 2026-12-03; variant.py).
MIXED_BIAS_CORRECTION = {
    "pose_landmark_full": BiasCorrection(frames=32, mode="sequential", detector=False),
}


def calibration_set_for(model_name: str) -> str:
    """The name of the default calibration set `model_name`'s recipes calibrate on (CALIBRATION_SETS)."""
    return CALIBRATION_SETS.get(model_name, DEFAULT_CALIBRATION_SET)


def mixed_recipe(model_name: str, float32_model: bytes, bias_correction: bool = True) -> Recipe:
    """The int8_mixed recipe of a landmark model (`MIXED_FLOAT`), with its bias correction when
    `MIXED_BIAS_CORRECTION` has one and `bias_correction` is on."""
    stem, tail = MIXED_FLOAT[model_name]
    layers = tuple(mixed_float_layers(float32_model, stem, tail))
    notes = [f"float: {'stem (ops above 1/16 of the input size) + ' if stem else ''}last {tail} ops"]
    correction = MIXED_BIAS_CORRECTION.get(model_name) if bias_correction else None
    if correction is not None:
        notes.append(f"int32 biases of the int8 convs corrected by the mean per-channel error on {correction.frames} "
                     "landmark crops")
    return Recipe("int8_mixed", float_layers=layers, notes=tuple(notes), bias_correction=correction)


def tensor_types(model_bytes: bytes) -> dict[str, int]:
    """Count of tensors per type (for reports and tests)."""
    g = load_model_t(model_bytes).subgraphs[0]
    names = tensor_type_names()
    counts: dict[str, int] = {}
    for t in g.tensors:
        counts[names[t.type]] = counts.get(names[t.type], 0) + 1
    return counts


def op_counts(model_bytes: bytes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in op_names(load_model_t(model_bytes)):
        counts[n] = counts.get(n, 0) + 1
    return counts


def io_types(model_bytes: bytes) -> tuple[Sequence[str], Sequence[str]]:
    g = load_model_t(model_bytes).subgraphs[0]
    names = tensor_type_names()
    return [names[g.tensors[i].type] for i in g.inputs], [names[g.tensors[i].type] for i in g.outputs]
