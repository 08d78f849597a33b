"""Vectorised One-Euro and low-pass filters with MediaPipe's exact per-scalar semantics (spec §5.2).

One filter object holds the state of every scalar of an array of fixed shape (e.g. (33, 3)): each element
behaves like its own MediaPipe `OneEuroFilter`. All elements of one array are stepped with the same
timestamp, so `last_time` and `freq`, which MediaPipe keeps per scalar, are identical across the array
and are held once.

Arithmetic follows MediaPipe's C++ types, so results match a scalar re-statement to the bit:
- the low-pass stores its raw and filtered values as float32 and computes
  ``float32(float32(alpha·x) + (1 − alpha)·prev)`` with the second product in double;
- alpha is computed in double and handed to the low-pass as float32;
- the derivative ``(x − previous RAW x)·value_scale·freq`` is computed in double.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# MediaPipe's OneEuroFilterOptions default `frequency`, used until two timestamps give a rate.
DEFAULT_FREQUENCY = 30.0


def one_euro_alpha(cutoff: float | F64, frequency: float) -> float | F64:
    """alpha(f_c) = 1/(1 + tau/T_e), tau = 1/(2π f_c), T_e = 1/frequency (double precision, as MediaPipe)."""
    te = 1.0 / frequency
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / te)


@dataclass(frozen=True, slots=True)
class OneEuroParams:
    """One-Euro options (MediaPipe `OneEuroFilterOptions`; `frequency` is the rate before timestamps exist).

    disable_value_scaling: ignore the value_scale (inverse object size) given to the filter, as MediaPipe's
    world-landmark filter does.
    """

    min_cutoff: float = 1.0
    beta: float = 0.0
    derivate_cutoff: float = 1.0
    disable_value_scaling: bool = False
    frequency: float = DEFAULT_FREQUENCY

    def __post_init__(self) -> None:
        # MediaPipe logs and ignores values <= 1e-6; an error is clearer for a configuration file.
        for name in ("min_cutoff", "derivate_cutoff", "frequency"):
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value) or value <= 1e-6:
                raise ValueError(f"{name} must be a finite number > 1e-6, got {value!r}")
        if not _is_real(self.beta) or not math.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta!r}")
        if not isinstance(self.disable_value_scaling, bool):
            raise ValueError(f"disable_value_scaling must be a bool, got {self.disable_value_scaling!r}")

    def create(self) -> OneEuroFilter:
        """A fresh filter with these parameters (the filter factory used by the pose smoother)."""
        return OneEuroFilter(self)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class LowPassFilter:
    """Exponential low-pass over an array (MediaPipe `LowPassFilter`): the first sample passes through.

    After that out = alpha·in + (1 − alpha)·prev. The last raw input is kept for the One-Euro derivative.
    """

    def __init__(self, alpha: float = 0.1) -> None:
        if not _is_real(alpha) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
        self._alpha = np.float32(alpha)
        self._raw: F32 | None = None
        self._stored: F32 | None = None

    @property
    def initialized(self) -> bool:
        return self._stored is not None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Shape of the held state, None before the first sample."""
        return None if self._stored is None else self._stored.shape

    @property
    def last_raw(self) -> F32 | None:
        return None if self._raw is None else self._raw.copy()

    @property
    def last_value(self) -> F32 | None:
        return None if self._stored is None else self._stored.copy()

    def reset(self) -> None:
        self._raw = None
        self._stored = None

    def apply(self, value: npt.ArrayLike) -> F32:
        """Filter one sample with the constructor's alpha."""
        return self.apply_with_alpha(value, self._alpha)

    def apply_with_alpha(self, value: npt.ArrayLike, alpha: npt.ArrayLike) -> F32:
        """Filter one sample with alpha (scalar or per element); state is float32 like MediaPipe's."""
        x = _as_f32(value)
        if self._stored is None:
            result = x.copy()
        else:
            _check_shape(x, self._stored.shape)
            a32 = np.asarray(alpha, dtype=np.float32)
            # float·float is rounded to float; (1.0 − alpha)·prev is a double product (C++ promotion).
            # Every operand is cast explicitly: numpy 1.x would compute a 0-d float64 times a float32 array
            # in float32 (value-based casting), numpy 2 in float64.
            new = (a32 * x).astype(np.float64)
            old = (1.0 - a32.astype(np.float64)) * self._stored.astype(np.float64)
            result = (new + old).astype(np.float32)
        self._raw = x.copy()
        self._stored = result
        return result.copy()


class OneEuroFilter:
    """One-Euro filter over an array of any fixed shape, stepped with integer nanosecond timestamps."""

    def __init__(self, params: OneEuroParams | None = None) -> None:
        self.params = params if params is not None else OneEuroParams()
        self._x = LowPassFilter()
        self._dx = LowPassFilter()
        self._last_time_ns = 0
        self._frequency = float(self.params.frequency)

    @property
    def last_time_ns(self) -> int:
        return self._last_time_ns

    @property
    def frequency(self) -> float:
        """The rate used by the last step: `params.frequency` until two timestamps have been seen."""
        return self._frequency

    @property
    def initialized(self) -> bool:
        return self._x.initialized

    def reset(self) -> None:
        """Forget everything, as MediaPipe does when it re-creates the filters after a tracking loss."""
        self._x.reset()
        self._dx.reset()
        self._last_time_ns = 0
        self._frequency = float(self.params.frequency)

    def apply(self, value: npt.ArrayLike, timestamp_ns: int, value_scale: float = 1.0) -> F32:
        """Filter one sample taken at `timestamp_ns`; returns float32 of the input's shape.

        value_scale multiplies the derivative (MediaPipe passes 1/object_scale); it is ignored when
        `params.disable_value_scaling` is set. A timestamp not after the previous one returns the input
        unchanged (as float32) and updates nothing; so does a first call at t = 0.
        """
        t = operator.index(timestamp_ns)
        x = _as_f32(value)
        if self._x.shape is not None:
            _check_shape(x, self._x.shape)
        if self._last_time_ns >= t:
            return x.copy()
        if self._last_time_ns != 0:
            self._frequency = 1.0 / ((t - self._last_time_ns) * 1e-9)
        self._last_time_ns = t

        scale = 1.0 if self.params.disable_value_scaling else float(np.float32(value_scale))
        raw = self._x.last_raw
        if raw is None:
            dvalue = np.zeros(x.shape, dtype=np.float64)
        else:
            dvalue = (x.astype(np.float64) - raw) * scale * self._frequency
        p = self.params
        edvalue = self._dx.apply_with_alpha(dvalue, one_euro_alpha(p.derivate_cutoff, self._frequency))
        cutoff = p.min_cutoff + p.beta * np.abs(edvalue.astype(np.float64))
        return self._x.apply_with_alpha(x, one_euro_alpha(cutoff, self._frequency))

    __call__ = apply


def _as_f32(value: npt.ArrayLike) -> F32:
    return np.array(value, dtype=np.float32, copy=True)


def _check_shape(x: np.ndarray, shape: tuple[int, ...]) -> None:
    if x.shape != shape:
        raise ValueError(f"filter input has shape {x.shape}, but the filter holds state of shape {shape}")
