"""Inference backends: one small interface over a TFLite interpreter (LiteRT, tflite-runtime, Edge TPU)."""

from edgepose.inference.backend import Backend, BackendError, TensorSpec, create_backend

__all__ = ["Backend", "BackendError", "TensorSpec", "create_backend"]
