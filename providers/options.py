"""The provider options a caller may set, one allow-list per provider.

A caller's ``provider_options`` reach a provider's SDK only through these models: every key
is named and bounded here, and an option can never replace an argument the adapter sets
itself (model, files, metadata, suffix…) nor reach the SDK's transport controls
(``extra_body``, ``extra_headers``, ``timeout``). Options that could name another account's
objects (a checkpoint, an output model, a W&B key) are not offered.

``training_type``, ``lora_rank`` and ``lora_alpha`` are common fields: the service checks
them against the catalog and they travel in ``JobSpec``'s own fields, not in ``options``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from providers.errors import ProviderPermanentError

COMMON_OPTION_KEYS = frozenset({"training_type", "lora_rank", "lora_alpha"})

Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OpenAIOptions(_Options):
    training_type: Literal["full"] | None = None


class TogetherOptions(_Options):
    training_type: Literal["lora", "full"] | None = None
    lora_rank: Annotated[int, Field(ge=1, le=1024)] | None = None
    lora_alpha: Annotated[int, Field(ge=1, le=4096)] | None = None
    lora_dropout: Fraction | None = None
    lora_trainable_modules: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    n_evals: Annotated[int, Field(ge=0, le=100)] | None = None
    n_checkpoints: Annotated[int, Field(ge=1, le=100)] | None = None
    warmup_ratio: Fraction | None = None
    max_grad_norm: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    weight_decay: Fraction | None = None
    lr_scheduler_type: Literal["linear", "cosine"] | None = None
    min_lr_ratio: Fraction | None = None
    train_on_inputs: bool | Literal["auto"] | None = None
    max_seq_length: Annotated[int, Field(ge=1, le=131072)] | None = None
    packing: bool | None = None
    gradient_accumulation_steps: Annotated[int, Field(ge=1, le=1024)] | None = None
    early_stopping_enabled: bool | None = None
    early_stopping_patience: Annotated[int, Field(ge=1, le=100)] | None = None
    early_stopping_min_delta: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] | None = (
        None
    )


class FireworksOptions(_Options):
    training_type: Literal["lora"] | None = None
    lora_rank: Annotated[int, Field(ge=1, le=1024)] | None = None
    max_context_length: Annotated[int, Field(ge=1, le=1_048_576)] | None = None
    learning_rate_warmup_steps: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    gradient_accumulation_steps: Annotated[int, Field(ge=1, le=1024)] | None = None
    early_stop: bool | None = None
    eval_auto_carveout: bool | None = None
    optimizer_weight_decay: Fraction | None = None


class MistralOptions(_Options):
    training_type: Literal["lora"] | None = None


class VertexOptions(_Options):
    """Gemini supervised tuning (``CreateTuningJobConfig``); epochs and the learning-rate
    multiplier come from ``hyperparameters``. Adapter sizes per Google's tuning limits."""

    training_type: Literal["lora"] | None = None
    adapter_size: Literal[1, 2, 4, 8, 16] | None = None
    export_last_checkpoint_only: bool | None = None


OPTION_MODELS: Mapping[str, type[_Options]] = {
    "openai": OpenAIOptions,
    "together": TogetherOptions,
    "fireworks": FireworksOptions,
    "mistral": MistralOptions,
    "vertex": VertexOptions,
}


class InvalidOptions(ValueError):
    """A ``provider_options`` key the provider does not take, or a value out of bounds."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def option_keys(provider: str) -> list[str]:
    model = OPTION_MODELS.get(provider)
    return sorted(model.model_fields) if model is not None else []


def parse_options(provider: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options as the provider's allow-list reads them (unset ones left out)."""
    model = OPTION_MODELS.get(provider)
    if model is None:
        raise InvalidOptions("", f"{provider} takes no provider_options")
    try:
        parsed = model.model_validate(dict(options))
    except ValidationError as exc:
        first = exc.errors()[0]
        # the options are flat: the rest of a location names a union's member, not a field
        key = str(first["loc"][0]) if first["loc"] else ""
        if first["type"] == "extra_forbidden":
            message = (
                f"{provider} does not take the option '{key}' "
                f"(it takes: {', '.join(option_keys(provider)) or 'none'})"
            )
        else:
            message = f"{key}: {first['msg']}"
        raise InvalidOptions(key, message) from None
    return parsed.model_dump(exclude_none=True)


def apply_options(
    provider: str, kwargs: dict[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """``kwargs`` with the allowed options added; never replaces an argument already set."""
    try:
        extra = parse_options(provider, options)
    except InvalidOptions as exc:
        raise ProviderPermanentError(
            provider, str(exc), param=f"provider_options.{exc.key}"
        ) from None
    for key, value in extra.items():
        if key in COMMON_OPTION_KEYS:
            continue
        if key in kwargs:
            raise ProviderPermanentError(
                provider,
                f"provider_options.{key} would replace an argument tuneforge sets",
                param=f"provider_options.{key}",
            )
        kwargs[key] = value
    return kwargs
