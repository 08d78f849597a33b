"""Runs inside qemu (tools/aarch64/count_stages.py): loads each model as the engine does, invokes it once to
warm up, then marks, invokes N times, marks, so that the TCG plugin's counts between the two marks are N
invokes and nothing else. Prints one line per model: "model NAME FILE", in the order of the marks."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgepose.inference.fp16 import fp16_model
from edgepose.inference.loading import create_backend
from edgepose.inference.pruning import is_mask_output

MARK_POLICY = 0x5EED  # insn_classes.c: sched_get_priority_max(MARK_POLICY) writes a mark


def mark() -> None:
    try:
        os.sched_get_priority_max(MARK_POLICY)
    except OSError:
        pass  # EINVAL, as meant: the syscall is only a signal to the plugin


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models-dir", type=Path, required=True)
    p.add_argument("--invokes", type=int, default=3)
    p.add_argument("files", nargs="+",
                   help="NAME=RELATIVE_PATH[@fp16][@whole]: the fp16 form (edgepose.inference.fp16), the whole graph")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp())
    for item in args.files:
        name, rel = item.split("=", 1)
        landmark = "landmark" in rel
        whole = rel.endswith("@whole")  # the whole graph, segmentation head included (what MediaPipe runs)
        rel = rel.removesuffix("@whole")
        path = args.models_dir / rel.removesuffix("@fp16")
        if rel.endswith("@fp16"):
            path = tmp / path.name
            path.write_bytes(fp16_model((args.models_dir / rel.removesuffix("@fp16")).read_bytes()))
        backend = create_backend(path, "cpu", threads=1,
                                 drop_outputs=is_mask_output if landmark and not whole else None)  # fmt: skip
        spec = backend.inputs[0]
        # Inputs in the models' range [0, 1] (landmarks) / [-1, 1] (detector); kernels' cost does not depend on
        # the values, but sparse or saturating paths could, so no zeros.
        x = rng.uniform(0.0 if landmark else -1.0, 1.0, size=spec.shape).astype(np.float32)
        backend.run(x)
        mark()
        for _ in range(args.invokes):
            backend.run(x)
        mark()
        print(f"model {name} {rel}", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
