"""The int8 model build (`edgepose models build`): float32 rewrite, calibration, quantization, verification.

Needs the optional extra `quantize` (ai-edge-quantizer) only for the quantization step; everything else runs on
the runtime dependencies.
"""
