"""The vectorised One-Euro / low-pass filters against a scalar re-statement of spec §5.2."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepose.filters.one_euro import LowPassFilter, OneEuroFilter, OneEuroParams, one_euro_alpha

SQUATS_FPS = 5  # videos/fitness_squats_tfjs.mp4 (data/README.md)


# --- The oracle: spec §5.2 written per scalar, with C++ `float` where MediaPipe stores float. ---------------
class ScalarLowPass:
    def __init__(self) -> None:
        self.initialized = False
        self.raw = np.float32(0)
        self.stored = np.float32(0)

    def apply(self, value: float, alpha: float) -> np.float32:
        v = np.float32(value)
        a = np.float32(alpha)
        if self.initialized:
            # float * float -> float; (1.0 - alpha) * stored is a double product; the sum is stored as float.
            result = np.float32(float(a * v) + (1.0 - float(a)) * float(self.stored))
        else:
            result = v
            self.initialized = True
        self.raw = v
        self.stored = result
        return result


class ScalarOneEuro:
    def __init__(self, min_cutoff: float, beta: float, derivate_cutoff: float, frequency: float = 30.0) -> None:
        self.min_cutoff, self.beta, self.derivate_cutoff = min_cutoff, beta, derivate_cutoff
        self.frequency = frequency
        self.last_time = 0
        self.x = ScalarLowPass()
        self.dx = ScalarLowPass()

    def alpha(self, cutoff: float) -> float:
        te = 1.0 / self.frequency
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    def apply(self, t: int, value_scale: float, value: float) -> float:
        if self.last_time >= t:
            return value
        if self.last_time != 0 and t != 0:
            self.frequency = 1.0 / ((t - self.last_time) * 1e-9)
        self.last_time = t
        dvalue = (value - float(self.x.raw)) * value_scale * self.frequency if self.x.initialized else 0.0
        edvalue = float(self.dx.apply(dvalue, self.alpha(self.derivate_cutoff)))
        cutoff = self.min_cutoff + self.beta * abs(edvalue)
        return float(self.x.apply(value, self.alpha(cutoff)))


def scalar_reference(values: np.ndarray, times: list[int], scales: list[float], params: OneEuroParams) -> np.ndarray:
    """Run one ScalarOneEuro per element of values[k] (shape (N, ...)) and return the outputs."""
    flat = values.reshape(len(values), -1).astype(np.float32)
    out = np.empty_like(flat)
    for j in range(flat.shape[1]):
        f = ScalarOneEuro(params.min_cutoff, params.beta, params.derivate_cutoff, params.frequency)
        for k, (t, s) in enumerate(zip(times, scales, strict=True)):
            out[k, j] = f.apply(t, 1.0 if params.disable_value_scaling else float(np.float32(s)), float(flat[k, j]))
    return out.reshape(values.shape)


def run_vectorised(values: np.ndarray, times: list[int], scales: list[float], params: OneEuroParams) -> np.ndarray:
    f = OneEuroFilter(params)
    return np.stack([f.apply(v, t, s) for v, t, s in zip(values, times, scales, strict=True)])


def _load_golden(shared_data, name: str) -> np.ndarray:
    path = shared_data / "golden" / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    seq = np.asarray(json.loads(path.read_text()), dtype=np.float32)
    assert seq.shape == (65, 33, 3)
    return seq


@pytest.fixture(scope="module")
def squats_px(shared_data) -> np.ndarray:
    """TF.js BlazePose-full keypoints of the squats video: 65 frames x 33 x (x px, y px, z)."""
    return _load_golden(shared_data, "tfjs_pose_squats.full.json")


@pytest.fixture(scope="module")
def squats_world(shared_data) -> np.ndarray:
    """The same video's world keypoints in metres."""
    return _load_golden(shared_data, "tfjs_pose_squats_3d.full.json")


def _torso_scales(seq: np.ndarray) -> list[float]:
    """A per-frame value scale of the right order: 1 / (4 × shoulder-to-hip distance in px)."""
    shoulders = seq[:, [11, 12], :2].mean(axis=1)
    hips = seq[:, [23, 24], :2].mean(axis=1)
    return list(1.0 / (4.0 * np.linalg.norm(shoulders - hips, axis=1)))


# --- Reference alpha values (spec §5.2) --------------------------------------------------------------------
@pytest.mark.parametrize(("cutoff", "expected"), [(0.01, 0.00209), (0.05, 0.01036), (0.1, 0.02051), (1.0, 0.17317)])
def test_alpha_reference_values(cutoff: float, expected: float) -> None:
    assert one_euro_alpha(cutoff, 30.0) == pytest.approx(expected, abs=5e-6)


@pytest.mark.parametrize(("cutoff", "expected"), [(0.05, 0.01036), (1.0, 0.17317)])
def test_second_sample_uses_the_reference_alpha_at_30_hz(cutoff: float, expected: float) -> None:
    # beta = 0 makes the cutoff constant, so the second output is exactly one alpha step from 0 towards 1000.
    f = OneEuroFilter(OneEuroParams(min_cutoff=cutoff, beta=0.0))
    f.apply(np.zeros(3), 1_000_000_000)
    out = f.apply(np.full(3, 1000.0), 1_000_000_000 + 33_333_333)
    np.testing.assert_allclose(out, 1000.0 * expected, rtol=5e-4)


