"""Record the single-person engine's output on the parity videos (tests/engine/test_multi_person.py).

    cd tests && python -m support.single_person engine/single_person_digests.json [--family NAME]

Per video, per frame: sha1[:10] of the payload's JSON ({width, height, poses}, ids left out), for the engine of the
tests (lite, float, CPU, max_poses 1). The digests are exact, so they are kept per kernel family: XNNPACK picks its
float kernels by CPU features, they differ in their last bits (AVX2 against AVX-512), and the tracker feeds each
frame's landmarks into the next frame's crop, so the difference grows along a video (up to 0.1 of the frame on a
wrist, and other frames with a pose on the school corridor). `--family` names the kernels the recording ran on when
/proc/cpuinfo cannot tell (under `qemu-x86_64 -cpu Haswell` it shows the host's flags, while the emulated CPUID,
which XNNPACK reads, is a Haswell's).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

from edgepose.commands.common import read_video
from edgepose.config import EngineConfig
from edgepose.engine.tracker import PoseEngine
from edgepose.model_files import default_models_dir
from support.paths import SHARED_DATA

VIDEOS = ("videos/two_people_hug.mp4", "videos/dance_tfjs_pose_1.mp4", "videos/fitness_squats_tfjs.mp4",
          "videos/presence/school_corridor_crowd.mp4")  # fmt: skip


def kernel_family(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The float kernels XNNPACK runs here: "x86-avx512", "x86-avx2", or None (no reference for other CPUs)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("flags")), [])  # fmt: skip
    except OSError:
        return None
    if "avx512f" in flags:
        return "x86-avx512"
    if "avx2" in flags and "fma" in flags:
        return "x86-avx2"
    return None


def frame_digest(frame: dict[str, Any]) -> str:
    """sha1[:10] of a FramePoses.to_dict() without the poses' ids."""
    poses = [{k: v for k, v in p.items() if k != "id"} for p in frame["poses"]]
    body = {"width": frame["width"], "height": frame["height"], "poses": poses}
    return hashlib.sha1(json.dumps(body, separators=(",", ":")).encode()).hexdigest()[:10]


def record(data: Path, video: str, models_dir: Path) -> list[str]:
    """Each frame's digest (`frame_digest`) of the tests' engine on `video`."""
    eng = PoseEngine.from_config(EngineConfig(model="lite", precision="float", backend="cpu", models_dir=models_dir))
    out = []
    for f in read_video(data / video):
        d = eng.process(f.rgb, f.timestamp_ns).to_dict()
        if len(d["poses"]) > 1:
            raise RuntimeError(f"{video}: {len(d['poses'])} poses with max_poses 1")
        out.append(frame_digest(d))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="the digests file; the family's entry is replaced, the others kept")
    ap.add_argument("--family", default=None, help="kernel family (default: from /proc/cpuinfo)")
    ap.add_argument("--data", type=Path, default=SHARED_DATA)
    ap.add_argument("--models-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    family = args.family or kernel_family()
    if family is None:
        print("single_person: no kernel family known for this CPU; pass --family NAME", file=sys.stderr)
        return 2
    doc = json.loads(args.out.read_text()) if args.out.is_file() else {"families": {}}
    doc["families"][family] = {v: record(args.data, v, args.models_dir or default_models_dir()) for v in VIDEOS}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{args.out}: {family}, {sum(len(d) for d in doc['families'][family].values())} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
