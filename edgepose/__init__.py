"""edgepose: the BlazePose detector-tracker loop on LiteRT, for single-board computers."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
