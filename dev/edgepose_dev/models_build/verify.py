"""Verification figures for an int8 build: int8 vs float on held-out real photos.

- Detector: on each frame, does the int8 detector find every person the float detector finds (IoU > 0.5)?
- Landmarks: on the float pipeline's crops, mean |int8 − float| landmark deviation per keypoint in % of the
  torso (shoulder-midpoint to hip-midpoint distance of the float result), and the presence-score change.
- Quick PCK@0.2 (COCO-17, threshold 0.2 × GT torso diagonal) of float and int8 on the same crops, when
  annotations are given. `edgepose eval` is the authoritative PCK; this is the build's own sanity figure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edgepose_dev.models_build.calibration import (
    LANDMARK_SIZE,
    MAX_PEOPLE_PER_FRAME,
    FloatModel,
    landmark_crop,
    project_points,
)

F32 = npt.NDArray[np.float32]
SHOULDERS, HIPS = (11, 12), (23, 24)
IOU_MATCH = 0.5


class QuantModel(FloatModel):
    """A model whose input/output may be int8: (de)quantized here with the model's scale and zero point."""

    def __call__(self, x: F32) -> dict[tuple[int, ...], F32]:
        d = self._in
        scale, zp = d["quantization"]
        if d["dtype"] != np.float32 and scale:
            info = np.iinfo(d["dtype"])
            x = np.clip(np.rint(x / np.float32(scale)) + zp, info.min, info.max).astype(d["dtype"])
        self._it.set_tensor(d["index"], x)
        self._it.invoke()
        out = {}
        for o in self._outs:
            t = self._it.get_tensor(o["index"])
            s, z = o["quantization"]
            if o["dtype"] != np.float32 and s:
                t = (t.astype(np.float32) - np.float32(z)) * np.float32(s)
            out[tuple(int(v) for v in o["shape"])] = t
        return out


@dataclass
class DetectorAgreement:
    frames: int
    float_people: int
    int8_matched: int
    int8_extra: int
    frames_float_found: int
    frames_int8_found_same: int


@dataclass
class LandmarkDeviation:
    crops: int
    mean_pct_torso: float
    median_pct_torso: float
    max_keypoint_mean_pct_torso: float
    per_keypoint_pct_torso: list[float]
    presence_mean_abs_diff: float
    pck_float: float | None = None
    pck_int8: float | None = None
    pck_people: int = 0


def _detect(model: QuantModel, frame: npt.NDArray[np.uint8]):
    from edgepose.engine.detector import decode, detector_input, remove_letterbox, weighted_nms

    tensor, letterbox = detector_input(frame)
    out = model(tensor)
    return remove_letterbox(weighted_nms(decode(out[(1, 2254, 12)], out[(1, 2254, 1)])), letterbox)


def _iou_matrix(a: F32, b: F32) -> F32:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0).astype(np.float32)


def detector_agreement(float_path: Path, int8_path: Path, frames: Iterable[npt.NDArray[np.uint8]]) -> DetectorAgreement:
    fm, qm = QuantModel(float_path), QuantModel(int8_path)
    r = DetectorAgreement(0, 0, 0, 0, 0, 0)
    for frame in frames:
        r.frames += 1
        df, dq = _detect(fm, frame), _detect(qm, frame)
        if len(df) == 0:
            r.int8_extra += len(dq)
            continue
        r.frames_float_found += 1
        r.float_people += len(df)
        iou = _iou_matrix(df.boxes, dq.boxes) if len(dq) else np.zeros((len(df), 0), np.float32)
        matched = int((iou.max(axis=1) > IOU_MATCH).sum()) if iou.shape[1] else 0
        r.int8_matched += matched
        r.int8_extra += int(len(dq) - (iou.max(axis=0) > IOU_MATCH).sum()) if iou.shape[1] else 0
        r.frames_int8_found_same += int(matched == len(df))
    return r


def _torso(raw: F32) -> F32:
    """Shoulder-midpoint to hip-midpoint distance per crop, in crop pixels. raw: (N, 39, 5)."""
    sh = raw[:, SHOULDERS, :2].mean(axis=1)
    hp = raw[:, HIPS, :2].mean(axis=1)
    return np.linalg.norm(sh - hp, axis=1)


def landmark_deviation(float_out: F32, int8_out: F32, float_presence: F32, int8_presence: F32) -> LandmarkDeviation:
    """float_out/int8_out: (N, 39, 5) raw landmark outputs on the same N crops."""
    torso = np.maximum(_torso(float_out), 1.0)
    dev = np.linalg.norm(int8_out[:, :33, :2] - float_out[:, :33, :2], axis=2) / torso[:, None] * 100.0
    per_kp = dev.mean(axis=0)
    return LandmarkDeviation(
        crops=int(float_out.shape[0]),
        mean_pct_torso=float(dev.mean()),
        median_pct_torso=float(np.median(dev)),
        max_keypoint_mean_pct_torso=float(per_kp.max()),
        per_keypoint_pct_torso=[round(float(v), 3) for v in per_kp],
        presence_mean_abs_diff=float(np.abs(int8_presence - float_presence).mean()),
    )


