"""One round of a sweep, as a step on the lifecycle engine: read the jobs we watch on this
credential (locked, in a transaction) → list the provider's jobs page by page, newest first,
until all of ours were seen (no transaction open, lease renewed), handing each page's status
changes to ``details`` at once (their details are fetched and folded in while the next pages
are read) → bring forward the detailed polls of the jobs whose progress moved and schedule
the next round (re-locked). A provider that serves smaller pages than asked is read to the
end all the same: the round counts its pages by what the provider serves."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from providers.base import ProviderJob, RateLimit
from providers.errors import ProviderPermanentError
from providers.registry import default_list_page, lists_jobs, max_list_page
from service import outbox
from service.credentials.service import (
    CredentialsMissing,
    ProviderCredentials,
    credentials_for,
    operator_credentials,
)
from service.db.models import Job, ProviderSweep
from service.db.types import utcnow
from service.jobs.lifecycle import pacing as job_pacing
from service.jobs.lifecycle.adapters import AdapterFactory, build_adapter
from service.jobs.lifecycle.kind import PROMPT_POLL_TASK
from service.jobs.sweeps import details, repository
from service.jobs.sweeps.compare import Change, Watched, change_of, progress_of
from service.jobs.sweeps.kind import SWEEP, SWEEP_TASK
from service.jobs.sweeps.pacing import pages_for, sweep_interval_s
from service.lifecycle.kind import StepAbandoned, StepContext, StepRetry
from service.lifecycle.runner import run_step
from service.observability.metrics import time_provider_call
from service.settings import Settings

log = logging.getLogger(__name__)

EARLY_S = 0.5
EXTRA_PAGES = 5
"""Pages a round may read beyond what our jobs fill, for the provider's other jobs in between
(newer ones of other clients of the key, finished ones); jobs still unseen then get polled."""
SAFE_PAGE = 100
"""A page every listing provider serves: a larger ``sweep_page_size`` (OpenAI documents no
maximum for its job list) that the provider refuses falls back to it."""
_refused_pages: dict[str, int] = {}
"""Per sweep, in this process: the page size its provider refused, so that later rounds ask
``SAFE_PAGE`` at once instead of one refused call each."""


@dataclass(frozen=True)
class SweepPlan:
    sweep_id: str
    provider: str
    credentials: ProviderCredentials | CredentialsMissing
    watched: dict[str, Watched]
    page_size: int
    started_at: datetime


@dataclass
class SweepResult:
    moved: list[tuple[Watched, datetime | None]] = field(default_factory=list)
    """Progress moved or an estimate came closer: (job, when the provider expects a change)."""
    applied: int = 0
    """Status moved: details fetched and folded in during the round."""
    prompt: list[Watched] = field(default_factory=list)
    """Status moved, details not folded in here: each job's own poll, at once."""
    first_seen: list[tuple[str, str]] = field(default_factory=list)
    unseen: list[Watched] = field(default_factory=list)
    watched: int = 0
    started_at: datetime | None = None
    pages: int = 0
    listed: int = 0
    rate_limit: RateLimit | None = None


def sweep_provider(
    sessions: sessionmaker[Session],
    settings: Settings,
    sweep_id: str,
    adapter_factory: AdapterFactory,
) -> None:
    """The ``tuneforge.sweep_provider`` task body; a duplicate or early delivery does nothing."""
    run_step(SWEEP, SweepStep(adapter_factory), sessions, settings, sweep_id)


