"""Loading the engine's models in one place: which files, on which backend, and how their tensors are found.

`load_engine_models(config)` resolves the model files of an `[engine]` configuration (precision per stage,
the int8 recipe, the Edge TPU's compiled files) and creates their backends; `create_backend` creates one
backend by its registered type (edgepose.inference.backends: one module per type); `match_by_shape` finds a
model's output tensors by their shapes, which is how the detector and landmark decoders read them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgepose.config import EngineConfig

# The backend types register themselves when their module is imported (Frigate's detector plugins).
from edgepose.inference.backends import cpu as _cpu  # noqa: F401
from edgepose.inference.backends import edgetpu as _edgetpu  # noqa: F401
from edgepose.inference.backends.base import Backend, BackendError, TensorSpec, factory
from edgepose.inference.backends.cpu import load_runtime
from edgepose.inference.chain import EDGETPU_SRC_DIR, landmark_chain
from edgepose.inference.cpu_choice import PrecisionChoice, choose_precision, host_cpu
from edgepose.inference.pruning import is_mask_output
from edgepose.model_files import (
    ModelError,
    default_models_dir,
    detector_filename,
    landmark_filename,
    landmark_model_for,
    resolve_model,
)

Accepts = Callable[[tuple[int, ...]], bool]


def create_backend(
    path: Path,
    backend: str = "cpu",
    *,
    threads: int | None = None,
    device: str | None = None,
    runtime: str = "auto",
    drop_outputs: Accepts | None = None,
    fp16: bool = False,
) -> Backend:
    """Load `path` on the CPU, or on the Edge TPU ("edgetpu", or "auto" when a TPU and a compiled model exist).

    `drop_outputs` selects outputs (by shape) that will not be read, so that the CPU does not compute them.
    """
    make = factory(backend)
    return make(Path(path), backend, threads=threads, device=device, runtime=load_runtime(runtime),
                drop_outputs=drop_outputs, fp16=fp16)  # fmt: skip


def models_dir_of(config: EngineConfig) -> Path:
    """`engine.models_dir`, else the default (edgepose.model_files.default_models_dir)."""
    return Path(config.models_dir) if config.models_dir else default_models_dir()


def precision_for(config: EngineConfig, models_dir: Path) -> PrecisionChoice:
    """The forms of the two models: as asked, or for "auto" the CPU's (an Edge TPU takes int8)."""
    int8 = landmark_filename(config.model, "int8")
    # A compiled landmark model: the whole full-int8 file, or the body of its split form (edgepose.inference.chain).
    compiled = [models_dir / int8.replace(".tflite", f"{part}_edgetpu.tflite") for part in ("", "_body")]
    edgetpu = config.backend == "edgetpu" or (config.backend == "auto" and any(c.is_file() for c in compiled))
    return choose_precision(config.precision, config.model, host_cpu(), edgetpu=edgetpu)


@dataclass(frozen=True, slots=True)
class EngineModels:
    """The detector's and the landmark model's backends, and the precision choice that picked their files."""

    detector: Backend
    landmark: Backend
    precision: PrecisionChoice


def check_edgetpu_form_config(config: EngineConfig) -> None:
    """The Edge TPU form runs int8 graphs on the CPU and has no segmentation output: other settings are errors."""
    if config.precision != "int8":
        raise ModelError(f"the Edge TPU form is int8: use it with precision int8, not {config.precision}")
    if config.backend != "cpu":
        raise ModelError(f"the Edge TPU form runs the compiler's input on the CPU: use backend cpu, not "
                         f"{config.backend}")  # fmt: skip
    if config.segmentation:
        raise ModelError("the Edge TPU form has no segmentation output (pruned from its body): drop segmentation")


def load_engine_models(config: EngineConfig) -> EngineModels:
    """Resolve and load the two models of `config`; ModelError/BackendError name the file and the fix."""
    models_dir = models_dir_of(config)
    choice = precision_for(config, models_dir)
    det_name = detector_filename(choice.detector)
    if config.edgetpu_form:
        check_edgetpu_form_config(config)
        det_name = f"{EDGETPU_SRC_DIR}/{det_name}"
    det_path = resolve_model(models_dir, det_name)
    kwargs = {"threads": config.threads, "device": config.edgetpu_device or None}
    detector = create_backend(det_path, config.backend, **kwargs)
    # int8 on the Edge TPU (or its form on the CPU): the split landmark model when it applies.
    chain = None if choice.landmark != "int8" else landmark_chain(
        models_dir, landmark_filename(config.model, "int8"), config.backend, edgetpu_form=config.edgetpu_form,
        **kwargs)  # fmt: skip
    if chain is not None:
        return EngineModels(detector, chain, choice)
    lm_name = landmark_model_for(models_dir, config.model, choice.landmark, config.backend)
    lm_path = resolve_model(models_dir, lm_name)
    # Without a mask, the landmark model's segmentation head is not computed at all.
    drop = None if config.segmentation or config.full_graph else is_mask_output
    landmark = create_backend(lm_path, config.backend, drop_outputs=drop, fp16=choice.landmark == "fp16", **kwargs)
    return EngineModels(detector, landmark, choice)


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
