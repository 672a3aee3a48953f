"""Billed training tokens per provider rule (PROVIDERS.md §6A, §7) and their cost."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from service.datasets.report import TokenStats

Epochs = int | float | Literal["auto"]

# OpenAI cookbook: aim for 3 epochs, nudged so examples × epochs lands in [100, 25,000].
_TARGET_EPOCHS = 3
_MIN_TARGET_EXAMPLES = 100
_MAX_TARGET_EXAMPLES = 25_000
_MIN_DEFAULT_EPOCHS = 1
_MAX_DEFAULT_EPOCHS = 25
_QUANTUM = Decimal("0.000001")


def openai_auto_epochs(n_examples: int) -> int:
    """The epoch count OpenAI picks when ``n_epochs`` is ``"auto"``."""
    if n_examples <= 0:
        return _TARGET_EPOCHS
    if n_examples * _TARGET_EPOCHS < _MIN_TARGET_EXAMPLES:
        return min(_MAX_DEFAULT_EPOCHS, _MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * _TARGET_EPOCHS > _MAX_TARGET_EXAMPLES:
        return max(_MIN_DEFAULT_EPOCHS, _MAX_TARGET_EXAMPLES // n_examples)
    return _TARGET_EPOCHS


def openai_billed_tokens(
    example_tokens: Iterable[int], *, context_length: int, epochs: int | Literal["auto"] = "auto"
) -> int:
    """Σ min(context, tokens per example) × epochs."""
    clipped = 0
    count = 0
    for tokens in example_tokens:
        clipped += min(context_length, tokens)
        count += 1
    chosen = openai_auto_epochs(count) if epochs == "auto" else epochs
    return clipped * chosen


def together_billed_tokens(
    train_tokens: int, *, epochs: int = 1, n_evals: int = 0, validation_tokens: int = 0
) -> int:
    """n_epochs × training tokens + n_evals × validation tokens."""
    return epochs * train_tokens + n_evals * validation_tokens


def fireworks_billed_tokens(dataset_tokens: int, *, epochs: int = 1) -> int:
    """Dataset tokens × epochs."""
    return dataset_tokens * epochs


VERTEX_ASSUMED_EPOCHS = 3
"""Vertex chooses the epoch count when none is given; its choice is not documented per model
(UNVERIFIED), so estimates assume 3 and the booked cost uses the count the job reports."""


def vertex_billed_tokens(dataset_tokens: int, *, epochs: int = VERTEX_ASSUMED_EPOCHS) -> int:
    """Training-dataset tokens × epochs (Vertex AI's tuning price is per training token)."""
    return dataset_tokens * epochs


def mistral_billed_tokens(dataset_tokens: int, *, epochs: float = 1.0) -> int:
    """Mistral reported ``train_tokens`` ≈ data tokens × (fractional) epochs; rates unverified."""
    return int(Decimal(dataset_tokens) * Decimal(str(epochs)))


def resolve_epochs(provider: str, epochs: Epochs | None, n_examples: int) -> int | float:
    if epochs is None or epochs == "auto":
        if provider == "vertex":
            return VERTEX_ASSUMED_EPOCHS
        return openai_auto_epochs(n_examples) if provider == "openai" else 1
    return epochs


def billed_tokens(
    provider: str,
    stats: TokenStats,
    n_examples: int,
    *,
    epochs: Epochs | None = None,
    n_evals: int = 0,
    validation_tokens: int = 0,
) -> int | None:
    """Billed tokens for one training file; None for ``local`` (billed by the hour)."""
    chosen = resolve_epochs(provider, epochs, n_examples)
    if provider == "openai":
        return stats.clipped_total * int(chosen)
    if provider == "together":
        return together_billed_tokens(
            stats.total, epochs=int(chosen), n_evals=n_evals, validation_tokens=validation_tokens
        )
    if provider == "fireworks":
        return fireworks_billed_tokens(stats.total, epochs=int(chosen))
    if provider == "mistral":
        return mistral_billed_tokens(stats.total, epochs=float(chosen))
    if provider == "vertex":
        return vertex_billed_tokens(stats.total, epochs=int(chosen))
    return None


def training_cost(billed: int, price_per_million: Decimal | str | int) -> Decimal:
    """Cost in the price's currency, rounded half-up to millionths."""
    price = Decimal(price_per_million)
    if billed < 0 or price < 0:
        raise ValueError("billed tokens and price must not be negative")
    return (Decimal(billed) * price / Decimal(1_000_000)).quantize(_QUANTUM, ROUND_HALF_UP)
