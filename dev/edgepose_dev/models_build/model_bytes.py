"""Reading a .tflite file for the model build, failing with a ModelBuildError that names the file."""

from __future__ import annotations

from pathlib import Path

from edgepose.inference.tflite_schema import TFLITE_IDENTIFIER, load_model_t
from edgepose_dev.models_build.errors import ModelBuildError


def read_model_bytes(path: Path) -> bytes:
    """Read a .tflite file, failing with a message naming the file if it is missing or not a TFLite model."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ModelBuildError(f"cannot read model {path}: {e.strerror}") from e
    check_model_bytes(data, str(path))
    return data


def check_model_bytes(data: bytes, label: str) -> None:
    """Raise ModelBuildError naming `label` if `data` is not a complete TFLite flatbuffer."""
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelBuildError(f"{label} is not a TFLite model (no 'TFL3' identifier; corrupt or wrong file?)")
    try:
        # Unpacking touches every table and buffer: a truncated file fails here, not later in the interpreter.
        load_model_t(data)
    except Exception as e:
        raise ModelBuildError(f"{label} is corrupt or truncated ({len(data)} bytes): {e}") from e
