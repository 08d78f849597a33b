"""Zones and masks: polygons in normalised frame coordinates (x right, y down, 0..1).

`include` zones: presence counts only people whose hip centre lies inside one of them (the rest are still
published). `mask` areas: a person whose hip centre lies inside is ignored altogether (a TV, a poster, a
mirror). `parse_zones` validates the `[[zones]]` tables of the config once, at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgepose.errors import EXIT_CONFIG, EdgeposeError

F32 = npt.NDArray[np.float32]
KINDS = ("include", "mask")
_KEYS = ("name", "kind", "polygon")


class ZoneError(EdgeposeError, ValueError):
    """A bad zone; `name` is the zone's name (or its position when it has none)."""

    exit_status = EXIT_CONFIG

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"zone {name!r}: {message}")
        self.name = name
        self.detail = message


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    kind: str  # "include" or "mask"
    polygon: tuple[tuple[float, float], ...]

    @property
    def points(self) -> F32:
        """The polygon as (N, 2) float32, normalised (what the live view draws)."""
        return np.asarray(self.polygon, np.float32)

    def contains(self, points: F32) -> npt.NDArray[np.bool_]:
        """(N,) whether each (x, y) point lies inside the polygon (even-odd rule, vectorised over edges)."""
        poly = np.asarray(self.polygon, np.float32)
        x1, y1 = poly[:, 0], poly[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        px, py = points[:, 0:1], points[:, 1:2]
        crosses = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        return (np.count_nonzero(crosses & (px < x_at), axis=1) % 2).astype(np.bool_)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "polygon": [list(p) for p in self.polygon]}


def _segments_cross(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float],
                    d: tuple[float, float]) -> bool:
    def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    def on(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> bool:
        return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])

    o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
    if (o1 > 0) != (o2 > 0) and (o3 > 0) != (o4 > 0) and 0 not in (o1, o2, o3, o4):
        return True
    return (o1 == 0 and on(a, b, c)) or (o2 == 0 and on(a, b, d)) or (o3 == 0 and on(c, d, a)) or \
        (o4 == 0 and on(c, d, b))


def _check_polygon(name: str, raw: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list):
        raise ZoneError(name, "polygon must be an array of [x, y] points")
    points: list[tuple[float, float]] = []
    for i, p in enumerate(raw):
        ok = isinstance(p, list) and len(p) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in p)
        if not ok:
            raise ZoneError(name, f"point {i} must be [x, y] with two numbers, got {p!r}")
        x, y = float(p[0]), float(p[1])
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ZoneError(name, f"point {i} {p!r} is out of range; coordinates are normalised, 0 to 1")
        points.append((x, y))
    if len(points) < 3:
        raise ZoneError(name, f"polygon needs at least 3 points, got {len(points)}")
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbouring edges share a point
            if _segments_cross(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n]):
                raise ZoneError(name, f"polygon is self-intersecting (edge {i} crosses edge {j})")
    area2 = sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1] for i in range(n))
    if abs(area2) < 1e-9:
        raise ZoneError(name, "polygon is degenerate (zero area)")
    return tuple(points)


def parse_zones(raw: Any) -> tuple[Zone, ...]:
    """Validate the `[[zones]]` tables; raises ZoneError naming the zone."""
    if not isinstance(raw, list):
        raise ZoneError("zones", "zones must be an array of tables ([[zones]])")
    zones: list[Zone] = []
    seen: set[str] = set()
    for i, table in enumerate(raw):
        label = f"#{i + 1}"
        if not isinstance(table, dict):
            raise ZoneError(label, "must be a table with name, kind and polygon")
        name = table.get("name", label)
        if not isinstance(name, str) or not name or any(ord(c) < 32 for c in name):
            raise ZoneError(label, f"name must be a non-empty string, got {name!r}")
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ZoneError(name, f"unknown key {unknown[0]!r}; allowed keys: {', '.join(_KEYS)}")
        if name in seen:
            raise ZoneError(name, "another zone has the same name")
        seen.add(name)
        kind = table.get("kind")
        if kind not in KINDS:
            raise ZoneError(name, f"kind {kind!r} is not allowed; allowed: {', '.join(KINDS)}")
        zones.append(Zone(name, kind, _check_polygon(name, table.get("polygon"))))
    return tuple(zones)


def inside_any(zones: Sequence[Zone], points: F32) -> npt.NDArray[np.bool_]:
    """(N,) whether each point lies in at least one of `zones`."""
    out = np.zeros(points.shape[0], np.bool_)
    for z in zones:
        out |= z.contains(points)
    return out


def zone_counts(zones: Sequence[Zone], points: F32) -> dict[str, int]:
    """How many of `points` (e.g. hip centres, (N, 2)) lie inside each zone, by name in the zones' order."""
    return {z.name: int(np.count_nonzero(z.contains(points))) for z in zones}
