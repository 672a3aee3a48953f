"""Which model a run samples (or a grader judges with), and where it is served — decided at
create, before anything is spent, the way fine-tuning routes models:

- a fine-tuned model of one of the tenant's jobs (``fine_tuned_model``) or one of its
  checkpoints: the job's provider serves it (a local job's: our own generation, base + adapter);
- an OpenAI ``ft:`` name: OpenAI;
- ``local/<base>``: our own generation on the base model;
- a provider prefix (``together/…``) or a bare OpenAI name: that provider, when the catalog
  knows the model.
Anything else is a 400 naming the field. Prices come from the catalog entry of the base model
(a tuned model is priced as the model it was tuned from)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.catalog import PROVIDER_PREFIXES, ModelInfo, find_model, resolve_provider
from service.billing.catalog import hourly_rate, lookup_model, service_catalog
from service.db.models import Checkpoint, Job
from service.errors import InvalidRequest
from service.settings import Settings

LOCAL = "local"


@dataclass(frozen=True)
class ModelRoute:
    """``model`` is what the serving side is asked for: the provider's own model name, or the
    local base model's folder name."""

    requested: str
    provider: str
    model: str
    input_price: Decimal | None = None
    """USD per 1M prompt tokens (None: the catalog has no price)."""
    output_price: Decimal | None = None
    adapter: str | None = None
    """Local only: the LoRA adapter folder a local job (or checkpoint) saved."""
    dedicated: bool = False
    """A tuned model that serves only on a dedicated deployment (the catalog's ``serving``
    of its base): the run deploys it first (``service.evals.runs.deployments``)."""
    hosting_per_hour: Decimal | None = None
    """USD per hour of that deployment (None: the catalog has no rate)."""

    @property
    def local(self) -> bool:
        return self.provider == LOCAL


def _priced(
    requested: str,
    provider: str,
    model: str,
    info: ModelInfo | None,
    *,
    tuned: bool,
    adapter: str | None = None,
) -> ModelRoute:
    """A tuned model at the catalog's serving price of models tuned on its base; a base model
    at the base's own."""
    if info is None:
        prices: tuple[Decimal | None, Decimal | None] = (None, None)
    elif tuned:
        prices = (info.inference_input_price, info.inference_output_price)
    else:
        prices = (info.base_input_price, info.base_output_price)
    dedicated = tuned and info is not None and info.serving == "dedicated"
    return ModelRoute(
        requested=requested,
        provider=provider,
        model=model,
        input_price=prices[0],
        output_price=prices[1],
        adapter=adapter,
        dedicated=dedicated and provider != LOCAL,
        hosting_per_hour=info.hosting_per_hour if dedicated and info is not None else None,
    )


def _base_info(settings: Settings, base: str) -> ModelInfo | None:
    provider, bare = resolve_provider(base)
    rate = hourly_rate(settings.local_gpu_hourly_rate)
    return lookup_model(service_catalog(settings), provider, bare, rate)


def _from_job(
    settings: Settings, requested: str, job: Job, adapter_path: Path | None
) -> ModelRoute:
    info = _base_info(settings, job.model)
    if job.provider == LOCAL:
        base = job.model.removeprefix("local/")
        adapter = adapter_path or (settings.artifacts_dir / job.id / "adapter")
        return _priced(requested, LOCAL, base, info, tuned=True, adapter=str(adapter.resolve()))
    return _priced(requested, job.provider, requested, info, tuned=True)


def route_model(
    session: Session, settings: Settings, tenant_id: str, model: str, param: str
) -> ModelRoute:
    """The route for ``model``; 400 naming ``param`` when nothing serves it."""
    job = session.scalars(
        select(Job).where(Job.tenant_id == tenant_id, Job.fine_tuned_model == model).limit(1)
    ).first()
    if job is not None:
        return _from_job(settings, model, job, None)
    checkpoint = session.scalars(
        select(Checkpoint)
        .where(Checkpoint.tenant_id == tenant_id, Checkpoint.fine_tuned_model_checkpoint == model)
        .limit(1)
    ).first()
    if checkpoint is not None:
        owner = session.get(Job, checkpoint.job_id)
        if owner is not None:
            folder = settings.artifacts_dir / owner.id
            path = (folder / (checkpoint.path or "")) / "adapter" if checkpoint.path else None
            return _from_job(settings, model, owner, path)
    if model.startswith("ft:"):
        # ft:<base>:<org>:<suffix>:<id>: a model tuned on OpenAI outside tuneforge
        base = model.split(":")[1] if model.count(":") >= 1 else ""
        info = find_model("openai", base, service_catalog(settings))
        return _priced(model, "openai", model, info, tuned=True)
    provider, bare = resolve_provider(model)
    head = model.partition("/")[0]
    if provider == LOCAL or head == LOCAL:
        info = _base_info(settings, model)
        if info is None:
            raise InvalidRequest(
                f"Unknown local model {model!r}: name a folder of the local models directory "
                "as local/<name>, or a local job's fine_tuned_model.",
                param=param,
                code="model_not_found",
            )
        return _priced(model, LOCAL, bare, info, tuned=False)
    info = find_model(provider, bare, service_catalog(settings))
    if info is None:
        prefixes = ", ".join(f"{p}/…" for p in PROVIDER_PREFIXES if p not in ("openai", LOCAL))
        raise InvalidRequest(
            f"Unknown model {model!r}: name a model of the catalog (GET /v1/models; {prefixes}, "
            "or a bare OpenAI name), an OpenAI ft: model, local/<name>, or the fine_tuned_model "
            "of one of your jobs.",
            param=param,
            code="model_not_found",
        )
    return _priced(model, provider, bare, info, tuned=False)


def inference_cost(route: ModelRoute, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
    """Tokens × the catalog's inference prices (per 1M tokens); None when unpriced."""
    if route.input_price is None or route.output_price is None:
        return None
    million = Decimal(1_000_000)
    return (
        Decimal(prompt_tokens) * route.input_price + Decimal(completion_tokens) * route.output_price
    ) / million


JUDGE_TYPES = ("score_model", "label_model")


def judge_models(criteria: list[Any]) -> list[tuple[str, str]]:
    """(model, param) of every model grader in stored or requested criteria, ``multi``'s
    inner graders included."""
    found: list[tuple[str, str]] = []

    def visit(grader: Any, param: str) -> None:
        if not isinstance(grader, dict):
            return
        if grader.get("type") in JUDGE_TYPES and isinstance(grader.get("model"), str):
            found.append((grader["model"], f"{param}.model"))
        inner = grader.get("graders")
        if isinstance(inner, dict):
            for key, value in inner.items():
                visit(value, f"{param}.graders.{key}")

    for index, criterion in enumerate(criteria):
        visit(criterion, f"testing_criteria[{index}]")
    return found
