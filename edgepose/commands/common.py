"""Options shared by the commands that run the pose engine, and how to read images and videos for them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edgepose.commands.config import read_config
from edgepose.config import Config, ConfigError, EngineConfig
from edgepose.engine.tracker import PoseEngine
from edgepose.errors import EXIT_CONFIG, EXIT_DATAERR, EXIT_NOINPUT, CommandError, EdgeposeError
from edgepose.io.frames import FrameError, to_rgb_uint8
from edgepose.model_files import COMPLEXITIES, PRECISIONS

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".h264"})


def add_engine_args(
    p: argparse.ArgumentParser, *, default_precision: str = "float", default_model: str = "full"
) -> None:
    g = p.add_argument_group("pose engine")
    g.add_argument("--model", choices=COMPLEXITIES, default=default_model,
                   help=f"landmark model (default: {default_model})")  # fmt: skip
    g.add_argument("--precision", choices=(*PRECISIONS, "auto"), default=default_precision,
                   help=f"model precision; auto: per stage, for this CPU (default: {default_precision})")  # fmt: skip
    g.add_argument("--backend", choices=("auto", "cpu", "edgetpu"), default="cpu", help="(default: cpu)")
    g.add_argument("--edgetpu-device", default=None, help="Edge TPU device: usb, usb:N, pci or pci:N")
    g.add_argument("--heatmap-kernel", type=int, choices=(7, 9), default=7,
                   help="7 = MediaPipe's graph (default), 9 = the legacy Python wheel")  # fmt: skip
    g.add_argument("--threads", type=int, default=None, help="interpreter threads (default: runtime's choice)")
    g.add_argument("--models-dir", type=Path, default=None, help="models directory (default: see README)")
    g.add_argument("--max-poses", type=int, default=1, help="track up to N people (default: 1)")
    g.add_argument("--detect-interval", type=int, default=1,
                   help="with --max-poses > 1: look for newcomers every N frames (default: 1)")
    g.add_argument("--no-wide-frame-tiles", dest="wide_frame_tiles", action="store_false",
                   help="video: only the whole-frame detector pass, as MediaPipe (engine.wide_frame_tiles)")


def add_edgetpu_form_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--edgetpu-form",
        action="store_true",
        help="with --precision int8: run the graphs the Edge TPU compiler is given (rewritten detector, split "
        "landmark model) on the CPU, to measure the Edge TPU form's accuracy without a TPU",
    )


def add_device_engine_args(p: argparse.ArgumentParser) -> None:
    """The engine options with the daemon's defaults (config.py), i.e. the files a deployed device has: a
    device carries only the int8 models (deploy.sh ships no float/)."""
    add_engine_args(p, default_precision=EngineConfig.precision, default_model=EngineConfig.model)


def add_validity_config_arg(p: argparse.ArgumentParser) -> None:
    """`--config FILE`: the daemon configuration whose [validity] settings and zones the command applies."""
    p.add_argument("--config", metavar="FILE", default=os.environ.get("EDGEPOSE_CONFIG"),
                   help="daemon TOML configuration whose [validity] settings and [[zones]] apply, as on the device "
                        "(default: $EDGEPOSE_CONFIG, else built-in defaults; the engine comes from the options)")


def validity_settings(args: argparse.Namespace) -> Config:
    """The configuration the command's validity stage is built from (`--config`, validated; exit 78 if invalid)."""
    return read_config(getattr(args, "config", None))


def engine_config(args: argparse.Namespace, *, static: bool = False, mirror: bool = False) -> EngineConfig:
    """The [engine] settings of a command's options, checked by the same rules as the configuration file.
    `mirror` (with `static`): the mirrored poses pose validity judges photos with."""
    if getattr(args, "edgetpu_form", False) and (args.precision != "int8" or args.backend != "cpu"):
        raise CommandError(
            "--edgetpu-form needs --precision int8 and --backend cpu (it runs the Edge TPU's graphs on the CPU), "
            f"got --precision {args.precision} --backend {args.backend}",
            EXIT_CONFIG,
        )
    try:
        return _engine_config(args, static, mirror)
    except ConfigError as e:  # validated like the [engine] section; the message names the option
        option = "--" + e.key.replace("_", "-")
        raise CommandError(f"{option}: {str(e).removeprefix(e.key + ': ')}", EXIT_CONFIG) from None


def _engine_config(args: argparse.Namespace, static: bool, mirror: bool) -> EngineConfig:
    return EngineConfig(
        model=args.model,
        precision=args.precision,
        backend=args.backend,
        edgetpu_device=args.edgetpu_device,
        threads=args.threads,
        heatmap_kernel=args.heatmap_kernel,
        static=static,
        mirror_evidence=static and mirror,
        models_dir=str(args.models_dir or ""),
        max_poses=getattr(args, "max_poses", 1),
        detect_interval=getattr(args, "detect_interval", 1),
        wide_frame_tiles=getattr(args, "wide_frame_tiles", True),
        edgetpu_form=getattr(args, "edgetpu_form", False),
    )


def build_engine(config: EngineConfig) -> PoseEngine:
    """The engine of a command; a ModelError/BackendError reaches the CLI with its exit status (66)."""
    return PoseEngine.from_config(config)


@dataclass(frozen=True, slots=True)
class InputFrame:
    source: str
    frame: int
    rgb: npt.NDArray[np.uint8]
    timestamp_ns: int | None


class InputError(EdgeposeError):
    """One input could not be read; processing of the others goes on."""

    exit_status = EXIT_DATAERR


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """Any image OpenCV reads (grey, RGBA, 16-bit included) as uint8 RGB."""
    if not path.is_file():
        raise InputError(f"{path}: no such file", exit_status=EXIT_NOINPUT)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"{path}: not a readable image")
    try:
        return to_rgb_uint8(image, bgr=image.ndim == 3)
    except FrameError as e:
        raise InputError(f"{path}: {e}") from None


def read_video(path: Path, max_frames: int | None = None) -> Iterator[InputFrame]:
    """Frames of a video file with timestamps from their position (strictly increasing, for smoothing)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file", exit_status=EXIT_NOINPUT)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: not a readable video")
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        if not np.isfinite(fps) or fps <= 0:
            fps = 30.0
        index = 0
        while max_frames is None or index < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            yield InputFrame(str(path), index, to_rgb_uint8(bgr, bgr=True), round((index + 1) * 1e9 / fps))
            index += 1
        if index == 0:
            raise InputError(f"{path}: video has no decodable frame")
    finally:
        cap.release()


def expand_sources(sources: list[Path]) -> list[Path]:
    """Directories become their image and video files (sorted); files are kept as given."""
    out: list[Path] = []
    for s in sources:
        if s.is_dir():
            out.extend(
                sorted(p for p in s.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            )
        else:
            out.append(s)
    return out


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES
