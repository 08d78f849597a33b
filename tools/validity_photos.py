"""Validity on photos: poses on person-free photos and people found / PCK@0.2 on labelled ones, on vs off.

The static engine runs once per photo, with the mirrored poses (as `infer` and `eval` run it); the validity stage
(the daemon's defaults, per-frame rules only: a photo has no time and no motion) is applied to its output, so
all modes come from the same inference. "on": the stage as shipped (the person score with the mirror);
"single": the person score without the mirror (the stage given the poses alone); "geometry": what the stage did
on photos before the person score, the body-geometry rules (the video stage, reset on each photo, with motion
and track age off). "cost": the engine's time per photo, and the share the mirror adds to it. Splits (the fixed
tuning and confirmation parts of docs/presence.md): negatives by even/odd index of the sorted file list; sports
photos by source (LSP = tuning, PARSE = confirmation).

    python tools/validity_photos.py --model lite --precision int8 [--data ../shared/data] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.commands.common import IMAGE_SUFFIXES, read_image
from edgepose.config import Config, EngineConfig
from edgepose.daemon.pipeline import validity_stage
from edgepose.engine.tracker import PoseEngine
from edgepose.pose import FramePoses, Pose
from edgepose.topology import COCO17_FROM_BLAZEPOSE
from edgepose_dev.commands.eval import load_single_person
from edgepose_dev.metrics import PckAccumulator


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite", choices=("lite", "full", "heavy"))
    ap.add_argument("--precision", default="int8", choices=("float", "int8"))
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    engine = PoseEngine.from_config(EngineConfig(model=args.model, precision=args.precision, backend="cpu",
                                                 static=True, mirror_evidence=True))
    cfg = Config()
    stage = validity_stage(cfg, static=True)
    geometry = validity_stage(cfg.replace(validity=dataclasses.replace(cfg.validity, motion=False,
                                                                        min_track_frames=1)))

    def previous(raw: FramePoses) -> list[Pose]:
        geometry.reset()
        return geometry.process(raw).accepted

    def single(raw: FramePoses, rgb: np.ndarray) -> list[Pose]:
        return stage.process(dataclasses.replace(raw, mirrored=[]), rgb).accepted

    ms = {"total": 0.0, "mirror": 0.0}

    def infer(rgb: np.ndarray) -> FramePoses:
        raw = engine.process(rgb)
        for k in ms:
            ms[k] += raw.timings_ms.get(k, 0.0)
        return raw
    report: dict[str, Any] = {"model": args.model, "precision": args.precision}

    negatives = sorted(p for p in (args.data / "images" / "negatives").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    counts = {"even": [0, 0, 0, 0, 0], "odd": [0, 0, 0, 0, 0]}  # photos, with a pose: off, on, geometry, single
    for i, path in enumerate(negatives):
        rgb = read_image(path)
        raw = infer(rgb)
        part = counts["even" if i % 2 == 0 else "odd"]
        part[0] += 1
        part[1] += bool(raw.poses)
        part[2] += bool(stage.process(raw, rgb).accepted)
        part[3] += bool(previous(raw))
        part[4] += bool(single(raw, rgb))
    report["negatives"] = {k: {"photos": v[0], "with_pose_off": v[1], "with_pose_on": v[2],
                               "with_pose_geometry": v[3], "with_pose_single": v[4]} for k, v in counts.items()}

    sports = args.data / "images" / "sports"
    modes = ("off", "on", "geometry", "single")
    accs = {(src, mode): PckAccumulator(alpha=0.2) for src in ("LSP", "PARSE") for mode in modes}
    for entry, gt in load_single_person(sports / "person_keypoints.json"):
        src = "PARSE" if entry["source"].endswith("PARSE") else "LSP"
        rgb = read_image(sports / entry["file_name"])
        h, w = rgb.shape[:2]
        raw = infer(rgb)
        kept = {"off": raw.poses, "on": stage.process(raw, rgb).accepted, "geometry": previous(raw),
                "single": single(raw, rgb)}
        for mode, poses in kept.items():
            pred = poses[0].xy_pixels(w, h)[COCO17_FROM_BLAZEPOSE].astype(np.float64) if poses else None
            accs[(src, mode)].add(gt, pred)
    report["sports"] = {
        src: {mode: {"persons": a.persons, "found": a.persons - a.missed,
                                         "found_pct": round(100.0 * (a.persons - a.missed) / max(a.persons, 1), 2),
                                         "pck": a.overall()}
              for (s, mode), a in accs.items() if s == src}
        for src in ("LSP", "PARSE")
    }  # fmt: skip
    report["rejected"] = dict(sorted(stage.rejections.items()))  # of "on" and "single" together
    photos = engine.stats.frames
    report["cost"] = {"photos": photos, "engine_ms_per_photo": round(ms["total"] / photos, 2),
                      "mirror_ms_per_photo": round(ms["mirror"] / photos, 2),
                      "with_over_without_mirror": round(ms["total"] / max(ms["total"] - ms["mirror"], 1e-9), 3)}
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
