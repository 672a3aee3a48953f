"""Wires the outbox to Celery: the only place where a service task name meets the broker."""

from __future__ import annotations

from typing import Any

from celery import Celery

from service import outbox
from service.webhooks.deliveries import DELIVER_TASK
from workers.celery_app import DEFAULT_QUEUE, GPU_QUEUE, WEBHOOK_QUEUE, celery_app
from workers.kinds import BULK_TASKS, GPU_TASKS

BULK_PRIORITY = 6
"""Routine polls are the bulk of the queue: with the Redis transport a higher number is served
later, so a webhook delivery, a launch or a cancel never waits behind a backlog of polls."""


def queue_for(task: str) -> str:
    """Webhook deliveries go to workers of their own: a receiver that answers slowly holds only
    a delivery worker (for at most the send deadline), never one that launches or polls."""
    if task in GPU_TASKS:
        return GPU_QUEUE
    if task == DELIVER_TASK:
        return WEBHOOK_QUEUE
    return DEFAULT_QUEUE


def send_task(task: str, target_id: str, payload: dict[str, Any], delay_s: float = 0.0) -> None:
    publish(celery_app, task, target_id, payload, delay_s)


def publish(
    app: Celery, task: str, target_id: str, payload: dict[str, Any], delay_s: float = 0.0
) -> None:
    app.send_task(
        task,
        args=[target_id],
        kwargs=payload,
        queue=queue_for(task),
        retry=False,
        countdown=delay_s if delay_s > 0 else None,
        priority=BULK_PRIORITY if task in BULK_TASKS else None,
    )


def install() -> None:
    outbox.install_sender(send_task)
