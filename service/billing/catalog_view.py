"""The catalog as ``/v1/providers`` shows it: per provider, its models with context length,
methods, training types, price with source and date, and lifecycle."""

from __future__ import annotations

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
            "date": info.lifecycle_date.isoformat() if info.lifecycle_date else None,
        },
        "inference_price": _inference_price(info),
    }


def _inference_price(info: ModelInfo) -> dict[str, Any] | None:
    """What the tuned model costs to serve, where the catalog knows it (USD per 1M tokens)."""
    if info.inference_input_price is None and info.inference_output_price is None:
        return None
    return {
        "input": None if info.inference_input_price is None else str(info.inference_input_price),
        "output": None if info.inference_output_price is None else str(info.inference_output_price),
        "currency": "USD",
        "per": "1M tokens",
        "source": info.inference_price_source,
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
