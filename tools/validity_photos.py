"""Validity on photos: poses on person-free photos and people found / PCK@0.2 on labelled ones, on vs off.

The static engine runs once per photo; the validity stage (the daemon's defaults, per-frame rules only: a photo
has no time and no motion) is applied to its output, so "on" and "off" come from the same inference.
"geometry" is what the stage did on photos before the person score: the body-geometry rules and no person
score (the video stage, reset on each photo, with motion and track age off). Splits (the fixed tuning and
confirmation parts of docs/presence.md): negatives by even/odd index of the sorted file list; sports photos by
source (LSP = tuning, PARSE = confirmation).

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
                                                 static=True))
    cfg = Config()
    stage = validity_stage(cfg, static=True)
    geometry = validity_stage(cfg.replace(validity=dataclasses.replace(cfg.validity, motion=False,
                                                                        min_track_frames=1)))

    def previous(raw: FramePoses) -> list[Pose]:
        geometry.reset()
        return geometry.process(raw).accepted
    report: dict[str, Any] = {"model": args.model, "precision": args.precision}

    negatives = sorted(p for p in (args.data / "images" / "negatives").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    counts = {"even": [0, 0, 0, 0], "odd": [0, 0, 0, 0]}  # photos, with a pose: off, on, geometry
    for i, path in enumerate(negatives):
        rgb = read_image(path)
        raw = engine.process(rgb)
        part = counts["even" if i % 2 == 0 else "odd"]
        part[0] += 1
        part[1] += bool(raw.poses)
        part[2] += bool(stage.process(raw, rgb).accepted)
        part[3] += bool(previous(raw))
    report["negatives"] = {k: {"photos": v[0], "with_pose_off": v[1], "with_pose_on": v[2],
                               "with_pose_geometry": v[3]} for k, v in counts.items()}

    sports = args.data / "images" / "sports"
    accs = {(src, mode): PckAccumulator(alpha=0.2) for src in ("LSP", "PARSE") for mode in ("off", "on", "geometry")}
    for entry, gt in load_single_person(sports / "person_keypoints.json"):
        src = "PARSE" if entry["source"].endswith("PARSE") else "LSP"
        rgb = read_image(sports / entry["file_name"])
        h, w = rgb.shape[:2]
        raw = engine.process(rgb)
        kept = {"off": raw.poses, "on": stage.process(raw, rgb).accepted, "geometry": previous(raw)}
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
    report["rejected"] = dict(sorted(stage.rejections.items()))
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
