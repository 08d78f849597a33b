"""Where the tests find real data: ../shared/data (or $EDGEPOSE_TEST_DATA) and the scikit-image photos."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("EDGEPOSE_TEST_DATA", REPO.parent / "shared" / "data"))
MODELS_DIR = Path(os.environ.get("EDGEPOSE_MODELS_DIR", REPO / "models"))


def skimage_photo(name: str) -> Path:
    """Path of a photo shipped in the scikit-image wheel (astronaut.png, camera.png)."""
    import skimage

    return Path(skimage.__file__).parent / "data" / name
