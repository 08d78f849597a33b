"""Drawing on a frame: skeletons (accepted and rejected poses), zones and masks, a status line; JPEG encoding.

Colours are fixed and documented (docs/live_view.md) so that a viewer can read the picture without a legend
and tests can find them. Drawing happens on a BGR copy of the frame (the caller's frame is never written).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edgepose.pose import VISIBILITY, Pose
from edgepose.topology import SKELETON_EDGES

U8 = npt.NDArray[np.uint8]

# RGB colours (docs/live_view.md, "What the picture shows").
ACCEPTED_RGB = (0, 255, 0)  # skeleton and keypoints of a pose that counts
REJECTED_RGB = (255, 48, 48)  # a pose dropped by the validity checks, with its reason
INCLUDE_RGB = (0, 160, 255)  # outline of an include zone
MASK_RGB = (255, 0, 255)  # masked area (outline and a translucent fill)
TEXT_RGB = (255, 255, 255)

# Keypoints less visible than this are not drawn (they are guesses; drawing them suggests a ghost limb).
MIN_DRAWN_VISIBILITY = 0.5
MASK_ALPHA = 0.35

_EDGES = np.asarray(SKELETON_EDGES, dtype=np.intp)


class ZoneLike(Protocol):
    """What the overlay needs of a zone: `kind` "include" or "mask", `points` as N×(x, y) normalised to the
    frame, and a `name` (may be empty)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def points(self) -> Any: ...


class PresenceLike(Protocol):
    @property
    def present(self) -> bool: ...
    @property
    def count(self) -> int: ...


def _bgr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return rgb[2], rgb[1], rgb[0]


def _scale(width: int) -> tuple[int, int, float]:
    """Line thickness, keypoint radius and font scale for a frame `width` pixels wide."""
    return max(2, round(width / 320)), max(3, round(width / 150)), max(0.4, width / 1200)


def _draw_pose(img: U8, pose: Pose, rgb: tuple[int, int, int], label: str = "") -> None:
    h, w = img.shape[:2]
    thick, radius, font = _scale(w)
    xy = np.rint(pose.xy_pixels(w, h)).astype(np.int32)
    seen = pose.keypoints[:, VISIBILITY] >= MIN_DRAWN_VISIBILITY
    finite = np.isfinite(pose.keypoints[:, :2]).all(axis=1)
    ok = seen & finite
    colour = _bgr(rgb)
    edges = _EDGES[ok[_EDGES[:, 0]] & ok[_EDGES[:, 1]]]
    if len(edges):
        cv2.polylines(img, list(xy[edges]), False, colour, thick, cv2.LINE_AA)
    for x, y in xy[ok]:
        cv2.circle(img, (int(x), int(y)), radius, colour, -1, cv2.LINE_AA)
    if label and finite.any():
        pts = xy[finite]
        x0, y0 = int(pts[:, 0].min()), int(pts[:, 1].min())
        _text(img, label, (max(0, x0), max(0, y0 - 4)), font, rgb)


def _text(img: U8, text: str, org: tuple[int, int], font: float, rgb: tuple[int, int, int] = TEXT_RGB) -> None:
    """Text on a dark box, readable on any background."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
    x, y = org
    x = max(0, min(x, img.shape[1] - tw - 4))  # keep labels of poses near the right edge readable
    y = max(y, th + 2)
    cv2.rectangle(img, (x, y - th - 3), (x + tw + 4, y + base), (0, 0, 0), -1)
    cv2.putText(img, text, (x + 2, y - 1), cv2.FONT_HERSHEY_SIMPLEX, font, _bgr(rgb), 1, cv2.LINE_AA)


def _draw_zones(img: U8, zones: Sequence[ZoneLike]) -> None:
    h, w = img.shape[:2]
    thick, _, font = _scale(w)
    polys = [(z, np.rint(np.asarray(z.points, np.float64).reshape(-1, 2) * (w, h)).astype(np.int32))
             for z in zones]
    masks = [p for z, p in polys if z.kind == "mask" and len(p) >= 3]
    if masks:
        layer = img.copy()
        cv2.fillPoly(layer, masks, _bgr(MASK_RGB))
        cv2.addWeighted(layer, MASK_ALPHA, img, 1.0 - MASK_ALPHA, 0.0, dst=img)
    for z, p in polys:
        if len(p) < 2:
            continue
        rgb = MASK_RGB if z.kind == "mask" else INCLUDE_RGB
        cv2.polylines(img, [p], True, _bgr(rgb), thick, cv2.LINE_AA)
        if z.name:
            _text(img, f"{z.kind}: {z.name}", (int(p[:, 0].min()), int(p[:, 1].min()) + 14), font, rgb)


def render(frame_rgb: U8, accepted: Sequence[Pose], rejected: Sequence[tuple[Pose, str]] = (),
           zones: Sequence[ZoneLike] = (), presence: PresenceLike | None = None, fps: float | None = None,
           width: int | None = None) -> U8:
    """A BGR picture of the frame (resized to `width` if given) with everything drawn on it."""
    h, w = frame_rgb.shape[:2]
    if width is not None and width != w:
        size = (width, max(1, round(h * width / w)))
        img = cv2.cvtColor(cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    else:
        img = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    _draw_zones(img, zones)
    for pose, reason in rejected:
        _draw_pose(img, pose, REJECTED_RGB, f"rejected: {reason}")
    for pose in accepted:
        _draw_pose(img, pose, ACCEPTED_RGB)
    parts = []
    if fps is not None:
        parts.append(f"{fps:.1f} fps")
    if presence is not None:
        parts.append(f"present ({presence.count})" if presence.present else "absent")
    if parts:
        _text(img, "  ".join(parts), (4, 4), _scale(img.shape[1])[2])
    return img


def encode_jpeg(img_bgr: U8, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # only for an empty or malformed image, which render never produces
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def render_jpeg(frame_rgb: U8, accepted: Sequence[Pose], *, quality: int, **kwargs: Any) -> bytes:
    """`render` then JPEG-encode (quality 1-100)."""
    return encode_jpeg(render(frame_rgb, accepted, **kwargs), quality)
