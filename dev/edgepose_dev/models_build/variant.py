"""Variant builds of one landmark model, for choosing recipes (docs/int8.md): a copy of the models directory with
that model rebuilt under a changed recipe, to evaluate with `evaluate --models-dir OUT`.

    python -m edgepose_dev.models_build.variant OUT --model pose_landmark_lite [--tail N]
        [--bias-correction FRAMES | --no-bias-correction] [--augment flip photometric]

The recipe tables (`quantize.MIXED_FLOAT`, `quantize.MIXED_BIAS_CORRECTION`) are changed for this build only and
restored after it; the shipped models directory is never written.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgepose_dev.models_build import quantize
from edgepose_dev.models_build.bias_correction import BiasCorrection
from edgepose_dev.models_build.build import MIXED_MODELS, build_models
from edgepose_dev.models_build.calibration import AUGMENTATIONS, check_augmentations
from edgepose_dev.models_build.errors import ModelBuildError


@dataclass(frozen=True)
class Variant:
    """What differs from the shipped recipe of `model`; None keeps the shipped value."""

    model: str
    tail: int | None = None  # float ops at the end of the int8_mixed file
    bias_correction_frames: int | None = None  # 0: no bias correction of the int8 body
    augment: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.model not in MIXED_MODELS:
            raise ModelBuildError(f"unknown landmark model {self.model!r}; choose one of {', '.join(MIXED_MODELS)}")
        if self.tail is not None and self.tail < 1:
            raise ModelBuildError(f"--tail must be a positive number of ops, not {self.tail}")
        if self.bias_correction_frames is not None and self.bias_correction_frames < 0:
            raise ModelBuildError(f"--bias-correction must be 0 or more frames, not {self.bias_correction_frames}")
        check_augmentations(self.augment)  # named before anything is copied


@contextmanager
def recipe_tables(variant: Variant) -> Iterator[None]:
    """`quantize`'s recipe tables with `variant`'s changes, restored on exit."""
    float_before = dict(quantize.MIXED_FLOAT)
    correction_before = dict(quantize.MIXED_BIAS_CORRECTION)
    try:
        if variant.tail is not None:
            stem, _ = quantize.MIXED_FLOAT[variant.model]
            quantize.MIXED_FLOAT[variant.model] = (stem, variant.tail)
        if variant.bias_correction_frames == 0:
            quantize.MIXED_BIAS_CORRECTION.pop(variant.model, None)
        elif variant.bias_correction_frames is not None:
            quantize.MIXED_BIAS_CORRECTION[variant.model] = BiasCorrection(
                frames=variant.bias_correction_frames, mode="sequential", detector=False)  # fmt: skip
        yield
    finally:
        quantize.MIXED_FLOAT.clear()
        quantize.MIXED_FLOAT.update(float_before)
        quantize.MIXED_BIAS_CORRECTION.clear()
        quantize.MIXED_BIAS_CORRECTION.update(correction_before)


def build_variant(variant: Variant, models_dir: Path, out_dir: Path, progress=None) -> Path:
    """Copy `models_dir` (its float models linked, not copied) to `out_dir` and rebuild `variant.model` there;
    returns the variant's int8_mixed file."""
    models_dir, out_dir = Path(models_dir), Path(out_dir)
    if out_dir.resolve() == models_dir.resolve():
        raise ModelBuildError(f"{out_dir} is the models directory itself; give a new directory for the variant")
    if out_dir.exists():
        raise ModelBuildError(f"{out_dir} exists; give a new directory for the variant")
    shutil.copytree(models_dir, out_dir, ignore=shutil.ignore_patterns("float"))
    (out_dir / "float").symlink_to((models_dir / "float").resolve(), target_is_directory=True)
    with recipe_tables(variant):
        build_models(out_dir / "float", out_dir, models=(variant.model,), progress=progress, augment=variant.augment)
    return out_dir / f"{variant.model}_int8_mixed.tflite"


def main(argv: Sequence[str] | None = None) -> int:
    from edgepose.cli import EXIT_DATAERR
    from edgepose.model_files import default_models_dir, sha256_file

    ap = argparse.ArgumentParser(prog="python -m edgepose_dev.models_build.variant", description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="new directory: a copy of the models directory with the variant")
    ap.add_argument("--model", required=True, choices=MIXED_MODELS)
    ap.add_argument("--models-dir", type=Path, default=None, help="the models to copy (default: the repo's models/)")
    ap.add_argument("--tail", type=int, default=None, metavar="N", help="float ops at the end (MIXED_FLOAT)")
    corr = ap.add_mutually_exclusive_group()
    corr.add_argument("--bias-correction", type=int, default=None, metavar="FRAMES", dest="frames",
                      help="correct the int8 body's biases on FRAMES landmark crops (MIXED_BIAS_CORRECTION)")
    corr.add_argument("--no-bias-correction", action="store_const", const=0, dest="frames")
    ap.add_argument("--augment", nargs="+", default=(), choices=AUGMENTATIONS,
                    help="add augmented copies of each calibration crop (calibration.augment_crops)")
    args = ap.parse_args(argv)
    say = lambda m: None if m.startswith("calibration ") else print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        variant = Variant(args.model, args.tail, args.frames, tuple(args.augment))
        path = build_variant(variant, args.models_dir or default_models_dir(), args.out, say)
    except ModelBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DATAERR
    short = args.model.removeprefix("pose_landmark_")
    print(f"{path}: sha256 {sha256_file(path)}")
    print(f"evaluate: python -m edgepose_dev.models_build.evaluate --models-dir {args.out} --model {short} "
          "--form int8 --part choose negatives --half even --threads 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
