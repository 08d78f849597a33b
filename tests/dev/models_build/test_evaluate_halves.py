"""evaluate --half: the negatives' even (choosing) and odd (confirming) halves split the sorted list."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepose_dev.models_build.evaluate import EvaluationError, negative_images


def test_halves_partition_the_negatives(shared_data: Path) -> None:
    every = negative_images(shared_data)
    even, odd = negative_images(shared_data, "even"), negative_images(shared_data, "odd")
    assert even == every[0::2] and odd == every[1::2]
    assert len(even) + len(odd) == len(every) and not set(even) & set(odd)
    with pytest.raises(EvaluationError, match="half"):
        negative_images(shared_data, "third")
