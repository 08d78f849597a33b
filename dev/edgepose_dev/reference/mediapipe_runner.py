"""Run MediaPipe's legacy `mp.solutions.pose.Pose` on frames and save what it found (edgepose's reference).

This script runs under the *reference* interpreter (see `edgepose_dev.reference.mediapipe_env`), a separate venv
with mediapipe==0.10.14, numpy 1.26 and protobuf<5. It may import only the standard library, numpy, cv2 and
mediapipe, never edgepose. The project side is `edgepose_dev.reference.mediapipe_client`.

Usage:
    python mediapipe_runner.py REQUEST.json     request as a JSON file ("-" reads it from stdin)
    python mediapipe_runner.py --check          print a JSON description of this environment and exit

Request keys: "kind", "pose" (default) or "legacy_streams" (below); exactly one frame source, "images" (list
of image paths, each read as RGB), "video" (a video file) or "frames" (an .npy stack N×H×W×3 uint8 RGB, or an
.npz with one H×W×3 array per key, in key order); "output" (.npz path, required); "model_complexity" 0|1|2
(default 1); "static_image_mode" (default false); "smooth_landmarks" (default true);
"min_detection_confidence", "min_tracking_confidence" (default 0.5); "max_frames" (default: all);
"blank_frames" (frame indices replaced by black frames after decoding, to make a tracking loss; default none).

Output .npz of "pose": found (N,) bool; landmarks (N,33,4) float32 normalised x, y, z, visibility (NaN where
no pose; the legacy Python API does not fill `presence`); world (N,33,3) float32 metres; size (N,2) int32
width, height; process_ms (N,) float64 wall time of each `process()` call; cpu_ms (N,) float64 process CPU
time (all threads) during each call; init_ms (constructor, graph start); info (JSON string: versions, cpu
count). All frames are decoded into memory before the first `process()` call, so the timings are inference
only.

"legacy_streams" runs the same graph as `Pose` (same side inputs and thresholds) but observes the landmark
streams before and after its smoothing calculators (LEGACY_STREAMS). Output .npz: one array per stream name,
(N,K,5) float32 x, y, z, visibility, presence (NaN where the stream had no packet); found (N,S) bool, a
column per stream in LEGACY_STREAMS order; size (N,2) int32; timestamp_us (N,) int64, the graph's synthetic
clock (33 333 µs per `process()` call, first frame at 33 333); info (JSON string, with "streams").
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

# Silence glog/TFLite chatter before mediapipe loads; errors still reach stderr.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np

ERROR_PREFIX = "mediapipe_runner: error: "
LANDMARK_MODELS = {
    0: "pose_landmark_lite.tflite",
    1: "pose_landmark_full.tflite",
    2: "pose_landmark_heavy.tflite",
}
# Streams of pose_landmark_cpu observed by "legacy_streams", with their point counts: the raw landmark model
# output (after projection from the ROI) and the same streams after the graph's smoothing calculators.
LEGACY_STREAMS = {
    "unfiltered_pose_landmarks": 33,
    "unfiltered_world_landmarks": 33,
    "unfiltered_auxiliary_landmarks": 2,
    "pose_landmarks": 33,
    "pose_world_landmarks": 33,
    "auxiliary_landmarks": 2,
}
STREAM_FIELDS = ("x", "y", "z", "visibility", "presence")
KINDS = ("pose", "legacy_streams")


try:
    from edgepose.errors import EdgeposeError
except ImportError:  # run as a script by the reference venv, where edgepose is not installed
    EdgeposeError = Exception  # type: ignore[misc,assignment]


class RequestError(EdgeposeError):
    """Bad request or unreadable input; reported on stderr with ERROR_PREFIX and exit status 2."""


def _import_mediapipe():  # -> module
    try:
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        # mediapipe/__init__ imports solutions.drawing_utils, which imports matplotlib.pyplot at module level
        # but uses it only in plotting helpers. The reference env omits matplotlib (~100 MB with its
        # dependencies), so register an inert placeholder that fails loudly if anything actually plots.
        import types

        class _NoPlot(types.ModuleType):
            def __getattr__(self, name: str):
                raise ImportError(f"matplotlib is not installed in the reference env (needed for {name})")

        mpl = _NoPlot("matplotlib")
        mpl.pyplot = _NoPlot("matplotlib.pyplot")  # type: ignore[attr-defined]
        sys.modules["matplotlib"] = mpl
        sys.modules["matplotlib.pyplot"] = mpl.pyplot  # type: ignore[attr-defined]
    import mediapipe

    return mediapipe


def _model_dir(mp) -> Path:
    return Path(mp.__file__).resolve().parent / "modules" / "pose_landmark"


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe(mp) -> dict:
    """Versions, CPU count and the landmark models present (sha256, or None when missing)."""
    import google.protobuf

    return {
        "mediapipe": mp.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "protobuf": google.protobuf.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "sched_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        # Legacy graph on desktop Linux: XNNPACK runs with 1 thread (GetXnnpackDefaultNumThreads returns 1
        # outside Android/iOS/WASM); the graph scheduler adds its own threads around it.
        "threads_note": "MediaPipe picks its own threads (XNNPACK default 1 on desktop Linux); not settable",
        "landmark_models": {name: _sha256(_model_dir(mp) / name) for name in LANDMARK_MODELS.values()},
    }


def _read_image(path: str) -> np.ndarray:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)  # grey and RGBA become 3-channel; 16-bit becomes 8-bit
    if bgr is None:
        raise RequestError(f"cannot read image {path!r} (missing or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_video(path: str, max_frames: int | None) -> list[np.ndarray]:
    if not Path(path).is_file():
        raise RequestError(f"video {path!r} does not exist")
    cap = cv2.VideoCapture(path)
    frames: list[np.ndarray] = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise RequestError(f"cannot decode any frame from video {path!r}")
    return frames


def _read_frames_file(path: str) -> list[np.ndarray]:
    if not Path(path).is_file():
        raise RequestError(f"frames file {path!r} does not exist")
    data = np.load(path, allow_pickle=False)
    if hasattr(data, "files"):  # .npz: one frame per key, in key order
        arrays = [data[k] for k in data.files]
    else:  # .npy: a stack N×H×W×3, or a single H×W×3 frame
        arrays = [data] if data.ndim == 3 else list(data)
    for i, a in enumerate(arrays):
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise RequestError(f"frame {i} of {path!r} has shape {a.shape} {a.dtype}; expected H×W×3 uint8 RGB")
    return arrays


def load_frames(req: dict) -> tuple[list[np.ndarray], list[str]]:
    """Decode every requested frame into memory (before any timing); returns frames and their sources."""
    max_frames = req.get("max_frames")
    keys = [k for k in ("images", "video", "frames") if k in req]
    if len(keys) != 1:
        raise RequestError(f"the request needs exactly one of images, video, frames; got {keys or 'none'}")
    if keys == ["images"]:
        paths = [str(p) for p in req["images"]][:max_frames]
        frames, sources = [_read_image(p) for p in paths], paths
    elif keys == ["video"]:
        frames = _read_video(str(req["video"]), max_frames)
        sources = [f"{req['video']}#{i}" for i in range(len(frames))]
    else:
        frames = _read_frames_file(str(req["frames"]))[:max_frames]
        sources = [f"{req['frames']}#{i}" for i in range(len(frames))]
    if not frames:
        raise RequestError("the request has no frames")
    frames = [np.ascontiguousarray(f) for f in frames]
    blank = req.get("blank_frames") or []
    if not isinstance(blank, list) or not all(type(i) is int and 0 <= i < len(frames) for i in blank):
        raise RequestError(f"blank_frames must be a list of frame indices in [0, {len(frames)}), got {blank!r}")
    for i in blank:
        frames[i] = np.zeros_like(frames[i])
        sources[i] += " (blanked)"
    return frames, sources


def _landmark_array(landmarks, fields: str) -> np.ndarray:
    # Protobuf repeated messages have no vectorised accessor; this runs outside the timed region.
    return np.array([[getattr(lm, f) for f in fields] for lm in landmarks.landmark], dtype=np.float32)


def _check_model(mp, complexity: int) -> None:
    model = _model_dir(mp) / LANDMARK_MODELS[complexity]
    if not model.is_file():
        # Legacy Pose would try to download it from storage.googleapis.com at this point.
        raise RequestError(
            f"{model.name} is not in the reference env ({model.parent}); recreate it with "
            "`python -m edgepose_dev.reference.mediapipe_env --create` (copies it from edgepose's models dir)"
        )


def run(req: dict) -> None:
    kind = req.get("kind", "pose")
    if kind not in KINDS:
        raise RequestError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    complexity = req.get("model_complexity", 1)
    if complexity not in LANDMARK_MODELS:
        raise RequestError(f"model_complexity must be 0, 1 or 2, got {complexity!r}")
    output = req.get("output")
    if not output:
        raise RequestError("the request has no 'output' path")
    frames, sources = load_frames(req)

    mp = _import_mediapipe()
    _check_model(mp, complexity)
    if kind == "legacy_streams":
        run_legacy_streams(mp, req, frames, sources)
        return
    t0 = time.perf_counter()
    pose = mp.solutions.pose.Pose(
        static_image_mode=bool(req.get("static_image_mode", False)),
        model_complexity=complexity,
        smooth_landmarks=bool(req.get("smooth_landmarks", True)),
        enable_segmentation=False,
        min_detection_confidence=float(req.get("min_detection_confidence", 0.5)),
        min_tracking_confidence=float(req.get("min_tracking_confidence", 0.5)),
    )
    init_ms = (time.perf_counter() - t0) * 1e3

    n = len(frames)
    found = np.zeros(n, dtype=bool)
    landmarks = np.full((n, 33, 4), np.nan, dtype=np.float32)
    world = np.full((n, 33, 3), np.nan, dtype=np.float32)
    process_ms = np.zeros(n, dtype=np.float64)
    cpu_ms = np.zeros(n, dtype=np.float64)
    with pose:
        for i, frame in enumerate(frames):
            c0, t0 = time.process_time(), time.perf_counter()
            result = pose.process(frame)
            process_ms[i] = (time.perf_counter() - t0) * 1e3
            cpu_ms[i] = (time.process_time() - c0) * 1e3
            if result.pose_landmarks is not None:
                found[i] = True
                landmarks[i] = _landmark_array(result.pose_landmarks, ("x", "y", "z", "visibility"))
                world[i] = _landmark_array(result.pose_world_landmarks, ("x", "y", "z"))

    info = describe(mp) | {"sources": sources, "request": {k: v for k, v in req.items() if k != "output"}}
    np.savez(
        output,
        found=found,
        landmarks=landmarks,
        world=world,
        size=np.array([(f.shape[1], f.shape[0]) for f in frames], dtype=np.int32).reshape(n, 2),
        process_ms=process_ms,
        cpu_ms=cpu_ms,
        init_ms=np.float64(init_ms),
        info=np.array(json.dumps(info)),
    )


def run_legacy_streams(mp, req: dict, frames: list[np.ndarray], sources: list[str]) -> None:
    """The "legacy_streams" request: the unfiltered and filtered landmark streams of `Pose`'s graph per frame."""
    from mediapipe.python.solution_base import SolutionBase

    complexity = req.get("model_complexity", 1)
    static = bool(req.get("static_image_mode", False))
    # Exactly what mp.solutions.pose.Pose passes (segmentation off), with more output streams observed.
    graph = SolutionBase(
        binary_graph_path=mp.solutions.pose._BINARYPB_FILE_PATH,
        side_inputs={
            "model_complexity": complexity,
            "smooth_landmarks": bool(req.get("smooth_landmarks", True)) and not static,
            "enable_segmentation": False,
            "smooth_segmentation": not static,
            "use_prev_landmarks": not static,
        },
        calculator_params={
            "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": float(
                req.get("min_detection_confidence", 0.5)
            ),
            "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator.threshold": float(
                req.get("min_tracking_confidence", 0.5)
            ),
        },
        outputs=list(LEGACY_STREAMS),
    )
    n = len(frames)
    streams = {name: np.full((n, k, len(STREAM_FIELDS)), np.nan, np.float32) for name, k in LEGACY_STREAMS.items()}
    found = np.zeros((n, len(LEGACY_STREAMS)), dtype=bool)
    timestamp_us = np.zeros(n, dtype=np.int64)
    with graph:
        for i, frame in enumerate(frames):
            result = graph.process(frame)
            # The packet timestamp process() just used (the filters' clock); private, but stable in 0.10.x.
            timestamp_us[i] = graph._simulated_timestamp
            for j, (name, k) in enumerate(LEGACY_STREAMS.items()):
                lms = getattr(result, name)
                if lms is None:
                    continue
                if len(lms.landmark) != k:
                    raise RuntimeError(f"frame {i}: stream {name} has {len(lms.landmark)} points, expected {k}")
                streams[name][i] = _landmark_array(lms, STREAM_FIELDS)
                found[i, j] = True

    info = describe(mp) | {
        "sources": sources,
        "streams": list(LEGACY_STREAMS),
        "fields": list(STREAM_FIELDS),
        "request": {k: v for k, v in req.items() if k != "output"},
    }
    np.savez(
        req["output"],
        found=found,
        size=np.array([(f.shape[1], f.shape[0]) for f in frames], dtype=np.int32).reshape(n, 2),
        timestamp_us=timestamp_us,
        info=np.array(json.dumps(info)),
        **streams,
    )


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        mp = _import_mediapipe()
        # Prove the graph runs, not only that it imports: one blank frame through the full model.
        with mp.solutions.pose.Pose(static_image_mode=True) as pose:
            smoke_found = pose.process(np.zeros((64, 64, 3), dtype=np.uint8)).pose_landmarks is not None
        print(json.dumps(describe(mp) | {"smoke_ok": not smoke_found}))
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if argv[0] == "-" else Path(argv[0]).read_text()
        req = json.loads(text)
        if not isinstance(req, dict):
            raise RequestError("the request must be a JSON object")
        run(req)
    except (RequestError, OSError, ValueError) as e:
        print(ERROR_PREFIX + str(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
