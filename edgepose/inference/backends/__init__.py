"""Inference backends, one module per type, each registering its factory (edgepose.inference.backends.base).

cpu: a TFLite interpreter (LiteRT or tflite-runtime); edgetpu (also "auto"): the Edge TPU delegate with the
CPU as the fallback of "auto". Create them through edgepose.inference.loading.create_backend.
"""
