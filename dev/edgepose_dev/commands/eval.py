"""`edgepose eval`: PCK@0.2 on the COCO-17 keypoints of the single-person images of a COCO keypoints file."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.commands.common import (
    InputError,
    add_edgetpu_form_arg,
    add_engine_args,
    add_validity_config_arg,
    build_engine,
    engine_config,
    read_image,
    validity_settings,
)
from edgepose.daemon.pipeline import accepted_only, validity_stage
from edgepose.errors import EXIT_DATAERR, EXIT_NOINPUT, EXIT_OK, EXIT_UNAVAILABLE, CommandError, EdgeposeError
from edgepose.model_files import COMPLEXITIES
from edgepose.topology import COCO17_FROM_BLAZEPOSE
from edgepose_dev.metrics import TORSO_DEFINITION, PckAccumulator


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("eval", help="PCK@0.2 on a COCO keypoints file (single-person images)")
    p.add_argument("annotations", type=Path, metavar="ANNOTATIONS.json")
    p.add_argument("--images", type=Path, required=True, help="directory the file_name entries are relative to")
    add_engine_args(p)
    add_edgetpu_form_arg(p)
    p.add_argument("--alpha", type=float, default=0.2, help="PCK threshold as a fraction of torso size")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--multi-person", action="store_true",
                   help="score the photos with several people instead (with --max-poses N)")
    p.add_argument("--against", choices=("mediapipe",), default=None,
                   help="also score MediaPipe's legacy Pose on the same images (reference venv)")
    p.add_argument("--no-validity", action="store_true", help="score the raw engine (no pose-validity stage)")
    add_validity_config_arg(p)
    p.set_defaults(func=run)


def load_single_person(path: Path) -> list[tuple[dict[str, Any], np.ndarray]]:
    """(image entry, (17, 3) keypoints) for every image with exactly one annotated person."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = {im["id"]: im for im in data["images"]}
        annotations = data["annotations"]
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file", EXIT_NOINPUT) from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CommandError(f"{path}: not a COCO keypoints file ({e})", EXIT_DATAERR) from None
    per_image = Counter(a["image_id"] for a in annotations)
    out = []
    for a in annotations:
        if per_image[a["image_id"]] == 1 and a["image_id"] in images:
            kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(17, 3)
            out.append((images[a["image_id"]], kp))
    return sorted(out, key=lambda t: t[0]["file_name"])


def mediapipe_predictions(args: argparse.Namespace, paths: list[Path]) -> list[np.ndarray | None]:
    """(17, 2) COCO-ordered pixel predictions of MediaPipe's legacy Pose, static mode, per image."""
    from edgepose_dev.reference.mediapipe_client import run_mediapipe

    try:
        ref = run_mediapipe(paths, model_complexity=COMPLEXITIES.index(args.model), static=True)
    except EdgeposeError as e:  # MediaPipeUnavailable, MediaPipeRunError
        raise CommandError(str(e), EXIT_UNAVAILABLE) from None
    px = ref.pixels()
    return [px[i][COCO17_FROM_BLAZEPOSE].astype(np.float64) if ref.found[i] else None for i in range(ref.frames)]


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    samples = load_single_person(args.annotations)
    # Photos: the validity stage's per-frame rules with the configuration's settings (`--config`), as `infer`
    # applies them (with the mirrored poses the person score uses).
    settings = validity_settings(args)
    engine = build_engine(engine_config(args, static=True, mirror=not args.no_validity))
    validity = validity_stage(settings, static=True, enabled=not args.no_validity)
    acc = PckAccumulator(alpha=args.alpha)
    failures = []
    scored: list[tuple[Path, np.ndarray]] = []
    for image_entry, gt in samples:
        path = args.images / image_entry["file_name"]
        try:
            rgb = read_image(path)
        except InputError as e:
            failures.append(str(e))
            continue
        h, w = rgb.shape[:2]
        raw = engine.process(rgb)
        result = accepted_only(raw, validity.process(raw, rgb))
        pred = result.poses[0].xy_pixels(w, h)[COCO17_FROM_BLAZEPOSE].astype(np.float64) if result.poses else None
        acc.add(gt, pred)
        scored.append((path, gt))
    reference = None
    if args.against == "mediapipe" and scored:
        ref_acc = PckAccumulator(alpha=args.alpha)
        for (_, gt), pred in zip(scored, mediapipe_predictions(args, [p for p, _ in scored]), strict=True):
            ref_acc.add(gt, pred)
        reference = {"persons_missed": ref_acc.missed, "per_keypoint": ref_acc.per_keypoint(),
                     "overall": ref_acc.overall()}  # fmt: skip
    return {
        "metric": f"PCK@{args.alpha:g}",
        "torso": TORSO_DEFINITION,
        "model": args.model,
        "precision": args.precision,
        "precision_stages": {"detector": engine.precision.detector, "landmark": engine.precision.landmark}
        if engine.precision else None,
        "images": len(samples),
        "persons_scored": acc.persons,
        "persons_without_torso": acc.skipped_no_torso,
        "persons_missed": acc.missed,
        "validity": not args.no_validity,
        "validity_rejected": dict(sorted(validity.rejections.items())),
        "per_keypoint": acc.per_keypoint(),
        "overall": acc.overall(),
        "failed": failures,
        "mediapipe": reference,
    }


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def run(args: argparse.Namespace) -> int:
    if args.multi_person:
        from edgepose_dev.commands.eval_multi import evaluate_multi, print_report

        multi = evaluate_multi(args)
        if args.json:
            print(json.dumps(multi))
        else:
            print_report(multi)
        return EXIT_NOINPUT if multi["failed"] else EXIT_OK
    report = evaluate(args)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['metric']} on {report['images']} single-person images "
              f"({report['model']}, {report['precision']}); {report['torso']}")  # fmt: skip
        print(f"persons scored {report['persons_scored']}, not found {report['persons_missed']}, "
              f"without torso labels {report['persons_without_torso']}")  # fmt: skip
        ref = report["mediapipe"]
        print(f"  {'keypoint':<16} {'edgepose':>8}" + (f" {'mediapipe':>9}" if ref else ""))
        for name, v in report["per_keypoint"].items():
            line = f"  {name:<16} {_pct(v):>8}"
            print(line + (f" {_pct(ref['per_keypoint'][name]):>9}" if ref else ""))
        line = f"  {'overall':<16} {_pct(report['overall']):>8}"
        print(line + (f" {_pct(ref['overall']):>9}" if ref else ""))
        if ref:
            print(f"  mediapipe: persons not found {ref['persons_missed']}")
    for f in report["failed"]:
        print(f"edgepose eval: {f}")
    return EXIT_NOINPUT if report["failed"] else EXIT_OK
