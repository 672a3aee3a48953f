"""Poll: ask the provider where a launched job stands and fold the answer in. A step on the
lifecycle engine: the HTTP calls run outside any transaction, under the job's lease; transient
errors push the next poll back (honouring Retry-After), permanent ones fail the job with the
provider's message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from providers.base import ProviderCheckpoint, ProviderEvent, ProviderJob
from service.credentials.service import CredentialsMissing, ProviderCredentials
from service.db.models import Job
from service.db.types import utcnow
from service.jobs.lifecycle.adapters import AdapterFactory, build_adapter, tenant_credentials
from service.jobs.lifecycle.adopt import apply_provider_job
from service.jobs.lifecycle.kind import JOB, POLL_TASK, next_task
from service.jobs.repository import JobRepository
from service.lifecycle.kind import StepContext, StepRetry
from service.lifecycle.runner import run_step
from service.observability.metrics import time_provider_call
from service.settings import Settings

EARLY_S = 0.5
"""A poll delivered this much before its due time still runs (clock skew, relay latency)."""

Snapshot = tuple[ProviderJob, list[ProviderEvent], list[ProviderCheckpoint]]


@dataclass(frozen=True)
class PollPlan:
    provider: str
    provider_job_id: str
    after: str | None
    running: bool
    credentials: ProviderCredentials | CredentialsMissing


def poll_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    adapter_factory: AdapterFactory,
) -> None:
    """The ``tuneforge.poll_job`` task body; a duplicate or early delivery does nothing."""
    run_step(JOB, PollStep(adapter_factory), sessions, settings, job_id)


@dataclass(frozen=True)
class PollStep:
    adapter_factory: AdapterFactory
    task: str = POLL_TASK
    heartbeat: bool = False

    def wanted(self, job: Job) -> bool:
        if job.provider_job_id is None or next_task(job) != POLL_TASK:
            return False
        due = job.next_poll_at
        # Not yet due: a stale duplicate (the job was polled since this message was sent).
        return due is None or due <= utcnow() + timedelta(seconds=EARLY_S)

    def begin(self, ctx: StepContext, session: Session, job: Job) -> PollPlan | None:
        if job.provider_job_id is None or not self.wanted(job):
            return None
        return PollPlan(
            provider=job.provider,
            provider_job_id=job.provider_job_id,
            after=JobRepository(session).last_provider_event_id(job.id),
            running=job.status == "running",
            credentials=tenant_credentials(session, ctx.settings, job.tenant_id, job.provider),
        )

    def act(self, ctx: StepContext, plan: PollPlan) -> Snapshot:
        adapter = build_adapter(self.adapter_factory, ctx.settings, plan.credentials)
        with time_provider_call(adapter.name, "get_job"):
            found = adapter.get_job(plan.provider_job_id)
        with time_provider_call(adapter.name, "list_events"):
            events = adapter.list_events(plan.provider_job_id, after=plan.after)
        # Checkpoints appear while training; skip the call before the run starts.
        if not (plan.running or found.status in ("running", "succeeded")):
            return found, events, []
        with time_provider_call(adapter.name, "list_checkpoints"):
            checkpoints = adapter.list_checkpoints(plan.provider_job_id)
        return found, events, checkpoints

    def finish(self, ctx: StepContext, session: Session, job: Job, result: Snapshot) -> None:
        found, events, checkpoints = result
        apply_provider_job(session, ctx.settings, job, found, events, checkpoints)

    def on_retry(self, ctx: StepContext, session: Session, job: Job, retry: StepRetry) -> int:
        job.poll_failures += 1
        return job.poll_failures
