"""Intervals and paired comparisons for eval results (EVALUATION.md §5).

The unit is the item: repeats of one item are averaged before anything here sees them.
- pass rate: Wilson 95% interval (``scipy.stats.binomtest(...).proportion_ci``);
- mean score: BCa bootstrap 95% interval of the mean;
- difference of two runs over the same items: mean of d_i = a_i - b_i with a BCa bootstrap
  interval over d (equivalent to scipy's paired bootstrap), McNemar's exact p-value on the
  discordant pass/fail pairs (an exact binomial test of b against b+c at 1/2);
- verdict: ``better`` when the interval lies above 0 and McNemar's p < alpha (when there are
  pass/fail pairs), ``worse`` symmetrically, else ``indistinguishable``.
Bootstraps are seeded, so the same inputs always give the same numbers."""

from __future__ import annotations

import enum
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
N_RESAMPLES = 9_999
DEFAULT_SEED = 20_261_129


class Verdict(enum.StrEnum):
    BETTER = "better"
    WORSE = "worse"
    INDISTINGUISHABLE = "indistinguishable"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Estimate:
    value: float
    interval: Interval
    n: int


def wilson_interval(passed: int, total: int, confidence: float = CONFIDENCE) -> Estimate | None:
    """The pass rate with its Wilson interval; None without items."""
    if total <= 0:
        return None
    if not 0 <= passed <= total:
        raise ValueError("passed must be between 0 and total")
    ci = stats.binomtest(passed, total).proportion_ci(confidence_level=confidence, method="wilson")
    return Estimate(passed / total, Interval(float(ci.low), float(ci.high)), total)


def bootstrap_mean(
    values: Sequence[float], seed: int = DEFAULT_SEED, confidence: float = CONFIDENCE
) -> Estimate | None:
    """The mean with a BCa bootstrap interval; None without values. With one value, or all
    values equal, there is nothing to resample: the interval is the mean itself."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    mean = float(data.mean())
    if data.size == 1 or np.all(data == data[0]):
        return Estimate(mean, Interval(mean, mean), int(data.size))
    with warnings.catch_warnings():
        # BCa warns (and falls back to nan) on degenerate resamples; handled below
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (data,),
            np.mean,
            n_resamples=N_RESAMPLES,
            confidence_level=confidence,
            method="BCa",
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        low, high = (float(q) for q in np.percentile(result.bootstrap_distribution, [2.5, 97.5]))
    return Estimate(mean, Interval(low, high), int(data.size))


def mean_score(
    values: Sequence[float], seed: int = DEFAULT_SEED, confidence: float = CONFIDENCE
) -> Estimate | None:
    """A criterion's mean score: scores that are all 0 or 1 are a pass rate, so the Wilson
    interval (a bootstrap of 0/16 resamples nothing but zeros and claims [0, 0]); other scores
    the BCa bootstrap."""
    if values and all(v in (0.0, 1.0) for v in values):
        return wilson_interval(int(sum(values)), len(values), confidence)
    return bootstrap_mean(values, seed=seed, confidence=confidence)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """McNemar's exact p-value from the discordant counts (items only A passed, only B
    passed); 1.0 when no pair disagrees."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(a_only, discordant, 0.5).pvalue)


@dataclass(frozen=True)
class PairedComparison:
    """A minus B over the items both have."""

    difference: Estimate
    pass_rate_difference: float | None
    a_only_passed: int
    b_only_passed: int
    mcnemar_p: float | None
    verdict: Verdict


def compare_paired(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    passed_a: Sequence[bool] | None = None,
    passed_b: Sequence[bool] | None = None,
    seed: int = DEFAULT_SEED,
    alpha: float = ALPHA,
) -> PairedComparison | None:
    """A (e.g. the tuned model) against B (the base) on the same items, in the same order.
    None without items."""
    if len(scores_a) != len(scores_b):
        raise ValueError("paired comparison needs the same items on both sides")
    differences = np.asarray(scores_a, dtype=float) - np.asarray(scores_b, dtype=float)
    difference = bootstrap_mean(differences.tolist(), seed=seed)
    if difference is None:
        return None
    p_value: float | None = None
    a_only = b_only = 0
    rate_difference: float | None = None
    if passed_a is not None and passed_b is not None:
        if not len(passed_a) == len(passed_b) == len(scores_a):
            raise ValueError("pass/fail lists must match the scores")
        a_only = sum(1 for x, y in zip(passed_a, passed_b, strict=True) if x and not y)
        b_only = sum(1 for x, y in zip(passed_a, passed_b, strict=True) if y and not x)
        p_value = mcnemar_exact(a_only, b_only)
        rate_difference = (a_only - b_only) / len(passed_a)
    return PairedComparison(
        difference, rate_difference, a_only, b_only, p_value, verdict(difference, p_value, alpha)
    )


def verdict(difference: Estimate, p_value: float | None, alpha: float = ALPHA) -> Verdict:
    significant = p_value is None or p_value < alpha
    if difference.interval.low > 0 and significant:
        return Verdict.BETTER
    if difference.interval.high < 0 and significant:
        return Verdict.WORSE
    return Verdict.INDISTINGUISHABLE
