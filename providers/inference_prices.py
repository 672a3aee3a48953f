"""What a base model and a model tuned on it cost to serve, per provider (USD per 1M tokens,
or per hour of a dedicated deployment), each with its public source and the date it was read,
plus the provider lifecycle dates that bound how long a fine-tune can earn its training back.

Every figure here is UNVERIFIED against the provider's own page (see each source): operators
set theirs with ``TUNEFORGE_PRICE_OVERRIDES`` (``inference_input_price``,
``inference_output_price``, ``inference_cached_input_price``, ``base_input_price``,
``base_output_price``, ``base_cached_input_price``, ``hosting_per_hour``, ``serving``,
``retirement_date``, ``jobs_end``). Vertex's serving prices live with its entries in
``catalog``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

READ = date(2026, 11, 29)

OPENAI_JOBS_END = date(2027, 1, 6)
"""OpenAI takes no new fine-tuning jobs after this day (OpenAI's deprecations page and two
reports, stored copies read 2026-11-29); tuned models serve until their base model retires."""

OPENAI_SERVE_SRC = (
    "UNVERIFIED: LiteLLM-format price tables (ft:… rows) and third-party copies of"
    " openai.com/api/pricing (pecollective.com 2026-04, deploybase.ai 2026-03), read 2026-11-29;"
    " a tuned model costs 2x its base model"
)
TOGETHER_SERVE_SRC = (
    "UNVERIFIED: Together serverless base rate (one rate in and out, 2026-04 copy);"
    " docs.together.ai/docs/lora-inference lists serverless LoRA on this base at the base rate,"
    " while docs.together.ai/docs/fine-tuning/pricing (read 2026-11-29) says tuned models serve on"
    " dedicated endpoints: override serving/hosting_per_hour if yours does"
)
TOGETHER_DEDICATED_SRC = (
    "docs.together.ai/docs/fine-tuning/pricing (read 2026-11-29): tuned models serve on a"
    " dedicated endpoint billed per minute by hardware until stopped; the hourly rate is not in"
    " our copy: set hosting_per_hour with TUNEFORGE_PRICE_OVERRIDES"
)
FIREWORKS_SERVE_SRC = (
    "UNVERIFIED: fireworks.ai/pricing (undated copy): base <=16B $0.20, 16.1-80B $0.90, MoE"
    " <=56B $0.50 per 1M; docs.fireworks.ai/fine-tuning/deploying-loras.md (read 2026-11-29):"
    " a LoRA serves only on an on-demand deployment, A100-80GB $3.89/h"
)
MISTRAL_SERVE_SRC = (
    "UNVERIFIED: seed price table (2026-04); third-party tables disagree; Mistral's fine-tuning"
    " is retired, so these only price a prompting baseline"
)
FIREWORKS_A100_HOUR = "3.89"


def _openai(
    base_in: str, base_out: str, base_cached: str | None, cached: str | None
) -> dict[str, Any]:
    return {
        "base_input_price": Decimal(base_in),
        "base_output_price": Decimal(base_out),
        "base_cached_input_price": Decimal(base_cached) if base_cached else None,
        "inference_input_price": Decimal(base_in) * 2,
        "inference_output_price": Decimal(base_out) * 2,
        "inference_cached_input_price": Decimal(cached) if cached else None,
        "inference_price_source": OPENAI_SERVE_SRC,
        "inference_price_date": READ,
        "lifecycle": "closing",
        "lifecycle_date": OPENAI_JOBS_END,
        "jobs_end": OPENAI_JOBS_END,
    }


def _flat(rate: str, source: str, *, hosting: str | None, dedicated: bool) -> dict[str, Any]:
    """One rate for input and output of the base model; the tuned model serves at it too, or,
    on a dedicated deployment, by the hour alone (no per-token price on top)."""
    price = Decimal(rate)
    tuned = Decimal(0) if dedicated else price
    return {
        "base_input_price": price,
        "base_output_price": price,
        "inference_input_price": tuned,
        "inference_output_price": tuned,
        "inference_price_source": source,
        "inference_price_date": READ,
        "serving": "dedicated" if dedicated else "serverless",
        "hosting_per_hour": Decimal(hosting) if hosting else None,
    }


SERVING: dict[tuple[str, str], dict[str, Any]] = {
    ("openai", "gpt-4o-mini-2024-07-18"): _openai("0.15", "0.60", None, "0.15"),
    ("openai", "gpt-4o-2024-08-06"): _openai("2.50", "10.00", None, None),
    ("openai", "gpt-4.1-mini-2025-04-14"): _openai("0.40", "1.60", "0.10", "0.20"),
    ("openai", "gpt-4.1-2025-04-14"): _openai("2.00", "8.00", None, None),
    ("together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"): _flat(
        "0.18", TOGETHER_SERVE_SRC, hosting=None, dedicated=False
    ),
    ("together", "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference"): _flat(
        "0.88", TOGETHER_SERVE_SRC, hosting=None, dedicated=False
    ),
    ("together", "Qwen/Qwen2.5-7B-Instruct"): _flat(
        "0.18", TOGETHER_DEDICATED_SRC, hosting=None, dedicated=True
    ),
    ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct"): _flat(
        "0.20", FIREWORKS_SERVE_SRC, hosting=FIREWORKS_A100_HOUR, dedicated=True
    ),
    ("fireworks", "accounts/fireworks/models/llama-v3p1-70b-instruct"): _flat(
        "0.90", FIREWORKS_SERVE_SRC, hosting=FIREWORKS_A100_HOUR, dedicated=True
    ),
    ("fireworks", "accounts/fireworks/models/mixtral-8x7b-instruct"): _flat(
        "0.50", FIREWORKS_SERVE_SRC, hosting=FIREWORKS_A100_HOUR, dedicated=True
    ),
    ("mistral", "mistral-small-latest"): {
        "base_input_price": Decimal("0.20"),
        "base_output_price": Decimal("0.60"),
        "inference_price_source": MISTRAL_SERVE_SRC,
        "inference_price_date": READ,
    },
}
"""Fields to set on the catalog's entries, keyed by (provider, model)."""


def local_per_million(hourly_rate: Decimal, tokens_per_second: Decimal) -> Decimal:
    """A local model's price per 1M generated tokens: the hour's cost over the tokens the
    hardware was measured to produce in that hour."""
    if tokens_per_second <= 0:
        raise ValueError("tokens_per_second must be positive")
    return hourly_rate / (tokens_per_second * 3600) * 1_000_000
