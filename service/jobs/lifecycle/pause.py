"""Pause and resume at the provider: the ``tuneforge.pause_job`` and ``tuneforge.resume_job``
task bodies, steps on the lifecycle engine (OpenAI jobs; a local job's pause is its train step
stopping at a checkpoint, ``local_runner``).

A pause asked for here leaves the job ``pausing`` until the provider answers it ``paused``; a
resume moves ``paused`` → ``running`` at once while the provider still says ``paused``, which
is what makes the resume the job's next step (``kind.next_task``). A provider that refuses
(the job finished meanwhile) moves the job back where it was, and the next poll sees the
truth."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from providers.base import ProviderAdapter, ProviderJob
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
from service.jobs.lifecycle.kind import JOB, PAUSE_TASK, RESUME_TASK, next_task
from service.jobs.transitions import PAUSED, RUNNING, transition
from service.lifecycle.kind import StepContext, StepRetry
from service.lifecycle.runner import run_step
from service.observability.metrics import time_provider_call
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    reason: str


def pause_job(
    sessions: sessionmaker[Session], settings: Settings, job_id: str, factory: AdapterFactory
) -> None:
    run_step(JOB, PauseStep(factory, PAUSE_TASK), sessions, settings, job_id)


def resume_job(
    sessions: sessionmaker[Session], settings: Settings, job_id: str, factory: AdapterFactory
) -> None:
    run_step(JOB, PauseStep(factory, RESUME_TASK), sessions, settings, job_id)


@dataclass(frozen=True)
class PauseStep:
    """One step for both directions: ``task`` says which call the provider gets."""

    adapter_factory: AdapterFactory
    task: str
    heartbeat: bool = False

    def wanted(self, job: Job) -> bool:
        return next_task(job) == self.task

    def begin(self, ctx: StepContext, session: Session, job: Job) -> ProviderCallPlan | None:
        return provider_call_plan(session, ctx.settings, job) if self.wanted(job) else None

    def act(self, ctx: StepContext, plan: ProviderCallPlan) -> ProviderJob | Refused:
        adapter = build_adapter(self.adapter_factory, ctx.settings, plan.credentials)
        call: Callable[[str], ProviderJob] = _call(adapter, self.task)
        name = "pause_job" if self.task == PAUSE_TASK else "resume_job"
        try:
            with time_provider_call(plan.provider, name):
                return call(plan.provider_job_id)
        except ProviderPermanentError as exc:
            log.info("%s of %s refused by %s: %s", name, plan.provider_job_id, plan.provider, exc)
            return Refused(exc.message)

    def finish(
        self, ctx: StepContext, session: Session, job: Job, result: ProviderJob | Refused
    ) -> None:
        if isinstance(result, ProviderJob):
            apply_provider_job(session, ctx.settings, job, result, answers_pause=True)
            return
        pausing = self.task == PAUSE_TASK
        transition(
            session,
            job,
            RUNNING if pausing else PAUSED,
            reason=f"{job.provider} refused to {'pause' if pausing else 'resume'} the job: "
            f"{result.reason}",
            settings=ctx.settings,
        )
        now = utcnow()
        steps.schedule(session, job, now, now=now)

    def on_retry(self, ctx: StepContext, session: Session, job: Job, retry: StepRetry) -> int:
        job.poll_failures += 1
        return job.poll_failures


def _call(adapter: ProviderAdapter, task: str) -> Callable[[str], ProviderJob]:
    return adapter.pause_job if task == PAUSE_TASK else adapter.resume_job
