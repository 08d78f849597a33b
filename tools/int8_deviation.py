"""Per-keypoint landmark deviation of the int8 pipeline (as selected for the CPU) from float, in % of torso,
on the annotated photos of ../shared/data; prints the Markdown table of docs/benchmarks.md §5.

    python tools/int8_deviation.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.commands.common import IMAGE_SUFFIXES, read_image
from edgepose.config import EngineConfig
from edgepose.engine.tracker import PoseEngine
from edgepose.topology import KEYPOINT_NAMES

ANNOTATED = Path(__file__).resolve().parents[2] / "shared/data/images/annotated"


def main() -> None:
    photos = sorted(p for p in ANNOTATED.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    images = [read_image(p) for p in photos]
    results = {}
    for model in ("lite", "full", "heavy"):
        float_engine = PoseEngine.from_config(EngineConfig(model=model, precision="float", backend="cpu", static=True))
        int8_engine = PoseEngine.from_config(EngineConfig(model=model, precision="int8", backend="cpu", static=True))
        devs = []
        for image in images:
            a, b = float_engine.process(image).poses, int8_engine.process(image).poses
            if not (a and b):
                continue
            h, w = image.shape[:2]
            pa, pb = a[0].xy_pixels(w, h), b[0].xy_pixels(w, h)
            torso = np.linalg.norm((pa[11] + pa[12]) / 2 - (pa[23] + pa[24]) / 2)
            devs.append(np.linalg.norm(pa - pb, axis=1) / torso * 100)
        d = np.array(devs)
        results[model] = (d.mean(0), float(np.median(d)), len(devs), int8_engine.landmarks.backend.path.name)
    print("| keypoint | " + " | ".join(f"{m} ({r[3]})" for m, r in results.items()) + " |")
    print("|---" * (1 + len(results)) + "|")
    for i, name in enumerate(KEYPOINT_NAMES):
        print(f"| {name} | " + " | ".join(f"{r[0][i]:.1f}" for r in results.values()) + " |")
    print("| **mean over keypoints** | " + " | ".join(f"{r[0].mean():.1f}" for r in results.values()) + " |")
    print("| median (all points, all photos) | " + " | ".join(f"{r[1]:.1f}" for r in results.values()) + " |")
    print("| photos where both found a pose | " + " | ".join(f"{r[2]}" for r in results.values()) + " |")


if __name__ == "__main__":
    main()