def annotated_people(annotations: Path) -> list[tuple[Path, list[dict]]]:
    """(image path, its annotations) from a COCO keypoints file."""
    data = json.loads(annotations.read_text())
    by_image: dict[int, list[dict]] = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    return [(annotations.parent / im["file_name"], by_image.get(im["id"], [])) for im in data["images"]]


def _gt_torso(kp: F32) -> float:
    """GT torso diagonal (left shoulder–right hip, or right shoulder–left hip) in pixels; 0 if unlabelled."""
    # COCO-17 order: 5 l_shoulder, 6 r_shoulder, 11 l_hip, 12 r_hip
    for a, b in ((5, 12), (6, 11)):
        if kp[a, 2] > 0 and kp[b, 2] > 0:
            return float(np.linalg.norm(kp[a, :2] - kp[b, :2]))
    return 0.0


def compare_landmarks_on_photos(
    detector_path: Path,
    float_landmark: Path,
    int8_landmark: Path,
    annotations: Path | None = None,
    frames: Iterable[npt.NDArray[np.uint8]] = (),
) -> LandmarkDeviation:
    """Float-pipeline crops of the annotated photos (or of `frames`): int8 vs float, plus quick PCK@0.2."""
    from edgepose.engine.roi import roi_from_points
    from edgepose.topology import COCO17_FROM_BLAZEPOSE

    det = QuantModel(detector_path)
    fl, q = QuantModel(float_landmark), QuantModel(int8_landmark)
    outs_f, outs_q, pres_f, pres_q = [], [], [], []
    hits_f = hits_q = total = people = 0
    items: list[tuple[npt.NDArray[np.uint8], list[dict]]] = []
    if annotations is not None:
        for path, anns in annotated_people(annotations):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is not None:
                items.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), anns))
    items.extend((f, []) for f in frames)
    for frame, anns in items:
        h, w = frame.shape[:2]
        dets = _detect(det, frame)
        rois = [roi_from_points(k[0], k[1], w, h) for k in dets.keypoints[:MAX_PEOPLE_PER_FRAME]]
        results = []
        for roi in rois:
            crop = landmark_crop(frame, roi)
            of, oq = fl(crop), q(crop)
            rf, rq = of[(1, 195)].reshape(39, 5), oq[(1, 195)].reshape(39, 5)
            outs_f.append(rf)
            outs_q.append(rq)
            pres_f.append(float(of[(1, 1)].reshape(())))
            pres_q.append(float(oq[(1, 1)].reshape(())))
            size = np.array([w, h], np.float32)
            results.append(
                (
                    project_points(rf[:33, :2] / np.float32(LANDMARK_SIZE), roi) * size,
                    project_points(rq[:33, :2] / np.float32(LANDMARK_SIZE), roi) * size,
                )
            )
        for a in anns:
            kp = np.asarray(a["keypoints"], np.float32).reshape(17, 3)
            thr = 0.2 * _gt_torso(kp)
            labelled = kp[:, 2] > 0
            if thr <= 0 or not labelled.any():
                continue
            people += 1
            total += int(labelled.sum())
            if not results:
                continue
            # The prediction whose COCO keypoints are closest to this person's labels.
            def gt_distance(r, kp=kp, labelled=labelled) -> float:
                d = r[0][COCO17_FROM_BLAZEPOSE][labelled] - kp[labelled, :2]
                return float(np.linalg.norm(d, axis=1).mean())

            best = min(results, key=gt_distance)
            for pts, acc in ((best[0], "f"), (best[1], "q")):
                d = np.linalg.norm(pts[COCO17_FROM_BLAZEPOSE][labelled] - kp[labelled, :2], axis=1)
                if acc == "f":
                    hits_f += int((d < thr).sum())
                else:
                    hits_q += int((d < thr).sum())
    if not outs_f:
        raise ValueError("no person found by the float detector on the verification photos")
    r = landmark_deviation(np.stack(outs_f), np.stack(outs_q), np.array(pres_f), np.array(pres_q))
    if total:
        r.pck_float = round(100.0 * hits_f / total, 2)
        r.pck_int8 = round(100.0 * hits_q / total, 2)
        r.pck_people = people
    return r


def as_dict(obj) -> dict:
    return asdict(obj)
