"""Accuracy of the int8 models on data large enough to tell recipes apart (issue 10).

`python -m edgepose_dev.models_build.evaluate [--model lite full heavy] [--form float int8 int8-full]` prints, per
landmark model × form: PCK@0.2 on each part, the people found, and the poses found on person-free photos.

Parts (all under ../shared/data):
- `choose`: images/sports, LSP train (1,000 photos): recipes and calibration are chosen on it;
- `confirm`: images/sports, PARSE (305 photos): figures a recipe was not chosen on;
- `photos`: the single-person photos of images/annotated (17 of the 34; the engine tracks one person);
- `negatives`: images/negatives (609 person-free photos): a pose there is a false person.

Forms: `float`; `int8` = what the CPU runs with `--precision int8` (int8 detector + the `int8_mixed` landmark
file when it exists); `int8-full` = the int8 detector + the full-int8 landmark file; `edgetpu` = the Edge TPU
form (`--edgetpu-form`: the compiler's inputs, i.e. the rewritten detector and the split landmark model, run on
the CPU). `--detector FILE` replaces the int8 detector (to compare detector recipes; not with `edgetpu`).
`--half even|odd`: only the negatives of even (odd) index in the sorted file list (choose on even, confirm on odd).

With `float` among the forms (it runs first), every other form's row has `vs_float`: per labelled part the paired
difference in PCK points with its bootstrap 95 % interval (`metrics.paired_pck_difference`: the photos resampled),
and on the negatives the photos with a pose in one form only and the exact McNemar p of that split. A difference
whose interval spans the target cannot tell the forms apart on that part. Each labelled part also gets `deviation`:
how far the form's keypoints lie from float's on the people both found, in % of the labelled torso (clipped at one
torso, `metrics.paired_keypoint_deviation`), with its standard error. It carries neither the labels' own error nor
the found/missed flips, so it tells close recipes apart where PCK cannot. `--baseline DIR` also runs each non-float
form on DIR's files (e.g. the shipped models/ when `--models-dir` holds a variant) and adds `vs_baseline`: the PCK
difference with its interval and how much closer to float the keypoints are (`metrics.deviation_difference`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from edgepose.commands.common import InputError, read_image
from edgepose.config import EngineConfig
from edgepose.engine.tracker import PoseEngine
from edgepose.errors import EXIT_NOINPUT, EdgeposeError
from edgepose.model_files import COMPLEXITIES, default_models_dir
from edgepose.topology import COCO17_FROM_BLAZEPOSE
from edgepose_dev.commands.eval import load_single_person
from edgepose_dev.metrics import (
    PckAccumulator,
    deviation_difference,
    paired_count_p,
    paired_keypoint_deviation,
    paired_pck_difference,
)

FORMS = ("float", "int8", "int8-full", "edgetpu")
LABELLED_PARTS = ("choose", "confirm", "photos")
PARTS = (*LABELLED_PARTS, "negatives")
_SPORTS_PREFIX = {"choose": "lsp/", "confirm": "parse/"}
HALVES = ("even", "odd")


class EvaluationError(EdgeposeError):
    """Missing data or model files: one line naming what is missing."""

    exit_status = EXIT_NOINPUT


@dataclass(frozen=True)
class PartResult:
    part: str
    images: int
    persons: int = 0  # scored persons (labelled torso)
    found: int = 0
    pck: float | None = None  # PCK@alpha over all labelled keypoints
    poses: int = 0  # negatives: photos with a pose
    # Per photo, to pair two forms on the same photos (left out of `summary`): labelled parts (correct,
    # labelled) keypoints, the (17, 2) COCO keypoints found (None: not found) and the labels, per scored person;
    # negatives whether the photo had a pose.
    per_person: tuple[tuple[int, int], ...] = field(default=(), repr=False)
    predicted: tuple[np.ndarray | None, ...] = field(default=(), repr=False)
    labels: tuple[np.ndarray, ...] = field(default=(), repr=False)
    with_pose: tuple[bool, ...] = field(default=(), repr=False)

    def summary(self) -> dict:
        """The figures without the per-photo lists (the fields with repr=False): a report row."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.repr}


