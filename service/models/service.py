"""What ``/v1/models`` lists: the tenant's fine-tuned models (newest first, bounded) and the
catalog's base models that can take a job, each with its provider. A base model's id is what a
create takes: OpenAI's bare, the others with their provider's prefix (``together/…``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.base import JobStatus
from providers.catalog import ModelInfo
from service.billing.catalog import service_catalog
from service.db.models import Job
from service.errors import NotFound
from service.models.objects import ModelObject
from service.settings import Settings

MAX_FINE_TUNED = 1000
"""The newest this many tuned models are listed (the list has no pages, as at OpenAI)."""


def base_model_id(info: ModelInfo) -> str:
    return info.model if info.provider == "openai" else f"{info.provider}/{info.model}"


def _base(info: ModelInfo) -> ModelObject:
    read = datetime(info.price_date.year, info.price_date.month, info.price_date.day, tzinfo=UTC)
    return ModelObject(
        id=base_model_id(info),
        created=int(read.timestamp()),
        owned_by=info.provider,
        provider=info.provider,
        kind="base",
    )


def _tuned(job: Job) -> ModelObject:
    assert job.fine_tuned_model is not None
    finished = job.finished_at or job.created_at
    return ModelObject(
        id=job.fine_tuned_model,
        created=int(finished.timestamp()),
        owned_by=job.tenant_id,
        provider=job.provider,
        kind="fine-tuned",
        base_model=job.model,
        fine_tuning_job_id=job.id,
    )


def _tuned_jobs(session: Session, tenant_id: str, model: str | None = None) -> list[Job]:
    query = select(Job).where(
        Job.tenant_id == tenant_id,
        Job.status == JobStatus.SUCCEEDED,
        Job.fine_tuned_model.is_not(None),
    )
    if model is not None:
        query = query.where(Job.fine_tuned_model == model)
    ordered = query.order_by(Job.finished_at.desc(), Job.id.desc()).limit(MAX_FINE_TUNED)
    return list(session.scalars(ordered))


def list_models(session: Session, settings: Settings, tenant_id: str) -> list[ModelObject]:
    tuned = [_tuned(job) for job in _tuned_jobs(session, tenant_id)]
    base = [_base(info) for info in service_catalog(settings) if info.is_available]
    return tuned + base


def get_model(session: Session, settings: Settings, tenant_id: str, model: str) -> ModelObject:
    jobs = _tuned_jobs(session, tenant_id, model)
    if jobs:
        return _tuned(jobs[0])
    for info in service_catalog(settings):
        if info.is_available and base_model_id(info) == model:
            return _base(info)
    raise NotFound(
        f"The model '{model}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
