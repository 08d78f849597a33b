"""fp16 inference of MediaPipe's float landmark models, for CPUs with FP16 arithmetic (Pi 5's Cortex-A76).

MediaPipe's float landmark files carry the metadata reduced_precision_support = "fp16accfp32": fp16 inference
allowed, with fp32 accumulation. LiteRT's XNNPACK delegate takes the fp16 hint only when the metadata also
allows fp16 accumulation ("fp16accfp16"), so as shipped they run in fp32 everywhere. `fp16_model` declares fp16
accumulation; XNNPACK then runs the model in fp16 where the CPU has it (and in fp32 where it does not).
What it costs and gains on a Pi 5 (instruction counts and accuracy under qemu): docs/pi.md.
"""

from __future__ import annotations

from edgepose.errors import EXIT_DATAERR, EdgeposeError

SHIPPED = b"fp16accfp32"
FP16 = b"fp16accfp16"  # the same length: the flatbuffer is patched in place


class Fp16Unavailable(EdgeposeError, ValueError):
    """The model does not declare reduced precision support (e.g. the detector): it has no fp16 form."""

    exit_status = EXIT_DATAERR


def fp16_model(content: bytes) -> bytes:
    """The model with fp16 accumulation allowed (its one "fp16accfp32" metadata value patched)."""
    if content.count(SHIPPED) != 1 or b"reduced_precision_support" not in content:
        raise Fp16Unavailable("the model does not declare reduced_precision_support fp16accfp32")
    return content.replace(SHIPPED, FP16)
