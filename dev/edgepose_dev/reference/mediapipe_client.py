"""Project-side API of the MediaPipe reference: run legacy `Pose` in the reference venv, get numpy arrays.

    result = run_mediapipe([Path("a.jpg"), Path("b.png")], model_complexity=1, static=True)
    result.landmarks[0, 11, :2]          # normalised x, y of the left shoulder in the first image

    streams = run_mediapipe_streams(Path("clip.mp4"), smooth_landmarks=True, blank_frames=[40, 41])
    streams.get("unfiltered_pose_landmarks", 0)   # (33, 5) x, y, z, visibility, presence, or None

The frames are decoded inside the subprocess before timing (or written to an .npy when given as arrays), so
`process_ms` is MediaPipe's `process()` only. MediaPipe chooses its own threads (XNNPACK runs with 1 thread on
desktop Linux); `info["cpu_count"]` and `cpu_ms` (CPU time of all its threads) let a benchmark say how many
cores it really used.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.errors import EXIT_DATAERR, EdgeposeError
from edgepose_dev.reference.mediapipe_env import (
    INSTALL_HINT,
    RUNNER,
    MediaPipeUnavailable,
    reference_python,
    runner_env,
)

# An animated .gif is a video to OpenCV's VideoCapture (its imread cannot read a .gif at all).
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif"})
FRAMES_SUFFIXES = frozenset({".npy", ".npz"})
ERROR_PREFIX = "mediapipe_runner: error: "

FramesOrPaths = str | Path | np.ndarray | Sequence[str | Path] | Sequence[np.ndarray]
# The runner's "legacy_streams" (mediapipe_runner.LEGACY_STREAMS; the runner may not be imported here).
LEGACY_STREAMS = (
    "unfiltered_pose_landmarks",
    "unfiltered_world_landmarks",
    "unfiltered_auxiliary_landmarks",
    "pose_landmarks",
    "pose_world_landmarks",
    "auxiliary_landmarks",
)


class MediaPipeRunError(EdgeposeError, RuntimeError):
    """The reference ran but rejected the request or failed; the runner's message (e.g. unreadable file)."""

    exit_status = EXIT_DATAERR


@dataclass(frozen=True)
class MediaPipeResult:
    """What legacy `Pose.process()` returned for each frame, as arrays (frame i is row i)."""

    found: np.ndarray  # (N,) bool: a pose was returned
    landmarks: np.ndarray  # (N, 33, 4) float32 normalised x, y, z, visibility; NaN where not found
    world: np.ndarray  # (N, 33, 3) float32 metres; NaN where not found
    sizes: np.ndarray  # (N, 2) int32 width, height
    process_ms: np.ndarray  # (N,) float64 wall time of each process() call
    cpu_ms: np.ndarray  # (N,) float64 CPU time (all threads) during each call
    init_ms: float  # Pose() construction (graph start)
    sources: list[str]
    model_complexity: int
    static_image_mode: bool
    smooth_landmarks: bool
    info: dict = field(default_factory=dict)  # versions, cpu_count, landmark model sha256s

    @property
    def frames(self) -> int:
        return int(self.found.shape[0])

    @property
    def total_ms(self) -> float:
        return float(self.process_ms.sum())

    @property
    def fps(self) -> float:
        """Frames per second of process() alone (frames were decoded beforehand)."""
        return self.frames / (self.total_ms / 1e3) if self.total_ms > 0 else float("nan")

    @property
    def cores_used(self) -> float:
        """Mean CPU time per wall time during process(): > 1 means MediaPipe ran threads in parallel."""
        return float(self.cpu_ms.sum() / self.total_ms) if self.total_ms > 0 else float("nan")

    def pixels(self) -> np.ndarray:
        """(N, 33, 2) landmark x, y in pixels of each frame."""
        return self.landmarks[..., :2] * self.sizes[:, None, :].astype(np.float32)


@dataclass(frozen=True)
class MediaPipeStreams:
    """Landmark streams of legacy `Pose`'s graph, unfiltered (model output) and filtered, for each frame."""

    landmarks: dict[str, np.ndarray]  # stream -> (N, K, 5) float32 x, y, z, visibility, presence; NaN if absent
    found: dict[str, np.ndarray]  # stream -> (N,) bool: the stream had a packet at that frame
    sizes: np.ndarray  # (N, 2) int32 width, height
    timestamps_us: np.ndarray  # (N,) int64 the graph's synthetic clock (33 333 µs per frame)
    sources: list[str]
    model_complexity: int
    static_image_mode: bool
    smooth_landmarks: bool
    info: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.sizes.shape[0])

    def get(self, stream: str, frame: int) -> np.ndarray | None:
        """(K, 5) points of `stream` at `frame`, or None where the graph emitted nothing."""
        return self.landmarks[stream][frame] if self.found[stream][frame] else None


