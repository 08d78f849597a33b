"""Order-independent activation ranges (quantize.combine_ranges): the same samples in any order give the same
range, unlike ai-edge-quantizer's moving average; percentiles ignore a rare outlier."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose_dev.models_build.errors import ModelBuildError
from edgepose_dev.models_build.quantize import combine_ranges


def _samples(rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    mins = -rng.uniform(1.0, 2.0, (n, 1, 1, 1)).astype(np.float32)
    maxs = rng.uniform(3.0, 4.0, (n, 1, 1, 1)).astype(np.float32)
    maxs[7] = 400.0  # one outlier sample
    return mins, maxs


@pytest.mark.parametrize("method", ["global", "mean", "p99", "p95"])
def test_ranges_do_not_depend_on_sample_order(method: str) -> None:
    rng = np.random.default_rng(0)
    mins, maxs = _samples(rng)
    order = rng.permutation(len(mins))
    a = combine_ranges(mins, maxs, method)
    b = combine_ranges(mins[order], maxs[order], method)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)


def test_global_keeps_the_outlier_and_percentile_does_not() -> None:
    mins, maxs = _samples(np.random.default_rng(1))
    assert float(combine_ranges(mins, maxs, "global")[1].max()) == 400.0
    assert float(combine_ranges(mins, maxs, "p99")[1].max()) <= 4.0
    assert float(combine_ranges(mins, maxs, "global")[0].min()) == float(mins.min())


def test_unknown_method_is_one_line() -> None:
    with pytest.raises(ModelBuildError, match="unknown range method 'p50'"):
        combine_ranges(np.zeros((2, 1)), np.ones((2, 1)), "p50")
