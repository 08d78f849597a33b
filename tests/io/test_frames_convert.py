"""to_rgb_uint8: every kind of image a source or a user can hand over, and the bad ones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgepose.io.frames import Frame, FrameError, to_rgb_uint8


def _check_rgb(out: np.ndarray, h: int, w: int) -> None:
    assert out.dtype == np.uint8
    assert out.shape == (h, w, 3)
    assert out.flags.c_contiguous


def test_grey_2d_and_single_channel_are_replicated():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    for image in (grey, grey[:, :, None]):
        out = to_rgb_uint8(image)
        _check_rgb(out, 3, 4)
        for c in range(3):
            np.testing.assert_array_equal(out[:, :, c], grey)


def test_grey_alpha_keeps_grey():
    la = np.stack([np.full((2, 2), 90, np.uint8), np.full((2, 2), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(to_rgb_uint8(la), np.full((2, 2, 3), 90, np.uint8))


def test_rgba_drops_alpha_and_bgra_is_reordered():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 255
    np.testing.assert_array_equal(to_rgb_uint8(rgba)[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(to_rgb_uint8(rgba, bgr=True)[0, 0], [30, 20, 10])


def test_bgr_flag_matches_opencv_on_a_real_photo(shared_data):
    path = shared_data / "images" / "unannotated" / "tfjs" / "pose.jpg"
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    out = to_rgb_uint8(bgr, bgr=True)
    np.testing.assert_array_equal(out, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    # Without the flag the array is taken as RGB already: same object, no copy.
    assert to_rgb_uint8(bgr) is bgr


def test_uint16_keeps_the_high_byte():
    image = np.array([[0, 255, 256, 65535], [32768, 1000, 0, 0]], np.uint16)
    out = to_rgb_uint8(image)
    np.testing.assert_array_equal(out[..., 0], [[0, 0, 1, 255], [128, 3, 0, 0]])


def test_float_nan_inf_and_range():
    image = np.array([[np.nan, np.inf, -np.inf, -0.5, 1.5, 0.5, 0.0, 1.0]], np.float64)
    out = to_rgb_uint8(image)
    np.testing.assert_array_equal(out[0, :, 1], [0, 255, 0, 0, 255, 128, 0, 255])


def test_other_integer_and_bool_dtypes():
    np.testing.assert_array_equal(to_rgb_uint8(np.array([[-5, 100, 300]], np.int32))[0, :, 0], [0, 100, 255])
    np.testing.assert_array_equal(to_rgb_uint8(np.array([[True, False]]))[0, :, 2], [255, 0])


def test_one_pixel_and_odd_sizes():
    _check_rgb(to_rgb_uint8(np.array([[7]], np.uint8)), 1, 1)
    odd = np.random.default_rng(0).integers(0, 256, (479, 641, 3), dtype=np.uint8)
    out = to_rgb_uint8(odd[:, ::-1])  # a negative-stride view becomes contiguous
    _check_rgb(out, 479, 641)
    np.testing.assert_array_equal(out, odd[:, ::-1])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 0), np.uint8), "empty"),
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (np.zeros((4, 0), np.float32), "empty"),
        (np.zeros(10, np.uint8), "1-D"),
        (np.zeros((2, 2, 2, 3), np.uint8), "4-D"),
        (np.zeros((2, 2, 5), np.uint8), "5 channels"),
        (np.zeros((2, 2), np.complex64), "complex64"),
        (np.array([[object(), object()]], dtype=object), "object"),
        (np.array([["a", "b"]]), "<U1"),
        ([[1, 2], [3]], "not an image"),
    ],
)
def test_bad_input_raises_frame_error_naming_the_problem(image, message):
    with pytest.raises(FrameError, match=message):
        to_rgb_uint8(image)


def test_huge_frames_are_kept_at_full_size():
    big = np.zeros((10000, 10000, 3), np.uint8)
    out = to_rgb_uint8(big)
    assert out is big  # no copy of 300 MB
    grey = np.zeros((10000, 10000), np.uint8)
    grey[-1, -1] = 200
    out = to_rgb_uint8(grey)
    _check_rgb(out, 10000, 10000)
    assert out[0, 0, 0] == 0 and tuple(out[-1, -1]) == (200, 200, 200)
    nan = np.full((4000, 4000), np.nan, np.float32)  # smaller: page faults dominate on this VM
    out = to_rgb_uint8(nan)
    _check_rgb(out, 4000, 4000)
    assert not out.any()


def test_frame_properties():
    f = Frame(rgb=np.zeros((5, 7, 3), np.uint8), timestamp_ns=1, index=0, source="x")
    assert (f.width, f.height) == (7, 5)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        dtype=st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(),
                        hnp.complex_number_dtypes(), st.just(np.dtype(bool))),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
    ),
    st.booleans(),
)
def test_any_array_gives_rgb_or_frame_error(image, bgr):
    try:
        out = to_rgb_uint8(image, bgr=bgr)
    except FrameError:
        return
    assert image.ndim in (2, 3) and image.size > 0
    _check_rgb(out, image.shape[0], image.shape[1])
