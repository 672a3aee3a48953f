"""Provider push: OpenAI can send a signed webhook when a fine-tuning job ends. With
``TUNEFORGE_OPENAI_WEBHOOK_SECRET`` set, ``POST /provider_webhooks/openai`` verifies it (the
Standard Webhooks scheme OpenAI signs with) and polls that job at once, ahead of routine polls,
instead of when its next poll falls due.

The push only triggers a poll: the job's state still comes from the provider's API, so a
forged, replayed or out-of-order event changes nothing, and a lost one leaves the job to its
routine polls."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service import outbox
from service.db.models import Job
from service.db.types import utcnow
from service.errors import InvalidRequest, NotFound, Unauthorized
from service.jobs.lifecycle import steps
from service.jobs.transitions import is_terminal
from service.settings import Settings

log = logging.getLogger(__name__)

JOB_EVENT_PREFIX = "fine_tuning.job."


def verify_openai_event(
    settings: Settings, body: bytes, headers: Mapping[str, str]
) -> dict[str, Any]:
    """The verified event, or a 404 when push is not configured and a 401 when the signature,
    its id or its timestamp (more than 5 minutes off) is wrong."""
    secret = settings.openai_webhook_secret
    if secret is None or not secret.get_secret_value():
        raise NotFound(
            "Webhooks from openai are not accepted here: set TUNEFORGE_OPENAI_WEBHOOK_SECRET "
            "to the secret of the webhook endpoint configured in the OpenAI dashboard.",
            code="provider_webhooks_not_configured",
        )
    try:
        event = Webhook(secret.get_secret_value()).verify(body, dict(headers))
    except WebhookVerificationError as exc:
        raise Unauthorized(f"Webhook rejected: {exc}.", code="invalid_signature") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest("The webhook body is not JSON.", code="invalid_json") from exc
    if not isinstance(event, dict):
        raise InvalidRequest("The webhook body must be a JSON object.", code="invalid_event")
    return event


def handle_openai_event(session: Session, event: Mapping[str, Any], event_id: str) -> str | None:
    """Schedule an immediate poll of the job a fine-tuning event names; the job's id, or None
    when the event is about something else or a job that is not ours or no longer active."""
    kind, data = event.get("type"), event.get("data")
    if not isinstance(kind, str) or not kind.startswith(JOB_EVENT_PREFIX):
        return None
    provider_job_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(provider_job_id, str):
        raise InvalidRequest("A fine-tuning event must name its job in data.id.", param="data.id")
    return poll_now(session, "openai", provider_job_id, event_id)


def poll_now(session: Session, provider: str, provider_job_id: str, event_id: str) -> str | None:
    job = session.scalars(
        select(Job).where(Job.provider == provider, Job.provider_job_id == provider_job_id)
    ).first()
    if job is None:
        log.info(
            "%s webhook %s names %s, which is not one of our jobs",
            provider,
            event_id,
            provider_job_id,
        )
        return None
    if is_terminal(job.status) or steps.next_task(job) != steps.POLL_TASK:
        return None
    now = utcnow()
    if job.next_poll_at is None or job.next_poll_at > now:
        job.next_poll_at = now  # what a routine poll still queued will see as already done
    outbox.enqueue(
        session,
        task=steps.PROMPT_POLL_TASK,
        target_id=job.id,
        # A redelivered webhook (same webhook-id) does not poll twice.
        dedupe_key=f"{steps.PROMPT_POLL_TASK}:{job.id}:{event_id}"[:255],
        tenant_id=job.tenant_id,
    )
    return job.id
