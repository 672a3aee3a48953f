"""What a job will cost before it runs: from the file's validation token counts, the epochs
(OpenAI's automatic choice included) and the price catalog; local jobs by estimated hours ×
the configured hourly rate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from local_gpu.estimate import estimate_seconds
from providers.catalog import ModelInfo
from service.billing.catalog import hourly_rate, lookup_model, service_catalog
from service.datasets.billing import (
    Epochs,
    fireworks_billed_tokens,
    mistral_billed_tokens,
    resolve_epochs,
    together_billed_tokens,
    training_cost,
    vertex_billed_tokens,
)
from service.errors import InvalidRequest
from service.settings import Settings

QUANTUM = Decimal("0.000001")

# Rough, unmeasured order of magnitude for managed providers: a queue wait plus throughput
# of one mid-size LoRA job. Only shown as "rough duration" in quotes and estimates.
MANAGED_QUEUE_S = 600.0
MANAGED_TOKENS_PER_SECOND = 5_000.0

BASIS_TOKENS = "billed_tokens_x_price"
BASIS_HOURS = "hours_x_hourly_rate"
BASIS_NO_PRICE = "no_price"
BASIS_UNKNOWN_MODEL = "unknown_model"
BASIS_NOT_COUNTED = "tokens_not_counted"


@dataclass(frozen=True)
class CostEstimate:
    """``amount`` is None when it cannot be known (no price in the catalog, unknown model,
    tokens not counted); ``basis`` says why, or how it was computed."""

    amount: Decimal | None
    currency: str
    basis: str
    billed_tokens: int | None
    epochs: int | float
    duration_s: float | None
    price: Decimal | None = None
    price_unit: str | None = None  # "1M tokens" or "hour"
    price_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "amount": None if self.amount is None else str(self.amount),
            "currency": self.currency,
            "basis": self.basis,
            "billed_tokens": self.billed_tokens,
            "epochs": self.epochs,
            "duration_s": None if self.duration_s is None else round(self.duration_s),
            "price": None if self.price is None else str(self.price),
            "price_unit": self.price_unit,
            "price_source": self.price_source,
        }


def parse_epochs(hyperparameters: dict[str, Any]) -> Epochs | None:
    value = hyperparameters.get("n_epochs")
    if value is None or value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidRequest(
            f"n_epochs must be a positive number or 'auto', got {value!r}",
            param="hyperparameters.n_epochs",
        )
    return value


def _non_negative_int(hyperparameters: dict[str, Any], key: str) -> int:
    value = hyperparameters.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest(
            f"{key} must be a non-negative integer, got {value!r}", param=f"hyperparameters.{key}"
        )
    return value


def _tokens(report: dict[str, Any] | None) -> dict[str, Any]:
    tokens = (report or {}).get("tokens")
    return tokens if isinstance(tokens, dict) else {}


def _epoch_billable_tokens(report: dict[str, Any], info: ModelInfo) -> int:
    """OpenAI bills Σ min(context, example tokens). The report clipped at the context of the
    model it was validated for; when no example exceeds this model's context, nothing is
    clipped at all, otherwise the report's clipped figure is the best we have."""
    tokens = _tokens(report)
    total = int(tokens.get("total") or 0)
    longest = (tokens.get("per_example") or {}).get("max")
    if isinstance(longest, int) and longest <= info.context_length:
        return total
    return int(tokens.get("billable_per_epoch") or total)


def billed_tokens_for(
    info: ModelInfo,
    report: dict[str, Any],
    epochs: int | float,
    *,
    n_evals: int = 0,
    eval_report: dict[str, Any] | None = None,
) -> int | None:
    total = int(_tokens(report).get("total") or 0)
    if info.provider == "openai":
        return _epoch_billable_tokens(report, info) * math.ceil(epochs)
    if info.provider == "together":
        eval_tokens = int(_tokens(eval_report).get("total") or 0)
        return together_billed_tokens(
            total, epochs=math.ceil(epochs), n_evals=n_evals, validation_tokens=eval_tokens
        )
    if info.provider == "fireworks":
        return fireworks_billed_tokens(total, epochs=math.ceil(epochs))
    if info.provider == "mistral":
        return mistral_billed_tokens(total, epochs=float(epochs))
    if info.provider == "vertex":
        return vertex_billed_tokens(total, epochs=math.ceil(epochs))
    return None


