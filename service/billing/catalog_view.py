"""The catalog as ``/v1/providers`` shows it: per provider, its models with context length,
methods, training types, price with source and date, and lifecycle."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from providers.catalog import ModelInfo
from service.billing.catalog import service_catalog
from service.settings import Settings

PROVIDER_ORDER = ("openai", "together", "fireworks", "vertex", "mistral", "local")


def _configured(provider: str, settings: Settings) -> bool:
    keys = {
        "openai": settings.openai_api_key,
        "together": settings.together_api_key,
        "mistral": settings.mistral_api_key,
        "fireworks": settings.fireworks_api_key,
    }
    if provider == "local":
        return settings.local_models_dir is not None
    if provider == "vertex":
        return not settings.vertex_missing_settings()
    return keys.get(provider) is not None


def model_object(info: ModelInfo) -> dict[str, Any]:
    unit = "1M tokens" if info.price_basis == "token" else "hour"
    return {
        "object": "model",
        "id": info.model,
        "provider": info.provider,
        "context_length": info.context_length,
        "methods": sorted(info.methods),
        "training_types": sorted(info.training_types),
        "price": {
            "amount": None if info.price is None else str(info.price),
            "currency": "USD",
            "per": unit,
            "source": info.price_source,
            "date": info.price_date.isoformat(),
        },
        "lifecycle": {
            "status": info.lifecycle,
            "date": _iso(info.lifecycle_date),
            "jobs_end": _iso(info.jobs_end),
            "retirement_date": _iso(info.retirement_date),
        },
        "inference_price": _inference_price(info),
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _inference_price(info: ModelInfo) -> dict[str, Any] | None:
    """What the base and the tuned model cost to serve, where the catalog knows it (USD per 1M
    tokens; a dedicated deployment per hour)."""
    known = (
        info.inference_input_price,
        info.inference_output_price,
        info.base_input_price,
        info.base_output_price,
        info.hosting_per_hour,
    )
    if all(value is None for value in known) and info.serving == "serverless":
        return None
    return {
        "input": _str(info.inference_input_price),
        "output": _str(info.inference_output_price),
        "cached_input": _str(info.inference_cached_input_price),
        "base_input": _str(info.base_input_price),
        "base_output": _str(info.base_output_price),
        "base_cached_input": _str(info.base_cached_input_price),
        "serving": info.serving,
        "hosting_per_hour": _str(info.hosting_per_hour),
        "currency": "USD",
        "per": "1M tokens",
        "source": info.inference_price_source,
        "date": _iso(info.inference_price_date),
    }


def providers_listing(settings: Settings) -> list[dict[str, Any]]:
    catalog = service_catalog(settings)
    names = [p for p in PROVIDER_ORDER if any(m.provider == p for m in catalog) or p == "local"]
    names += sorted({m.provider for m in catalog} - set(names))
    listing = []
    for name in names:
        models = [m for m in catalog if m.provider == name]
        open_models = [m for m in models if m.is_available]
        listing.append(
            {
                "object": "provider",
                "id": name,
                "configured": _configured(name, settings),
                "status": "available" if open_models or name == "local" else "retired",
                "models": [model_object(m) for m in models],
            }
        )
    return listing