def compare_with_float(reference: PartResult, other: PartResult) -> dict:
    """`other` − `reference` on the same photos: PCK points with the bootstrap interval, or on the negatives the
    photos with a pose in one of the two only and the McNemar p of that split."""
    if reference.part == "negatives":
        if len(reference.with_pose) != len(other.with_pose):
            n, m = len(reference.with_pose), len(other.with_pose)
            raise EvaluationError(f"negatives: {n} and {m} photos, not the same photos")
        only_this = sum(o and not r for r, o in zip(reference.with_pose, other.with_pose, strict=True))
        only_float = sum(r and not o for r, o in zip(reference.with_pose, other.with_pose, strict=True))
        return {"only_this": only_this, "only_float": only_float, "p": round(paired_count_p(only_this, only_float), 3)}
    d = paired_pck_difference(list(reference.per_person), list(other.per_person))
    row = {"delta": round(d.delta, 2), "se": round(d.se, 2), "ci95": [round(d.low, 2), round(d.high, 2)],
           "changed": d.changed, "people": d.people}  # fmt: skip
    if reference.predicted and other.predicted:
        dev = paired_keypoint_deviation(list(reference.predicted), list(other.predicted), list(reference.labels))
        row["deviation"] = {"mean_pct": round(dev.mean_pct, 2), "se": round(dev.se, 2), "both": dev.both,
                            "only_float": dev.only_a, "only_this": dev.only_b}  # fmt: skip
    return row


def compare_with_baseline(reference: PartResult, baseline: PartResult, other: PartResult) -> dict:
    """`other` − `baseline` (the same form of two recipes) on the same photos: PCK points with the bootstrap
    interval and how much closer to `reference` (float) `other`'s keypoints are, or on the negatives the split of the
    photos with a pose in one of the two only."""
    if reference.part == "negatives":
        c = compare_with_float(baseline, other)
        return {"only_this": c["only_this"], "only_baseline": c["only_float"], "p": c["p"]}
    d = paired_pck_difference(list(baseline.per_person), list(other.per_person))
    dev, se, n = deviation_difference(list(reference.predicted), list(baseline.predicted), list(other.predicted),
                                      list(reference.labels))  # fmt: skip
    return {"delta": round(d.delta, 2), "ci95": [round(d.low, 2), round(d.high, 2)],
            "deviation_delta": round(dev, 3), "deviation_se": round(se, 3), "people": n}  # fmt: skip


def shared_data() -> Path | None:
    from edgepose_dev.models_build.build import _shared_data

    return _shared_data()


def part_samples(data: Path, part: str) -> tuple[Path, list[tuple[dict, np.ndarray]]]:
    """(image root, [(image entry, (17, 3) GT)]) of a labelled part."""
    if part == "photos":
        root = data / "images" / "annotated"
        samples = load_single_person(root / "person_keypoints.json")
    else:
        root = data / "images" / "sports"
        samples = [s for s in load_single_person(root / "person_keypoints.json")
                   if s[0]["file_name"].startswith(_SPORTS_PREFIX[part])]  # fmt: skip
    if not samples:
        raise EvaluationError(f"no labelled photos for part {part!r} under {root}")
    return root, samples


def negative_images(data: Path, half: str | None = None) -> list[Path]:
    """The person-free photos, sorted; `half` = "even" / "odd": those of even / odd index only."""
    if half is not None and half not in HALVES:
        raise EvaluationError(f"unknown half {half!r}; choose one of {', '.join(HALVES)}")
    d = data / "images" / "negatives"
    files = sorted(p for p in d.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}) if d.is_dir() else []
    if not files:
        raise EvaluationError(f"no person-free photos under {d}")
    return files if half is None else files[HALVES.index(half) :: 2]


def form_models_dir(models_dir: Path, model: str, form: str, tmp: Path, detector: Path | None = None) -> Path:
    """A models directory that makes `--precision int8` load exactly the files of `form` (symlinks)."""
    if form == "edgetpu" and detector is not None:
        raise EvaluationError("--detector replaces the CPU's int8 detector; the edgetpu form runs the compiler's input")
    if form in ("float", "edgetpu"):
        return models_dir
    d = tmp / f"{model}-{form}"
    d.mkdir(parents=True, exist_ok=True)
    lm = models_dir / f"pose_landmark_{model}_int8{'_mixed' if form == 'int8' else ''}.tflite"
    if form == "int8" and not lm.is_file():
        lm = models_dir / f"pose_landmark_{model}_int8.tflite"
    det = detector or models_dir / "pose_detection_int8.tflite"
    for src in (lm, det):
        if not src.is_file():
            raise EvaluationError(f"model file {src} is missing; build it with `edgepose models build`")
    links = {"float": models_dir / "float", "pose_detection_int8.tflite": det,
             f"pose_landmark_{model}_int8.tflite": lm}  # fmt: skip
    for name, src in links.items():
        (d / name).unlink(missing_ok=True)
        (d / name).symlink_to(src.resolve())
    return d


