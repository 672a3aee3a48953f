"""Cancel at the provider: the ``tuneforge.cancel_job`` task body. Sends the cancel once
(``cancel_sent_at``), then lets polling see the job to its terminal status."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from providers.errors import ProviderPermanentError, ProviderRetryableError
from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.lifecycle import leases, pacing, steps
from service.jobs.lifecycle.adapters import AdapterFactory, build_adapter, tenant_credentials
from service.jobs.lifecycle.adopt import apply_provider_job
from service.jobs.repository import JobRepository
from service.jobs.transitions import is_terminal
from service.observability.metrics import time_provider_call
from service.settings import Settings

log = logging.getLogger(__name__)


def cancel_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    adapter_factory: AdapterFactory,
) -> None:
    owner = leases.new_owner()
    with session_scope(sessions) as session:
        job = JobRepository(session).get(job_id)
        if job is None or is_terminal(job.status) or steps.next_task(job) != steps.CANCEL_TASK:
            return
        provider, provider_job_id = job.provider, job.provider_job_id
        credentials = tenant_credentials(session, settings, job.tenant_id, provider)
    assert provider_job_id is not None
    if not leases.claim(sessions, job_id, owner, settings.lease_ttl_s):
        return
    try:
        adapter = build_adapter(adapter_factory, settings, credentials)
        with time_provider_call(provider, "cancel_job"):
            found = adapter.cancel_job(provider_job_id)
    except ProviderRetryableError as exc:
        log.info("cancel of %s will be retried: %s", job_id, exc.message)
        with session_scope(sessions) as session:
            job = JobRepository(session).get(job_id, lock=True)
            if job is None or job.lease_owner != owner:
                return
            leases.release(session, job_id, owner)
            job.poll_failures += 1
            now = utcnow()
            delay = pacing.backoff_s(job.poll_failures, settings, exc.retry_after)
            steps.schedule(session, job, pacing.after(now, delay), now=now)
        return
    except ProviderPermanentError as exc:
        # Typically "already finished": stop asking, and let the next poll see the outcome.
        log.info("cancel of %s refused by %s: %s", job_id, provider, exc.message)
        found = None
    with session_scope(sessions) as session:
        job = JobRepository(session).get(job_id, lock=True)
        if job is None or job.lease_owner != owner:
            return
        leases.release(session, job_id, owner)
        job.cancel_sent_at = utcnow()
        if found is not None:
            apply_provider_job(session, settings, job, found)
        elif not is_terminal(job.status):
            now = utcnow()
            steps.schedule(session, job, now, now=now)
