"""Drop model outputs that the pipeline does not read, together with the ops that only compute them.

TFLite runs every op of a graph, whichever outputs are read afterwards. The BlazePose landmark models also
compute a segmentation mask (a decoder up to 256²), and edgepose reads it only with `segmentation = true`. Without
that head the landmark invoke is 1.3–2.2× faster (lite gains most), in float and in int8 (docs/benchmarks.md
§6). MediaPipe's graph always computes it. The ops that remain, their weights and their order are unchanged,
so the outputs that are kept are bit-identical (tests/inference/test_pruning.py).

The rewrite uses the flatbuffer schema that ships with ai-edge-litert. With tflite-runtime, which has no schema
module, `prune_outputs` raises `PruningUnavailable` and the caller loads the whole model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgepose.errors import EXIT_UNAVAILABLE, EdgeposeError

Shape = tuple[int, ...]


class PruningUnavailable(EdgeposeError):
    """The model cannot be pruned here (no schema module, or no output to drop); the whole model still runs."""

    exit_status = EXIT_UNAVAILABLE


@dataclass(frozen=True, slots=True)
class PruneReport:
    dropped_outputs: tuple[Shape, ...]
    removed_ops: int
    kept_ops: int


def is_mask_output(shape: Shape) -> bool:
    """The landmark models' segmentation output: [1, H, W, 1] (128² or 256² depending on the build)."""
    return len(shape) == 4 and shape[-1] == 1 and shape[1] > 1


def prune_outputs(model: bytes, drop: Callable[[Shape], bool]) -> tuple[bytes, PruneReport]:
    """Remove the graph outputs whose shape `drop` accepts, and every op that only feeds them.

    Raises PruningUnavailable when nothing matches or the schema module is missing; a corrupt model raises
    whatever the flatbuffer reader raises (the caller reports it with the file name).
    """
    try:
        # tflite-runtime has no schema module; flatbuffers comes with ai-edge-litert.
        importlib.import_module("ai_edge_litert.schema_py_generated")
        importlib.import_module("flatbuffers")
    except ImportError as e:
        raise PruningUnavailable(f"no TFLite schema module ({e})") from None
    from edgepose.inference.tflite_schema import compact_model, load_model_t, pack_model_t

    m = load_model_t(model)
    if len(m.subgraphs) != 1:
        raise PruningUnavailable(f"{len(m.subgraphs)} subgraphs (only single-graph models are pruned)")
    g = m.subgraphs[0]
    outputs = [int(o) for o in g.outputs]
    shapes = {o: tuple(int(s) for s in g.tensors[o].shape) for o in outputs}
    dropped = [o for o in outputs if drop(shapes[o])]
    kept = [o for o in outputs if o not in dropped]
    if not dropped or not kept:
        raise PruningUnavailable(f"no output to drop among {sorted(shapes.values())}")
    # Walk the ops backwards (they are stored in execution order) keeping those that feed a kept output.
    needed = set(kept)
    keep_ops = []
    for op in reversed(g.operators):
        if any(int(t) in needed for t in op.outputs):
            keep_ops.append(op)
            needed.update(int(t) for t in op.inputs if t >= 0)
    removed = len(g.operators) - len(keep_ops)
    g.operators = keep_ops[::-1]
    g.outputs = np.array(kept, dtype=np.int32)
    dropped_set = set(dropped)
    for sig in m.signatureDefs or []:
        sig.outputs = [t for t in sig.outputs or [] if int(t.tensorIndex) not in dropped_set]
    compact_model(m)
    report = PruneReport(tuple(shapes[o] for o in dropped), removed, len(keep_ops))
    return pack_model_t(m), report