# --- Equality with the scalar oracle on real and synthetic sequences ----------------------------------------
@pytest.mark.parametrize(
    ("params", "sequence"),
    [
        (OneEuroParams(0.05, 80.0, 1.0), "squats_px"),
        (OneEuroParams(0.1, 40.0, 1.0, disable_value_scaling=True), "squats_world"),
        (OneEuroParams(0.01, 10.0, 1.0), "squats_px"),
    ],
    ids=["landmarks", "world", "aux"],
)
def test_matches_scalar_spec_on_real_squats_sequence(
    request: pytest.FixtureRequest, params: OneEuroParams, sequence: str
) -> None:
    seq = request.getfixturevalue(sequence)
    times = [(k + 1) * 1_000_000_000 // SQUATS_FPS for k in range(len(seq))]
    scales = _torso_scales(request.getfixturevalue("squats_px"))
    got = run_vectorised(seq, times, scales, params)
    want = scalar_reference(seq, times, scales, params)
    np.testing.assert_array_equal(got, want)
    # Not an identity: at 5 fps the squats are fast (beta opens the filter), still > 5 % of the motion.
    motion = np.abs(np.diff(seq, axis=0)).mean()
    assert float(np.abs(got[1:] - seq[1:]).mean()) > 0.05 * motion


def test_real_sequence_differs_from_the_filtered_derivative_variant(squats_px: np.ndarray) -> None:
    """The oracle comparison can tell MediaPipe's raw-value derivative from the common filtered-value one."""
    params = OneEuroParams(0.05, 80.0, 1.0)
    times = [(k + 1) * 1_000_000_000 // SQUATS_FPS for k in range(len(squats_px))]
    scales = _torso_scales(squats_px)
    got = run_vectorised(squats_px, times, scales, params)

    # The Casiez 08/23 / many Python ports variant: derivative from the previous FILTERED value.
    x_hat = squats_px[0].astype(np.float64)
    dx_hat = np.zeros_like(x_hat)
    variant = [x_hat.copy()]
    freq = float(SQUATS_FPS)
    for k in range(1, len(squats_px)):
        dx = (squats_px[k] - x_hat) * scales[k] * freq
        dx_hat = dx_hat + one_euro_alpha(1.0, freq) * (dx - dx_hat)
        a = one_euro_alpha(params.min_cutoff + params.beta * np.abs(dx_hat), freq)
        x_hat = x_hat + a * (squats_px[k] - x_hat)
        variant.append(x_hat.copy())
    assert float(np.abs(got - np.asarray(variant)).max()) > 1.0


def test_matches_scalar_spec_on_noisy_synthetic_sequence_with_jittered_rate() -> None:
    rng = np.random.default_rng(4)
    n = 120
    truth = np.cumsum(rng.normal(0.0, 0.3, (n, 33, 3)), axis=0) + 500.0
    values = (truth + rng.normal(0.0, 2.0, truth.shape)).astype(np.float32)
    # ~30 fps with jitter, plus one long gap (a tracking loss seen by a filter that is not reset).
    steps = rng.integers(25_000_000, 45_000_000, n)
    steps[60] = 1_500_000_000
    times = list(np.cumsum(steps).astype(int))
    scales = list(rng.uniform(1 / 900, 1 / 200, n))
    for params in (OneEuroParams(0.05, 80.0, 1.0), OneEuroParams(0.1, 40.0, 1.0, disable_value_scaling=True)):
        got = run_vectorised(values, times, scales, params)
        np.testing.assert_array_equal(got, scalar_reference(values, times, scales, params))
        # Smoothing brings the output closer to the noise-free truth than the raw input.
        assert np.abs(got[10:] - truth[10:]).mean() < np.abs(values[10:] - truth[10:]).mean()


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(-40_000_000, 80_000_000),  # time step: zero and negative ones included
            st.floats(0.01, 10.0),  # value scale
            st.lists(st.floats(-2000, 2000, width=32), min_size=4, max_size=4),
        ),
        min_size=1,
        max_size=25,
    ),
    start=st.sampled_from([0, 1, 5_000_000_000]),
)
def test_matches_scalar_spec_property(data: list, start: int) -> None:
    times = list(start + np.cumsum([d[0] for d in data]).astype(int))
    scales = [d[1] for d in data]
    values = np.asarray([d[2] for d in data], dtype=np.float32)
    params = OneEuroParams(0.05, 80.0, 1.0)
    np.testing.assert_array_equal(
        run_vectorised(values, times, scales, params), scalar_reference(values, times, scales, params)
    )


# --- Timestamps, first sample, reset -----------------------------------------------------------------------
def _state(f: OneEuroFilter) -> tuple:
    return (
        f.last_time_ns,
        f.frequency,
        f._x.last_raw.tobytes(),
        f._x.last_value.tobytes(),
        f._dx.last_value.tobytes(),
    )