def _check_frame(a: np.ndarray, what: str) -> None:
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{what} has shape {a.shape} and dtype {a.dtype}; expected H×W×3 uint8 RGB")


def _source_request(frames_or_paths: FramesOrPaths, workdir: Path) -> dict:
    """Turn the caller's input into the runner's frame source (writing arrays to an .npy/.npz file)."""
    src = frames_or_paths
    if isinstance(src, (str, Path)):
        path = Path(src).resolve()
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return {"video": str(path)}
        if path.suffix.lower() in FRAMES_SUFFIXES:
            return {"frames": str(path)}
        return {"images": [str(path)]}
    if isinstance(src, np.ndarray):
        stack = src[None] if src.ndim == 3 else src
        if stack.ndim != 4:
            raise ValueError(f"frames have shape {src.shape}; expected H×W×3 or N×H×W×3 uint8 RGB")
        if len(stack) == 0:
            raise ValueError("no frames given")
        _check_frame(stack[0], "frame 0")
        np.save(workdir / "frames.npy", np.ascontiguousarray(stack))
        return {"frames": str(workdir / "frames.npy")}
    items = list(src)
    if not items:
        raise ValueError("no frames or paths given")
    if all(isinstance(x, (str, Path)) for x in items):
        paths = [Path(x).resolve() for x in items]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"image files do not exist: {', '.join(missing)}")
        return {"images": [str(p) for p in paths]}
    if all(isinstance(x, np.ndarray) for x in items):
        for i, a in enumerate(items):
            _check_frame(a, f"frame {i}")
        if len({a.shape for a in items}) == 1:
            np.save(workdir / "frames.npy", np.stack(items))
            return {"frames": str(workdir / "frames.npy")}
        np.savez(workdir / "frames.npz", **{f"f{i:06d}": a for i, a in enumerate(items)})
        return {"frames": str(workdir / "frames.npz")}
    raise TypeError("frames_or_paths must be a path, an array, or a sequence of only paths or only arrays")


