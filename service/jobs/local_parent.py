"""``provider_options.from_checkpoint`` of a local job: a previous local job of the same tenant
(its final adapter) or one of its checkpoints, resolved to the adapter folder to train on from.
Anything the tenant cannot see (another tenant's job, an unknown id) reads as "not found"."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from service.errors import InvalidRequest
from service.jobs.repository import JobRepository
from service.jobs.transitions import SUCCEEDED
from service.settings import Settings

PARAM = "provider_options.from_checkpoint"


def _not_usable(reference: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"{PARAM}: '{reference}' {why}",
        param=PARAM,
        code="invalid_provider_options",
    )


def parent_adapter(
    session: Session, settings: Settings, tenant_id: str, reference: str, model: str
) -> Path:
    """The adapter folder `reference` (a job id or a checkpoint id) names, for a new job of
    `tenant_id` on `model`; a 400 naming the option otherwise."""
    repository = JobRepository(session)
    job_id, checkpoint = reference, None
    if reference.startswith("ftckpt-"):
        checkpoint = repository.checkpoint_for_tenant(tenant_id, reference)
        if checkpoint is None:
            raise _not_usable(reference, "is not a checkpoint of yours.")
        job_id = checkpoint.job_id
    job = repository.get_for_tenant(tenant_id, job_id)
    if job is None:
        raise _not_usable(reference, "is not a fine-tuning job of yours.")
    if job.provider != "local" or job.model != model:
        raise _not_usable(
            reference, f"was trained on {job.model}; a local job trains on from its own base."
        )
    job_folder = (settings.artifacts_dir / job.id).resolve()
    if checkpoint is None:
        if job.status != SUCCEEDED:
            raise _not_usable(
                reference, f"is {job.status}; name one of its checkpoints or a succeeded job."
            )
        adapter = job_folder / "adapter"
    else:
        adapter = (job_folder / (checkpoint.path or "")).resolve() / "adapter"
    if not adapter.is_relative_to(job_folder) or not (adapter / "adapter_config.json").is_file():
        raise _not_usable(reference, "has no adapter kept on this service any more.")
    return adapter
