"""`edgepose eval --multi-person`: the photos with several labelled people, every person scored.

Each photo runs through the static engine with `--max-poses` people at most. Predictions are assigned to the
labelled people by keypoint similarity (COCO's OKS, greedy, best pair first: edgepose_dev.metrics.match_people);
a labelled person left without a prediction is "not found" and all their labelled keypoints count as wrong
(as in the single-person evaluation). PCK@α per person uses the same torso size as the single-person one.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.commands.common import InputError, build_engine, engine_config, read_image
from edgepose.errors import EXIT_DATAERR, EXIT_NOINPUT, CommandError
from edgepose.topology import COCO17_FROM_BLAZEPOSE
from edgepose_dev.metrics import TORSO_DEFINITION, PckAccumulator, match_people


def load_multi_person(path: Path) -> list[tuple[dict[str, Any], list[np.ndarray], list[float]]]:
    """(image entry, [(17, 3) keypoints], [box areas]) for every image with at least two labelled people."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = {im["id"]: im for im in data["images"]}
        people: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for a in data["annotations"]:
            people[a["image_id"]].append(a)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file", EXIT_NOINPUT) from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CommandError(f"{path}: not a COCO keypoints file ({e})", EXIT_DATAERR) from None
    out = []
    for image_id, anns in people.items():
        if len(anns) >= 2 and image_id in images:
            kps = [np.asarray(a["keypoints"], dtype=np.float64).reshape(17, 3) for a in anns]
            areas = [float(a["bbox"][2] * a["bbox"][3]) for a in anns]
            out.append((images[image_id], kps, areas))
    return sorted(out, key=lambda t: t[0]["file_name"])


def score_photos(
    samples: list[tuple[dict[str, Any], list[np.ndarray], list[float]]],
    predictions: list[list[np.ndarray] | None], alpha: float,
) -> dict[str, Any]:
    """Match and score: predictions[i] is a list of (17, 2) pixel predictions for photo i (None: unreadable)."""
    acc = PckAccumulator(alpha=alpha)
    per_photo = []
    for (entry, gts, areas), preds in zip(samples, predictions, strict=True):
        if preds is None:
            continue
        assigned = match_people(gts, areas, preds)
        person_acc = []
        for gt, pi in zip(gts, assigned, strict=True):
            one = PckAccumulator(alpha=alpha)
            one.add(gt, None if pi is None else preds[pi])
            acc.add(gt, None if pi is None else preds[pi])
            person_acc.append(None if one.persons == 0 else one.overall())
        per_photo.append({"file": entry["file_name"], "people": len(gts), "predicted": len(preds),
                          "found": sum(pi is not None for pi in assigned), "pck_per_person": person_acc})
    return {"people": sum(p["people"] for p in per_photo), "found": sum(p["found"] for p in per_photo),
            "predicted": sum(p["predicted"] for p in per_photo), "persons_scored": acc.persons,
            "persons_without_torso": acc.skipped_no_torso, "overall": acc.overall(),
            "per_keypoint": acc.per_keypoint(), "photos": per_photo}


def evaluate_multi(args: argparse.Namespace) -> dict[str, Any]:
    samples = load_multi_person(args.annotations)
    engine = build_engine(engine_config(args, static=True))
    predictions: list[list[np.ndarray] | None] = []
    failures = []
    for entry, _, _ in samples:
        try:
            rgb = read_image(args.images / entry["file_name"])
        except InputError as e:
            failures.append(str(e))
            predictions.append(None)
            continue
        h, w = rgb.shape[:2]
        result = engine.process(rgb)
        predictions.append([p.xy_pixels(w, h)[COCO17_FROM_BLAZEPOSE].astype(np.float64) for p in result.poses])
    return {"metric": f"PCK@{args.alpha:g}", "torso": TORSO_DEFINITION, "model": args.model,
            "precision": args.precision, "max_poses": args.max_poses, "images": len(samples),
            **score_photos(samples, predictions, args.alpha), "failed": failures}


def print_report(report: dict[str, Any]) -> None:
    print(f"{report['metric']} on {report['images']} multi-person photos ({report['model']}, {report['precision']}, "
          f"max_poses {report['max_poses']}); matched by keypoint similarity; {report['torso']}")
    print(f"people {report['people']}, found {report['found']}, poses predicted {report['predicted']}, "
          f"overall {report['overall']:.1f} % (people without torso labels: {report['persons_without_torso']})")
    for p in report["photos"]:
        pck = " ".join("-" if v is None else f"{v:.0f}" for v in p["pck_per_person"])
        print(f"  {p['file'][:60]:<60} people {p['people']:>2} found {p['found']:>2} predicted "
              f"{p['predicted']:>2}  PCK per person: {pck}")
