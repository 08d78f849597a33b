"""Issue 10's acceptance on data the recipes were not chosen on (edgepose_dev.models_build.evaluate, docs/int8.md):
- PARSE (305 labelled photos, the confirming part): the CPU's int8 within 1.0 PCK@0.2 point of float, and the
  Edge TPU form (the compiler's inputs run on the CPU) within 2.0, per model;
- the 609 person-free photos: the int8 lite pipeline finds no more poses than float;
- a rebuild of the detector (the cheapest model) gives the shipped file and its verification figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.engine import require_float_models
from support.paths import MODELS_DIR

from edgepose_dev.models_build.evaluate import engine_for, evaluate_part, form_models_dir

_float_results: dict[tuple[str, str], object] = {}  # float is the reference of several tests: run it once


def _part(shared: Path, model: str, form: str, part: str, tmp: Path):
    if form == "float" and (model, part) in _float_results:
        return _float_results[model, part]
    d = form_models_dir(require_float_models(), model, form, tmp)
    result = evaluate_part(engine_for(d, model, form, threads=None), shared, part)
    if form == "float":
        _float_results[model, part] = result
    return result


# Measured 2026-12-01 (docs/int8.md, "Large-set evaluation"): lite −0.66, full −0.93 (int8_mixed with a float
# stem, rebuilt), heavy −0.96 points.
@pytest.mark.parametrize("model", ["lite", "full", "heavy"])
def test_int8_on_the_confirming_part_within_one_point_of_float(shared_data: Path, model: str, tmp_path) -> None:
    f = _part(shared_data, model, "float", "confirm", tmp_path)
    q = _part(shared_data, model, "int8", "confirm", tmp_path)
    print(f"{model} PARSE ({f.images} photos): PCK@0.2 float {f.pck:.2f} found {f.found}, "
          f"int8 {q.pck:.2f} found {q.found}")  # fmt: skip
    assert f.images == 305
    assert q.pck >= f.pck - 1.0


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


@pytest.mark.xfail(strict=True, reason="issue 10 open: int8 lite 55/609 vs float 17/609 (shipped before: 132)")
def test_int8_finds_no_more_poses_on_negatives_than_float(shared_data: Path, tmp_path) -> None:
    f = _part(shared_data, "lite", "float", "negatives", tmp_path)
    q = _part(shared_data, "lite", "int8", "negatives", tmp_path)
    print(f"negatives ({f.images} photos): poses float {f.poses}, int8 {q.poses}")
    assert f.images == 609
    assert q.poses <= f.poses


def test_detector_rebuild_gives_the_shipped_file(shared_data: Path, tmp_path) -> None:
    pytest.importorskip("ai_edge_quantizer", reason="needs the quantize extra: pip install -e './dev[quantize]'")
    from edgepose.model_manifest import load_manifest
    from edgepose_dev.models_build.build import build_models

    shipped = load_manifest(MODELS_DIR).models["pose_detection"]
    out = tmp_path / "models"
    built = build_models(require_float_models() / "float", out, models=("pose_detection",),
                         shared_data=shared_data).models["pose_detection"]  # fmt: skip
    assert built.verification["detector_agreement"] == shipped.verification["detector_agreement"]
    assert built.recipe["calibration"]["sha256"] == shipped.recipe["calibration"]["sha256"]
    assert built.sha256 == shipped.sha256
