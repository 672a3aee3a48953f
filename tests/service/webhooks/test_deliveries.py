from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import OutboxMessage
from service.db.types import utcnow
from service.errors import Conflict, InvalidRequest, NotFound
from service.settings import Settings
from service.webhooks.deliveries import (
    DELIVER_TASK,
    ClaimedDelivery,
    DeliveryOutcome,
    attempt_delivery,
    claim_delivery,
    due_deliveries,
    enqueue_job_event,
    record_attempt,
    redeliver,
    send_claimed,
)
from service.webhooks.endpoints import (
    EndpointWithSecret,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    reveal_tenant_secret,
    rotate_endpoint_secret,
)
from service.webhooks.events import CHECKPOINT_CREATED, JOB_RUNNING, JOB_SUCCEEDED
from service.webhooks.queries import get_delivery_with_attempts, list_deliveries
from tests.factories import make_tenant
from tests.service.webhooks.helpers import tenant_and_job, verify_with_both_libraries
from tests.service.webhooks.receiver import Receiver, Reply, running_receiver


def _endpoint(
    session: Session,
    tenant_id: str,
    url: str,
    settings: Settings,
    events: list[str] | None = None,
) -> EndpointWithSecret:
    return create_endpoint(session, tenant_id, url=url, settings=settings, events=events)


def _outbox_keys(session: Session, delivery_id: str) -> list[str]:
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.target_id == delivery_id))
    return sorted(row.dedupe_key for row in rows)


