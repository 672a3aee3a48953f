"""Cost of ownership, as EVALUATION.md §7 defines it: what a model costs per request and per
month at a volume, training amortised over a horizon capped by the base model's retirement,
hosting where a fine-tune serves only on a dedicated deployment, and the volume at which a
tuned model with a short prompt starts to cost less than its base model with a long few-shot
prompt — or that it never does (a cached few-shot prefix can make it so).

Pure: Decimal money in, Decimal money out, no database and no clock (``today`` is passed).

    c        = (P_uncached·p_in + P_cached·p_cached + O·p_out) / 1e6      per request
    Cost_b(N) = N·c_b
    Cost_f(N) = N·c_f + H + (C_train + C_eval) / T
    N*        = (H + (C_train + C_eval) / T) / (c_b − c_f)   only when c_b > c_f
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

MILLION = Decimal(1_000_000)
HOURS_PER_MONTH = Decimal(730)
DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12
DEFAULT_HORIZON_MONTHS = Decimal(6)
ZERO = Decimal(0)


@dataclass(frozen=True)
class TokenPrices:
    """USD per 1M tokens. ``cached_input``: None when the provider caches no prompts (cached
    tokens are then billed as input)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None


@dataclass(frozen=True)
class RequestShape:
    """Mean tokens of one request. ``cached_prompt_tokens`` is the part of the prompt a
    provider can serve from its prompt cache (a fixed few-shot prefix)."""

    prompt_tokens: Decimal
    completion_tokens: Decimal
    cached_prompt_tokens: Decimal = ZERO

    def __post_init__(self) -> None:
        if min(self.prompt_tokens, self.completion_tokens, self.cached_prompt_tokens) < 0:
            raise ValueError("token counts cannot be negative")
        if self.cached_prompt_tokens > self.prompt_tokens:
            raise ValueError("cached_prompt_tokens cannot exceed prompt_tokens")


def cost_per_request(shape: RequestShape, prices: TokenPrices) -> Decimal:
    """USD for one request; cached tokens at the cached price where the provider has one."""
    if prices.cached_input is None:
        return (shape.prompt_tokens * prices.input + shape.completion_tokens * prices.output) / (
            MILLION
        )
    uncached = shape.prompt_tokens - shape.cached_prompt_tokens
    return (
        uncached * prices.input
        + shape.cached_prompt_tokens * prices.cached_input
        + shape.completion_tokens * prices.output
    ) / MILLION


def cost_per_thousand(shape: RequestShape, prices: TokenPrices) -> Decimal:
    return cost_per_request(shape, prices) * 1000


def hosting_per_month(
    hourly: Decimal | None, *, dedicated: bool, replicas: int = 1
) -> Decimal | None:
    """A dedicated deployment left on all month (730 h × replicas); 0 for serverless; None
    when it is dedicated but nobody knows the hourly rate."""
    if not dedicated:
        return ZERO
    if hourly is None:
        return None
    return hourly * HOURS_PER_MONTH * replicas


@dataclass(frozen=True)
class Amortisation:
    months: Decimal | None
    """The period one-off costs spread over; None when the base model retires before it
    starts (today or earlier): the fine-tune cannot earn anything back."""
    capped_by_retirement: bool
    retirement_date: date | None


def amortisation(
    today: date,
    retirement_date: date | None,
    horizon_months: Decimal = DEFAULT_HORIZON_MONTHS,
) -> Amortisation:
    """``horizon_months``, or fewer when the base model (and every model tuned on it) retires
    sooner: months = days until retirement / 30.4375."""
    if horizon_months <= 0:
        raise ValueError("horizon_months must be positive")
    if retirement_date is None:
        return Amortisation(horizon_months, False, None)
    left = Decimal((retirement_date - today).days) / DAYS_PER_MONTH
    if left <= 0:
        return Amortisation(None, True, retirement_date)
    if left < horizon_months:
        return Amortisation(left, True, retirement_date)
    return Amortisation(horizon_months, False, retirement_date)


