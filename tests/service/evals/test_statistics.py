"""Intervals and paired tests against the values EVALUATION.md §5 checked by hand."""

from __future__ import annotations

import random

import pytest

from service.evals.statistics import (
    Verdict,
    bootstrap_mean,
    compare_paired,
    mcnemar_exact,
    mean_score,
    wilson_interval,
)


def test_wilson_interval_for_160_of_200() -> None:
    estimate = wilson_interval(160, 200)
    assert estimate is not None
    assert estimate.value == 0.8
    assert (round(estimate.interval.low, 3), round(estimate.interval.high, 3)) == (0.739, 0.850)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) is None
    none_passed = wilson_interval(0, 10)
    assert none_passed is not None and none_passed.interval.low == 0.0 < none_passed.interval.high
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_mcnemar_exact_matches_the_binomial_test() -> None:
    assert mcnemar_exact(5, 20) == pytest.approx(0.00408, abs=1e-5)
    assert mcnemar_exact(20, 5) == pytest.approx(0.00408, abs=1e-5)
    assert mcnemar_exact(0, 0) == 1.0


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    rng = random.Random(7)
    values = [rng.random() for _ in range(80)]
    first, second = bootstrap_mean(values, seed=1), bootstrap_mean(values, seed=1)
    assert first == second
    assert first is not None
    assert first.interval.low < first.value < first.interval.high
    assert first.interval.high - first.interval.low < 0.2
    assert bootstrap_mean(values, seed=2) != first


def test_bootstrap_degenerate_inputs() -> None:
    assert bootstrap_mean([]) is None
    one = bootstrap_mean([0.4])
    same = bootstrap_mean([1.0] * 5)
    assert one is not None and (one.interval.low, one.interval.high) == (0.4, 0.4)
    assert same is not None and (same.interval.low, same.interval.high) == (1.0, 1.0)


def test_a_clear_improvement_is_better_and_its_mirror_is_worse() -> None:
    tuned = [True] * 30 + [False] * 10
    base = [True] * 12 + [False] * 28
    as_scores = [[1.0 if p else 0.0 for p in side] for side in (tuned, base)]
    up = compare_paired(as_scores[0], as_scores[1], tuned, base)
    down = compare_paired(as_scores[1], as_scores[0], base, tuned)
    assert up is not None and down is not None
    assert (up.a_only_passed, up.b_only_passed) == (18, 0)
    assert up.difference.value == pytest.approx(0.45)
    assert up.difference.interval.low > 0 and up.mcnemar_p is not None and up.mcnemar_p < 0.001
    assert (up.verdict, down.verdict) == (Verdict.BETTER, Verdict.WORSE)


def test_noise_is_indistinguishable() -> None:
    rng = random.Random(3)
    a = [rng.random() < 0.6 for _ in range(60)]
    b = [rng.random() < 0.6 for _ in range(60)]
    result = compare_paired([float(x) for x in a], [float(x) for x in b], a, b)
    assert result is not None and result.verdict is Verdict.INDISTINGUISHABLE


def test_continuous_scores_without_pass_fail_use_the_interval_alone() -> None:
    base = [0.5 + 0.01 * (i % 7) for i in range(50)]
    tuned = [x + 0.1 for x in base]
    result = compare_paired(tuned, base)
    assert result is not None and result.mcnemar_p is None and result.verdict is Verdict.BETTER


def test_paired_comparison_needs_the_same_items() -> None:
    with pytest.raises(ValueError):
        compare_paired([1.0], [1.0, 0.0])
    assert compare_paired([], []) is None


def test_a_mean_of_pass_fail_scores_has_the_pass_rates_interval() -> None:
    # 0 of 16: a bootstrap resamples only zeros and would claim [0, 0]
    none = mean_score([0.0] * 16)
    assert none is not None and none.value == 0.0
    assert none.interval.low == 0.0 and 0.19 < none.interval.high < 0.20
    rate = wilson_interval(15, 16)
    assert mean_score([1.0] * 15 + [0.0]) == rate
    graded = mean_score([0.5, 0.25, 1.0, 0.0, 0.75])  # not pass/fail: bootstrapped
    assert graded == bootstrap_mean([0.5, 0.25, 1.0, 0.0, 0.75])
