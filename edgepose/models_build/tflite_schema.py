"""TFLite flatbuffer access through the schema module that ships with ai-edge-litert (no extra dependency)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from edgepose.models_build.errors import ModelBuildError

TFLITE_IDENTIFIER = b"TFL3"


@cache
def schema():
    """The generated flatbuffer schema module (object API: ModelT, SubGraphT, ...)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@cache
def _builtin_names() -> dict[int, str]:
    return {v: k for k, v in vars(schema().BuiltinOperator).items() if not k.startswith("_")}


@cache
def tensor_type_names() -> dict[int, str]:
    return {v: k for k, v in vars(schema().TensorType).items() if not k.startswith("_")}


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


def load_model_t(data: bytes):
    """Unpack a model; buffers stored after the flatbuffer (offset/size, as ai-edge-quantizer writes them)
    are pulled inline so that `pack_model_t` keeps them."""
    import numpy as np

    model = schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    for b in model.buffers:
        if getattr(b, "offset", 0) > 1:
            end = b.offset + b.size
            if end > len(data):
                raise ValueError(f"buffer at offset {b.offset} (+{b.size}) is beyond the end of the file")
            b.data = np.frombuffer(data[b.offset : end], dtype=np.uint8)
            b.offset, b.size = 0, 0
    return model


def pack_model_t(model) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=TFLITE_IDENTIFIER)
    return bytes(b.Output())


def op_names(model) -> list[str]:
    """Builtin op name of every operator of subgraph 0, in order (custom ops as CUSTOM:<name>)."""
    names = _builtin_names()
    codes = []
    for c in model.operatorCodes:
        code = max(int(c.builtinCode), int(c.deprecatedBuiltinCode))
        n = names.get(code, f"OP_{code}")
        if n == "CUSTOM" and c.customCode:
            n = f"CUSTOM:{c.customCode.decode() if isinstance(c.customCode, bytes) else c.customCode}"
        codes.append(n)
    return [codes[op.opcodeIndex] for op in model.subgraphs[0].operators]
