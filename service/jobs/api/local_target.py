"""A ``local/<name>`` job checked at create: the model folder exists under
``Settings.local_models_dir``, the local trainer supports the method, and the local options
(``provider_options``) are well-formed. Imports ``local_gpu`` only for its torch-free parts."""

from __future__ import annotations

from typing import Any

from providers.catalog import ModelInfo
from service.billing.catalog import hourly_rate, local_models
from service.errors import InvalidRequest
from service.jobs.api.local_options import parse_local_options
from service.settings import Settings


def resolve_local_model(
    model_name: str, method: str, options: dict[str, Any], settings: Settings
) -> ModelInfo:
    """The catalog entry of ``local/<model_name>``; a 400 naming the field otherwise."""
    import local_gpu  # torch-free: config dataclasses, errors, the estimate table

    if settings.local_models_dir is None:
        raise InvalidRequest(
            "Local training is not configured: set TUNEFORGE_LOCAL_MODELS_DIR to a folder of "
            "Hugging Face-format models and run a worker on the 'gpu' queue.",
            param="model",
            code="provider_unavailable",
        )
    found = local_models(settings.local_models_dir, hourly_rate(settings.local_gpu_hourly_rate))
    info = next((m for m in found if m.model == model_name), None)
    if info is None or "/" in model_name or model_name.startswith("."):
        names = ", ".join(f"local/{m.model}" for m in found) or "none"
        raise InvalidRequest(
            f"The model 'local/{model_name}' does not exist: no Hugging Face model folder "
            f"'{model_name}' under the local models directory. Local models: {names}.",
            param="model",
            code="model_not_found",
        )
    supported = local_gpu.supported_methods()
    if method not in supported:
        raise InvalidRequest(
            f"The local trainer does not support the '{method}' method "
            f"(it supports: {', '.join(supported)}).",
            param="method.type",
            code="unsupported_method",
        )
    parse_local_options(options)
    return info
