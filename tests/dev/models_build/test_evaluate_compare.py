"""evaluate: with float among the forms, every other form's row pairs its photos with float's (vs_float)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.engine import require_float_models

from edgepose_dev.models_build.evaluate import EvaluationError, PartResult, compare_with_float, evaluate, format_row


def test_rows_pair_each_form_with_float_on_the_same_photos(shared_data: Path) -> None:
    parts = ("confirm", "negatives")
    rows = list(evaluate(require_float_models(), shared_data, ("lite",), ("int8", "float"), parts, limit=25,
                         threads=1))  # fmt: skip
    assert [r["form"] for r in rows] == ["float", "int8"]  # float first, whatever the order asked
    f, q = rows
    assert "vs_float" not in f and "per_person" not in q["confirm"]
    vs = q["vs_float"]
    assert vs["confirm"]["delta"] == pytest.approx(q["confirm"]["pck"] - f["confirm"]["pck"], abs=0.01)
    assert vs["confirm"]["people"] == f["confirm"]["persons"] == q["confirm"]["persons"]
    lo, hi = vs["confirm"]["ci95"]
    assert lo <= vs["confirm"]["delta"] <= hi
    assert (vs["confirm"]["changed"] == 0) == (lo == hi == 0.0)
    dev = vs["confirm"]["deviation"]  # int8 moves keypoints, but by a few % of the torso, not by limbs
    assert 0.5 < dev["mean_pct"] < 20.0 and dev["se"] > 0.0
    assert dev["both"] + dev["only_float"] == f["confirm"]["found"]
    assert dev["both"] + dev["only_this"] == q["confirm"]["found"]
    n = vs["negatives"]
    assert n["only_this"] - n["only_float"] == q["negatives"]["poses"] - f["negatives"]["poses"]
    assert 0.0 < n["p"] <= 1.0
    line = format_row(q, parts)
    assert "95 %" in line and "only float" in line and "% torso" in line


def test_comparing_different_photos_is_refused() -> None:
    a = PartResult("negatives", 3, poses=1, with_pose=(True, False, False))
    b = PartResult("negatives", 2, poses=0, with_pose=(False, False))
    with pytest.raises(EvaluationError, match="not the same photos"):
        compare_with_float(a, b)
    with pytest.raises(ValueError, match="not the same people"):
        compare_with_float(PartResult("confirm", 2, per_person=((1, 12), (3, 12))),
                           PartResult("confirm", 1, per_person=((1, 12),)))  # fmt: skip


def test_a_baseline_is_compared_through_float(shared_data: Path) -> None:
    models = require_float_models()
    rows = list(evaluate(models, shared_data, ("lite",), ("float", "int8"), ("confirm", "negatives"), limit=12,
                         threads=1, baseline=models))  # fmt: skip
    b = rows[1]["vs_baseline"]  # the shipped files against themselves: no difference of any kind
    assert b["confirm"]["delta"] == 0.0 and b["confirm"]["ci95"] == [0.0, 0.0]
    assert b["confirm"]["deviation_delta"] == 0.0 and b["confirm"]["people"] > 0
    assert (b["negatives"]["only_this"], b["negatives"]["only_baseline"]) == (0, 0)
    assert "vs baseline" in format_row(rows[1], ("confirm", "negatives"))
    with pytest.raises(EvaluationError, match="add float"):
        next(evaluate(models, shared_data, ("lite",), ("int8",), ("confirm",), limit=1, baseline=models))
