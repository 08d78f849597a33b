"""Inference: the backend types (edgepose.inference.backends, one module per type, registered by type) and
the loading layer that resolves model files and creates backends (edgepose.inference.loading)."""
