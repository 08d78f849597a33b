"""The commands of edgepose-dev, each plugged into `edgepose` through an entry point (dev/pyproject.toml)."""
