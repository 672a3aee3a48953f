"""Webhook deliveries travel on a queue of their own, served by workers of their own (``serve``
starts one; the image has a ``webhook-worker`` role): a receiver that trickles its answer holds
a delivery worker, never the workers that launch and poll other tenants' jobs, which never
even receive a delivery."""

from __future__ import annotations

import workers.tasks  # noqa: F401  (registers every task with the app)
from service.settings import Settings
from service.webhooks.deliveries import DELIVER_TASK
from workers.backlog import queued_messages
from workers.celery_app import (
    DEFAULT_QUEUE,
    GPU_QUEUE,
    WEBHOOK_QUEUE,
    celery_app,
    create_celery,
)
from workers.dispatch import publish, queue_for
from workers.kinds import GPU_TASKS

LAUNCH_TASK = "tuneforge.launch_job"


def test_deliveries_have_their_own_queue_and_nothing_else_shares_it() -> None:
    assert queue_for(DELIVER_TASK) == WEBHOOK_QUEUE
    ours = {name for name in celery_app.tasks if name.startswith("tuneforge.")}
    assert {DELIVER_TASK, LAUNCH_TASK, "tuneforge.poll_job"} <= ours
    for task in ours - {DELIVER_TASK}:
        assert queue_for(task) == (GPU_QUEUE if task in GPU_TASKS else DEFAULT_QUEUE), task


def test_a_delivery_lands_on_the_webhooks_queue_of_the_real_broker(settings: Settings) -> None:
    app = create_celery(settings)
    before = {q: queued_messages(app, q) for q in (DEFAULT_QUEUE, WEBHOOK_QUEUE)}
    publish(app, DELIVER_TASK, "whd_trickling", {})
    publish(app, LAUNCH_TASK, "job_other_tenant", {})
    after = {q: queued_messages(app, q) for q in (DEFAULT_QUEUE, WEBHOOK_QUEUE)}
    # a worker of the default queue (launches, polls) sees the launch and never the delivery
    assert after[DEFAULT_QUEUE] == (before[DEFAULT_QUEUE] or 0) + 1
    assert after[WEBHOOK_QUEUE] == (before[WEBHOOK_QUEUE] or 0) + 1
