"""Presence decisions on real model output: people count, scenes without people do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.paths import skimage_photo

from edgepose.commands.common import IMAGE_SUFFIXES, read_image
from edgepose.daemon.presence import PresenceConfig, is_convincing
from edgepose.engine.tracker import PoseEngine

NO_PEOPLE = ("brick.png", "chelsea.png", "coffee.png", "coins.png", "clock_motion.png", "horse.png", "moon.png",
             "motorcycle_left.png", "motorcycle_right.png", "rocket.jpg", "hubble_deep_field.jpg", "page.png",
             "chessboard_RGB.png", "grass.png", "gravel.png", "logo.png", "text.png")  # fmt: skip


def test_scenes_without_people_are_never_present(static_full_k7: PoseEngine) -> None:
    config = PresenceConfig()
    convincing = []
    for name in NO_PEOPLE:
        result = static_full_k7.process(read_image(skimage_photo(name)))
        convincing += [name for p in result.poses if is_convincing(p, config)]
    assert convincing == []


def test_people_photos_count(static_full_k7: PoseEngine, shared_data: Path) -> None:
    """Every shared unannotated photo in which the model finds a pose, and the two scikit-image people,
    count as present: front, back, side and cropped views alike."""
    config = PresenceConfig()
    photos = sorted(p for p in (shared_data / "images/unannotated").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    photos += [skimage_photo("astronaut.png"), skimage_photo("camera.png")]
    found = not_counted = 0
    for path in photos:
        result = static_full_k7.process(read_image(path))
        for pose in result.poses:
            found += 1
            not_counted += not is_convincing(pose, config)
    print(f"{len(photos)} photos, {found} poses found, {not_counted} not counted as presence")
    assert found >= 20
    assert not_counted == 0


@pytest.mark.parametrize("crop", ["left_half", "top_half"])
def test_half_out_of_frame_still_counts(static_full_k7: PoseEngine, crop: str) -> None:
    image = read_image(skimage_photo("astronaut.png"))
    part = image[:, : image.shape[1] // 2 + 40] if crop == "left_half" else image[: image.shape[0] // 2 + 60]
    result = static_full_k7.process(part.copy())
    assert result.poses and is_convincing(result.poses[0], PresenceConfig())
