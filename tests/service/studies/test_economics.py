"""Cost of ownership with worked numbers (EVALUATION.md §7), each checked by hand in a comment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from service.studies.economics import (
    Amortisation,
    BreakEvenVerdict,
    RequestShape,
    TokenPrices,
    amortisation,
    break_even,
    cost_per_request,
    cost_per_thousand,
    hosting_per_month,
    monthly_cost,
)

# gpt-4.1-mini (UNVERIFIED catalog prices): base $0.40 in / $1.60 out / $0.10 cached;
# fine-tuned $0.80 / $3.20.
BASE = TokenPrices(D("0.40"), D("1.60"), D("0.10"))
TUNED = TokenPrices(D("0.80"), D("3.20"), D("0.20"))
FEW_SHOT = RequestShape(D(2200), D(150))  # 2,000-token few-shot prefix + 200 + 150 out
FEW_SHOT_CACHED = RequestShape(D(2200), D(150), cached_prompt_tokens=D(2000))
SHORT = RequestShape(D(200), D(150))
TODAY = date(2026, 11, 29)


def test_cost_per_request_and_per_thousand() -> None:
    # baseline: (2200 × 0.40 + 150 × 1.60) / 1e6 = (880 + 240) / 1e6 = 0.00112
    assert cost_per_request(FEW_SHOT, BASE) == D("0.00112")
    # tuned: (200 × 0.80 + 150 × 3.20) / 1e6 = (160 + 480) / 1e6 = 0.00064
    assert cost_per_request(SHORT, TUNED) == D("0.00064")
    assert cost_per_thousand(SHORT, TUNED) == D("0.64")
    # cached: (200 × 0.40 + 2000 × 0.10 + 150 × 1.60) / 1e6 = (80 + 200 + 240) / 1e6
    assert cost_per_request(FEW_SHOT_CACHED, BASE) == D("0.00052")
    # no cache price: cached tokens bill as input, same as uncached
    assert cost_per_request(FEW_SHOT_CACHED, TokenPrices(D("0.40"), D("1.60"))) == D("0.00112")


def test_the_worked_break_even_is_about_104k_requests_a_month() -> None:
    # N* = (0 + 50 / 1) / (0.00112 − 0.00064) = 50 / 0.00048 = 104,166.67 → 104,167
    result = break_even(
        baseline_per_request=D("0.00112"),
        tuned_per_request=D("0.00064"),
        hosting=D(0),
        one_off=D(50),
        period=Amortisation(D(1), False, None),
    )
    assert result.verdict is BreakEvenVerdict.pays_back and result.volume == 104_167
    assert "104,167" in result.reason


def test_a_cached_few_shot_prefix_means_the_fine_tune_never_pays_back() -> None:
    result = break_even(
        baseline_per_request=cost_per_request(FEW_SHOT_CACHED, BASE),
        tuned_per_request=cost_per_request(SHORT, TUNED),
        hosting=D(0),
        one_off=D(50),
        period=Amortisation(D(1), False, None),
        baseline_uncached_per_request=cost_per_request(FEW_SHOT, BASE),
    )
    assert result.verdict is BreakEvenVerdict.never_pays_back and result.volume is None
    assert "prompt-cached" in result.reason and "never pays back" in result.reason


def test_hosting_dominates_at_low_volume() -> None:
    # Fireworks A100-80GB $3.89/h × 730 h = $2,839.70 a month
    hosting = hosting_per_month(D("3.89"), dedicated=True)
    assert hosting == D("2839.70")
    assert hosting_per_month(D("3.89"), dedicated=False) == 0
    assert hosting_per_month(None, dedicated=True) is None
    # Llama 8B at $0.20/M flat: base with 2,200 + 150 tokens = 0.00047 a request; the tuned
    # model on its deployment has no per-token price: N* = (2839.70 + 60 / 6) / 0.00047
    # = 2849.70 / 0.00047 = 6,063,191.49 → 6,063,192
    base = cost_per_request(FEW_SHOT, TokenPrices(D("0.20"), D("0.20")))
    assert base == D("0.00047")
    result = break_even(
        baseline_per_request=base,
        tuned_per_request=D(0),
        hosting=hosting,
        one_off=D(60),
        period=Amortisation(D(6), False, None),
    )
    assert result.volume == 6_063_192
    unknown = break_even(
        baseline_per_request=base,
        tuned_per_request=D(0),
        hosting=None,
        one_off=D(60),
        period=Amortisation(D(6), False, None),
    )
    assert unknown.verdict is BreakEvenVerdict.unknown and "hosting_per_hour" in unknown.reason


def test_amortisation_is_capped_by_the_base_models_retirement() -> None:
    assert amortisation(TODAY, None) == Amortisation(D(6), False, None)
    # 2027-01-29 is 61 days away: 61 / 30.4375 = 2.004… months < 6
    capped = amortisation(TODAY, date(2027, 1, 29))
    assert capped.capped_by_retirement and capped.months is not None
    assert capped.months.quantize(D("0.001")) == D("2.004")
    far = amortisation(TODAY, date(2030, 1, 1), D(12))
    assert far == Amortisation(D(12), False, date(2030, 1, 1))
    gone = amortisation(TODAY, date(2026, 6, 17))
    assert gone.months is None
    never = break_even(
        baseline_per_request=D("0.002"),
        tuned_per_request=D("0.001"),
        hosting=D(0),
        one_off=D(10),
        period=gone,
    )
    assert never.verdict is BreakEvenVerdict.never_pays_back and "2026-06-17" in never.reason
    with pytest.raises(ValueError):
        amortisation(TODAY, None, D(0))


def test_monthly_cost_at_a_volume() -> None:
    # 100,000 requests × 0.00064 = 64.00; + $120 training + $30 eval over 6 months = 25.00
    cost = monthly_cost(
        SHORT,
        TUNED,
        100_000,
        one_off=D(150),
        period=amortisation(TODAY, None),
    )
    assert cost.inference == D("64.00000") and cost.amortised == D(25)
    assert cost.total == D("89.00000") and cost.per_thousand == D("0.64000")
    # $/passing item at a 0.89 pass rate: 89 / (100,000 × 0.89) = 0.001
    assert cost.per_passing_item(D("0.89")) == D("0.001")
    baseline = monthly_cost(FEW_SHOT, BASE, 100_000)
    assert baseline.total == D("112.00000") and baseline.amortised == 0
    unknown = monthly_cost(SHORT, TUNED, 10, hosting=None)
    assert unknown.total is None and unknown.per_passing_item(D(1)) is None
    with pytest.raises(ValueError):
        RequestShape(D(10), D(1), cached_prompt_tokens=D(11))
