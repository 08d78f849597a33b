"""Calibration data: real people seen the way the runtime sees them (issue 3).

Detector samples are the letterboxed 224² frames in [−1, 1] that `edgepose.engine.detector.detector_input`
makes. Landmark samples are 256² ROI crops in [0, 1] made by the float pipeline: the float detector's ROI
(spec §2) and, as the tracker does on the next frame, the ROI from the float landmark model's auxiliary points
33/34 (spec §4.1). Default sets (`DEFAULT_SETS`, one per model in `quantize.CALIBRATION_SETS`): unannotated photos
and video frames of ../shared/data; the annotated photos are held out because the accuracy test (PCK) runs on them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edgepose.model_files import sha256_file
from edgepose_dev.models_build.errors import ModelBuildError

F32 = npt.NDArray[np.float32]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
LANDMARK_SIZE = 256
MAX_PEOPLE_PER_FRAME = 3
PRESENCE_MIN = 0.5  # tracking gate of the legacy graph (spec §3.4)
# The named subsets of ../shared/data a recipe calibrates on. "all" adds the presence clips (the detector's empty
# rooms) to "people", the 26 files lite's and heavy's shipped files were chosen and confirmed on (docs/int8.md).
PRESENCE_CLIPS = ("videos", "presence")
DEFAULT_SETS = {
    "all": "unannotated photos and every video, the presence clips included",
    "people": "unannotated photos and the videos of people (videos/presence left out)",
}
USER_SET = "user"
# Copies of each landmark crop a variant build may add (variant.py; measured on lite, not taken: docs/int8.md).
AUGMENTATIONS = ("flip", "photometric")


@dataclass(frozen=True)
class CalibrationSource:
    """The frames to calibrate on and the hash that identifies them in the manifest."""

    files: tuple[Path, ...]
    video_stride: int
    root: Path
    name: str = USER_SET  # a key of DEFAULT_SETS, or USER_SET for --calibration DIR (not part of the hash)

    def sha256(self) -> str:
        """Hash of (relative path, file sha256) of every file plus the sampling settings."""
        h = hashlib.sha256(f"video_stride={self.video_stride}\n".encode())
        for f in self.files:
            h.update(f"{_rel(f, self.root)}\t{sha256_file(f)}\n".encode())
        return h.hexdigest()


@dataclass
class CalibrationSet:
    """Float inputs for each model, plus counts for the report."""

    detector: list[F32] = field(default_factory=list)
    landmark: list[F32] = field(default_factory=list)
    frames: int = 0
    frames_with_person: int = 0
    source_sha256: str = ""


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def default_source(shared_data: Path, video_stride: int = 3, subset: str = "all") -> CalibrationSource:
    """Unannotated photos + video frames of `shared_data` (annotated photos held out for the PCK test); `subset`:
    a key of DEFAULT_SETS."""
    if subset not in DEFAULT_SETS:
        raise ModelBuildError(f"unknown calibration set {subset!r}; choose one of {', '.join(DEFAULT_SETS)}")
    dirs = [shared_data / "images" / "unannotated", shared_data / "videos"]
    clips = shared_data.joinpath(*PRESENCE_CLIPS)
    files = sorted(p for d in dirs if d.is_dir() for p in d.rglob("*")
                   if _usable(p) and (subset == "all" or not p.is_relative_to(clips)))  # fmt: skip
    if not files:
        raise ModelBuildError(
            f"no calibration images or videos under {shared_data}; pass --calibration DIR with camera frames"
        )
    return CalibrationSource(tuple(files), video_stride, shared_data, subset)


def user_source(directory: Path, video_stride: int = 3) -> CalibrationSource:
    """All images and videos under a user's directory (recursively)."""
    if not directory.is_dir():
        raise ModelBuildError(f"calibration folder {directory} does not exist or is not a directory")
    files = sorted(p for p in directory.rglob("*") if _usable(p))
    if not files:
        raise ModelBuildError(
            f"calibration folder {directory} has no images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
            f"or videos ({', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    return CalibrationSource(tuple(files), video_stride, directory)


def _usable(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def iter_frames(source: CalibrationSource) -> Iterator[tuple[str, npt.NDArray[np.uint8]]]:
    """(label, RGB uint8 frame) for every image and every `video_stride`-th video frame."""
    for f in source.files:
        if f.suffix.lower() in IMAGE_SUFFIXES:
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ModelBuildError(f"calibration image {f} cannot be decoded (corrupt or not an image)")
            yield _rel(f, source.root), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            continue
        cap = cv2.VideoCapture(str(f))
        if not cap.isOpened():
            raise ModelBuildError(f"calibration video {f} cannot be opened")
        i = 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                if i % source.video_stride == 0:
                    yield f"{_rel(f, source.root)}#{i}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                i += 1
        finally:
            cap.release()


class FloatModel:
    """A float model on LiteRT (XNNPACK), outputs keyed by shape (spec §1.1: match by shape, not index)."""

    def __init__(self, path: Path, threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._it = Interpreter(model_path=str(path), num_threads=threads)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]
        self._outs = self._it.get_output_details()

    def __call__(self, x: F32) -> dict[tuple[int, ...], F32]:
        self._it.set_tensor(self._in["index"], x.astype(np.float32, copy=False))
        self._it.invoke()
        return {tuple(int(s) for s in o["shape"]): self._it.get_tensor(o["index"]) for o in self._outs}


def project_points(points_norm: F32, roi) -> F32:
    """Crop-normalised (x, y) → frame-normalised, through the rotated ROI (LandmarkProjection, spec §3.7)."""
    c, s = np.cos(roi.rotation), np.sin(roi.rotation)
    x = points_norm[:, 0] - np.float32(0.5)
    y = points_norm[:, 1] - np.float32(0.5)
    xr = (x * c - y * s) * roi.width + roi.x_center
    yr = (x * s + y * c) * roi.height + roi.y_center
    return np.stack([xr, yr], axis=1).astype(np.float32)


def landmark_crop(frame: npt.NDArray[np.uint8], roi) -> F32:
    """The landmark model input for `roi`: 256² crop, BORDER_REPLICATE, [0, 1] (spec §3.3)."""
    from edgepose.engine.image_to_tensor import roi_to_tensor_u8, to_float

    tensor, _ = roi_to_tensor_u8(frame, roi, LANDMARK_SIZE, cv2.BORDER_REPLICATE)
    return to_float(tensor, 0.0, 1.0)


def detector_rois(detector: FloatModel, frame: npt.NDArray[np.uint8]) -> tuple[F32, list]:
    """(detector input tensor, landmark ROIs of the people the float detector finds), best first."""
    from edgepose.engine.detector import decode, detector_input, remove_letterbox, weighted_nms
    from edgepose.engine.roi import roi_from_points

    tensor, letterbox = detector_input(frame)
    out = detector(tensor)
    dets = remove_letterbox(weighted_nms(decode(out[(1, 2254, 12)], out[(1, 2254, 1)])), letterbox)
    h, w = frame.shape[:2]
    rois = [roi_from_points(k[0], k[1], w, h) for k in dets.keypoints[:MAX_PEOPLE_PER_FRAME]]
    return tensor, rois


def build_calibration_set(
    source: CalibrationSource,
    detector_path: Path,
    landmark_path: Path,
    progress: Callable[[str], None] | None = None,
) -> CalibrationSet:
    """Run the float detector (+ one float landmark model for the tracked ROI) over the source frames."""
    detector = FloatModel(detector_path)
    landmark = FloatModel(landmark_path)
    out = CalibrationSet(source_sha256=source.sha256())
    for label, frame in iter_frames(source):
        out.frames += 1
        tensor, rois = detector_rois(detector, frame)
        out.detector.append(tensor)
        if rois:
            out.frames_with_person += 1
        for roi in rois:
            crop = landmark_crop(frame, roi)
            out.landmark.append(crop)
            tracked = _tracked_roi(landmark, crop, roi, frame.shape[1], frame.shape[0])
            if tracked is not None:
                out.landmark.append(landmark_crop(frame, tracked))
        if progress is not None:
            progress(f"calibration {label}: {len(rois)} people")
    if not out.landmark:
        raise ModelBuildError(
            f"no person found by the float detector in {out.frames} calibration frames under {source.root}; "
            "use frames that show people"
        )
    return out


def _tracked_roi(landmark: FloatModel, crop: F32, roi, width: int, height: int):
    """The next frame's ROI from landmarks 33/34 (what the tracker crops), or None if the gate fails."""
    from edgepose.engine.roi import roi_from_points

    out = landmark(crop)
    if float(out[(1, 1)].reshape(())) <= PRESENCE_MIN:
        return None
    raw = out[(1, 195)].reshape(39, 5)
    aux = project_points(raw[33:35, :2] / np.float32(LANDMARK_SIZE), roi)
    return roi_from_points(aux[0], aux[1], width, height)


def check_augmentations(kinds: Sequence[str]) -> None:
    """ModelBuildError naming any kind that is not in AUGMENTATIONS."""
    unknown = sorted(set(kinds) - set(AUGMENTATIONS))
    if unknown:
        raise ModelBuildError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")


def augment_crops(crops: Sequence[F32], kinds: Sequence[str], seed: int = 0) -> list[F32]:
    """Each crop followed by one augmented copy per kind of `kinds` (AUGMENTATIONS): "flip" mirrors it left-right,
    "photometric" applies a random gamma (0.7–1.4), contrast (0.75–1.25) and brightness (±0.1), clipped to [0, 1].
    Copies follow their crop because the quantizer's moving-average ranges weigh the last samples most."""
    check_augmentations(kinds)
    rng = np.random.default_rng(seed)
    out: list[F32] = []
    for c in crops:
        out.append(c)
        for kind in kinds:
            if kind == "flip":
                out.append(np.ascontiguousarray(c[:, :, ::-1, :]))
            else:
                gamma, contrast, brightness = rng.uniform(0.7, 1.4), rng.uniform(0.75, 1.25), rng.uniform(-0.1, 0.1)
                jittered = (np.power(c, gamma) - 0.5) * contrast + 0.5 + brightness
                out.append(np.clip(jittered, 0.0, 1.0).astype(np.float32))
    return out


def as_signature_data(samples: Sequence[F32], input_name: str = "input_1") -> dict[str, list[dict[str, F32]]]:
    """The calibration-data layout ai-edge-quantizer takes: {signature_key: [{input_name: array}, ...]}."""
    from edgepose_dev.models_build.float32 import SIGNATURE_KEY

    return {SIGNATURE_KEY: [{input_name: s} for s in samples]}