def engine_for(models_dir: Path, model: str, form: str, threads: int | None) -> PoseEngine:
    precision = "float" if form == "float" else "int8"
    config = EngineConfig(model=model, precision=precision, backend="cpu", static=True, threads=threads,
                          models_dir=models_dir, edgetpu_form=form == "edgetpu")  # fmt: skip
    return PoseEngine.from_config(config)


def _predict(engine: PoseEngine, path: Path) -> tuple[np.ndarray | None, int, int]:
    rgb = read_image(path)
    h, w = rgb.shape[:2]
    result = engine.process(rgb)
    pred = result.poses[0].xy_pixels(w, h)[COCO17_FROM_BLAZEPOSE].astype(np.float64) if result.poses else None
    return pred, w, h


def evaluate_part(engine: PoseEngine, data: Path, part: str, limit: int | None = None,
                  alpha: float = 0.2, half: str | None = None) -> PartResult:  # fmt: skip
    """PCK and people found on a labelled part, or photos with a pose on the negatives (`half`: one half)."""
    if part == "negatives":
        files = negative_images(data, half)[:limit]
        with_pose = []
        for f in files:
            try:
                with_pose.append(_predict(engine, f)[0] is not None)
            except InputError as e:
                raise EvaluationError(str(e)) from None
        return PartResult(part, len(files), poses=sum(with_pose), with_pose=tuple(with_pose))
    root, samples = part_samples(data, part)
    samples = samples[:limit]
    acc = PckAccumulator(alpha=alpha)
    predicted, labels = [], []
    for entry, gt in samples:
        try:
            pred = _predict(engine, root / entry["file_name"])[0]
        except InputError as e:
            raise EvaluationError(str(e)) from None
        if acc.add(gt, pred):  # the people the accumulator scores, in its order
            predicted.append(pred)
            labels.append(gt)
    return PartResult(part, len(samples), persons=acc.persons, found=acc.persons - acc.missed, pck=acc.overall(),
                      per_person=tuple(acc.per_person), predicted=tuple(predicted), labels=tuple(labels))


def evaluate(models_dir: Path, data: Path, models: tuple[str, ...], forms: tuple[str, ...],
             parts: tuple[str, ...] = PARTS, limit: int | None = None, detector: Path | None = None,
             threads: int | None = None, half: str | None = None,
             baseline: Path | None = None) -> Iterator[dict]:  # fmt: skip
    """One row per model × form: {model, form, seconds, <part>: PartResult.summary()}, float first; with float
    among the forms, the others' rows also have vs_float: {<part>: compare_with_float(...)}. With `baseline` (a
    models directory, e.g. the shipped one when `models_dir` holds a variant), each non-float form also runs on
    its files and the row gets vs_baseline: {<part>: compare_with_baseline(...)}; float must be among the forms."""
    forms = tuple(sorted(forms, key=lambda f: f != "float"))
    if baseline is not None and "float" not in forms:
        raise EvaluationError("a baseline is compared through float's keypoints: add float to the forms")
    with tempfile.TemporaryDirectory(prefix="edgepose-eval-") as tmp:
        for model in models:
            reference: dict[str, PartResult] = {}
            for form in forms:
                d = form_models_dir(models_dir, model, form, Path(tmp), detector)
                engine = engine_for(d, model, form, threads)
                t0 = time.monotonic()
                row: dict = {"model": model, "form": form}
                if half is not None and "negatives" in parts:
                    row["negatives_half"] = half
                results = {part: evaluate_part(engine, data, part, limit, half=half) for part in parts}
                row.update({part: r.summary() for part, r in results.items()})
                if form == "float":
                    reference = results
                elif reference:
                    row["vs_float"] = {part: compare_with_float(reference[part], r) for part, r in results.items()}
                row["seconds"] = round(time.monotonic() - t0, 1)  # this form's files only
                if baseline is not None and form != "float":
                    b_engine = engine_for(form_models_dir(baseline, model, form, Path(tmp) / "baseline", detector),
                                          model, form, threads)  # fmt: skip
                    row["vs_baseline"] = {
                        part: compare_with_baseline(reference[part], evaluate_part(b_engine, data, part, limit,
                                                                                   half=half), r)
                        for part, r in results.items()}  # fmt: skip
                yield row


