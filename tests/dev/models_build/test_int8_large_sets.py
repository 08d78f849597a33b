"""Issue 10's acceptance on data the recipes were not chosen on (edgepose_dev.models_build.evaluate, docs/int8.md):
- PARSE (305 labelled photos, the confirming part): the CPU's int8 within 1.0 PCK@0.2 point of float, and the
  Edge TPU form (the compiler's inputs run on the CPU) within 2.0, per model;
- the 609 person-free photos: the int8 lite pipeline finds no more poses than float;
- a rebuild of the detector gives the shipped file: the same graph, weights and buffers, and the first corrected
  biases of its bias correction (the whole correction takes 6 of the build's 9.5 minutes here);
- a rebuild of lite (about 3 minutes) gives its five shipped files byte for byte.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from support.engine import require_float_models
from support.paths import MODELS_DIR

from edgepose_dev.models_build.evaluate import compare_with_float, engine_for, evaluate_part, form_models_dir

_float_results: dict[tuple[str, str], object] = {}  # float is the reference of several tests: run it once


def _part(shared: Path, model: str, form: str, part: str, tmp: Path):
    if form == "float" and (model, part) in _float_results:
        return _float_results[model, part]
    d = form_models_dir(require_float_models(), model, form, tmp)
    result = evaluate_part(engine_for(d, model, form, threads=None), shared, part)
    if form == "float":
        _float_results[model, part] = result
    return result


# Measured 2026-12-01/02 (docs/int8.md, "Large-set evaluation") with the bias-corrected int8 detector (403f9f4f…).
# The int8 figures depend on the CPU's kernels (float is the same everywhere): lite −0.96 / −1.07 / −1.32, full
# −1.12 / −0.93 / −0.99, heavy 0.00 / −0.17 / −0.16 on earlier sessions' x86, x86 with AVX2 only, aarch64 (A76).
# Lite and full straddle the 1.0 target, so for them a miss is an expected failure (issue 10 open) and the test
# fails only beyond REGRESSION points (a file or kernel change that loses more); heavy must meet the target.
# On 305 photos the paired 95 % interval of int8 − float is about ±1.3–1.5 points (the test prints it; docs/int8.md,
# "How precise the figures are"): the target sits inside the photos' own spread, which is why it is not a hard gate.
TARGET, REGRESSION = 1.0, 1.5
STRADDLES_TARGET = {"lite", "full"}


@pytest.mark.parametrize("model", ["lite", "full", "heavy"])
def test_int8_on_the_confirming_part_within_one_point_of_float(shared_data: Path, model: str, tmp_path) -> None:
    f = _part(shared_data, model, "float", "confirm", tmp_path)
    q = _part(shared_data, model, "int8", "confirm", tmp_path)
    d = compare_with_float(f, q)
    spread = f"paired 95 % interval {d['ci95'][0]:+.2f} … {d['ci95'][1]:+.2f}, {d['changed']} photos differ"
    print(f"{model} PARSE ({f.images} photos): PCK@0.2 float {f.pck:.2f} found {f.found}, "
          f"int8 {q.pck:.2f} found {q.found} ({spread})")  # fmt: skip
    assert f.images == 305
    if model in STRADDLES_TARGET:
        assert q.pck >= f.pck - REGRESSION
        if q.pck < f.pck - TARGET:
            pytest.xfail(f"issue 10 open: {model} int8 {q.pck - f.pck:+.2f} on PARSE with this CPU's kernels "
                         f"(target −{TARGET}; {spread})")  # fmt: skip
    assert q.pck >= f.pck - TARGET


# The Edge TPU form computes what the CPU's int8 does (docs/int8.md, "Edge TPU form"): the same figures, target 2.0.
# Heavy (2.5 min here) is left to its int8 test above and the chain's bit-identity test (tests/inference/test_chain.py).
@pytest.mark.parametrize("model", ["lite", "full"])
def test_edgetpu_form_on_the_confirming_part_within_two_points_of_float(shared_data: Path, model: str,
                                                                        tmp_path) -> None:  # fmt: skip
    f = _part(shared_data, model, "float", "confirm", tmp_path)
    q = _part(shared_data, model, "edgetpu", "confirm", tmp_path)
    print(f"{model} PARSE ({f.images} photos): PCK@0.2 float {f.pck:.2f} found {f.found}, "
          f"Edge TPU form {q.pck:.2f} found {q.found}")  # fmt: skip
    assert f.images == 305
    assert q.pck >= f.pck - 2.0


# Full meets it with no margin (10 against 10, since its 2026-12-02 file; the one before 6), heavy (8 against 8) is
# covered by docs/int8.md's table only: its float and int8 runs would add a minute.
@pytest.mark.parametrize("model", [pytest.param("lite", marks=pytest.mark.xfail(strict=True, reason=(
    "issue 10 open: int8 lite 22/609 vs float 17/609 (before the detector's bias correction 55, "
    "before issue 10 132)"))),
    "full"])  # fmt: skip
def test_int8_finds_no_more_poses_on_negatives_than_float(shared_data: Path, model: str, tmp_path) -> None:
    f = _part(shared_data, model, "float", "negatives", tmp_path)
    q = _part(shared_data, model, "int8", "negatives", tmp_path)
    d = compare_with_float(f, q)
    print(f"{model} negatives ({f.images} photos): poses float {f.poses}, int8 {q.poses} (int8 only "
          f"{d['only_this']}, float only {d['only_float']}, McNemar p {d['p']:.2f})")  # fmt: skip
    assert f.images == 609
    assert q.poses <= f.poses


def test_detector_rebuild_gives_the_shipped_file(shared_data: Path, tmp_path) -> None:
    """The build with the shipped recipe, its bias correction stopped after the first FIRST convs (a conv's
    correction depends only on the convs before it, so these are the whole run's): every byte of the file equals
    the shipped one's except inside the biases the rest of the correction changes."""
    pytest.importorskip("ai_edge_quantizer", reason="needs the quantize extra: pip install -e './dev[quantize]'")
    from edgepose.inference.tflite_schema import load_model_t, tensor_name
    from edgepose.model_manifest import load_manifest
    from edgepose_dev.models_build.bias_correction import _bias_views, _convs
    from edgepose_dev.models_build.build import build_models
    from edgepose_dev.models_build.quantize import DETECTOR_BIAS_CORRECTION

    first = 6
    shipped = load_manifest(MODELS_DIR).models["pose_detection"]
    out = tmp_path / "models"
    partial = dataclasses.replace(DETECTOR_BIAS_CORRECTION, max_convs=first)
    built = build_models(require_float_models() / "float", out, models=("pose_detection",), shared_data=shared_data,
                         detector_bias_correction=partial).models["pose_detection"]  # fmt: skip
    assert built.recipe["calibration"]["sha256"] == shipped.recipe["calibration"]["sha256"]
    assert built.recipe["bias_correction"]["convs_corrected"] == first
    assert shipped.recipe["bias_correction"]["convs_corrected"] == 73
    ours = bytearray((out / shipped.file).read_bytes())
    theirs = bytearray((MODELS_DIR / shipped.file).read_bytes())
    assert len(ours) == len(theirs)
    model = load_model_t(bytes(theirs))
    names = {tensor_name(t) for t in model.subgraphs[0].tensors}
    convs = _convs(model, names, {})
    assert len(convs) == 73
    # Byte ranges of each conv's bias inside the file (the views point into `theirs`).
    base = np.frombuffer(theirs, np.uint8).ctypes.data
    views = _bias_views(theirs, convs)
    spans = [(views[c.bias_buffer].ctypes.data - base, views[c.bias_buffer].nbytes) for c in convs]
    a, b = np.frombuffer(bytes(ours), np.uint8), np.frombuffer(bytes(theirs), np.uint8)
    differ = a != b
    for k, (start, size) in enumerate(spans):
        if k < first:
            assert not differ[start:start + size].any(), f"bias of conv {k} ({convs[k].tensor}) differs"
        differ[start:start + size] = False  # later biases: the rest of the correction
    assert not differ.any(), f"{int(differ.sum())} bytes differ outside the corrected biases"
    assert (a != b).any()  # the later corrections are in the shipped file, not in this one


# A faithful rebuild on another kind of CPU: calibration rounding only (rebuild.py). Seen: 4.4e-4 (rebuilt on AVX-512,
# the shipped files reproduced byte for byte on AVX2); a variant calibrated on other crops moves them by 6e-2, a
# recipe change the graph.
REBUILD_SCALE_REL, REBUILD_ZERO_POINT, REBUILD_BIAS_REL = 2e-3, 1, 2e-3


def test_lite_rebuild_gives_the_shipped_files(shared_data: Path, tmp_path) -> None:
    """Lite's recipes on their calibration set (quantize.CALIBRATION_SETS: "people", 26 files) give the shipped
    full-int8 file, the int8_mixed file and the three parts of its Edge TPU form: byte for byte on a CPU of the kind
    that built them, and on another with only the calibration's rounding in the activation scales and the int32
    biases (`rebuild.compare_rebuild`), the same operators and verification figures close to the manifest's.
    (Heavy's five files reproduce the same way, in about 6 minutes here: docs/int8.md "Reproducibility".)"""
    pytest.importorskip("ai_edge_quantizer", reason="needs the quantize extra: pip install -e './dev[quantize]'")
    from edgepose.model_files import sha256_file
    from edgepose.model_manifest import load_manifest
    from edgepose_dev.models_build.build import build_models
    from edgepose_dev.models_build.rebuild import compare_rebuild

    shipped = load_manifest(MODELS_DIR).models
    out = tmp_path / "models"
    built = build_models(require_float_models() / "float", out, models=("pose_landmark_lite",),
                         shared_data=shared_data).models  # fmt: skip
    keys = sorted(k for k in built if k.startswith("pose_landmark_lite"))
    assert len(keys) == 5, keys
    for key in keys:
        ours, theirs = built[key], shipped[key]
        assert ours.file == theirs.file
        assert ours.recipe == theirs.recipe, key
        assert sha256_file(out / ours.file) == ours.sha256, key
        assert sha256_file(MODELS_DIR / theirs.file) == theirs.sha256, key
        d = compare_rebuild((out / ours.file).read_bytes(), (MODELS_DIR / theirs.file).read_bytes())
        print(f"{key}: {'byte for byte' if d.identical else d}")
        if d.identical:
            continue
        assert d.within(REBUILD_SCALE_REL, REBUILD_ZERO_POINT, REBUILD_BIAS_REL), (key, d)
        mine, shipped_figures = ours.verification, theirs.verification
        assert {k: v for k, v in mine.items() if k != "landmarks"} == \
            {k: v for k, v in shipped_figures.items() if k != "landmarks"}, key  # fmt: skip
        if "landmarks" in shipped_figures:  # measured with this CPU's kernels against the building CPU's
            lm, ref = mine["landmarks"], shipped_figures["landmarks"]
            assert abs(lm["pck_int8"] - ref["pck_int8"]) <= 1.5, key
            assert abs(lm["mean_pct_torso"] - ref["mean_pct_torso"]) <= 0.1 * ref["mean_pct_torso"], key
