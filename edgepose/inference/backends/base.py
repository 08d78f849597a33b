"""What every inference backend provides, and the registry that creates one by its type.

A backend wraps one model: `run(x)` takes the float32 input tensor and returns the outputs as float32 arrays,
in the order of `outputs`. Callers look tensors up by shape, never by index (spec §1.1, §9 pitfall 1). Each
backend type lives in its own module of this package and registers its factory under its type name
(`@register("cpu")`); edgepose.inference.loading imports them and creates backends through `factory`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edgepose.errors import EXIT_NOINPUT, EdgeposeError


class BackendError(EdgeposeError):
    """A model cannot be loaded or run; the message names the file and the fix."""

    exit_status = EXIT_NOINPUT


@dataclass(frozen=True, slots=True)
class TensorSpec:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.dtype != np.float32 and self.scale != 0.0

    def quantize(self, x: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        """float → this tensor's integer type with its scale and zero point (round half to even, saturate)."""
        info = np.iinfo(self.dtype)
        q = np.rint(x / np.float32(self.scale)) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, t: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        return (t.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)

    def as_input(self, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """`x` in this tensor's type: float32 quantized when the tensor is, anything else cast."""
        if self.quantized and x.dtype != self.dtype:
            return self.quantize(x)
        return x if x.dtype == self.dtype else x.astype(self.dtype)

    def as_output(self, t: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """This tensor's value as the pipeline reads it: dequantized when the tensor is quantized."""
        return self.dequantize(t) if self.quantized else t


class Backend(Protocol):
    """What the pipeline needs from a model. `run` takes float32, or the input's own integer type (see
    edgepose.engine.image_to_tensor.InputConverter), and returns float32 outputs."""

    name: str
    path: Path
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]: ...


class BackendFactory(Protocol):
    """Creates a backend for one model file; `mode` is the type asked for (e.g. "auto" for the Edge TPU's)."""

    def __call__(
        self,
        path: Path,
        mode: str,
        *,
        threads: int | None,
        device: str | None,
        runtime: Any,
        drop_outputs: Callable[[tuple[int, ...]], bool] | None = None,
        fp16: bool = False,
    ) -> Backend: ...


_FACTORIES: dict[str, BackendFactory] = {}


def register(*types: str) -> Callable[[BackendFactory], BackendFactory]:
    """Class or function decorator: `factory` creates the backends of these types."""

    def add(factory: BackendFactory) -> BackendFactory:
        for name in types:
            _FACTORIES[name] = factory
        return factory

    return add


def registered_types() -> tuple[str, ...]:
    return tuple(_FACTORIES)


def factory(backend_type: str) -> BackendFactory:
    """The factory registered for `backend_type`; BackendError names the known types otherwise."""
    try:
        return _FACTORIES[backend_type]
    except KeyError:
        *others, last = sorted(_FACTORIES)
        raise BackendError(f"unknown backend {backend_type!r}; choose {', '.join(others)} or {last}") from None
