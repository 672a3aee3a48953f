"""The model and price catalog: per provider, which models can be tuned, how, at what price.

Prices are USD per 1M training tokens (``price_basis="token"``) or per GPU-hour for local
models (``price_basis="gpu-hour"``), each with its source and the date it was read. Prices
move: pass ``overrides`` (``{"together": {"<model>": {"price_per_million": "3.5"}}}``) to
replace any field. Local models are discovered by the service at run time and added with
``local_model``. Serving prices (base and tuned, cached input, hosting per hour of a dedicated
deployment) and lifecycle dates come from ``inference_prices``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from providers.inference_prices import SERVING

Lifecycle = Literal["available", "closing", "retired"]
PriceBasis = Literal["token", "gpu-hour"]
Serving = Literal["serverless", "dedicated"]
PROVIDER_PREFIXES = ("together", "mistral", "fireworks", "vertex", "local", "openai")


@dataclass(frozen=True)
class ModelInfo:
    provider: str
    model: str
    context_length: int
    methods: frozenset[str]
    training_types: frozenset[str]
    price: Decimal | None
    price_basis: PriceBasis
    price_source: str
    price_date: date
    lifecycle: Lifecycle = "available"
    lifecycle_date: date | None = None
    inference_input_price: Decimal | None = None
    """USD per 1M input tokens when the tuned model serves (where we know it)."""
    inference_output_price: Decimal | None = None
    inference_price_source: str | None = None
    inference_cached_input_price: Decimal | None = None
    """USD per 1M cached input tokens of the tuned model, where the provider caches prompts."""
    base_input_price: Decimal | None = None
    """USD per 1M input tokens of the base model (the prompting baseline)."""
    base_output_price: Decimal | None = None
    base_cached_input_price: Decimal | None = None
    hosting_per_hour: Decimal | None = None
    """USD per hour of the dedicated deployment a tuned model needs (``serving="dedicated"``)."""
    serving: Serving = "serverless"
    """How the tuned model serves: per token, or only on a deployment billed by the hour."""
    inference_price_date: date | None = None
    retirement_date: date | None = None
    """When the base model (and so a model tuned on it) stops serving, where announced."""
    jobs_end: date | None = None
    """The last day the provider takes new fine-tuning jobs for this model; after it a job or
    study candidate is refused (the way a retired model is)."""
    weights: str | None = None
    """The open-weights checkpoint this base model is (its Hugging Face name): entries of
    different providers with the same ``weights`` tune and serve the same model, so a study
    candidate can run "as on" another of them. None: closed weights, or not known to match."""

    @property
    def is_available(self) -> bool:
        return self.lifecycle != "retired"

    def takes_jobs_on(self, today: date) -> bool:
        """Not retired, and ``today`` is not after the provider's last day for new jobs."""
        return self.is_available and (self.jobs_end is None or today <= self.jobs_end)


SFT = frozenset({"supervised"})
SFT_DPO = frozenset({"supervised", "dpo"})
LORA = frozenset({"lora"})
FULL = frozenset({"full"})
LORA_FULL = frozenset({"lora", "full"})
READ = date(2026, 11, 1)
RETIRED = date(2026, 7, 13)
# Shown to users beside each price (quotes, /v1/providers, the dashboard): a public page they
# can open, how sure we are, and the date it was read (``price_date``, READ above).
OPENAI_SRC = (
    "openai.com/api/pricing (unverified: third-party copies conflict; read 2026-11-01);"
    " set your rate with TUNEFORGE_PRICE_OVERRIDES"
)
TOGETHER_SRC = (
    "docs.together.ai/docs/fine-tuning-pricing (rates unverified, read 2026-11-01);"
    " Together's /v1/fine-tunes/estimate-price gives the exact figure"
)
FIREWORKS_SRC = "fireworks.ai/pricing (an undated copy, read 2026-11-01; unverified)"
VERTEX_TRAIN_SRC = (
    "UNVERIFIED: cloud.google.com/vertex-ai/generative-ai/pricing not read from a primary"
    " copy (rates as commonly quoted, read 2026-11-29); set yours with"
    " TUNEFORGE_PRICE_OVERRIDES"
)
VERTEX_SERVE_SRC = (
    "UNVERIFIED third-party copies of Vertex AI pricing (deploybase.ai 2026-03,"
    " redresscompliance.com 2026-06), read 2026-11-29; a tuned model serves at its base"
    " model's rate"
)
# cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions (stored copies, read
# 2026-11-29) give these retirement dates; the 2.5 dates have passed and whether Google
# extended them is UNVERIFIED: override "lifecycle"/"lifecycle_date" when you know.
GEMINI_25_RETIRES = date(2026, 6, 17)
GEMINI_25_LITE_RETIRES = date(2026, 7, 22)
GEMINI_20_FLASH_RETIRED = date(2026, 2, 5)
GEMINI_20_FLASH_LITE_RETIRED = date(2026, 2, 25)
GEMINI_TRAIN_CONTEXT = 131_072  # max input+output tokens per training example (2.5 family)
# Same weights on two providers (a study candidate "as on" the other): Together's "-Reference"
# Llama 3.1 bases and Fireworks' llama-v3p1 bases are both Meta's Llama 3.1 Instruct release
# (from the providers' model names; UNVERIFIED against their model pages). Override "weights"
# in TUNEFORGE_PRICE_OVERRIDES to add or remove a match.
LLAMA_31_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_31_70B = "meta-llama/Llama-3.1-70B-Instruct"
MISTRAL_SRC = (
    "none: Mistral's fine-tuning API is retired (github.com/mistralai/client-ts PR #255,"
    " read 2026-11-01)"
)


