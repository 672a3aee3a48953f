"""The delivery engine: one delivery per subscribed endpoint when a job changes state, written
with an outbox row in the same transaction; attempts that are claimed, sent, logged and
rescheduled; endpoints that keep failing are disabled with a reason the tenant can read.

A Celery task delivers in three steps so that no transaction stays open during the HTTP call:
``claim_delivery`` (commit) → ``send_claimed`` (no database) → ``record_attempt`` (commit).
``attempt_delivery`` does the three in one session, for callers that do not mind that.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from service import outbox
from service.db.ids import new_id
from service.db.models import Checkpoint, Job, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from service.db.types import utcnow
from service.encryption.keyring import keyring_for
from service.errors import Conflict
from service.observability.metrics import count_webhook_delivery
from service.settings import Settings
from service.webhooks.endpoints import endpoint_secrets, tenant_secret, url_policy
from service.webhooks.events import JOB_URL_EVENTS, job_event_payload, new_event_id
from service.webhooks.queries import get_delivery
from service.webhooks.repository import WebhookRepository
from service.webhooks.schedule import next_attempt_at
from service.webhooks.sender import AttemptResult, send_webhook
from service.webhooks.signing import encode_body, signature_headers
from service.webhooks.ssrf import Resolver

DELIVER_TASK = "tuneforge.deliver_webhook"
CLAIM_MARGIN_S = 30.0
"""A claimed delivery is hidden from the reconciler for the send timeout plus this margin; if
the worker dies mid-send the delivery becomes due again and is retried."""

Outcome = Literal["delivered", "retrying", "failed", "skipped"]


@dataclass(frozen=True)
class ClaimedDelivery:
    """Everything needed to send one attempt, taken out of the database."""

    delivery_id: str
    url: str
    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery_id: str
    outcome: Outcome
    next_attempt_at: datetime | None = None
    """When a retry is due (``retrying``); the outbox row for it becomes available then."""
    status_code: int | None = None
    error: str | None = None


def enqueue_job_event(
    session: Session,
    job: Job,
    event_type: str,
    *,
    checkpoint: Checkpoint | None = None,
    now: datetime | None = None,
) -> list[WebhookDelivery]:
    """Create the deliveries for one job event (see ``enqueue_job_payload``). Call it in the
    transaction that changes the job's state."""
    now = now or utcnow()
    payload = job_event_payload(
        job, event_type, event_id=new_event_id(), created_at=now, checkpoint=checkpoint
    )
    return enqueue_job_payload(session, job, event_type, payload, now=now)


def enqueue_job_payload(
    session: Session,
    job: Job,
    event_type: str,
    payload: dict[str, Any],
    *,
    now: datetime | None = None,
) -> list[WebhookDelivery]:
    """One delivery of ``payload`` per enabled endpoint of the tenant that subscribes to
    ``event_type``, plus one to the job's own ``webhook_url`` when it hears the event (the job's
    ends and its evaluation's end, ``JOB_URL_EVENTS``), each with its outbox row. Call it in the
    transaction that changes the state it announces."""
    now = now or utcnow()
    targets = _subscribers(session, job.tenant_id, event_type)
    if job.webhook_url and event_type in JOB_URL_EVENTS:
        # A job's one-off URL is signed with the tenant secret, which job creation made sure
        # exists; it is a target of its own beside any endpoint, even one with the same URL.
        targets.append((None, job.webhook_url))
    return _add_deliveries(session, job.tenant_id, job.id, event_type, payload, targets, now)


def enqueue_tenant_event(
    session: Session,
    tenant_id: str,
    event_type: str,
    payload: dict[str, Any],
    *,
    now: datetime | None = None,
) -> list[WebhookDelivery]:
    """Deliveries of an event that belongs to no job (an eval run's end): one per enabled
    endpoint of the tenant subscribed to ``event_type``, each with its outbox row. Call it in
    the transaction that changes the state it announces."""
    now = now or utcnow()
    targets = _subscribers(session, tenant_id, event_type)
    return _add_deliveries(session, tenant_id, None, event_type, payload, targets, now)


def _subscribers(session: Session, tenant_id: str, event_type: str) -> list[tuple[str | None, str]]:
    """``(endpoint id, url)`` of each enabled endpoint of the tenant subscribed to the event."""
    return [
        (endpoint.id, endpoint.url)
        for endpoint in WebhookRepository(session).endpoints_of(tenant_id, enabled_only=True)
        if event_type in endpoint.events
    ]