def _run_runner(python: Path, request: dict, timeout: float) -> None:
    """Run mediapipe_runner.py on `request` under `python`; raise MediaPipeUnavailable/MediaPipeRunError."""
    try:
        proc = subprocess.run(
            [str(python), "-I", str(RUNNER), "-"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=runner_env(),
            check=False,
        )
    except OSError as e:  # missing or not executable
        raise MediaPipeUnavailable(f"reference interpreter {python} cannot be started: {e}; {INSTALL_HINT}") from e
    except subprocess.TimeoutExpired as e:
        raise MediaPipeRunError(f"MediaPipe reference timed out after {timeout:.0f} s") from e
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        errors = [ln.removeprefix(ERROR_PREFIX) for ln in lines if ln.startswith(ERROR_PREFIX)]
        if errors:
            raise MediaPipeRunError(errors[-1])
        if any("ModuleNotFoundError" in ln or "ImportError" in ln for ln in lines):
            raise MediaPipeUnavailable(f"{python} cannot import MediaPipe: {lines[-1]}; {INSTALL_HINT}")
        raise MediaPipeRunError(f"MediaPipe reference failed (exit {proc.returncode}): {' | '.join(lines[-3:])}")


def _array_sources(sources: list[str], from_arrays: bool) -> list[str]:
    if not from_arrays:
        return sources
    # Arrays were passed through a temporary file: name them by index, not by that file.
    return [f"array#{i}" + (" (blanked)" if s.endswith(" (blanked)") else "") for i, s in enumerate(sources)]



def _pose_params(
    model_complexity: int, static: bool, smooth_landmarks: bool, min_detection: float, min_tracking: float,
    max_frames: int | None,
) -> dict[str, Any]:
    """The runner's request keys for legacy `Pose`'s constructor arguments."""
    return {
        "model_complexity": model_complexity,
        "static_image_mode": static,
        "smooth_landmarks": smooth_landmarks,
        "min_detection_confidence": min_detection,
        "min_tracking_confidence": min_tracking,
        "max_frames": max_frames,
    }


@contextmanager
def _reference_run(
    frames_or_paths: FramesOrPaths, params: dict[str, Any], python: Path | None, timeout: float
) -> Iterator[tuple[Any, dict[str, Any], bool]]:
    """Check the common parameters, run the runner on the frames, yield (npz, info, frames were arrays)."""
    if params["model_complexity"] not in (0, 1, 2):
        raise ValueError(f"model_complexity must be 0, 1 or 2, got {params['model_complexity']!r}")
    if params["max_frames"] is not None and params["max_frames"] < 1:
        raise ValueError(f"max_frames must be at least 1, got {params['max_frames']}")
    python = Path(python) if python is not None else reference_python()
    with tempfile.TemporaryDirectory(prefix="edgepose-mp-") as tmp:
        workdir = Path(tmp)
        source = _source_request(frames_or_paths, workdir)
        from_arrays = "frames" in source and Path(source["frames"]).parent == workdir
        _run_runner(python, source | {"output": str(workdir / "out.npz")} | params, timeout)
        with np.load(workdir / "out.npz", allow_pickle=False) as out:
            yield out, json.loads(str(out["info"])), from_arrays


def run_mediapipe(
    frames_or_paths: FramesOrPaths,
    model_complexity: int = 1,
    static: bool = True,
    *,
    smooth_landmarks: bool = True,
    min_detection_confidence: float = 0.5,
    min_tracking_confidence: float = 0.5,
    max_frames: int | None = None,
    python: Path | None = None,
    timeout: float = 900.0,
) -> MediaPipeResult:
    """Run MediaPipe legacy `Pose` on images, a video, an .npy/.npz of frames, or RGB arrays.

    One `Pose` instance processes all frames in order: with `static=False` it tracks from frame to frame
    (pass video frames), with `static=True` every frame runs the detector. Raises MediaPipeUnavailable when no
    reference interpreter exists, MediaPipeRunError when the reference fails, ValueError/FileNotFoundError
    for bad input.
    """
    params = _pose_params(model_complexity, static, smooth_landmarks, min_detection_confidence,
                          min_tracking_confidence, max_frames)  # fmt: skip
    with _reference_run(frames_or_paths, params, python, timeout) as (out, info, from_arrays):
        sources = _array_sources(list(info.pop("sources")), from_arrays)
        return MediaPipeResult(
            found=out["found"],
            landmarks=out["landmarks"],
            world=out["world"],
            sizes=out["size"],
            process_ms=out["process_ms"],
            cpu_ms=out["cpu_ms"],
            init_ms=float(out["init_ms"]),
            sources=sources,
            model_complexity=model_complexity,
            static_image_mode=static,
            smooth_landmarks=smooth_landmarks,
            info=info,
        )


def run_mediapipe_streams(
    frames_or_paths: FramesOrPaths,
    *,
    smooth_landmarks: bool = True,
    model_complexity: int = 1,
    static: bool = False,
    blank_frames: Sequence[int] = (),
    min_detection_confidence: float = 0.5,
    min_tracking_confidence: float = 0.5,
    max_frames: int | None = None,
    python: Path | None = None,
    timeout: float = 900.0,
) -> MediaPipeStreams:
    """Run legacy `Pose`'s graph over the frames and record its unfiltered and filtered landmark streams.

    The graph is built as `Pose` builds it (tracking from frame to frame unless `static`); the frames whose
    indices are in `blank_frames` are replaced by black ones, which makes a tracking loss. Inputs and errors
    as for run_mediapipe().
    """
    blank = [int(i) for i in blank_frames]
    if any(i < 0 for i in blank):
        raise ValueError(f"blank_frames must be frame indices (>= 0), got {blank}")
    params = {
        "kind": "legacy_streams",
        **_pose_params(model_complexity, static, smooth_landmarks, min_detection_confidence,
                       min_tracking_confidence, max_frames),
        "blank_frames": blank,
    }
    with _reference_run(frames_or_paths, params, python, timeout) as (out, info, from_arrays):
        names = info["streams"]
        if tuple(names) != LEGACY_STREAMS:
            raise MediaPipeRunError(f"the reference recorded streams {names}, expected {list(LEGACY_STREAMS)}")
        found = out["found"]
        return MediaPipeStreams(
            landmarks={name: out[name] for name in names},
            found={name: found[:, j] for j, name in enumerate(names)},
            sizes=out["size"],
            timestamps_us=out["timestamp_us"],
            sources=_array_sources(list(info.pop("sources")), from_arrays),
            model_complexity=model_complexity,
            static_image_mode=static,
            smooth_landmarks=smooth_landmarks,
            info=info,
        )