def format_row(row: dict, parts: tuple[str, ...]) -> str:
    cells = [f"{row['model']:<6} {row['form']:<9}"]
    vs = row.get("vs_float", {})
    for p in parts:
        r, c = row[p], vs.get(p)
        if p == "negatives":
            cells.append(f"negatives {r['poses']}/{r['images']} ({100.0 * r['poses'] / max(r['images'], 1):.1f} %)")
            if c:
                cells[-1] += f" [only this {c['only_this']}, only float {c['only_float']}, p {c['p']:.2f}]"
            b = row.get("vs_baseline", {}).get(p)
            if b:
                cells[-1] += (f" [vs baseline: only this {b['only_this']}, only baseline {b['only_baseline']}, "
                              f"p {b['p']:.2f}]")
        else:
            pck = "n/a" if r["pck"] is None else f"{r['pck']:.2f}"
            cells.append(f"{p} {pck} found {r['found']}/{r['persons']}")
            if c:
                cells[-1] += f" [Δ {c['delta']:+.2f}, 95 % {c['ci95'][0]:+.2f} … {c['ci95'][1]:+.2f}"
                dev = c.get("deviation")
                cells[-1] += f"; from float {dev['mean_pct']:.2f} ± {dev['se']:.2f} % torso]" if dev else "]"
            b = row.get("vs_baseline", {}).get(p)
            if b:
                cells[-1] += (f" [vs baseline: Δ {b['delta']:+.2f}, 95 % {b['ci95'][0]:+.2f} … {b['ci95'][1]:+.2f}; "
                              f"closer to float by {-b['deviation_delta']:+.3f} ± {b['deviation_se']:.3f} % torso]")
    return " | ".join(cells) + f" | {row['seconds']} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m edgepose_dev.models_build.evaluate", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--models-dir", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=None, help="shared data directory (default: ../shared/data)")
    ap.add_argument("--model", nargs="+", choices=COMPLEXITIES, default=list(COMPLEXITIES))
    ap.add_argument("--form", nargs="+", choices=FORMS, default=list(FORMS))
    ap.add_argument("--part", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--limit", type=int, default=None, help="first N photos of each part (quick checks)")
    ap.add_argument("--detector", type=Path, default=None, help="int8 detector file to use instead of the shipped")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--half", choices=HALVES, default=None,
                    help="negatives: only the even (choosing) or odd (confirming) half of the sorted list")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="models directory to compare each non-float form with (e.g. models/ for a variant in "
                         "--models-dir); needs float among the forms")
    ap.add_argument("--json", action="store_true", help="one JSON object per row")
    args = ap.parse_args(argv)
    data = args.data or shared_data()
    if data is None or not data.is_dir():
        print("evaluate: no shared data directory (../shared/data or EDGEPOSE_TEST_DATA); pass --data DIR",
              file=sys.stderr)  # fmt: skip
        return 66
    if args.baseline is not None and not args.baseline.is_dir():
        print(f"evaluate: baseline models directory {args.baseline} does not exist", file=sys.stderr)
        return 66
    if args.detector is not None and not args.detector.is_file():
        print(f"evaluate: detector file {args.detector} does not exist", file=sys.stderr)
        return 66
    parts = tuple(args.part)
    try:
        for row in evaluate(args.models_dir or default_models_dir(), data, tuple(args.model), tuple(args.form),
                            parts, args.limit, args.detector, args.threads, args.half,
                            args.baseline):  # fmt: skip
            print(json.dumps(row) if args.json else format_row(row, parts), flush=True)
    except EvaluationError as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 66
    return 0


if __name__ == "__main__":
    sys.exit(main())
