"""The backend interface and the CPU backend.

A backend wraps one model: `run(x)` takes the float32 input tensor and returns the outputs as float32 arrays,
in the order of `outputs`. Quantized models are handled here (scale and zero point read from the model), so the
pipeline never sees integers. Callers look tensors up by shape, never by index (spec §1.1, §9 pitfall 1).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edgepose.errors import EXIT_NOINPUT, EdgeposeError
from edgepose.inference.fp16 import Fp16Unavailable, fp16_model
from edgepose.inference.pruning import PruneReport, PruningUnavailable, prune_outputs

log = logging.getLogger(__name__)

# Python modules that provide `Interpreter` and `load_delegate`, in order of preference.
RUNTIMES: tuple[str, ...] = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


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


class Backend(Protocol):
    """What the pipeline needs from a model. `run` takes float32, or the input's own integer type (see
    edgepose.engine.image_to_tensor.InputConverter), and returns float32 outputs."""

    name: str
    path: Path
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]: ...


def load_runtime(preferred: str = "auto") -> ModuleType:
    """Import the interpreter module: LiteRT first, tflite-runtime as fallback (or exactly the one asked for)."""
    names = RUNTIMES if preferred == "auto" else tuple(n for n in RUNTIMES if n.startswith(preferred))
    if not names:
        raise BackendError(f"unknown runtime {preferred!r}; choose auto, ai_edge_litert or tflite_runtime")
    errors = []
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError as e:  # tflite-runtime also fails here under numpy 2
            errors.append(f"{name}: {e}")
    raise BackendError(
        "no TFLite runtime could be imported (" + "; ".join(errors) + "); install it with `pip install ai-edge-litert`"
    )


def _specs(details: Sequence[dict[str, Any]]) -> list[TensorSpec]:
    return [
        TensorSpec(
            index=int(d["index"]),
            name=str(d["name"]),
            shape=tuple(int(s) for s in d["shape"]),
            dtype=np.dtype(d["dtype"]),
            scale=float(d["quantization"][0]),
            zero_point=int(d["quantization"][1]),
        )
        for d in details
    ]


class InterpreterBackend:
    """A model on a TFLite interpreter, optionally with delegates (the Edge TPU backend adds one)."""

    def __init__(
        self,
        path: Path,
        *,
        threads: int | None = None,
        runtime: ModuleType | None = None,
        delegates: Sequence[Any] = (),
        name: str = "cpu",
        drop_outputs: Callable[[tuple[int, ...]], bool] | None = None,
        fp16: bool = False,
    ) -> None:
        """`drop_outputs`: outputs (by shape) the caller will not read; they and the ops that only compute them
        are removed before loading (edgepose.inference.pruning), when the runtime allows it. `fp16`: let XNNPACK
        compute in fp16 where the CPU can (edgepose.inference.fp16)."""
        self.path = Path(path)
        self.name = name
        self.note = ""  # why this backend was chosen when it is not the one asked for (auto fallback)
        self.pruned: PruneReport | None = None
        if not self.path.is_file():
            raise BackendError(f"model file {self.path} does not exist")
        runtime = runtime or load_runtime()
        source: dict[str, Any] = {"model_path": str(self.path)}
        if drop_outputs is not None:
            content = self._pruned_content(drop_outputs)
            if content is not None:
                source = {"model_content": content}
        if fp16:
            try:
                source = {"model_content": fp16_model(source.get("model_content") or self.path.read_bytes())}
            except (Fp16Unavailable, OSError) as e:
                raise BackendError(f"{self.path}: no fp16 form ({e}); use precision float or int8") from None
        try:
            self._interpreter = runtime.Interpreter(
                **source, num_threads=threads, experimental_delegates=list(delegates) or None
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise BackendError(f"{self.path} is not a loadable TFLite model ({e}); fetch or rebuild it") from None
        self.inputs = _specs(self._interpreter.get_input_details())
        self.outputs = _specs(self._interpreter.get_output_details())
        if len(self.inputs) != 1:
            raise BackendError(f"{self.path}: expected 1 input tensor, found {len(self.inputs)}")
        self._in = self.inputs[0]

    def _pruned_content(self, drop: Callable[[tuple[int, ...]], bool]) -> bytes | None:
        try:
            content, self.pruned = prune_outputs(self.path.read_bytes(), drop)
        except PruningUnavailable as e:
            log.debug("%s: running the whole graph (%s)", self.path.name, e)
            return None
        except OSError as e:
            raise BackendError(f"cannot read model file {self.path}: {e.strerror}") from None
        except Exception as e:  # the flatbuffer reader fails in many ways on a corrupt or truncated file
            raise BackendError(f"{self.path} is not a loadable TFLite model ({e}); fetch or rebuild it") from None
        log.debug("%s: dropped outputs %s (%d ops not run)", self.path.name, self.pruned.dropped_outputs,
                  self.pruned.removed_ops)  # fmt: skip
        return content

    def run(self, x: npt.NDArray[Any]) -> list[npt.NDArray[np.float32]]:
        """`x`: float32 (quantized here when the model's input is), or already in the input's integer type."""
        spec = self._in
        if spec.quantized and x.dtype != spec.dtype:
            x = spec.quantize(x)
        elif x.dtype != spec.dtype:
            x = x.astype(spec.dtype)
        self._interpreter.set_tensor(spec.index, x)
        self._interpreter.invoke()
        return [
            o.dequantize(t) if o.quantized else t
            for o, t in ((o, self._interpreter.get_tensor(o.index)) for o in self.outputs)
        ]


def match_by_shape(
    path: Path, specs: Sequence[TensorSpec], wanted: dict[str, Callable[[tuple[int, ...]], bool]], what: str
) -> dict[str, int]:
    """Map role names to tensor positions by shape; a model of the wrong kind gets an error listing both."""
    found: dict[str, int] = {}
    for role, accepts in wanted.items():
        hits = [i for i, s in enumerate(specs) if accepts(s.shape) and i not in found.values()]
        if not hits:
            actual = ", ".join(str(list(s.shape)) for s in specs)
            raise BackendError(
                f"{path} is not a {what} model: no {role} tensor of the expected shape; "
                f"expected {describe_expected(wanted)}, model has {actual}"
            )
        found[role] = hits[0]
    return found


def describe_expected(wanted: dict[str, Callable[[tuple[int, ...]], bool]]) -> str:
    return ", ".join(f"{role} {getattr(fn, 'description', '')}".strip() for role, fn in wanted.items())


def shape_is(*shape: int) -> Callable[[tuple[int, ...]], bool]:
    def accepts(s: tuple[int, ...]) -> bool:
        return tuple(s) == shape

    accepts.description = str(list(shape))  # type: ignore[attr-defined]
    return accepts


def create_backend(
    path: Path,
    backend: str = "cpu",
    *,
    threads: int | None = None,
    device: str | None = None,
    runtime: str = "auto",
    drop_outputs: Callable[[tuple[int, ...]], bool] | None = None,
    fp16: bool = False,
) -> Backend:
    """Load `path` on the CPU, or on the Edge TPU ("edgetpu", or "auto" when a TPU and a compiled model exist).

    `drop_outputs` selects outputs (by shape) that will not be read, so that the CPU does not compute them.
    """
    if backend == "cpu":
        return InterpreterBackend(path, threads=threads, runtime=load_runtime(runtime), name="cpu",
                                  drop_outputs=drop_outputs, fp16=fp16)  # fmt: skip
    if backend in ("edgetpu", "auto"):
        from edgepose.inference.edgetpu import create_edgetpu_backend

        return create_edgetpu_backend(path, backend, threads=threads, device=device, runtime=load_runtime(runtime),
                                      drop_outputs=drop_outputs)  # fmt: skip
    raise BackendError(f"unknown backend {backend!r}; choose auto, cpu or edgetpu")
