"""The price catalog as the service sees it: the providers' built-in entries plus the local
models found under ``Settings.local_models_dir``, priced per GPU-hour from settings."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from providers.catalog import ModelInfo, find_model, get_catalog, local_model
from providers.inference_prices import local_per_million
from service.settings import Settings

_DEFAULT_LOCAL_CONTEXT = 4096


def _local_context_length(model_dir: Path) -> int:
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _DEFAULT_LOCAL_CONTEXT
    value = config.get("max_position_embeddings") if isinstance(config, dict) else None
    return value if isinstance(value, int) and value > 0 else _DEFAULT_LOCAL_CONTEXT


LOCAL_SERVE_SRC = (
    "TUNEFORGE_LOCAL_GPU_HOURLY_RATE / (TUNEFORGE_LOCAL_INFERENCE_TOKENS_PER_SECOND x 3600)"
)


def local_serving_price(
    gpu_hourly_rate: Decimal, tokens_per_second: float | None
) -> Decimal | None:
    """USD per 1M tokens a local model serves at: the GPU hour over the tokens it processes in
    that hour (measured), or None when nobody measured it."""
    if tokens_per_second is None:
        return None
    return local_per_million(gpu_hourly_rate, Decimal(str(tokens_per_second)))


def local_models(
    models_dir: Path | None, gpu_hourly_rate: Decimal, tokens_per_second: float | None = None
) -> list[ModelInfo]:
    """Every folder with a ``config.json`` under ``models_dir`` is a local model."""
    if models_dir is None or not models_dir.is_dir():
        return []
    serve = local_serving_price(gpu_hourly_rate, tokens_per_second)
    return [
        local_model(
            entry.name,
            context_length=_local_context_length(entry),
            gpu_hour_price=gpu_hourly_rate,
            source="config: TUNEFORGE_LOCAL_GPU_HOURLY_RATE",
            serve_per_million=serve,
            serve_source=LOCAL_SERVE_SRC if serve is not None else None,
        )
        for entry in sorted(models_dir.iterdir())
        if (entry / "config.json").is_file()
    ]


def service_catalog(settings: Settings) -> list[ModelInfo]:
    """The one catalog every part of the service prices and checks against: built-in entries
    and the local models, with the operator's ``TUNEFORGE_PRICE_OVERRIDES`` applied."""
    rate = hourly_rate(settings.local_gpu_hourly_rate)
    return get_catalog(
        overrides=settings.price_overrides,
        extra=local_models(
            settings.local_models_dir, rate, settings.local_inference_tokens_per_second
        ),
    )


def lookup_model(
    catalog: list[ModelInfo], provider: str, model: str, gpu_hourly_rate: Decimal
) -> ModelInfo | None:
    """The catalog entry; a local model not (yet) in the models folder is still priced by
    the hour with the default context, so an estimate never depends on the folder scan."""
    info = find_model(provider, model, catalog)
    if info is None and provider == "local" and _plain_folder_name(model):
        return local_model(
            model, gpu_hour_price=gpu_hourly_rate, source="config: TUNEFORGE_LOCAL_GPU_HOURLY_RATE"
        )
    return info


def _plain_folder_name(name: str) -> bool:
    """A local model is a folder directly under the models directory: never a path."""
    return bool(name) and not any(c in name for c in "/\\") and not name.startswith(".")


def hourly_rate(settings_rate: float) -> Decimal:
    """A settings float as an exact Decimal (``2.0`` → ``Decimal("2.0")``, not its binary)."""
    return Decimal(str(settings_rate))
