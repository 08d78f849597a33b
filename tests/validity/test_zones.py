"""Zones and masks: containment, their effect on publishing and presence, and bad polygons in the config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgepose.config import ConfigError, parse_config
from edgepose.pose import FramePoses, Pose, Roi
from edgepose.validity import ValidityStage
from edgepose.zones import Zone, parse_zones

DATA = np.load(Path(__file__).parent / "data" / "clip_poses.npz")
W, H = (int(v) for v in DATA["person_size"][2])
KP = DATA["person_kp"][2]  # the sidewalk walker; hip centre about (0.68, 0.6)
WORLD = DATA["person_world"][2]
HIP = 0.5 * (KP[23, :2] + KP[24, :2])


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_contains_even_odd_concave() -> None:
    z = Zone("u", "include", ((0, 0), (1, 0), (1, 1), (0.6, 1), (0.6, 0.3), (0.4, 0.3), (0.4, 1), (0, 1)))
    pts = np.asarray([[0.2, 0.5], [0.5, 0.5], [0.5, 0.1], [1.5, 0.5]], np.float32)
    assert z.contains(pts).tolist() == [True, False, True, False]


def judge(zones: tuple[Zone, ...]) -> tuple[int, int, list[str]]:
    roi = Roi.from_values(0, 0, 1, 1, 0)
    pose = Pose(keypoints=KP.copy(), world=WORLD.copy(), score=0.99, roi=roi)
    r = ValidityStage(zones=zones, static=True).process(FramePoses(W, H, [pose], 0, True, {}, track_scores=[0.9]))
    return len(r.accepted), len(r.present), [why for _, why in r.rejected]


def test_mask_rejects_include_limits_presence() -> None:
    x, y = float(HIP[0]), float(HIP[1])
    around = square(x - 0.05, y - 0.05, x + 0.05, y + 0.05)
    elsewhere = square(0.0, 0.0, 0.1, 0.1)
    assert judge(()) == (1, 1, [])
    assert judge(parse_zones([{"name": "tv", "kind": "mask", "polygon": around}])) == (0, 0, ["mask"])
    assert judge(parse_zones([{"name": "tv", "kind": "mask", "polygon": elsewhere}])) == (1, 1, [])
    # Outside every include zone: still published, not counted.
    assert judge(parse_zones([{"name": "door", "kind": "include", "polygon": elsewhere}])) == (1, 0, [])
    assert judge(parse_zones([{"name": "room", "kind": "include", "polygon": around}])) == (1, 1, [])


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ({"name": "tv", "kind": "mask", "polygon": [[0, 0], [1, 1]]}, "at least 3 points, got 2"),
        ({"name": "tv", "kind": "mask", "polygon": [[0, 0], [0.5, 0.5], [1, 1]]}, "degenerate"),
        ({"name": "bow", "kind": "mask", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}, "self-intersecting"),
        ({"name": "tv", "kind": "mask", "polygon": [[0, 0], [1.2, 0], [1, 1]]}, "out of range"),
        ({"name": "tv", "kind": "exclude", "polygon": square(0, 0, 1, 1)}, "kind 'exclude' is not allowed"),
        ({"name": "tv", "kind": "mask", "polygon": square(0, 0, 1, 1), "colour": "red"}, "unknown key 'colour'"),
        ({"name": "tv", "kind": "mask", "polygon": [[0, 0], [1, "x"], [1, 1]]}, "point 1 must be [x, y]"),
    ],
)
def test_bad_zones_are_config_errors_naming_the_zone(zone: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"zones": [zone]}, env={})
    assert str(e.value).startswith(f"zones.{zone['name']}: ") and message in str(e.value)


def test_duplicate_zone_names() -> None:
    z = {"name": "a", "kind": "mask", "polygon": square(0, 0, 1, 1)}
    with pytest.raises(ConfigError, match=r"zones\.a: another zone has the same name"):
        parse_config({"zones": [z, z]}, env={})


def test_config_check_exit_78_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[zones]]\nname = "mirror"\nkind = "mask"\npolygon = [[0, 0], [1, 1], [1, 0], [0, 1]]\n')
    p = subprocess.run([sys.executable, "-m", "edgepose", "config", "check", str(cfg)], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert p.returncode == 78
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "zones.mirror" in lines[0] and "self-intersecting" in lines[0]
    good = tmp_path / "good.toml"
    good.write_text('[[zones]]\nname = "room"\nkind = "include"\npolygon = [[0, 0.3], [1, 0.3], [1, 1]]\n')
    p = subprocess.run([sys.executable, "-m", "edgepose", "config", "check", str(good)], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert p.returncode == 0 and "[[zones]]" in p.stdout and 'name = "room"' in p.stdout
