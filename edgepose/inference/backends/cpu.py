"""The CPU backend: a model on a TFLite interpreter (LiteRT, or tflite-runtime as fallback), type "cpu".

Quantized models are handled here (scale and zero point read from the model), so the pipeline never sees
integers. The Edge TPU backend (edgepose.inference.backends.edgetpu) runs on the same interpreter class with
a delegate.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from edgepose.inference.backends.base import BackendError, TensorSpec, register
from edgepose.inference.fp16 import Fp16Unavailable, fp16_model
from edgepose.inference.pruning import PruneReport, PruningUnavailable, prune_outputs

log = logging.getLogger(__name__)

# Python modules that provide `Interpreter` and `load_delegate`, in order of preference.
RUNTIMES: tuple[str, ...] = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


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


def tensor_specs(details: Sequence[dict[str, Any]]) -> list[TensorSpec]:
    """The specs of an interpreter's `get_input_details()` or `get_output_details()`."""
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


def open_interpreter(
    runtime: ModuleType,
    path: Path,
    *,
    threads: int | None,
    delegates: Sequence[Any] = (),
    content: bytes | None = None,
    fix: str = "fetch or rebuild it",
) -> tuple[Any, list[TensorSpec], list[TensorSpec]]:
    """An allocated interpreter on the model file `path` (or on `content`, its bytes rewritten), and its input
    and output specs. BackendError names the file and `fix` when the runtime cannot load it."""
    if content is None and not path.is_file():
        raise BackendError(f"model file {path} does not exist")
    source: dict[str, Any] = {"model_path": str(path)} if content is None else {"model_content": content}
    try:
        interpreter = runtime.Interpreter(**source, num_threads=threads, experimental_delegates=list(delegates) or None)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise BackendError(f"{path} is not a loadable TFLite model ({e}); {fix}") from None
    return interpreter, tensor_specs(interpreter.get_input_details()), tensor_specs(interpreter.get_output_details())


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
        content = None if drop_outputs is None else self._pruned_content(drop_outputs)
        if fp16:
            try:
                content = fp16_model(content or self.path.read_bytes())
            except (Fp16Unavailable, OSError) as e:
                raise BackendError(f"{self.path}: no fp16 form ({e}); use precision float or int8") from None
        self._interpreter, self.inputs, self.outputs = open_interpreter(
            runtime, self.path, threads=threads, delegates=delegates, content=content
        )
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
        self._interpreter.set_tensor(self._in.index, self._in.as_input(x))
        self._interpreter.invoke()
        return [o.as_output(self._interpreter.get_tensor(o.index)) for o in self.outputs]


@register("cpu")
def create_cpu_backend(
    path: Path,
    mode: str,
    *,
    threads: int | None,
    device: str | None,
    runtime: ModuleType,
    drop_outputs: Callable[[tuple[int, ...]], bool] | None = None,
    fp16: bool = False,
) -> InterpreterBackend:
    """`device` is the Edge TPU's and is not used here."""
    return InterpreterBackend(path, threads=threads, runtime=runtime, name="cpu", drop_outputs=drop_outputs, fp16=fp16)
