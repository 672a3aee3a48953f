"""``provider_options.from_checkpoint`` of a Together job: the caller names one of its own
Together jobs in tuneforge (``ftjob-…``: its final model) or one of their checkpoints
(``ftckpt-…``), and Together is sent its own reference for it, ``<together job id>`` or
``<together job id>:<step>`` (Together's ``job_or_output_name[:step]``).

A raw provider id is never taken from the caller: it could name another account's job on a
shared provider key. Anything the tenant cannot see (another tenant's job, an unknown or raw
provider id) reads as "not found"."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.errors import InvalidRequest
from service.jobs.repository import JobRepository
from service.jobs.transitions import SUCCEEDED

PARAM = "provider_options.from_checkpoint"
# Providers whose jobs can train on from a previous job of theirs.
PROVIDERS = frozenset({"together"})
MAX_REFERENCE = 64


def _not_usable(reference: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"{PARAM}: '{reference}' {why}", param=PARAM, code="invalid_provider_options"
    )


def checked_reference(value: object) -> str:
    """The option's value as given, if it can be one of our ids at all; a 400 otherwise."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REFERENCE:
        raise InvalidRequest(
            f"{PARAM} must be the id of one of your fine-tuning jobs (ftjob-…) or checkpoints "
            f"(ftckpt-…), at most {MAX_REFERENCE} characters.",
            param=PARAM,
            code="invalid_provider_options",
        )
    return value


def provider_checkpoint(
    session: Session, tenant_id: str, reference: str, provider: str, model: str
) -> str:
    """The provider's reference for `reference` (a job or checkpoint id of `tenant_id`), for a
    new job of that tenant on `provider` and `model`; a 400 naming the option otherwise."""
    repository = JobRepository(session)
    job_id, step = reference, None
    if reference.startswith("ftckpt-"):
        checkpoint = repository.checkpoint_for_tenant(tenant_id, reference)
        if checkpoint is None:
            raise _not_usable(reference, "is not a checkpoint of yours.")
        job_id, step = checkpoint.job_id, checkpoint.step
    job = repository.get_for_tenant(tenant_id, job_id)
    if job is None:
        raise _not_usable(reference, "is not a fine-tuning job of yours.")
    if job.provider != provider or job.model != model:
        raise _not_usable(
            reference,
            f"was trained on {job.model}; a job trains on from a job of the same provider "
            f"and base model ({model}).",
        )
    if job.provider_job_id is None:
        raise _not_usable(reference, f"has not started on {provider} (it is {job.status}).")
    if step is None and job.status != SUCCEEDED:
        raise _not_usable(
            reference, f"is {job.status}; name one of its checkpoints or a succeeded job."
        )
    return job.provider_job_id if step is None else f"{job.provider_job_id}:{step}"
