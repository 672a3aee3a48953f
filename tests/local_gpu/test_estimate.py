from __future__ import annotations

import pytest

from local_gpu import estimate_seconds
from local_gpu.estimate import tokens_per_second


def test_estimate_scales_with_tokens_epochs_and_model_size() -> None:
    one = estimate_seconds(42_000, 1, "cpu")
    assert one == pytest.approx(10.0)  # the measured 4.3M-parameter anchor: 4,200 tok/s
    assert estimate_seconds(42_000, 3, "cpu") == pytest.approx(3 * one)
    assert estimate_seconds(42_000, 1, "cpu", parameters=8_600_000) == pytest.approx(2 * one)
    assert tokens_per_second("cuda:0", 8_000_000_000) == pytest.approx(2_413.0)
    assert estimate_seconds(1_000_000, 1, "cuda") < estimate_seconds(1_000_000, 1, "cpu", 8 * 10**9)


def test_estimate_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="epochs"):
        estimate_seconds(10, 0, "cpu")
