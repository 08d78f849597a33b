"""Wide-frame detector tiles (edgepose.engine.tiles): geometry, and a person the whole-frame pass misses."""

from __future__ import annotations

import numpy as np
import pytest
from support.engine import engine
from support.paths import SHARED_DATA

from edgepose.commands.common import read_video
from edgepose.engine.tiles import square_tiles

GIF = SHARED_DATA / "videos" / "presence" / "intel_people_detection_preview.gif"


@pytest.mark.parametrize(
    ("size", "starts"),
    [
        ((480, 270), [0, 210]),  # 16:9: two squares of the height, overlapping by 60 px
        ((640, 360), [0, 280]),
        ((720, 480), [0, 240]),  # 3:2, the narrowest that is tiled
        ((1000, 200), [0, 200, 400, 600, 800]),
        ((406, 720), [0, 314]),  # portrait: squares of the width, down the height
    ],
)
def test_tiles_cover_the_frame_with_squares_of_the_short_side(size: tuple[int, int], starts: list[int]) -> None:
    width, height = size
    tiles = square_tiles(width, height)
    short = min(size)
    assert [t.x0 if width >= height else t.y0 for t in tiles] == starts
    assert all(t.side == short for t in tiles)
    covered = np.zeros(max(size), bool)
    for t in tiles:
        start = t.x0 if width >= height else t.y0
        covered[start : start + short] = True
    assert covered.all()


@pytest.mark.parametrize("size", [(640, 480), (320, 240), (160, 120), (288, 360), (500, 500)])
def test_frames_narrower_than_3_to_2_have_no_tiles(size: tuple[int, int]) -> None:
    assert square_tiles(*size) == []


def test_tile_coordinates_map_back_to_the_frame() -> None:
    tile = square_tiles(480, 270)[1]  # x 210..480
    crop = tile.crop(np.arange(270 * 480 * 3, dtype=np.uint32).reshape(270, 480, 3).astype(np.uint8))
    assert crop.shape == (270, 270, 3) and crop.flags["C_CONTIGUOUS"]
    corners = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]], np.float32)
    np.testing.assert_allclose(tile.to_frame(corners), [[210 / 480, 0], [1, 1], [345 / 480, 0.5]], atol=1e-6)


def _gif_frames(n: int) -> list[np.ndarray]:
    if not GIF.is_file():
        pytest.skip(f"presence clips not found at {GIF.parent} (set EDGEPOSE_TEST_DATA)")
    return [f.rgb for f in read_video(GIF, n)]


def test_a_person_too_small_for_the_whole_frame_is_found_in_a_tile() -> None:
    """The gif's woman (left edge, 97 px of a 270 px high 16:9 frame): the whole-frame pass (MediaPipe's) misses
    her on its first frame, the left tile finds her there, and the tracker follows her from it."""
    frames = _gif_frames(10)
    tiled = engine(model="lite", wide_frame_tiles=True)
    whole = tiled.detector.detect(frames[0])
    assert len(whole) == 0
    found, ran = tiled.detector.detect_tile(frames[0], 0)
    assert ran and len(found) >= 1 and found.scores[0] >= 0.5
    # In frame coordinates, in the left tile (x ≤ 270 / 480; she is at the frame's edge, so the box may reach a
    # little past it, as whole-frame boxes do).
    assert -0.05 <= found.boxes[0, 0] < found.boxes[0, 2] <= 270 / 480 + 0.02
    assert 0.0 <= found.keypoints[0, :, 1].min() and found.keypoints[0, :, 1].max() <= 1.0

    results = [tiled.process(f) for f in frames]
    assert results[0].detector_tiles == 1 and results[0].poses
    assert sum(bool(r.poses) for r in results) >= 8
    hip_x = results[0].poses[0].keypoints[23:25, 0].mean()
    assert hip_x < 270  # pixels: she is at the left

    plain = engine(model="lite", wide_frame_tiles=False)
    assert not any(plain.process(f).poses for f in frames)
    assert plain.stats.detector_tile_runs == 0


def test_photos_are_never_tiled() -> None:
    """Static mode (photos) keeps MediaPipe's whole-frame pass only: no motion or time there for validity to
    judge the extra detections by (the parity tests and the photo figures rest on it)."""
    frames = _gif_frames(1)
    photo = engine(model="lite", static=True, wide_frame_tiles=True)
    result = photo.process(frames[0])
    assert result.detector_tiles == 0 and not result.poses
