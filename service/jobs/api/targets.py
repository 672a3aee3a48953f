"""Which provider and model a create request names, checked against the catalog: unknown
model, retired provider or model, unsupported method or training type → a 400 naming it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from providers.catalog import ModelInfo, available_models, find_model, resolve_provider
from providers.options import InvalidOptions, parse_options
from service.billing.catalog import service_catalog
from service.billing.lifecycle import ensure_takes_jobs
from service.db.types import utcnow
from service.errors import InvalidRequest
from service.jobs.api.local_options import parse_local_options
from service.jobs.api.local_target import resolve_local_model
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.provider_parent import PROVIDERS as PARENT_PROVIDERS
from service.jobs.provider_parent import checked_reference
from service.settings import Settings

MANAGED_PROVIDERS = ("openai", "together", "mistral", "fireworks", "vertex")


@dataclass(frozen=True)
class Target:
    provider: str
    provider_model: str
    info: ModelInfo
    options: dict[str, Any]
    """``provider_options`` as the provider's allow-list read them."""


def _vertex_missing(settings: Settings, own_vertex_account: Callable[[], bool]) -> list[str]:
    """What this server lacks to run a Vertex job: with the tenant's own service account (its
    key, project and bucket), only the location the operator sets."""
    missing = settings.vertex_missing_settings()
    if missing and own_vertex_account():
        return [name for name in missing if name == "TUNEFORGE_VERTEX_LOCATION"]
    return missing


def resolve_target(
    request: CreateJobRequest,
    settings: Settings,
    today: date | None = None,
    *,
    own_vertex_account: Callable[[], bool] = lambda: False,
) -> Target:
    """``today`` (default: the UTC date) decides whether a closing provider still takes jobs;
    ``own_vertex_account()``: the tenant stored a Vertex service account of its own (asked only
    for a Vertex model the server is not fully configured for: a database round trip that
    every other create skips)."""
    day = today or utcnow().date()
    provider, provider_model = resolve_provider(request.model, request.provider)
    raw_options = dict(request.provider_options or {})
    if provider == "local":
        local = resolve_local_model(provider_model, request.method_type(), raw_options, settings)
        options = parse_local_options(raw_options)
        if "early_stopping_patience" in options and request.validation_file is None:
            raise InvalidRequest(
                "provider_options.early_stopping_patience needs a validation_file to watch.",
                param="provider_options.early_stopping_patience",
                code="invalid_provider_options",
            )
        return Target(provider, provider_model, local, options)
    if provider not in MANAGED_PROVIDERS:
        raise InvalidRequest(
            f"Unknown provider '{provider}'; one of {', '.join(MANAGED_PROVIDERS)}.",
            param="provider",
            code="unknown_provider",
        )
    if provider == "vertex" and (missing := _vertex_missing(settings, own_vertex_account)):
        raise InvalidRequest(
            "Vertex AI is not configured on this server: set "
            f"{', '.join(missing)} (a service-account key file, the project and location jobs "
            "run in, and the Cloud Storage bucket datasets go to).",
            param="model",
            code="provider_not_configured",
            extra={"settings": missing},
        )
    method = request.method_type()
    catalog = service_catalog(settings)
    info = find_model(provider, provider_model, catalog)
    if info is None:
        choices = [
            m.model
            for m in available_models(catalog, method=method, today=day)
            if m.provider == provider
        ]
        hint = f" Models you can tune on {provider}: {', '.join(choices)}." if choices else ""
        raise InvalidRequest(
            f"The model '{request.model}' does not exist or cannot be fine-tuned on "
            f"{provider}.{hint}",
            param="model",
            code="model_not_found",
        )
    ensure_takes_jobs(info, catalog, method, day)
    if method not in info.methods:
        raise InvalidRequest(
            f"The model '{request.model}' does not support the '{method}' method "
            f"(it supports: {', '.join(sorted(info.methods))}).",
            param="method.type",
            code="unsupported_method",
        )
    # Not a provider option: our own job/checkpoint id, resolved to the provider's at launch.
    parent = raw_options.pop("from_checkpoint", None) if provider in PARENT_PROVIDERS else None
    options = _checked_options(provider, raw_options)
    if parent is not None:
        options["from_checkpoint"] = checked_reference(parent)
    wanted_type = options.get("training_type")
    if wanted_type is not None and wanted_type not in info.training_types:
        raise InvalidRequest(
            f"The model '{request.model}' does not support '{wanted_type}' "
            f"training (it supports: {', '.join(sorted(info.training_types))}).",
            param="provider_options.training_type",
            code="unsupported_training_type",
        )
    return Target(provider, provider_model, info, options)


def _checked_options(provider: str, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return parse_options(provider, raw)
    except InvalidOptions as exc:
        raise InvalidRequest(
            f"Invalid provider_options: {exc}.",
            param=f"provider_options.{exc.key}" if exc.key else "provider_options",
            code="invalid_provider_options",
        ) from None
