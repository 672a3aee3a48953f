"""Cancel at the provider: the ``tuneforge.cancel_job`` task body, a step on the lifecycle
engine. Sends the cancel once (``cancel_sent_at``), then lets polling see the job to its
terminal status."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from providers.base import ProviderJob
from providers.errors import ProviderPermanentError
from service.db.models import Job
from service.db.types import utcnow
from service.jobs.lifecycle import steps
from service.jobs.lifecycle.adapters import (
    AdapterFactory,
    ProviderCallPlan,
    build_adapter,
    provider_call_plan,
)
from service.jobs.lifecycle.adopt import apply_provider_job
from service.jobs.lifecycle.kind import CANCEL_TASK, JOB, next_task
from service.lifecycle.kind import StepContext, StepRetry
from service.lifecycle.runner import run_step
from service.observability.metrics import time_provider_call
from service.settings import Settings

log = logging.getLogger(__name__)


def cancel_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    adapter_factory: AdapterFactory,
) -> None:
    run_step(JOB, CancelStep(adapter_factory), sessions, settings, job_id)


@dataclass(frozen=True)
class CancelStep:
    adapter_factory: AdapterFactory
    task: str = CANCEL_TASK
    heartbeat: bool = False

    def wanted(self, job: Job) -> bool:
        return next_task(job) == CANCEL_TASK

    def begin(self, ctx: StepContext, session: Session, job: Job) -> ProviderCallPlan | None:
        return provider_call_plan(session, ctx.settings, job) if self.wanted(job) else None

    def act(self, ctx: StepContext, plan: ProviderCallPlan) -> ProviderJob | None:
        adapter = build_adapter(self.adapter_factory, ctx.settings, plan.credentials)
        try:
            with time_provider_call(plan.provider, "cancel_job"):
                return adapter.cancel_job(plan.provider_job_id)
        except ProviderPermanentError as exc:
            # Typically "already finished": stop asking, and let the next poll see the outcome.
            log.info("cancel of %s refused by %s: %s", plan.provider_job_id, plan.provider, exc)
            return None

    def finish(
        self, ctx: StepContext, session: Session, job: Job, result: ProviderJob | None
    ) -> None:
        job.cancel_sent_at = utcnow()
        if result is not None:
            apply_provider_job(session, ctx.settings, job, result)
        else:
            now = utcnow()
            steps.schedule(session, job, now, now=now)

    def on_retry(self, ctx: StepContext, session: Session, job: Job, retry: StepRetry) -> int:
        job.poll_failures += 1
        return job.poll_failures
