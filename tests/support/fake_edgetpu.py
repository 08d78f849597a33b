"""A fake Edge TPU runtime for tests (no TPU on CI machines): the real LiteRT module with `load_delegate`
replaced, and an Interpreter that records the delegates it was given and otherwise runs the model on the CPU."""

from __future__ import annotations

import types
from pathlib import Path

from edgepose.inference.backends.cpu import load_runtime


class FakeDelegate:
    def __init__(self, options: dict) -> None:
        self.options = options


def fake_runtime(*, device_present: bool) -> types.ModuleType:
    real = load_runtime()
    mod = types.ModuleType("fake_litert")
    mod.loaded = []
    mod.sources = []  # what each Interpreter was built from: a file name, or "content" (a pruned model)
    mod.loads = []  # (source, delegates) of every Interpreter, in order

    def load_delegate(library: str, options: dict | None = None):
        mod.loaded.append((library, options))
        if not device_present:
            raise ValueError(f"Failed to load delegate from {library}")
        return FakeDelegate(options or {})

    def interpreter(
        model_path: str | None = None, model_content: bytes | None = None, num_threads=None, experimental_delegates=None
    ):
        mod.delegates = experimental_delegates
        mod.sources.append("content" if model_content is not None else Path(model_path).name)
        mod.loads.append((mod.sources[-1], experimental_delegates))
        return real.Interpreter(model_path=model_path, model_content=model_content, num_threads=num_threads)

    mod.load_delegate = load_delegate
    mod.Interpreter = interpreter
    return mod
