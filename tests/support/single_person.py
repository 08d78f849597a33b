"""Record the single-person engine's output on the parity videos (tests/engine/test_multi_person.py).

    cd tests && python -m support.single_person engine/single_person_reference.npz [--data ../../shared/data]

Per video, per frame: the payload's keypoints (33 × 5), world (33 × 3) and score, rounded as the payload rounds
them, NaN where the frame has no pose; the engine is the tests' (lite, float, CPU, max_poses 1). The test compares
a new run with a tolerance instead of exact digests: XNNPACK's float kernels differ in their last bits between CPUs,
and the One-Euro filter carries that on, so exact or rounded digests flip on every new kind of machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edgepose.commands.common import read_video
from edgepose.config import EngineConfig
from edgepose.engine.tracker import PoseEngine
from edgepose.model_files import default_models_dir
from support.paths import SHARED_DATA

VIDEOS = ("videos/two_people_hug.mp4", "videos/dance_tfjs_pose_1.mp4", "videos/fitness_squats_tfjs.mp4",
          "videos/presence/school_corridor_crowd.mp4")  # fmt: skip


def record(data: Path, video: str, models_dir: Path) -> dict[str, np.ndarray]:
    """{keypoints (F, 33, 5), world (F, 33, 3), score (F,)} float32 (the tolerance is far above its precision), NaN
    on frames without a pose."""
    eng = PoseEngine.from_config(EngineConfig(model="lite", precision="float", backend="cpu", models_dir=models_dir))
    kps, world, score = [], [], []
    for f in read_video(data / video):
        poses = eng.process(f.rgb, f.timestamp_ns).to_dict()["poses"]
        if len(poses) > 1:
            raise RuntimeError(f"{video}: {len(poses)} poses with max_poses 1")
        p = poses[0] if poses else None
        kps.append(np.asarray(p["keypoints"]) if p else np.full((33, 5), np.nan))
        world.append(np.asarray(p["world"]) if p else np.full((33, 3), np.nan))
        score.append(p["score"] if p else np.nan)
    return {"keypoints": np.array(kps, np.float32), "world": np.array(world, np.float32),
            "score": np.array(score, np.float32)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=SHARED_DATA)
    ap.add_argument("--models-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    arrays = {}
    for v in VIDEOS:
        for k, a in record(args.data, v, args.models_dir or default_models_dir()).items():
            arrays[f"{v}:{k}"] = a
    np.savez_compressed(args.out, **arrays)
    print(f"{args.out}: {len(VIDEOS)} videos, {sum(len(arrays[f'{v}:score']) for v in VIDEOS)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
