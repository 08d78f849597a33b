"""Invoke-time ratio of two files per model (float vs int8, and the CPU detector vs the Edge TPU compiler's
input), interleaved in one run (a benchmark, never a test assertion).

Usage: python -m edgepose_dev.models_build.speed [models_dir] [--rounds N] [--threads T]
The machine may be shared and noisy: the two models are invoked alternately and medians are compared.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edgepose_dev.models_build.verify import QuantModel

PAIRS = {
    "pose_detection": ("float/pose_detection.tflite", "pose_detection_int8.tflite", 224),
    "pose_landmark_lite": ("float/pose_landmark_lite.tflite", "pose_landmark_lite_int8.tflite", 256),
    "pose_landmark_full": ("float/pose_landmark_full.tflite", "pose_landmark_full_int8.tflite", 256),
    "pose_landmark_heavy": ("float/pose_landmark_heavy.tflite", "pose_landmark_heavy_int8.tflite", 256),
    "pose_landmark_lite_mixed": ("float/pose_landmark_lite.tflite", "pose_landmark_lite_int8_mixed.tflite", 256),
    "pose_landmark_full_mixed": ("float/pose_landmark_full.tflite", "pose_landmark_full_int8_mixed.tflite", 256),
    "pose_landmark_heavy_mixed": ("float/pose_landmark_heavy.tflite", "pose_landmark_heavy_int8_mixed.tflite", 256),
    # The detector with DEPTH_TO_SPACE as TRANSPOSE_CONV (edgetpu_rewrite) against the one the CPU runs.
    "pose_detection_edgetpu_src": ("pose_detection_int8.tflite", "edgetpu_src/pose_detection_int8.tflite", 224),
}


def invoke_ms(models_dir: Path, rounds: int = 30, threads: int = 1) -> dict[str, tuple[float, float]]:
    """{pair: (first file's median ms, second file's median ms)}."""
    from ai_edge_litert.interpreter import Interpreter

    out = {}
    rng = np.random.default_rng(0)
    for name, (f_rel, q_rel, _size) in PAIRS.items():
        if not (models_dir / f_rel).is_file() or not (models_dir / q_rel).is_file():
            continue
        its = []
        for rel in (f_rel, q_rel):
            it = Interpreter(model_path=str(models_dir / rel), num_threads=threads)
            it.allocate_tensors()
            d = it.get_input_details()[0]
            x = rng.uniform(0, 1, d["shape"]).astype(np.float32)
            if d["dtype"] != np.float32:
                x = (x * 100).astype(d["dtype"])
            it.set_tensor(d["index"], x)
            it.invoke()  # warm-up
            its.append(it)
        times: list[list[float]] = [[], []]
        for _ in range(rounds):
            for k, it in enumerate(its):
                t = time.perf_counter()
                it.invoke()
                times[k].append((time.perf_counter() - t) * 1000.0)
        out[name] = (float(np.median(times[0])), float(np.median(times[1])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models_dir", nargs="?", type=Path, default=Path("models"))
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    for name, (f, q) in invoke_ms(a.models_dir, a.rounds, a.threads).items():
        first, second = PAIRS[name][:2]
        print(f"{name:26s} {first} {f:7.2f} ms  {second} {q:7.2f} ms  speed-up {f / q:4.2f}x")


if __name__ == "__main__":
    main()

__all__ = ["QuantModel", "invoke_ms"]
