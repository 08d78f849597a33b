"""The loading layer (edgepose.inference.loading) and the backend registry (edgepose.inference.backends)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from support.engine import require_float_models

from edgepose.config import EngineConfig
from edgepose.inference.backends import base
from edgepose.inference.backends.base import Backend, BackendError, register, registered_types
from edgepose.inference.backends.cpu import InterpreterBackend
from edgepose.inference.loading import create_backend, load_engine_models


def test_each_backend_type_is_registered_by_its_module() -> None:
    assert {"cpu", "edgetpu", "auto"} <= set(registered_types())


def test_a_registered_type_is_created_through_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new backend module needs only `@register`: create_backend finds it by its type name."""
    monkeypatch.setattr(base, "_FACTORIES", dict(base._FACTORIES))
    calls: list[tuple[str, str, int | None]] = []

    @register("labelled-cpu")
    def labelled(path: Path, mode: str, *, threads: int | None, device: str | None, runtime: ModuleType,
                 drop_outputs: object = None, fp16: bool = False) -> Backend:  # fmt: skip
        calls.append((path.name, mode, threads))
        return InterpreterBackend(path, threads=threads, runtime=runtime, name="labelled")

    path = require_float_models() / "float/pose_detection.tflite"
    backend = create_backend(path, "labelled-cpu", threads=1)
    assert backend.name == "labelled" and calls == [("pose_detection.tflite", "labelled-cpu", 1)]
    assert [s.shape for s in backend.outputs] == [(1, 2254, 12), (1, 2254, 1)]


def test_unknown_type_names_the_registered_ones() -> None:
    with pytest.raises(BackendError, match=r"unknown backend 'npu'; choose auto, cpu or edgetpu"):
        create_backend(Path("x.tflite"), "npu")


def test_engine_models_resolve_files_from_the_engine_section() -> None:
    """The [engine] section alone names the files: float full on the CPU, its mask head not computed."""
    models = load_engine_models(EngineConfig(model="full", precision="float", backend="cpu", threads=1,
                                             models_dir=str(require_float_models())))  # fmt: skip
    assert models.detector.path.name == "pose_detection.tflite"
    assert models.landmark.path.name == "pose_landmark_full.tflite"
    assert models.precision.why == "precision float (explicit)"
    assert isinstance(models.landmark, InterpreterBackend) and models.landmark.pruned is not None