def _m(
    provider: str,
    model: str,
    ctx: int,
    methods: frozenset[str],
    types: frozenset[str],
    price: str | None,
    src: str,
    **kw: Any,
) -> ModelInfo:
    return ModelInfo(
        provider,
        model,
        ctx,
        methods,
        types,
        Decimal(price) if price else None,
        "token",
        src,
        READ,
        **kw,
    )


def _gemini(
    model: str,
    train: str,
    serve_in: str,
    serve_out: str,
    lifecycle: Lifecycle,
    lifecycle_date: date,
    context: int = GEMINI_TRAIN_CONTEXT,
) -> ModelInfo:
    return replace(
        _m("vertex", model, context, SFT, LORA, train, VERTEX_TRAIN_SRC),
        price_date=date(2026, 11, 29),
        lifecycle=lifecycle,
        lifecycle_date=lifecycle_date,
        inference_input_price=Decimal(serve_in),
        inference_output_price=Decimal(serve_out),
        inference_price_source=VERTEX_SERVE_SRC,
    )


VERTEX_MODELS: tuple[ModelInfo, ...] = (
    _gemini("gemini-2.5-flash", "5.00", "0.30", "2.50", "closing", GEMINI_25_RETIRES),
    _gemini("gemini-2.5-pro", "25.00", "1.25", "10.00", "closing", GEMINI_25_RETIRES),
    _gemini("gemini-2.5-flash-lite", "1.50", "0.10", "0.40", "closing", GEMINI_25_LITE_RETIRES),
    _gemini(
        "gemini-2.0-flash-001", "3.00", "0.15", "0.60", "retired", GEMINI_20_FLASH_RETIRED, 32_768
    ),
    _gemini(
        "gemini-2.0-flash-lite-001",
        "1.00",
        "0.075",
        "0.30",
        "retired",
        GEMINI_20_FLASH_LITE_RETIRED,
        32_768,
    ),
)

_TRAINING: tuple[ModelInfo, ...] = (
    _m("openai", "gpt-4o-mini-2024-07-18", 65536, SFT_DPO, FULL, "3.00", OPENAI_SRC),
    _m("openai", "gpt-4o-2024-08-06", 65536, SFT_DPO, FULL, "25.00", OPENAI_SRC),
    _m("openai", "gpt-4.1-mini-2025-04-14", 65536, SFT_DPO, FULL, "5.00", OPENAI_SRC),
    _m("openai", "gpt-4.1-2025-04-14", 65536, SFT_DPO, FULL, "25.00", OPENAI_SRC),
    _m(
        "together",
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        131072,
        SFT_DPO,
        LORA_FULL,
        "0.48",
        TOGETHER_SRC,
        weights=LLAMA_31_8B,
    ),
    _m(
        "together",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
        131072,
        SFT_DPO,
        LORA_FULL,
        "2.90",
        TOGETHER_SRC,
        weights=LLAMA_31_70B,
    ),
    _m(
        "together",
        "Qwen/Qwen2.5-7B-Instruct",
        32768,
        SFT_DPO,
        LORA_FULL,
        "0.48",
        TOGETHER_SRC,
        weights="Qwen/Qwen2.5-7B-Instruct",
    ),
    _m(
        "fireworks",
        "accounts/fireworks/models/llama-v3p1-8b-instruct",
        131072,
        SFT,
        LORA,
        "0.50",
        FIREWORKS_SRC,
        weights=LLAMA_31_8B,
    ),
    _m(
        "fireworks",
        "accounts/fireworks/models/llama-v3p1-70b-instruct",
        131072,
        SFT,
        LORA,
        "3.00",
        FIREWORKS_SRC,
        weights=LLAMA_31_70B,
    ),
    _m(
        "fireworks",
        "accounts/fireworks/models/mixtral-8x7b-instruct",
        32768,
        SFT,
        LORA,
        "2.00",
        FIREWORKS_SRC,
    ),
    _m(
        "mistral",
        "open-mistral-7b",
        32768,
        SFT,
        LORA,
        None,
        MISTRAL_SRC,
        lifecycle="retired",
        lifecycle_date=RETIRED,
    ),
    _m(
        "mistral",
        "mistral-small-latest",
        32768,
        SFT,
        LORA,
        None,
        MISTRAL_SRC,
        lifecycle="retired",
        lifecycle_date=RETIRED,
    ),
    *VERTEX_MODELS,
)


