"""Runs are durable like jobs: a run whose worker lost its lease resumes from the items already
stored (none is sampled, so paid for, twice), a cancel stops a running run before its next
item, a queued one at once, and each end is announced to subscribed webhook endpoints."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from service.db.models import EvalRun, EvalRunOutputItem, WebhookDelivery
from service.db.session import session_scope
from service.db.types import utcnow
from service.settings import Settings
from service.webhooks.endpoints import create_endpoint
from tests.e2e.harness import wait_for
from tests.service.evals.runs.conftest import BASE_MODEL, CONFIG, CRITERIA, RunWorld, completions


def _stored(world: RunWorld, run_id: str) -> int:
    with session_scope(world.database.sessions) as session:
        count = session.scalar(
            select(func.count())
            .select_from(EvalRunOutputItem)
            .where(EvalRunOutputItem.run_id == run_id)
        )
        return int(count or 0)


def _slow_world(world: RunWorld) -> Settings:
    """One item at a time, each answer 0.1 s late, a short lease renewed every 0.2 s."""
    world.emulator.inject(kind="slow", path="/chat/completions$", seconds=0.1, count=-1)
    return world.settings.model_copy(update={"lease_ttl_s": 0.6, "eval_run_concurrency": 1})


def _run(world: RunWorld, count: int = 10) -> tuple[str, str]:
    eval_id = world.sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA).id
    run = world.sdk.evals.runs.create(eval_id, data_source=completions(BASE_MODEL, count))
    return eval_id, run.id


def test_a_run_that_lost_its_lease_resumes_from_the_stored_items(world: RunWorld) -> None:
    settings = _slow_world(world)
    eval_id, run_id = _run(world)
    first = threading.Thread(target=world.work, args=(run_id, settings))
    first.start()
    wait_for(lambda: _stored(world, run_id) >= 3, 20, "three items stored")
    # The worker is presumed dead: its lease passes to nobody and expires (what the
    # reconciler sees after a crash); the old worker notices at its next renewal and stops.
    with session_scope(world.database.sessions) as session:
        session.execute(
            update(EvalRun)
            .where(EvalRun.id == run_id)
            .values(lease_owner="gone", lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    first.join(timeout=30)
    assert not first.is_alive()
    stopped_at = _stored(world, run_id)
    assert 3 <= stopped_at < 10
    assert world.sdk.evals.runs.retrieve(run_id, eval_id=eval_id).status == "in_progress"

    world.work(run_id, settings)  # the rescue the reconciler sends
    done = world.sdk.evals.runs.retrieve(run_id, eval_id=eval_id)
    assert done.status == "completed"
    assert (done.result_counts.total, done.per_model_usage[0].invocation_count) == (10, 10)
    assert world.chat_requests() == 10  # every item sampled (paid for) once
    items = world.sdk.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=100)
    assert [i.datasource_item_id for i in items.data] == list(range(10))


def test_cancel_stops_a_running_run_before_its_next_item(world: RunWorld) -> None:
    settings = _slow_world(world)
    eval_id, run_id = _run(world)
    worker = threading.Thread(target=world.work, args=(run_id, settings))
    worker.start()
    wait_for(lambda: _stored(world, run_id) >= 2, 20, "two items stored")
    asked = world.sdk.evals.runs.cancel(run_id, eval_id=eval_id)
    assert asked.status in ("in_progress", "canceled")
    worker.join(timeout=30)
    done = world.sdk.evals.runs.retrieve(run_id, eval_id=eval_id)
    assert done.status == "canceled"
    stored = _stored(world, run_id)
    assert 2 <= stored < 10
    assert done.result_counts.total == stored  # what was graded before the stop
    assert world.chat_requests() == stored
    again = world.sdk.evals.runs.cancel(run_id, eval_id=eval_id)
    assert again.status == "canceled"


def test_a_queued_run_is_canceled_at_once_and_never_sampled(world: RunWorld) -> None:
    eval_id, run_id = _run(world)
    canceled = world.sdk.evals.runs.cancel(run_id, eval_id=eval_id)
    assert canceled.status == "canceled"
    world.work(run_id)
    assert world.chat_requests() == 0
    assert world.sdk.evals.runs.retrieve(run_id, eval_id=eval_id).result_counts.total == 0


def _deliveries(world: RunWorld, run_id: str) -> list[tuple[str, Any]]:
    with session_scope(world.database.sessions) as session:
        rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at))
        return [(d.event_type, d.payload) for d in rows if d.payload["data"]["id"] == run_id]


def test_each_end_is_announced_to_subscribed_endpoints(world: RunWorld) -> None:
    with session_scope(world.database.sessions) as session:
        for events in (["eval.run.succeeded", "eval.run.canceled"], ["fine_tuning.job.failed"]):
            create_endpoint(
                session,
                world.tenant_id,
                url="http://127.0.0.1:9/hook",
                settings=world.settings,
                events=events,
            )
    eval_id, finished = _run(world, 2)
    world.work(finished)
    _, canceled = _run(world, 2)
    world.sdk.evals.runs.cancel(canceled, eval_id=world.sdk.evals.list().data[-1].id)
    sent = _deliveries(world, finished)
    assert [event for event, _ in sent] == ["eval.run.succeeded"]  # one endpoint subscribed
    payload = sent[0][1]
    assert payload["object"] == "event" and payload["data"]["status"] == "completed"
    assert payload["data"]["eval_id"] == eval_id
    assert [event for event, _ in _deliveries(world, canceled)] == ["eval.run.canceled"]
