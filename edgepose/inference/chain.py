"""A landmark model in its Edge TPU form: float stem (CPU) → int8 body (Edge TPU) → float heads (CPU), as one
Backend (edgepose_dev.models_build.edgetpu_split makes the three graphs under `models/edgetpu_src/`).

The parts hand each other their int8 (or float) tensors as they are, matched by tensor name, so the chain
computes what the `int8_mixed` file computes. On the Edge TPU the body is the compiled `*_body_edgetpu.tflite`
in the models directory, through the shared delegate of edgepose.inference.backends.edgetpu; `edgetpu_form` runs the
compiler's input itself on the CPU, to measure the form's accuracy without a TPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from edgepose.inference.backends.base import BackendError, TensorSpec
from edgepose.inference.backends.cpu import load_runtime, open_interpreter
from edgepose.inference.backends.edgetpu import (
    compiled_model_path,
    delegate_failure,
    load_edgetpu_delegate,
    missing_compiled_model,
    validate_device,
)

log = logging.getLogger(__name__)

EDGETPU_SRC_DIR = "edgetpu_src"
PARTS = ("stem", "body", "heads")


@dataclass(frozen=True)
class SplitFiles:
    """The files of one split model; `stem`/`heads` are None when the recipe keeps that end int8."""

    stem: Path | None
    body: Path
    heads: Path | None


def split_files(models_dir: Path, model_file: str) -> SplitFiles | None:
    """The split form of `model_file` (e.g. `pose_landmark_lite_int8.tflite`), or None when its body was not
    built: stem and heads are runtime files in `models_dir` (a device gets them), the body is the compiler's input
    in `<models_dir>/edgetpu_src/` (the compiler writes `<models_dir>/<body>_edgetpu.tflite`)."""
    models_dir = Path(models_dir)
    paths = {p: models_dir / split_file_name(model_file, p) for p in PARTS}
    paths["body"] = models_dir / EDGETPU_SRC_DIR / paths["body"].name
    if not paths["body"].is_file():
        return None

    def optional(part: str) -> Path | None:
        return paths[part] if paths[part].is_file() else None

    return SplitFiles(stem=optional("stem"), body=paths["body"], heads=optional("heads"))


def split_file_name(model_file: str, part: str) -> str:
    """`pose_landmark_lite_int8.tflite` → `pose_landmark_lite_int8_body.tflite` (the compiler then writes
    `pose_landmark_lite_int8_body_edgetpu.tflite`)."""
    return f"{model_file.removesuffix('.tflite')}_{part}.tflite"


class _Part:
    """One graph of the chain on an interpreter; tensors in and out by name, in their own types."""

    def __init__(self, path: Path, runtime: ModuleType, threads: int | None, delegates: Sequence[Any] = ()) -> None:
        self.path = path
        self._it, self.inputs, self.outputs = open_interpreter(runtime, path, threads=threads, delegates=delegates,
                                                               fix="rebuild it")  # fmt: skip

    def run(self, tensors: dict[str, npt.NDArray[Any]]) -> None:
        """Read this part's inputs from `tensors` and add its outputs to it."""
        for spec in self.inputs:
            self._it.set_tensor(spec.index, tensors[spec.name])
        self._it.invoke()
        for spec in self.outputs:
            tensors[spec.name] = self._it.get_tensor(spec.index)


class ChainBackend:
    """The Backend API (`name`, `path`, `inputs`, `outputs`, `run`) over stem → body → heads."""

    def __init__(
        self,
        files: SplitFiles,
        *,
        threads: int | None = None,
        runtime: ModuleType | None = None,
        body_delegates: Sequence[Any] = (),
        body_path: Path | None = None,
        name: str = "cpu",
    ) -> None:
        """`body_path`: the file run for the body (the compiled one on the TPU), default `files.body`."""
        runtime = runtime or load_runtime()
        self.name = name
        self.note = ""
        self.pruned = None
        self.path = files.body
        self.parts = [
            _Part(files.stem, runtime, threads) if files.stem else None,
            _Part(body_path or files.body, runtime, threads, body_delegates),
            _Part(files.heads, runtime, threads) if files.heads else None,
        ]
        chain = [p for p in self.parts if p is not None]
        made: dict[str, TensorSpec] = {}
        for part in chain:
            for spec in part.inputs:
                if part is not chain[0] and spec.name not in made:
                    raise BackendError(f"{part.path}: input {spec.name!r} is made by no earlier part of the chain; "
                                       "rebuild the split with `edgepose models build`")  # fmt: skip
            made.update((s.name, s) for s in part.outputs)
        read = {s.name for part in chain[1:] for s in part.inputs}
        self.inputs = list(chain[0].inputs)
        if len(self.inputs) != 1:
            raise BackendError(f"{chain[0].path}: expected 1 input tensor, found {len(self.inputs)}")
        # The model's outputs: what no later part reads (the heads' outputs and the body's int8 heatmap).
        self.outputs = [s for s in made.values() if s.name not in read]
        self._in = self.inputs[0]

    def run(self, x: npt.NDArray[Any]) -> list[npt.NDArray[np.float32]]:
        """`x`: float32 (quantized here) or already the input's integer type; outputs as float32."""
        tensors: dict[str, npt.NDArray[Any]] = {self._in.name: self._in.as_input(x)}
        for part in self.parts:
            if part is not None:
                part.run(tensors)
        return [o.as_output(tensors[o.name]) for o in self.outputs]