def test_a_terminal_event_reaches_every_subscribed_endpoint_signed(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        tenant, job = tenant_and_job(db_session, webhook_url=receiver.url("/job"))
        terminal = _endpoint(db_session, tenant.id, receiver.url("/a"), webhook_settings)
        _endpoint(db_session, tenant.id, receiver.url("/b"), webhook_settings, events=[JOB_RUNNING])
        disabled = _endpoint(db_session, tenant.id, receiver.url("/c"), webhook_settings)
        disabled.endpoint.enabled = False

        deliveries = enqueue_job_event(db_session, job, JOB_SUCCEEDED)
        assert sorted(d.url for d in deliveries) == [receiver.url("/a"), receiver.url("/job")]
        assert len({d.event_id for d in deliveries}) == 1
        for delivery in deliveries:
            assert _outbox_keys(db_session, delivery.id) == [f"deliver:{delivery.id}:0"]
            outcome = attempt_delivery(db_session, delivery.id, settings=webhook_settings)
            assert outcome.outcome == "delivered", outcome

        by_path = {r.path: r for r in receiver.received}
        assert set(by_path) == {"/a", "/job"}
        payload = verify_with_both_libraries(by_path["/a"], terminal.secret)
        job_secret = reveal_tenant_secret(db_session, tenant.id, webhook_settings).secret
        verify_with_both_libraries(by_path["/job"], job_secret)
        assert payload["data"]["id"] == job.id and payload["data"]["status"] == "succeeded"
        assert payload["data"]["fine_tuned_model"] == job.fine_tuned_model
        assert payload["data"]["cost"]["amount"] == "0.42"
        assert {r.headers["webhook-id"] for r in receiver.received} == {d.id for d in deliveries}

    page = list_deliveries(db_session, tenant.id, job_id=job.id, status="delivered").items
    assert len(page) == 2 and all(len(item.attempts) == 1 for item in page)
    attempt = page[0].attempts[0]
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok"
    assert attempt.latency_ms is not None
    only_a = list_deliveries(db_session, tenant.id, endpoint_id=terminal.endpoint.id)
    assert [item.delivery.url for item in only_a.items] == [receiver.url("/a")]
    first_page = list_deliveries(db_session, tenant.id, limit=1)
    assert first_page.has_more
    second_page = list_deliveries(
        db_session, tenant.id, limit=1, after=first_page.items[0].delivery.id
    )
    assert not second_page.has_more
    assert {first_page.items[0].delivery.id, second_page.items[0].delivery.id} == {
        d.id for d in deliveries
    }
    outbox = db_session.scalars(select(OutboxMessage)).all()
    assert {row.task for row in outbox} == {DELIVER_TASK}


def test_non_terminal_events_only_reach_endpoints_that_ask_for_them(
    db_session: Session, webhook_settings: Settings
) -> None:
    tenant, job = tenant_and_job(db_session, status="running")
    _endpoint(db_session, tenant.id, "http://127.0.0.1:9/a", webhook_settings)
    wants = _endpoint(
        db_session,
        tenant.id,
        "http://127.0.0.1:9/b",
        webhook_settings,
        events=[JOB_RUNNING, CHECKPOINT_CREATED],
    )
    assert enqueue_job_event(db_session, job, JOB_SUCCEEDED)[0].endpoint_id != wants.endpoint.id
    running = enqueue_job_event(db_session, job, JOB_RUNNING)
    assert [d.endpoint_id for d in running] == [wants.endpoint.id]
    assert running[0].payload["type"] == JOB_RUNNING


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_receiver_down_then_up_gets_it_later_with_the_same_webhook_id(
    db_session: Session, webhook_settings: Settings
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hook"
    tenant, job = tenant_and_job(db_session)
    endpoint = _endpoint(db_session, tenant.id, url, webhook_settings)
    [delivery] = enqueue_job_event(db_session, job, JOB_SUCCEEDED)

    now = utcnow()
    first = attempt_delivery(db_session, delivery.id, settings=webhook_settings, now=now)
    assert first.outcome == "retrying" and first.next_attempt_at is not None
    assert first.error is not None and "could not connect" in first.error
    assert timedelta(seconds=4.5) <= first.next_attempt_at - now <= timedelta(seconds=5.5)
    assert get_endpoint(db_session, tenant.id, endpoint.endpoint.id).failing_since == now
    assert _outbox_keys(db_session, delivery.id) == [
        f"deliver:{delivery.id}:0",
        f"deliver:{delivery.id}:1",
    ]
    early = attempt_delivery(db_session, delivery.id, settings=webhook_settings, now=now)
    assert early.outcome == "skipped"
    assert [d.id for d in due_deliveries(db_session, first.next_attempt_at)] == [delivery.id]

    with running_receiver(port) as receiver:
        later = attempt_delivery(
            db_session, delivery.id, settings=webhook_settings, now=first.next_attempt_at
        )
        assert later.outcome == "delivered"
        [received] = receiver.received
    assert received.headers["webhook-id"] == delivery.id
    verify_with_both_libraries(received, endpoint.secret)
    assert get_endpoint(db_session, tenant.id, endpoint.endpoint.id).failing_since is None
    log = get_delivery_with_attempts(db_session, tenant.id, delivery.id)
    assert [a.status_code for a in log.attempts] == [None, 200]
    assert due_deliveries(db_session, first.next_attempt_at + timedelta(days=1)) == []


def _one_delivery(
    session: Session, settings: Settings, receiver: Receiver
) -> tuple[str, EndpointWithSecret]:
    tenant, job = tenant_and_job(session)
    endpoint = _endpoint(session, tenant.id, receiver.url(), settings)
    [delivery] = enqueue_job_event(session, job, JOB_SUCCEEDED)
    return delivery.id, endpoint


def test_500_then_429_with_retry_after_are_retried(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        receiver.replies += [Reply(500, b"boom"), Reply(429, b"", {"Retry-After": "600"})]
        delivery_id, _ = _one_delivery(db_session, webhook_settings, receiver)
        now = utcnow()
        failed = attempt_delivery(db_session, delivery_id, settings=webhook_settings, now=now)
        assert (failed.outcome, failed.status_code) == ("retrying", 500)
        assert failed.next_attempt_at is not None
        limited = attempt_delivery(
            db_session, delivery_id, settings=webhook_settings, now=failed.next_attempt_at
        )
        assert (limited.outcome, limited.status_code) == ("retrying", 429)
        assert limited.next_attempt_at is not None
        # The schedule says ≈ 5 min; the receiver asked for 10.
        assert limited.next_attempt_at - failed.next_attempt_at >= timedelta(seconds=600)
        assert len(receiver.received) == 2
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


def test_410_disables_the_endpoint_with_a_reason(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        receiver.replies.append(Reply(410, b"gone"))
        delivery_id, endpoint = _one_delivery(db_session, webhook_settings, receiver)
        outcome = attempt_delivery(db_session, delivery_id, settings=webhook_settings)
    assert (outcome.outcome, outcome.status_code) == ("failed", 410)
    assert not endpoint.endpoint.enabled
    assert endpoint.endpoint.disabled_reason is not None
    assert "410" in endpoint.endpoint.disabled_reason


def test_a_redirect_is_a_failure_and_is_not_followed(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        receiver.replies.append(Reply(307, b"", {"Location": receiver.url("/elsewhere")}))
        delivery_id, _ = _one_delivery(db_session, webhook_settings, receiver)
        outcome = attempt_delivery(db_session, delivery_id, settings=webhook_settings)
        assert [r.path for r in receiver.received] == ["/hook"]
    assert (outcome.outcome, outcome.status_code) == ("retrying", 307)
    assert outcome.error is not None and "not followed" in outcome.error


def test_a_hanging_receiver_times_out_and_is_retried(
    db_session: Session, webhook_settings: Settings
) -> None:
    settings = webhook_settings.model_copy(update={"webhook_timeout_s": 0.5})
    with running_receiver() as receiver:
        receiver.replies.append(Reply(200, b"late", delay_s=1.5))
        delivery_id, _ = _one_delivery(db_session, settings, receiver)
        outcome = attempt_delivery(db_session, delivery_id, settings=settings)
    assert outcome.outcome == "retrying"
    assert outcome.error is not None and "timed out after 0.5s" in outcome.error


def test_gives_up_when_the_schedule_is_exhausted(
    db_session: Session, webhook_settings: Settings
) -> None:
    settings = webhook_settings.model_copy(update={"webhook_retry_schedule_s": [1]})
    with running_receiver() as receiver:
        receiver.replies += [Reply(500), Reply(500)]
        delivery_id, endpoint = _one_delivery(db_session, settings, receiver)
        first = attempt_delivery(db_session, delivery_id, settings=settings)
        assert first.outcome == "retrying" and first.next_attempt_at is not None
        last = attempt_delivery(
            db_session, delivery_id, settings=settings, now=first.next_attempt_at
        )
    assert last.outcome == "failed"
    assert endpoint.endpoint.enabled  # one exhausted delivery does not disable the endpoint
    again = attempt_delivery(db_session, delivery_id, settings=settings)
    assert again.outcome == "skipped"


def test_an_endpoint_failing_for_too_long_is_disabled(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        receiver.replies += [Reply(503), Reply(503)]
        delivery_id, endpoint = _one_delivery(db_session, webhook_settings, receiver)
        start = utcnow()
        attempt_delivery(db_session, delivery_id, settings=webhook_settings, now=start)
        much_later = start + timedelta(seconds=webhook_settings.webhook_disable_after_s + 1)
        outcome = attempt_delivery(
            db_session, delivery_id, settings=webhook_settings, now=much_later
        )
    assert outcome.outcome == "failed"
    assert not endpoint.endpoint.enabled
    reason = endpoint.endpoint.disabled_reason
    assert reason is not None and "every delivery failed since" in reason and "503" in reason
    # Later events skip the disabled endpoint entirely.
    tenant_id = endpoint.endpoint.tenant_id
    _, job = tenant_and_job(db_session)
    job.tenant_id = tenant_id
    assert enqueue_job_event(db_session, job, JOB_SUCCEEDED) == []


def test_both_signatures_verify_during_a_rotation(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        delivery_id, created = _one_delivery(db_session, webhook_settings, receiver)
        rotated = rotate_endpoint_secret(
            db_session,
            created.endpoint.tenant_id,
            created.endpoint.id,
            settings=webhook_settings,
        )
        assert attempt_delivery(db_session, delivery_id, settings=webhook_settings).outcome == (
            "delivered"
        )
        [received] = receiver.received
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    verify_with_both_libraries(received, created.secret)
    verify_with_both_libraries(received, rotated.secret)


def test_redeliver_sends_again_with_the_same_webhook_id(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        delivery_id, endpoint = _one_delivery(db_session, webhook_settings, receiver)
        attempt_delivery(db_session, delivery_id, settings=webhook_settings)
        tenant_id = endpoint.endpoint.tenant_id
        with pytest.raises(NotFound):
            redeliver(db_session, make_tenant(db_session).id, delivery_id)
        delivery = redeliver(db_session, tenant_id, delivery_id)
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        outcome = attempt_delivery(db_session, delivery_id, settings=webhook_settings)
        assert outcome.outcome == "delivered"
        first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery_id
    assert first.body == second.body
    verify_with_both_libraries(second, endpoint.secret)
    keys = _outbox_keys(db_session, delivery_id)
    assert len(keys) == 2 and keys[1].startswith(f"redeliver:{delivery_id}:")


def test_the_split_claim_send_record_path_hides_a_claimed_delivery(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        delivery_id, _ = _one_delivery(db_session, webhook_settings, receiver)
        claimed = claim_delivery(db_session, delivery_id, settings=webhook_settings)
        assert isinstance(claimed, ClaimedDelivery)
        again = claim_delivery(db_session, delivery_id, settings=webhook_settings)
        assert isinstance(again, DeliveryOutcome) and again.outcome == "skipped"
        assert due_deliveries(db_session, utcnow()) == []
        result = send_claimed(claimed, settings=webhook_settings)
        outcome = record_attempt(db_session, delivery_id, result, settings=webhook_settings)
    assert outcome.outcome == "delivered"


def test_hostile_url_is_refused_at_send_time_and_nothing_is_sent(
    db_session: Session, webhook_settings: Settings, strict_settings: Settings
) -> None:
    with running_receiver() as receiver:
        # Registered while loopback was allowed; production policy refuses it at send time.
        delivery_id, _ = _one_delivery(db_session, webhook_settings, receiver)
        outcome = attempt_delivery(db_session, delivery_id, settings=strict_settings)
        assert receiver.received == []
    # Refused by our own policy: no retry can succeed, so it fails at once (it retried for days).
    assert outcome.outcome == "failed"
    assert outcome.error is not None and outcome.error.startswith("refused: ")
    assert due_deliveries(db_session, utcnow()) == []


def test_listing_validates_filters_and_scopes_by_tenant(
    db_session: Session, webhook_settings: Settings
) -> None:
    tenant, job = tenant_and_job(db_session)
    _endpoint(db_session, tenant.id, "http://127.0.0.1:9/a", webhook_settings)
    [delivery] = enqueue_job_event(db_session, job, JOB_SUCCEEDED)
    listed = list_deliveries(db_session, tenant.id).items
    assert [i.delivery.id for i in listed] == [delivery.id]
    assert list_deliveries(db_session, tenant.id, status="failed").items == []
    assert list_deliveries(db_session, make_tenant(db_session).id).items == []
    with pytest.raises(InvalidRequest) as caught:
        list_deliveries(db_session, tenant.id, status="exploded")
    assert caught.value.param == "status"
    with pytest.raises(NotFound):
        get_delivery_with_attempts(db_session, make_tenant(db_session).id, delivery.id)


def test_a_delivery_to_a_deleted_endpoint_is_never_sent_again(
    db_session: Session, webhook_settings: Settings
) -> None:
    with running_receiver() as receiver:
        delivery_id, endpoint = _one_delivery(db_session, webhook_settings, receiver)
        assert attempt_delivery(db_session, delivery_id, settings=webhook_settings).outcome == (
            "delivered"
        )
        tenant_id = endpoint.endpoint.tenant_id
        delete_endpoint(db_session, tenant_id, endpoint.endpoint.id)
        with pytest.raises(Conflict):
            redeliver(db_session, tenant_id, delivery_id)
        # Even if something sets it pending again, the send step refuses.
        delivery = get_delivery_with_attempts(db_session, tenant_id, delivery_id).delivery
        delivery.status, delivery.next_attempt_at = "pending", utcnow()
        db_session.flush()
        outcome = attempt_delivery(db_session, delivery_id, settings=webhook_settings)
        assert len(receiver.received) == 1
    assert outcome.outcome == "failed" and outcome.error == "endpoint deleted"
