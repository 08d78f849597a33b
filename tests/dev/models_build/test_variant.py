"""Variant builds change the recipe tables for one build only and refuse bad input before copying anything."""

from __future__ import annotations

import pytest

from edgepose_dev.models_build import quantize
from edgepose_dev.models_build.errors import ModelBuildError
from edgepose_dev.models_build.variant import Variant, build_variant, main, recipe_tables


def test_recipe_tables_are_changed_inside_and_restored_after() -> None:
    float_before = dict(quantize.MIXED_FLOAT)
    correction_before = dict(quantize.MIXED_BIAS_CORRECTION)
    with recipe_tables(Variant("pose_landmark_lite", tail=40, bias_correction_frames=32)):
        assert quantize.MIXED_FLOAT["pose_landmark_lite"] == (float_before["pose_landmark_lite"][0], 40)
        assert quantize.MIXED_BIAS_CORRECTION["pose_landmark_lite"].frames == 32
    with pytest.raises(RuntimeError), recipe_tables(Variant("pose_landmark_full", bias_correction_frames=0)):
        assert "pose_landmark_full" not in quantize.MIXED_BIAS_CORRECTION
        raise RuntimeError("a failed build")
    assert quantize.MIXED_FLOAT == float_before
    assert quantize.MIXED_BIAS_CORRECTION == correction_before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "pose_detection"}, "unknown landmark model 'pose_detection'"),
        ({"model": "pose_landmark_lite", "tail": 0}, "--tail must be a positive number of ops, not 0"),
        ({"model": "pose_landmark_lite", "bias_correction_frames": -1}, "0 or more frames, not -1"),
        ({"model": "pose_landmark_lite", "augment": ("blur",)}, "unknown augmentation blur"),
    ],
)
def test_bad_variants_are_named(kwargs, message) -> None:
    with pytest.raises(ModelBuildError, match=message):
        Variant(**kwargs)


def test_an_existing_output_directory_is_refused_and_left_alone(tmp_path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ModelBuildError, match="exists; give a new directory"):
        build_variant(Variant("pose_landmark_lite"), models, out)
    with pytest.raises(ModelBuildError, match="is the models directory itself"):
        build_variant(Variant("pose_landmark_lite"), models, models)
    assert (out / "keep.txt").read_text() == "mine"


def test_the_cli_exits_with_a_data_error_naming_the_problem(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert main([str(out), "--model", "pose_landmark_lite", "--tail", "0"]) == 65
    assert "error: --tail must be a positive number of ops, not 0" in capsys.readouterr().err