def _with_serving(info: ModelInfo) -> ModelInfo:
    """The entry with its serving prices and lifecycle dates (``inference_prices``)."""
    fields = SERVING.get((info.provider, info.model))
    if info.provider == "vertex":  # a tuned Gemini serves until its base model retires
        fields = {
            "base_input_price": info.inference_input_price,
            "base_output_price": info.inference_output_price,
            "inference_price_date": info.price_date,
            "retirement_date": info.lifecycle_date,
        }
    return replace(info, **fields) if fields else info


BUILTIN: tuple[ModelInfo, ...] = tuple(_with_serving(info) for info in _TRAINING)


def local_model(
    model: str,
    *,
    context_length: int = 4096,
    gpu_hour_price: Decimal | None = None,
    source: str = "config",
    serve_per_million: Decimal | None = None,
    serve_source: str | None = None,
) -> ModelInfo:
    """Describe a model found in the local model directory (priced per GPU-hour). It serves,
    base or tuned, at ``serve_per_million`` (the hourly rate over measured tokens/s)."""
    info = ModelInfo(
        "local",
        model,
        context_length,
        SFT_DPO,
        LORA,
        gpu_hour_price,
        "gpu-hour",
        source,
        date.today(),
    )
    if serve_per_million is None:
        return info
    return replace(
        info,
        base_input_price=serve_per_million,
        base_output_price=serve_per_million,
        inference_input_price=serve_per_million,
        inference_output_price=serve_per_million,
        inference_price_source=serve_source,
        inference_price_date=info.price_date,
    )


PRICE_FIELDS = (
    "price",
    "inference_input_price",
    "inference_output_price",
    "inference_cached_input_price",
    "base_input_price",
    "base_output_price",
    "base_cached_input_price",
    "hosting_per_hour",
)
DATE_FIELDS = (
    "price_date",
    "lifecycle_date",
    "inference_price_date",
    "retirement_date",
    "jobs_end",
)


def get_catalog(
    overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    extra: Iterable[ModelInfo] = (),
) -> list[ModelInfo]:
    """Built-in entries plus ``extra`` (e.g. local models), with ``overrides`` applied."""
    catalog = [*BUILTIN, *extra]
    if not overrides:
        return catalog
    result = []
    for info in catalog:
        changes = dict(overrides.get(info.provider, {}).get(info.model, {}))
        if "price_per_million" in changes:
            changes["price"] = changes.pop("price_per_million")
        for key in PRICE_FIELDS:
            if changes.get(key) is not None:
                changes[key] = Decimal(str(changes[key]))
        for key in DATE_FIELDS:
            if isinstance(changes.get(key), str):
                changes[key] = date.fromisoformat(changes[key])
        result.append(replace(info, **changes) if changes else info)
    return result


def find_model(
    provider: str, model: str, catalog: Iterable[ModelInfo] | None = None
) -> ModelInfo | None:
    for info in catalog if catalog is not None else BUILTIN:
        if info.provider == provider and info.model == model:
            return info
    return None


def same_weights(
    info: ModelInfo, provider: str, catalog: Iterable[ModelInfo] | None = None
) -> ModelInfo | None:
    """The entry of ``provider`` with ``info``'s open weights; None when ``info``'s weights
    are closed or unknown, or ``provider`` has no entry with them."""
    if info.weights is None:
        return None
    for other in catalog if catalog is not None else BUILTIN:
        if other.provider == provider and other.weights == info.weights:
            return other
    return None


def available_models(
    catalog: Iterable[ModelInfo] | None = None,
    method: str | None = None,
    today: date | None = None,
) -> list[ModelInfo]:
    """Candidates that can take a new job (not retired, and on ``today`` not past the
    provider's last day for new jobs), optionally for one method."""
    day = today or date.today()
    return [
        m
        for m in (catalog if catalog is not None else BUILTIN)
        if m.takes_jobs_on(day) and (method is None or method in m.methods)
    ]


def resolve_provider(model: str, provider: str | None = None) -> tuple[str, str]:
    """``("together", "meta-llama/…")`` from ``"together/meta-llama/…"``; no prefix means OpenAI.

    An explicit ``provider`` wins; a prefix naming that same provider is stripped.
    """
    head, _, rest = model.partition("/")
    if provider is not None:
        return (provider, rest if head == provider and rest else model)
    if head in PROVIDER_PREFIXES and rest:
        return (head, rest)
    return ("openai", model)
