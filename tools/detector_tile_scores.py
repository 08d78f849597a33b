"""The detector's best score per frame of a clip: on the whole frame (MediaPipe's pass) and on each square tile
of a wide frame (edgepose.engine.tiles), at a score floor of 0.05 (docs/presence.md "Wide frames").

    python tools/detector_tile_scores.py VIDEO [--detector FILE] [--frames N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from edgepose.engine.detector import PoseDetector
from edgepose.engine.tiles import square_tiles
from edgepose.inference.loading import create_backend
from edgepose.model_files import default_models_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/detector_tile_scores.py")
    ap.add_argument("video", type=Path)
    ap.add_argument("--detector", type=Path, default=default_models_dir() / "pose_detection_int8.tflite")
    ap.add_argument("--frames", type=int, default=0, help="at most N frames (0: all)")
    a = ap.parse_args(argv)
    detector = PoseDetector(create_backend(a.detector, threads=1), min_score=0.05)
    cap = cv2.VideoCapture(str(a.video))
    i = 0
    while (not a.frames or i < a.frames) and (read := cap.read())[0]:
        rgb = cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB)
        whole = detector.detect(rgb)
        cells = [f"whole {whole.scores[0] if len(whole) else 0:.2f}"]
        for k, tile in enumerate(square_tiles(rgb.shape[1], rgb.shape[0])):
            d = detector.detect(tile.crop(rgb))
            cells.append(f"tile {k} {d.scores[0] if len(d) else 0:.2f}")
        print(i, "  ".join(cells))
        i += 1
    cap.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
