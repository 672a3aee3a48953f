"""Wires the outbox to Celery: the only place where a service task name meets the broker."""

from __future__ import annotations

from typing import Any

from service import outbox
from workers.celery_app import GPU_QUEUE, celery_app
from workers.kinds import BULK_TASKS, GPU_TASKS

BULK_PRIORITY = 6
"""Routine polls are the bulk of the queue: with the Redis transport a higher number is served
later, so a webhook delivery, a launch or a cancel never waits behind a backlog of polls."""


def send_task(task: str, target_id: str, payload: dict[str, Any], delay_s: float = 0.0) -> None:
    queue = GPU_QUEUE if task in GPU_TASKS else None
    celery_app.send_task(
        task,
        args=[target_id],
        kwargs=payload,
        queue=queue,
        retry=False,
        countdown=delay_s if delay_s > 0 else None,
        priority=BULK_PRIORITY if task in BULK_TASKS else None,
    )


def install() -> None:
    outbox.install_sender(send_task)