def _add_deliveries(
    session: Session,
    tenant_id: str,
    job_id: str | None,
    event_type: str,
    payload: dict[str, Any],
    targets: list[tuple[str | None, str]],
    now: datetime,
) -> list[WebhookDelivery]:
    """One pending delivery of ``payload`` per ``(endpoint id, url)`` target, each with the
    outbox row of its first attempt."""
    repository = WebhookRepository(session)
    deliveries = []
    for endpoint_id, url in targets:
        delivery = repository.add(
            WebhookDelivery(
                tenant_id=tenant_id,
                endpoint_id=endpoint_id,
                job_id=job_id,
                event_id=str(payload["id"]),
                event_type=event_type,
                url=url,
                payload=payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        _enqueue_send(session, delivery, f"deliver:{delivery.id}:0", now)
        deliveries.append(delivery)
    return deliveries


def claim_delivery(
    session: Session, delivery_id: str, *, settings: Settings, now: datetime | None = None
) -> ClaimedDelivery | DeliveryOutcome:
    """Lock the delivery and, if it is pending and due, claim it and sign its body; otherwise
    say why nothing is to be sent (``skipped``, or ``failed`` for a disabled endpoint)."""
    now = now or utcnow()
    repository = WebhookRepository(session)
    delivery = repository.delivery_for_update(delivery_id)
    if delivery is None:
        return DeliveryOutcome(delivery_id, "skipped", error="not found or locked")
    if delivery.status != "pending":
        return DeliveryOutcome(delivery_id, "skipped", error=f"already {delivery.status}")
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return DeliveryOutcome(
            delivery_id, "skipped", next_attempt_at=delivery.next_attempt_at, error="not due"
        )
    endpoint = repository.endpoint_by_id(delivery.endpoint_id) if delivery.endpoint_id else None
    if endpoint is None and not _to_job_url(session, delivery):
        _give_up(delivery, "endpoint deleted")
        session.flush()
        return DeliveryOutcome(delivery_id, "failed", error=delivery.last_error)
    if endpoint is not None and not endpoint.enabled:
        reason = endpoint.disabled_reason
        _give_up(delivery, f"endpoint disabled: {reason}" if reason else "endpoint disabled")
        session.flush()
        return DeliveryOutcome(delivery_id, "failed", error=delivery.last_error)
    keyring = keyring_for(settings)
    signer = endpoint or tenant_secret(session, delivery.tenant_id, keyring)
    secrets = endpoint_secrets(signer, now, keyring)
    delivery.next_attempt_at = now + timedelta(seconds=settings.webhook_timeout_s + CLAIM_MARGIN_S)
    session.flush()
    body = encode_body(delivery.payload)
    # The timestamp is the real clock, whatever ``now`` says: receivers allow only ±5 minutes.
    headers = signature_headers(delivery.id, utcnow(), body, secrets)
    return ClaimedDelivery(delivery.id, delivery.url, body, headers)


def send_claimed(
    claimed: ClaimedDelivery,
    *,
    settings: Settings,
    resolver: Resolver = socket.getaddrinfo,
    verify: ssl.SSLContext | bool = True,
) -> AttemptResult:
    return send_webhook(
        claimed.url,
        claimed.body,
        claimed.headers,
        policy=url_policy(settings),
        timeout_s=settings.webhook_timeout_s,
        resolver=resolver,
        verify=verify,
    )


def record_attempt(
    session: Session,
    delivery_id: str,
    result: AttemptResult,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> DeliveryOutcome:
    """Log the attempt and decide what follows: delivered, a retry at a scheduled time, or
    giving up (schedule exhausted, 410 Gone, or the endpoint failing for too long)."""
    outcome = _record_attempt(session, delivery_id, result, settings=settings, now=now)
    if outcome.outcome != "skipped":
        count_webhook_delivery(outcome.outcome)
    return outcome


def _record_attempt(
    session: Session,
    delivery_id: str,
    result: AttemptResult,
    *,
    settings: Settings,
    now: datetime | None,
) -> DeliveryOutcome:
    now = now or utcnow()
    repository = WebhookRepository(session)
    delivery = repository.delivery_for_update(delivery_id)
    if delivery is None or delivery.status != "pending":
        return DeliveryOutcome(delivery_id, "skipped", error="no longer pending")
    previous_attempts = repository.attempt_count(delivery.id)
    repository.add(
        WebhookAttempt(
            tenant_id=delivery.tenant_id,
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_excerpt=result.response_excerpt,
            error=result.error,
        )
    )
    delivery.attempts += 1
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    endpoint = repository.endpoint_by_id(delivery.endpoint_id) if delivery.endpoint_id else None

    if result.ok:
        delivery.status = "delivered"
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        if endpoint is not None:
            endpoint.failing_since = None
        session.flush()
        return DeliveryOutcome(delivery.id, "delivered", status_code=result.status_code)

    if endpoint is not None and endpoint.failing_since is None:
        endpoint.failing_since = now
    if result.gone:
        if endpoint is not None:
            _disable(endpoint, f"the receiver answered 410 Gone at {now.isoformat()}")
        _give_up(delivery, result.error)
        session.flush()
        return DeliveryOutcome(delivery.id, "failed", status_code=410, error=result.error)
    if result.refused:
        # Our own URL policy refused it: no retry can succeed until the URL or policy changes.
        _give_up(delivery, result.error)
        session.flush()
        return DeliveryOutcome(delivery.id, "failed", error=result.error)
    if endpoint is not None and endpoint.failing_since is not None:
        failing_for = now - endpoint.failing_since
        if failing_for >= timedelta(seconds=settings.webhook_disable_after_s):
            _disable(
                endpoint,
                f"every delivery failed since {endpoint.failing_since.isoformat()} "
                f"(last error: {result.error})",
            )
            _give_up(delivery, result.error)
            session.flush()
            return DeliveryOutcome(
                delivery.id, "failed", status_code=result.status_code, error=result.error
            )

    when = next_attempt_at(
        now,
        delivery.attempts,
        settings.webhook_retry_schedule_s,
        retry_after_s=result.retry_after_s,
    )
    if when is None:
        _give_up(delivery, result.error)
        session.flush()
        return DeliveryOutcome(
            delivery.id, "failed", status_code=result.status_code, error=result.error
        )
    delivery.next_attempt_at = when
    _enqueue_send(session, delivery, f"deliver:{delivery.id}:{previous_attempts + 1}", when)
    session.flush()
    return DeliveryOutcome(
        delivery.id,
        "retrying",
        next_attempt_at=when,
        status_code=result.status_code,
        error=result.error,
    )


def attempt_delivery(
    session: Session,
    delivery_id: str,
    *,
    settings: Settings,
    now: datetime | None = None,
    resolver: Resolver = socket.getaddrinfo,
    verify: ssl.SSLContext | bool = True,
) -> DeliveryOutcome:
    """Claim, send and record in one session (the transaction stays open during the send)."""
    claimed = claim_delivery(session, delivery_id, settings=settings, now=now)
    if isinstance(claimed, DeliveryOutcome):
        return claimed
    result = send_claimed(claimed, settings=settings, resolver=resolver, verify=verify)
    return record_attempt(session, delivery_id, result, settings=settings, now=now)


def redeliver(
    session: Session, tenant_id: str, delivery_id: str, *, now: datetime | None = None
) -> WebhookDelivery:
    """Start a fresh attempt cycle now, with the same ``webhook-id`` (the delivery's id) and the
    same payload, whatever the delivery's state. A disabled endpoint must be re-enabled first."""
    now = now or utcnow()
    delivery = get_delivery(session, tenant_id, delivery_id)
    if delivery.endpoint_id is None and not _to_job_url(session, delivery):
        raise Conflict(
            f"The endpoint of webhook delivery {delivery_id} was deleted; nothing to redeliver.",
            code="endpoint_deleted",
        )
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.delivered_at = None
    session.flush()
    # A unique key per request: a redelivery is a deliberate new send, not a duplicate.
    _enqueue_send(session, delivery, f"redeliver:{delivery.id}:{new_id('', 16)}", now)
    return delivery


def due_deliveries(session: Session, now: datetime, limit: int = 100) -> list[WebhookDelivery]:
    """Pending deliveries whose next attempt is due, oldest first: for the reconciler, which
    sends ``DELIVER_TASK`` for each (the attempt itself is idempotent)."""
    return WebhookRepository(session).due_deliveries(now, limit)


def _enqueue_send(session: Session, delivery: WebhookDelivery, key: str, when: datetime) -> None:
    outbox.enqueue(
        session,
        task=DELIVER_TASK,
        target_id=delivery.id,
        dedupe_key=key,
        tenant_id=delivery.tenant_id,
        available_at=when,
    )


def _to_job_url(session: Session, delivery: WebhookDelivery) -> bool:
    """A delivery without an endpoint goes to its job's own ``webhook_url``, unless it was made
    for an endpoint since deleted (its ``endpoint_id`` then became NULL): that one never sends."""
    job = session.get(Job, delivery.job_id) if delivery.job_id else None
    return job is not None and job.webhook_url is not None and job.webhook_url == delivery.url


def _give_up(delivery: WebhookDelivery, error: str | None) -> None:
    delivery.status = "failed"
    delivery.next_attempt_at = None
    delivery.last_error = error


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason
