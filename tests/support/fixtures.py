"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepose.engine.tracker import PoseEngine
from support.engine import engine
from support.paths import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set EDGEPOSE_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def static_full_k9() -> PoseEngine:
    return engine(model="full", static=True, heatmap_kernel=9)


@pytest.fixture(scope="session")
def static_full_k7() -> PoseEngine:
    return engine(model="full", static=True, heatmap_kernel=7)