@dataclass(frozen=True)
class SweepStep:
    adapter_factory: AdapterFactory
    task: str = SWEEP_TASK
    heartbeat: bool = True  # a round over thousands of jobs reads many pages

    def wanted(self, sweep: ProviderSweep) -> bool:
        due = sweep.next_sweep_at
        return due is not None and due <= utcnow() + timedelta(seconds=EARLY_S)

    def begin(self, ctx: StepContext, session: Session, sweep: ProviderSweep) -> SweepPlan | None:
        if not self.wanted(sweep):
            return None
        settings, now = ctx.settings, utcnow()
        if not settings.sweep_enabled or not lists_jobs(sweep.provider):
            sweep.next_sweep_at = None  # the jobs keep their own polls
            return None
        watched = repository.watched_jobs(session, sweep)
        if not watched:
            # Idle: look again once more, then sleep until a job's launch or poll wakes it
            # (two empty rounds apart, so a job committed during the first is not missed).
            idle_again = sweep.active_jobs == 0 and sweep.rounds > 0
            sweep.active_jobs = 0
            sweep.rounds += 1
            sweep.next_sweep_at = (
                None if idle_again else now + timedelta(seconds=settings.sweep_max_interval_s)
            )
            return None
        credentials: ProviderCredentials | CredentialsMissing
        if sweep.tenant_id is None:
            credentials = operator_credentials(settings, sweep.provider)
        else:
            try:
                credentials = credentials_for(session, settings, sweep.tenant_id, sweep.provider)
            except CredentialsMissing as missing:
                credentials = missing
        wanted = settings.sweep_page_size or default_list_page(sweep.provider)
        page_size = min(wanted, max_list_page(sweep.provider))
        if page_size >= _refused_pages.get(sweep.id, page_size + 1):
            page_size = min(page_size, SAFE_PAGE)
        return SweepPlan(
            sweep_id=sweep.id,
            provider=sweep.provider,
            credentials=credentials,
            watched={w.provider_job_id: w for w in watched},
            page_size=page_size,
            started_at=now,
        )

    def act(self, ctx: StepContext, plan: SweepPlan) -> SweepResult:
        adapter = build_adapter(self.adapter_factory, ctx.settings, plan.credentials)
        result = SweepResult(watched=len(plan.watched), started_at=plan.started_at)
        seen: set[str] = set()
        asked = page_size = plan.page_size
        after: str | None = None
        with details.DetailPool(ctx.sessions, ctx.settings, adapter) as pool:
            while True:
                if ctx.lease_lost.is_set():
                    raise StepAbandoned()
                try:
                    with time_provider_call(adapter.name, "list_jobs"):
                        page = adapter.list_jobs(after=after, limit=asked)
                except ProviderPermanentError as refused:
                    if refused.status_code not in (400, 422) or asked <= SAFE_PAGE:
                        raise
                    log.warning(
                        "sweep %s: %s refused pages of %d (%s); asking %d",
                        plan.sweep_id,
                        plan.provider,
                        asked,
                        refused,
                        SAFE_PAGE,
                    )
                    _refused_pages[plan.sweep_id] = asked
                    asked = page_size = SAFE_PAGE
                    continue
                result.pages += 1
                result.listed += len(page.jobs)
                result.rate_limit = page.rate_limit or result.rate_limit
                if page.has_more and 0 < len(page.jobs) < page_size:
                    page_size = len(page.jobs)  # the provider serves smaller pages than asked
                status_moved: list[tuple[Watched, ProviderJob]] = []
                for found in page.jobs:
                    watched = plan.watched.get(found.id)
                    if watched is None or found.id in seen:
                        continue
                    seen.add(found.id)
                    change = change_of(watched, found)
                    if change is Change.STATUS:
                        status_moved.append((watched, found))
                    elif change is Change.FIRST_SEEN:
                        result.first_seen.append((watched.id, progress_of(found)))
                    elif change is Change.PROGRESS or _estimate_sooner(
                        watched, found.next_change_at
                    ):
                        result.moved.append((watched, found.next_change_at))
                pool.submit(status_moved)  # fetched and folded in while the next pages are read
                budget = pages_for(len(plan.watched), page_size) + EXTRA_PAGES
                done = len(seen) == len(plan.watched)
                if done or not page.has_more or page.next_after is None or result.pages >= budget:
                    break
                after = page.next_after
            result.unseen = [w for key, w in plan.watched.items() if key not in seen]
            outcomes = pool.results()
        result.applied, result.prompt = len(outcomes.applied), outcomes.prompt
        return result

    def finish(
        self, ctx: StepContext, session: Session, sweep: ProviderSweep, result: SweepResult
    ) -> None:
        settings, now = ctx.settings, utcnow()
        rounds = sweep.rounds + 1
        for watched in result.prompt:
            _poll_now(session, sweep, watched, rounds, now)
        due = [(w.id, _poll_at(w, expected, settings, now)) for w, expected in result.moved]
        # Not in the list (deep in an account's history, or gone): its own poll tells.
        due += [(w.id, _poll_at(w, None, settings, now)) for w in result.unseen]
        repository.poll_many_by(session, due)
        repository.record_progress(session, result.first_seen)
        sweep.rounds = rounds
        sweep.pages = result.pages
        sweep.listed = result.listed
        sweep.active_jobs = result.watched
        sweep.last_swept_at = now
        sweep.failures = 0
        sweep.last_error = None
        interval = sweep_interval_s(settings, result.pages, result.watched, result.rate_limit)
        sweep.interval_s = interval
        # The cadence counts from the round's start, so a long round does not stretch it.
        started = result.started_at or now
        repository.schedule_round(
            session, sweep, max(now, started + timedelta(seconds=interval)), now
        )

    def on_retry(
        self, ctx: StepContext, session: Session, sweep: ProviderSweep, retry: StepRetry
    ) -> int:
        sweep.failures += 1
        sweep.last_error = retry.reason[:2000]
        return sweep.failures


def _estimate_sooner(watched: Watched, expected: datetime | None) -> bool:
    """The provider expects a change before our next poll: the poll moves to that moment."""
    return expected is not None and (
        watched.next_poll_at is None or expected < watched.next_poll_at
    )


def _poll_at(
    watched: Watched, expected: datetime | None, settings: Settings, now: datetime
) -> datetime:
    probe = Job(status=watched.status, started_at=watched.started_at)
    return job_pacing.after(now, job_pacing.poll_interval_s(probe, now, settings, expected))


def _poll_now(
    session: Session, sweep: ProviderSweep, watched: Watched, rounds: int, now: datetime
) -> None:
    """The job's status moved: poll it now, ahead of routine polls (as a provider's push
    does); one message per job and round, so a round re-sent after a crash sends none twice."""
    repository.poll_by(session, watched.id, now)
    outbox.enqueue(
        session,
        task=PROMPT_POLL_TASK,
        target_id=watched.id,
        dedupe_key=f"{PROMPT_POLL_TASK}:{watched.id}:{sweep.id}:{rounds}"[:255],
        tenant_id=watched.tenant_id,
    )
