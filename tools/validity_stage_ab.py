"""Paired cost of two versions of the validity stage on the same frames: a git revision's and the working tree's.

    python tools/validity_stage_ab.py REV CLIP [--frames 300] [--rounds 4]

The revision's `edgepose/validity` package is extracted (`git show`) into a temporary directory and imported under
another name. Per frame, both stages `prepare` the frame (as the daemon's pipeline does, before the engine), the
lite int8 engine runs once, and both judge its output; the order of the two alternates frame by frame, so that
load on a shared machine falls on both alike. Each frame is copied first, as a decoder would have just written
it. Prints mean, median and 90th percentile of each stage's ms a frame (`timings_ms["validity"]`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODULES = ("__init__", "motion", "rules", "stage", "tracks")


def load_revision_stage(rev: str, into: Path) -> type:
    """The ValidityStage class of `rev`, imported from a copy of its package in `into`."""
    pkg = into / "validity_at_rev"
    pkg.mkdir()
    for name in MODULES:
        text = subprocess.run(["git", "show", f"{rev}:edgepose/validity/{name}.py"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
        (pkg / f"{name}.py").write_text(text.replace("edgepose.validity", "validity_at_rev"))
    sys.path.insert(0, str(into))
    from validity_at_rev.stage import ValidityStage

    return ValidityStage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev")
    ap.add_argument("clip", type=Path)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    from edgepose.commands.common import build_engine
    from edgepose.config import Config
    from edgepose.validity.stage import ValidityStage as Current

    cap = cv2.VideoCapture(str(args.clip))
    frames = []
    while len(frames) < args.frames:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    with tempfile.TemporaryDirectory() as tmp:
        stages = {"rev": load_revision_stage(args.rev, Path(tmp)), "tree": Current}
        cfg = Config()
        engine = build_engine(dataclasses.replace(cfg.engine, model="lite", precision="int8", backend="cpu"))
        ms: dict[str, list[float]] = {k: [] for k in stages}
        for rnd in range(args.rounds):
            engine.reset()
            live = {k: make(cfg.validity) for k, make in stages.items()}
            for i, rgb in enumerate(frames):
                rgb = rgb.copy()
                order = ("rev", "tree") if (i + rnd) % 2 == 0 else ("tree", "rev")
                for k in order:
                    live[k].prepare(rgb)
                raw = engine.process(rgb, (rnd * 100_000 + i) * 33_333_333)
                for k in order:
                    frame = copy.copy(raw)
                    frame.timings_ms = {}
                    live[k].process(frame, rgb)
                    ms[k].append(frame.timings_ms["validity"])
    for k, v in ms.items():
        a = np.asarray(v)
        label = args.rev if k == "rev" else "working tree"
        print(f"{args.clip.name} {label}: mean {a.mean():.3f} ms, median {np.median(a):.3f}, "
              f"p90 {np.percentile(a, 90):.3f} ({a.size} frames)")  # fmt: skip


if __name__ == "__main__":
    main()
