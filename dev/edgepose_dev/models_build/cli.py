"""`edgepose models build [--calibration DIR] [--edgetpu]`, plugged into `edgepose models` through the entry point
`build` of the group edgepose.models_commands (dev/pyproject.toml)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgepose_dev.models_build.errors import ModelBuildError


def register_build(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "build",
        help="build the int8 models from the float ones (needs the 'quantize' extra)",
        description="Rewrite the float models to float32, calibrate on real people, quantize to int8, verify, "
        "and write models/*_int8.tflite plus models/manifest.json.",
    )
    p.add_argument("--calibration", type=Path, default=None, metavar="DIR",
                   help="images/videos of your camera to calibrate every model on (default: each model's set of "
                   "../shared/data photos and videos, quantize.CALIBRATION_SETS)")
    p.add_argument("--edgetpu", action="store_true",
                   help="also compile for the Edge TPU (or print the edgetpu_compiler command)")
    p.add_argument("--models-dir", type=Path, default=None, help="models directory (default: the repo's models/)")
    p.add_argument("--only", nargs="+", default=None, metavar="MODEL",
                   choices=("pose_detection", "pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy"),
                   help="rebuild only these models; the manifest keeps the other entries")
    p.add_argument("--no-detector-bias-correction", dest="detector_bias_correction", action="store_false",
                   help="leave the int8 detector's int32 biases as quantized (the shipped detector has them corrected "
                   "by their mean per-channel error on 128 calibration frames: bias_correction.py, docs/int8.md)")
    p.add_argument("--no-landmark-bias-correction", dest="landmark_bias_correction", action="store_false",
                   help="leave the int8_mixed landmark files' int32 biases as quantized (full's are corrected like "
                   "the detector's, on landmark crops: quantize.MIXED_BIAS_CORRECTION, docs/int8.md)")
    p.add_argument("--edgetpu-inputs-only", action="store_true",
                   help="only make the Edge TPU compiler's inputs again from the built files (rewritten detector, "
                   "split landmark models; seconds, no quantization) and update the manifest")  # fmt: skip
    p.set_defaults(func=run_build)
    return p


def run_build(args: argparse.Namespace) -> int:
    from edgepose.cli import EXIT_DATAERR, CommandError

    try:
        from edgepose.model_files import default_models_dir
    except ImportError:  # pragma: no cover - model_files is part of the package
        default_models_dir = lambda: Path("models")  # noqa: E731
    from edgepose_dev.models_build.build import build_models, write_edgetpu_inputs
    from edgepose_dev.models_build.quantize import DETECTOR_BIAS_CORRECTION

    models_dir = args.models_dir or default_models_dir()
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if getattr(args, "edgetpu_inputs_only", False):
        try:
            manifest = write_edgetpu_inputs(models_dir, say)
        except ModelBuildError as e:
            raise CommandError(str(e), EXIT_DATAERR) from None
        print(f"wrote {models_dir / 'manifest.json'}; Edge TPU compiler: {manifest.edgetpu_compiler_command}")
        return 0
    try:
        manifest = build_models(
            models_dir / "float", models_dir, args.calibration, args.edgetpu,
            progress=say,
            **({"models": tuple(args.only)} if args.only else {}),
            detector_bias_correction=DETECTOR_BIAS_CORRECTION if args.detector_bias_correction else None,
            landmark_bias_correction=args.landmark_bias_correction,
        )
    except ModelBuildError as e:
        raise CommandError(str(e), EXIT_DATAERR) from None
    for entry in manifest.models.values():
        v = entry.verification
        lm = v.get("landmarks") or {}
        extra = (f" PCK float {lm.get('pck_float')} int8 {lm.get('pck_int8')}; "
                 f"mean dev {lm.get('mean_pct_torso', 0):.1f}% torso") if lm else ""
        print(f"{entry.file}: {entry.size} bytes sha256 {entry.sha256[:12]}…{extra}")
    print(f"wrote {models_dir / 'manifest.json'}")
    return 0