@pytest.mark.parametrize("dt", [0, -1, -10_000_000])
def test_non_increasing_timestamp_passes_input_through_and_keeps_state(dt: int) -> None:
    rng = np.random.default_rng(1)
    samples = rng.normal(300.0, 20.0, (6, 33, 3)).astype(np.float32)
    f, twin = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0)), OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0))
    t = 2_000_000_000
    for k in range(4):
        t += 33_000_000
        f.apply(samples[k], t, 0.002)
        twin.apply(samples[k], t, 0.002)
    before = _state(f)
    out = f.apply(samples[4], t + dt, 0.002)
    np.testing.assert_array_equal(out, samples[4])
    assert _state(f) == before
    # The ignored sample leaves no trace: the next step equals the twin's that never saw it.
    np.testing.assert_array_equal(
        f.apply(samples[5], t + 33_000_000, 0.002), twin.apply(samples[5], t + 33_000_000, 0.002)
    )


def test_first_sample_passes_through_and_uses_default_frequency() -> None:
    x = np.asarray([[1.5, -2.25, 1e3]], dtype=np.float32)
    f = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0))
    np.testing.assert_array_equal(f.apply(x, 7_000_000_000, 0.01), x)
    assert f.frequency == 30.0 and f.last_time_ns == 7_000_000_000
    f.apply(x + 1, 7_040_000_000, 0.01)
    assert f.frequency == pytest.approx(25.0)  # from the timestamps, no clamping


def test_first_call_at_time_zero_is_pure_pass_through() -> None:
    f = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0))
    x = np.full((2, 3), 42.0, np.float32)
    np.testing.assert_array_equal(f.apply(x, 0), x)
    assert not f.initialized and f.last_time_ns == 0
    # The next sample is the real first one: passes through, frequency still the default.
    np.testing.assert_array_equal(f.apply(x * 2, 33_333_333), x * 2)
    assert f.frequency == 30.0


def test_reset_restarts_the_filter() -> None:
    f = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0))
    for k in range(1, 5):
        f.apply(np.full(5, 10.0 * k), k * 20_000_000, 0.01)
    f.reset()
    assert not f.initialized and f.last_time_ns == 0 and f.frequency == 30.0
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(f.apply(x, 10_000_000), x)


def test_disable_value_scaling_ignores_the_scale() -> None:
    seq = np.random.default_rng(2).normal(0.0, 50.0, (8, 4)).astype(np.float32)
    times = [k * 30_000_000 for k in range(1, 9)]
    params = OneEuroParams(0.1, 40.0, 1.0, disable_value_scaling=True)
    a = run_vectorised(seq, times, [1.0] * 8, params)
    b = run_vectorised(seq, times, [1e-3] * 8, params)
    np.testing.assert_array_equal(a, b)
    c = run_vectorised(seq, times, [1e-3] * 8, OneEuroParams(0.1, 40.0, 1.0))
    assert not np.array_equal(a, c)


def test_shape_change_is_an_error() -> None:
    f = OneEuroFilter()
    f.apply(np.zeros((33, 3)), 1)
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        f.apply(np.zeros((2, 3)), 2)


def test_integer_timestamps_required() -> None:
    with pytest.raises(TypeError):
        OneEuroFilter().apply(np.zeros(2), 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_cutoff": 0.0}, "min_cutoff"),
        ({"derivate_cutoff": -1.0}, "derivate_cutoff"),
        ({"beta": -0.1}, "beta"),
        ({"beta": math.nan}, "beta"),
        ({"frequency": 0}, "frequency"),
        ({"disable_value_scaling": 1}, "disable_value_scaling"),
    ],
)
def test_params_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        OneEuroParams(**kwargs)


# --- Low-pass (visibility) ---------------------------------------------------------------------------------
def test_low_pass_matches_scalar_spec() -> None:
    seq = np.random.default_rng(3).uniform(0.0, 1.0, (30, 33)).astype(np.float32)
    f = LowPassFilter(0.1)
    got = np.stack([f.apply(v) for v in seq])
    np.testing.assert_array_equal(got[0], seq[0])
    want = np.empty_like(seq)
    for j in range(seq.shape[1]):
        ref = ScalarLowPass()
        for k in range(len(seq)):
            want[k, j] = ref.apply(float(seq[k, j]), 0.1)
    np.testing.assert_array_equal(got, want)
    # And the textbook form to float precision: out = 0.1 v + 0.9 prev.
    np.testing.assert_allclose(got[1:], 0.1 * seq[1:] + 0.9 * got[:-1], rtol=1e-6)


def test_low_pass_validation_and_reset() -> None:
    with pytest.raises(ValueError, match="alpha"):
        LowPassFilter(1.5)
    f = LowPassFilter(0.5)
    f.apply([1.0, 2.0])
    f.reset()
    np.testing.assert_array_equal(f.apply([4.0, 8.0]), [4.0, 8.0])
