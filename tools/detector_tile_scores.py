"""The detector's best score per frame of a clip: on the whole frame (MediaPipe's pass) and on each square tile
of a wide frame (edgepose.engine.tiles), at a score floor of 0.05 (docs/presence.md "Wide frames").

    python tools/detector_tile_scores.py VIDEO [--detector FILE] [--frames N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgepose.commands.common import read_video
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
    for frame in read_video(a.video, a.frames or None):
        whole = detector.detect(frame.rgb)
        cells = [f"whole {whole.scores[0] if len(whole) else 0:.2f}"]
        for k, tile in enumerate(square_tiles(frame.rgb.shape[1], frame.rgb.shape[0])):
            d = detector.detect(tile.crop(frame.rgb))
            cells.append(f"tile {k} {d.scores[0] if len(d) else 0:.2f}")
        print(frame.frame, "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