def create_chain_backend(files: SplitFiles, backend: str, *, threads: int | None = None, device: str | None = None,
                         runtime: ModuleType | None = None) -> ChainBackend:  # fmt: skip
    """`backend` "cpu": every part on the CPU (the compiler input itself: the Edge TPU form measured here);
    "edgetpu": the body's compiled file (`<models>/<body>_edgetpu.tflite`) through the Edge TPU delegate."""
    runtime = runtime or load_runtime()
    if backend == "cpu":
        return ChainBackend(files, threads=threads, runtime=runtime, name="cpu (Edge TPU form)")
    if backend != "edgetpu":
        raise BackendError(f"the split Edge TPU form runs on cpu or edgetpu, not {backend!r}")
    validate_device(device)
    compiled = compiled_model_path(files.body.parent.parent / files.body.name)  # next to the runtime files
    if not compiled.is_file():
        raise BackendError(f"Edge TPU backend cannot start: {missing_compiled_model(compiled)}")
    try:
        delegate = load_edgetpu_delegate(runtime, device)
    except (ValueError, OSError, RuntimeError) as e:
        raise BackendError(f"Edge TPU backend cannot start: {delegate_failure(device, e)}") from None
    return ChainBackend(files, threads=threads, runtime=runtime, body_delegates=[delegate], body_path=compiled,
                        name=f"edgetpu:{device or 'any'}")  # fmt: skip


def landmark_chain(
    models_dir: Path,
    model_file: str,
    backend: str,
    *,
    edgetpu_form: bool = False,
    threads: int | None = None,
    device: str | None = None,
    runtime: ModuleType | None = None,
) -> ChainBackend | None:
    """The landmark backend in its split Edge TPU form when it applies, else None (the caller loads one file):
    - `edgetpu_form`: the compiler's input on the CPU; the split must have been built;
    - backend "edgetpu" or "auto" with the compiled body present: the body on the TPU. If the TPU cannot start,
      "edgetpu" raises BackendError and "auto" returns None after a warning (the single-file path falls back).
      Without a compiled body: None when an older compiled full-int8 file exists (or for "auto"), else the
      "edgetpu" error names the compiled body that is missing."""
    files = split_files(models_dir, model_file)
    if edgetpu_form:
        if files is None:
            body = Path(models_dir) / EDGETPU_SRC_DIR / split_file_name(model_file, "body")
            raise BackendError(f"the Edge TPU form of {model_file} is not built ({body} is missing); run "
                               "`edgepose models build --edgetpu-inputs-only`")  # fmt: skip
        return create_chain_backend(files, "cpu", threads=threads, runtime=runtime)
    if backend not in ("edgetpu", "auto") or files is None:
        return None
    compiled = compiled_model_path(Path(models_dir) / files.body.name)
    if not compiled.is_file():
        # A full-int8 file compiled earlier still runs whole; "auto" falls back to the CPU there.
        if backend == "auto" or compiled_model_path(Path(models_dir) / model_file).is_file():
            return None
        raise BackendError(f"Edge TPU backend cannot start: {missing_compiled_model(compiled)}")
    try:
        return create_chain_backend(files, "edgetpu", threads=threads, device=device, runtime=runtime)
    except BackendError as e:
        if backend == "edgetpu":
            raise
        log.warning("Edge TPU not used for %s: %s", files.body.name, e)
        return None
