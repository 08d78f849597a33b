"""The Edge TPU backend (types "edgetpu" and "auto"): `libedgetpu.so.1` through the interpreter's
`load_delegate`, running the `*_edgetpu.tflite` model compiled next to each int8 model. No pycoral.

`auto` uses the TPU when the delegate loads and the compiled model exists, otherwise the CPU, and says so
loudly (a warning here; the daemon publishes `backend` and `backend_note` in its stats). An explicit `edgetpu`
that cannot start raises BackendError naming what was tried and how to fix it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from edgepose.inference.backends.base import Backend, BackendError, register
from edgepose.inference.backends.cpu import InterpreterBackend

log = logging.getLogger(__name__)

EDGETPU_LIBRARY = "libedgetpu.so.1"
DEVICE_PATTERN = re.compile(r"^(usb|pci)(:\d+)?$")
INSTALL_HINT = (
    "install libedgetpu (README, 'Coral Edge TPU': the feranick libedgetpu1-std .deb for your OS), "
    "add the service user to the plugdev (USB) or apex (PCIe/M.2) group, and check the device with "
    "`lsusb | grep -E '1a6e:089a|18d1:9302'` or `ls /dev/apex_*`"
)

# One delegate per device: the detector and the landmark model share the TPU (and its parameter cache).
_delegates: dict[tuple[int, str | None], Any] = {}


def validate_device(device: str | None) -> None:
    if device is not None and not DEVICE_PATTERN.match(device):
        raise BackendError(f"invalid Edge TPU device {device!r}; use usb, usb:N, pci or pci:N (or leave it unset)")


def compiled_model_path(path: Path) -> Path:
    """`pose_landmark_full_int8.tflite` → `pose_landmark_full_int8_edgetpu.tflite` (edgetpu_compiler's name)."""
    return path if path.stem.endswith("_edgetpu") else path.with_name(f"{path.stem}_edgetpu{path.suffix}")


def missing_compiled_model(compiled: Path) -> str:
    """What is wrong when `compiled` (edgetpu_compiler's output) is absent, and the command that makes it."""
    return (
        f"compiled model {compiled} is missing (run `edgepose models build --edgetpu`, which prints the "
        "edgetpu_compiler command)"
    )


def delegate_failure(device: str | None, error: Exception) -> str:
    """What is wrong when the delegate does not load for `device`, and how to fix it."""
    return f"loading {EDGETPU_LIBRARY} for device {device or 'any'} failed ({error}); {INSTALL_HINT}"


def load_edgetpu_delegate(runtime: ModuleType, device: str | None) -> Any:
    key = (id(runtime), device)
    if key not in _delegates:
        options = {"device": device} if device else {}
        _delegates[key] = runtime.load_delegate(EDGETPU_LIBRARY, options)
    return _delegates[key]


@register("edgetpu", "auto")
def create_edgetpu_backend(
    path: Path,
    mode: str,
    *,
    threads: int | None,
    device: str | None,
    runtime: ModuleType,
    drop_outputs: Callable[[tuple[int, ...]], bool] | None = None,
    fp16: bool = False,
) -> Backend:
    """`drop_outputs` applies to the CPU only: a compiled model is one custom op and is loaded as it is.
    `fp16` is not used (as before the registry: a CPU fallback here runs the model in fp32)."""
    validate_device(device)
    path = Path(path)
    if mode == "auto" and "int8" not in path.name:
        # A float model never runs on the TPU: nothing to fall back from, so no warning.
        log.info("float model %s: running on the CPU", path.name)
        return InterpreterBackend(path, threads=threads, runtime=runtime, name="cpu", drop_outputs=drop_outputs)
    compiled = compiled_model_path(path)
    problem = None
    if "int8" not in path.name:
        problem = f"{path.name} is not an int8 model (the Edge TPU runs only int8 models; use --precision int8)"
    elif not compiled.is_file():
        problem = missing_compiled_model(compiled)
    else:
        try:
            delegate = load_edgetpu_delegate(runtime, device)
        except (ValueError, OSError, RuntimeError) as e:
            problem = delegate_failure(device, e)
        else:
            log.info("Edge TPU delegate loaded for device %s; model %s", device or "any", compiled.name)
            return InterpreterBackend(
                compiled, threads=threads, runtime=runtime, delegates=[delegate], name=f"edgetpu:{device or 'any'}"
            )
    if mode == "edgetpu":
        raise BackendError(f"Edge TPU backend cannot start: {problem}")
    log.warning("Edge TPU not used, running %s on the CPU: %s", path.name, problem)
    backend = InterpreterBackend(path, threads=threads, runtime=runtime, name="cpu", drop_outputs=drop_outputs)
    backend.note = f"auto: Edge TPU unavailable ({problem})"
    return backend
