"""Detector-only figures (no landmark model): quick enough to compare detector recipes before the pipeline.

`python -m edgepose_dev.models_build.detector_figures --half even FILE...` prints per detector file (float or
int8): the person-free photos of one half (sorted list, even or odd index) whose best anchor passes the score
threshold (logit > 0), the LSP train photos (every 4th, 250) where it does, and the per-anchor score-logit error
against the float32 detector (mean, std) on the negatives' anchors with a float logit above −3.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edgepose.engine.detector import detector_input
from edgepose.model_files import default_models_dir
from edgepose_dev.models_build.evaluate import HALVES, negative_images, part_samples, shared_data
from edgepose_dev.models_build.float32 import rewrite_float32
from edgepose_dev.models_build.model_bytes import read_model_bytes
from edgepose_dev.models_build.verify import QuantModel

SCORE_SHAPE = (1, 2254, 1)


def _inputs(paths: list[Path]) -> list[np.ndarray]:
    return [detector_input(cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))[0] for p in paths]


def _logits(model: Path, xs: list[np.ndarray]) -> np.ndarray:
    m = QuantModel(model, threads=1)
    return np.stack([m(x)[SCORE_SHAPE].reshape(-1) for x in xs])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgepose_dev.models_build.detector_figures",
                                 description=__doc__.split("\n")[0])  # fmt: skip
    ap.add_argument("detectors", type=Path, nargs="+")
    ap.add_argument("--half", choices=HALVES, default="even")
    a = ap.parse_args(argv)
    data = shared_data()
    if data is None:
        raise SystemExit("detector_figures: no shared data directory (../shared/data or EDGEPOSE_TEST_DATA)")
    root, samples = part_samples(data, "choose")
    lsp = [root / e["file_name"] for e, _ in samples][::4]
    xs = {"negatives": _inputs(negative_images(data, a.half)), "lsp": _inputs(lsp)}
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "pose_detection_float32.tflite"
        f32.write_bytes(rewrite_float32(read_model_bytes(default_models_dir() / "float" / "pose_detection.tflite"))[0])
        ref = {k: _logits(f32, v) for k, v in xs.items()}
    for path in a.detectors:
        got = {k: _logits(path, v) for k, v in xs.items()}
        sel = ref["negatives"] > -3.0
        d = (got["negatives"] - ref["negatives"])[sel]
        print(json.dumps({"detector": str(path), f"negatives_{a.half}": int((got["negatives"].max(1) > 0).sum()),
                          "of": len(xs["negatives"]), "lsp_every_4th": int((got["lsp"].max(1) > 0).sum()),
                          "of_lsp": len(xs["lsp"]), "logit_error_mean": round(float(d.mean()), 3),
                          "logit_error_std": round(float(d.std()), 3)}), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