def local_rate(settings: Settings, device: str) -> Decimal:
    rate = settings.local_cpu_hourly_rate if device == "cpu" else settings.local_gpu_hourly_rate
    return hourly_rate(rate)


def hours_cost(seconds: float, rate: Decimal) -> Decimal:
    return (Decimal(str(seconds)) / Decimal(3600) * rate).quantize(QUANTUM, ROUND_HALF_UP)


def estimate_for_model(
    info: ModelInfo,
    report: dict[str, Any],
    hyperparameters: dict[str, Any],
    eval_report: dict[str, Any] | None,
    settings: Settings,
) -> CostEstimate:
    """The estimate for one catalog entry (used by ``estimate_job_cost`` and by quotes)."""
    examples = int(report.get("examples") or 0)
    epochs = resolve_epochs(info.provider, parse_epochs(hyperparameters), examples)
    n_evals = _non_negative_int(hyperparameters, "n_evals")
    tokens = _tokens(report)
    if tokens.get("counted") is False:
        return CostEstimate(None, "USD", BASIS_NOT_COUNTED, None, epochs, None)
    if info.price_basis == "gpu-hour":
        device = "cpu" if hyperparameters.get("device") == "cpu" else "cuda"
        seconds = estimate_seconds(int(tokens.get("total") or 0), math.ceil(epochs), device)
        rate = local_rate(settings, device)
        setting = "CPU" if device == "cpu" else "GPU"
        return CostEstimate(
            amount=hours_cost(seconds, rate),
            currency="USD",
            basis=BASIS_HOURS,
            billed_tokens=None,
            epochs=epochs,
            duration_s=seconds,
            price=rate,
            price_unit="hour",
            price_source=f"TUNEFORGE_LOCAL_{setting}_HOURLY_RATE",
        )
    billed = billed_tokens_for(info, report, epochs, n_evals=n_evals, eval_report=eval_report)
    duration = None if billed is None else MANAGED_QUEUE_S + billed / MANAGED_TOKENS_PER_SECOND
    if info.price is None or billed is None:
        return CostEstimate(
            None, "USD", BASIS_NO_PRICE, billed, epochs, duration, None, None, info.price_source
        )
    return CostEstimate(
        amount=training_cost(billed, info.price),
        currency="USD",
        basis=BASIS_TOKENS,
        billed_tokens=billed,
        epochs=epochs,
        duration_s=duration,
        price=info.price,
        price_unit="1M tokens",
        price_source=f"{info.price_source} ({info.price_date.isoformat()})",
    )


def estimate_job_cost(
    validation_report: dict[str, Any],
    provider: str,
    model: str,
    hyperparameters: dict[str, Any],
    validation_report_for_eval: dict[str, Any] | None,
    settings: Settings,
) -> CostEstimate:
    """Estimated cost of one job.

    ``validation_report`` is the training file's ``File.validation`` dict;
    ``validation_report_for_eval`` the validation file's (Together bills ``n_evals`` × its
    tokens). ``model`` is the provider's own name (no ``together/`` prefix).
    ``hyperparameters`` is flat: ``n_epochs`` (int, float or "auto"), ``n_evals`` (Together),
    ``device`` ("cuda" default or "cpu", local only). Raises ``InvalidRequest`` for a bad
    ``n_epochs``/``n_evals``; an unknown model gives ``amount=None, basis="unknown_model"``.
    """
    rate = hourly_rate(settings.local_gpu_hourly_rate)
    catalog = service_catalog(settings)
    info = lookup_model(catalog, provider, model, rate)
    if info is None:
        epochs = resolve_epochs(
            provider, parse_epochs(hyperparameters), int(validation_report.get("examples") or 0)
        )
        return CostEstimate(None, "USD", BASIS_UNKNOWN_MODEL, None, epochs, None)
    return estimate_for_model(
        info, validation_report, hyperparameters, validation_report_for_eval, settings
    )