@dataclass(frozen=True)
class MonthlyCost:
    """One model's cost at ``volume`` requests a month. ``total`` is None when a part is
    unknown (hosting rate, or retired before amortisation starts)."""

    volume: int
    per_request: Decimal
    per_thousand: Decimal
    inference: Decimal
    hosting: Decimal | None
    one_off: Decimal
    amortised: Decimal | None
    total: Decimal | None

    def per_passing_item(self, pass_rate: Decimal) -> Decimal | None:
        """Monthly cost / (volume × pass rate): what one acceptable answer costs."""
        if self.total is None or pass_rate <= 0 or self.volume == 0:
            return None
        return self.total / (self.volume * pass_rate)


def monthly_cost(
    shape: RequestShape,
    prices: TokenPrices,
    volume: int,
    *,
    hosting: Decimal | None = ZERO,
    one_off: Decimal = ZERO,
    period: Amortisation | None = None,
) -> MonthlyCost:
    """``Cost(N) = N·c + H + one_off / T`` (``period`` None: nothing to amortise)."""
    if volume < 0:
        raise ValueError("volume cannot be negative")
    per_request = cost_per_request(shape, prices)
    inference = per_request * volume
    if one_off == 0:
        amortised: Decimal | None = ZERO
    elif period is None or period.months is None:
        amortised = None
    else:
        amortised = one_off / period.months
    total = None if hosting is None or amortised is None else inference + hosting + amortised
    return MonthlyCost(
        volume, per_request, per_request * 1000, inference, hosting, one_off, amortised, total
    )


class BreakEvenVerdict(StrEnum):
    pays_back = "pays_back"
    never_pays_back = "never_pays_back"
    unknown = "unknown"


@dataclass(frozen=True)
class BreakEven:
    verdict: BreakEvenVerdict
    volume: int | None
    """Requests a month above which the tuned model costs less (rounded up); None unless
    ``pays_back``."""
    reason: str


def break_even(
    *,
    baseline_per_request: Decimal,
    tuned_per_request: Decimal,
    hosting: Decimal | None,
    one_off: Decimal,
    period: Amortisation,
    baseline_uncached_per_request: Decimal | None = None,
) -> BreakEven:
    """``N* = (H + one_off / T) / (c_b − c_f)``, defined only when ``c_b > c_f``.

    ``baseline_uncached_per_request`` is the baseline's cost were its prompt not cached: when
    that is above the tuned model's but the cached cost is not, the cache is why the fine-tune
    never pays back, and the reason says so."""
    if hosting is None:
        return BreakEven(
            BreakEvenVerdict.unknown,
            None,
            "the tuned model serves on a dedicated deployment whose hourly rate is unknown: "
            "set hosting_per_hour with TUNEFORGE_PRICE_OVERRIDES",
        )
    if period.months is None and one_off > 0:
        return BreakEven(
            BreakEvenVerdict.never_pays_back,
            None,
            f"the base model retires on {period.retirement_date}: the fine-tune cannot serve "
            "long enough to earn its training back",
        )
    saving = baseline_per_request - tuned_per_request
    if saving <= 0:
        cached = (
            baseline_uncached_per_request is not None
            and baseline_uncached_per_request > tuned_per_request
        )
        reason = (
            "with its few-shot prefix prompt-cached the base model costs less per request "
            f"({_usd(baseline_per_request)} vs {_usd(tuned_per_request)}): the fine-tune never "
            "pays back on cost"
            if cached
            else f"the tuned model costs as much or more per request ({_usd(tuned_per_request)} "
            f"vs {_usd(baseline_per_request)}): it never pays back on cost"
        )
        return BreakEven(BreakEvenVerdict.never_pays_back, None, reason)
    fixed = hosting + (ZERO if one_off == 0 or period.months is None else one_off / period.months)
    volume = math.ceil(fixed / saving)
    return BreakEven(
        BreakEvenVerdict.pays_back,
        volume,
        f"above {volume:,} requests a month the tuned model costs less "
        f"({_usd(saving)} saved per request against {_usd(fixed)} a month of hosting and "
        "amortised training)",
    )


def _usd(value: Decimal) -> str:
    return f"${value.normalize():f}"
