"""The wire shapes of the jobs API: the create request (OpenAI's plus our extensions) and the
job, event and checkpoint objects as OpenAI renders them, with our fields added."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from service.billing.money import job_cost, money
from service.db.models import Checkpoint, Job, JobEvent
from service.evals.graders.specs import Grader
from service.jobs.api.evaluation import evaluation_object
from service.jobs.api.objects import Integration
from service.studies.baselines import MAX_BASELINES, MAX_CRITERIA, FileId, StudyBaseline

Auto = Literal["auto"]


EpochCount = Annotated[StrictInt, Field(ge=1, le=50)]
BatchSize = Annotated[StrictInt, Field(ge=1, le=256)]
Multiplier = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
Beta = Annotated[float, Field(gt=0, le=2, allow_inf_nan=False)]


class Hyperparameters(BaseModel):
    """OpenAI's hyperparameters: each is a bounded number or the documented ``"auto"``.
    (The bounds sit on the number alone: on the whole union pydantic would compare "auto"
    with a number.)"""

    model_config = ConfigDict(extra="forbid")

    n_epochs: Auto | EpochCount | None = None
    batch_size: Auto | BatchSize | None = None
    learning_rate_multiplier: Auto | Multiplier | None = None


class DpoHyperparameters(Hyperparameters):
    beta: Auto | Beta | None = None


class SupervisedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: Hyperparameters | None = None


class DpoBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: DpoHyperparameters | None = None


class MethodSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo"]
    supervised: SupervisedBody | None = None
    dpo: DpoBody | None = None

    def unused_body(self) -> str | None:
        """The other method's body, when one is given: the job would silently ignore it."""
        other = "dpo" if self.type == "supervised" else "supervised"
        return other if getattr(self, other) is not None else None


ProviderOptions = Annotated[dict[str, Any], Field(max_length=32)]
"""Provider-specific extras, checked against the provider's allow-list at create
(``providers.options``; ``local_options`` for ``local/`` models)."""


MetadataKey = Annotated[str, Field(max_length=64)]
MetadataValue = Annotated[str, Field(max_length=512)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)]
"""OpenAI's bounds: at most 16 pairs, keys up to 64 characters, values up to 512."""


class JobEvaluationSpec(BaseModel):
    """Ours: evaluate the tuned model against prompting baselines once the job succeeds, on a
    frozen held-out split (``holdout``, the job trains on the rest) or on ``test_file``."""

    model_config = ConfigDict(extra="forbid")

    testing_criteria: Annotated[list[Grader], Field(min_length=1, max_length=MAX_CRITERIA)]
    primary: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        default=None, description="the criterion the verdict is decided on (default: the first)"
    )
    holdout: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] | None = Field(
        default=None,
        description="the fraction of training_file held out (default 0.1 without test_file)",
    )
    test_file: FileId | None = None
    baselines: Annotated[list[StudyBaseline], Field(max_length=MAX_BASELINES)] | None = Field(
        default=None,
        description="default: the base model zero-shot and with 5 examples of the train split",
    )


class CreateJobRequest(BaseModel):
    # OpenAI answers an unknown field with 400 "Unrecognized request argument supplied".
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=255)
    training_file: str = Field(min_length=1, max_length=64)
    validation_file: str | None = Field(default=None, max_length=64)
    hyperparameters: Hyperparameters | None = None
    method: MethodSpec | None = None
    suffix: str | None = Field(default=None, min_length=1, max_length=64)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    metadata: Metadata | None = None
    integrations: list[Integration] | None = Field(default=None, max_length=10)
    provider: str | None = Field(default=None, max_length=32)
    provider_options: ProviderOptions | None = None
    webhook_url: str | None = Field(default=None, max_length=2048)
    evaluation: JobEvaluationSpec | None = None

    def method_type(self) -> Literal["supervised", "dpo"]:
        return self.method.type if self.method is not None else "supervised"

    def effective_hyperparameters(self) -> dict[str, Any]:
        """Method hyperparameters win over the deprecated top-level ones; unset is "auto"."""
        chosen: Hyperparameters | None = self.hyperparameters
        if self.method is not None:
            body = self.method.dpo if self.method.type == "dpo" else self.method.supervised
            if body is not None and body.hyperparameters is not None:
                chosen = body.hyperparameters
        values = chosen.model_dump(exclude_none=True) if chosen is not None else {}
        for key in ("n_epochs", "batch_size", "learning_rate_multiplier"):
            values.setdefault(key, "auto")
        return values


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _dump(value: BaseModel | None) -> dict[str, Any] | None:
    return None if value is None else value.model_dump()


def method_object(job: Job) -> dict[str, Any]:
    kind = str(job.method.get("type", "supervised"))
    return {"type": kind, kind: {"hyperparameters": dict(job.hyperparameters)}}


def job_object(job: Job) -> dict[str, Any]:
    hyper = dict(job.hyperparameters)
    return {
        "object": "fine_tuning.job",
        "id": job.id,
        "created_at": _ts(job.created_at),
        "error": job.error,
        "fine_tuned_model": job.fine_tuned_model,
        "finished_at": _ts(job.finished_at),
        "hyperparameters": {
            "n_epochs": hyper.get("n_epochs", "auto"),
            "batch_size": hyper.get("batch_size", "auto"),
            "learning_rate_multiplier": hyper.get("learning_rate_multiplier", "auto"),
        },
        "model": job.model,
        "organization_id": job.tenant_id,
        "result_files": list(job.result_files or []),
        "seed": job.seed if job.seed is not None else 0,
        "status": job.status,
        "trained_tokens": job.trained_tokens,
        "training_file": job.training_file_id,
        "validation_file": job.validation_file_id,
        "estimated_finish": _ts(job.estimated_finish_at),
        "integrations": list(job.method.get("integrations") or []),
        "metadata": job.user_metadata or None,
        "method": method_object(job),
        "suffix": job.suffix,
        "provider": job.provider,
        "provider_job_id": job.provider_job_id,
        "provider_status": job.provider_status,
        "provider_options": dict(job.provider_options or {}),
        "estimated_cost": _dump(money(job.estimated_cost)),
        "cost": _dump(job_cost(job.cost, job.cost_basis)),
        "validation": job.validation_summary,
        **(
            {"evaluation": evaluation_object(job.evaluation_study)}
            if job.evaluation_study is not None
            else {}
        ),
    }


def event_object(event: JobEvent) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.event",
        "id": event.id,
        "created_at": _ts(event.created_at),
        "level": event.level,
        "message": event.message,
        "type": event.type,
        "data": event.data or {},
    }


def checkpoint_object(checkpoint: Checkpoint, job: Job) -> dict[str, Any]:
    metrics = dict(checkpoint.metrics or {})
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": checkpoint.id,
        "created_at": _ts(checkpoint.created_at),
        "fine_tuned_model_checkpoint": checkpoint.fine_tuned_model_checkpoint
        or f"{job.fine_tuned_model or job.model}:ckpt-step-{checkpoint.step}",
        "fine_tuning_job_id": job.id,
        "metrics": {"step": float(checkpoint.step), **metrics},
        "step_number": checkpoint.step,
    }


def page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
