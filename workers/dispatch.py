"""Wires the outbox to Celery: the only place where a service task name meets the broker."""

from __future__ import annotations

from typing import Any

from service import outbox
from workers.celery_app import GPU_QUEUE, celery_app

GPU_TASKS = frozenset({"tuneforge.train_job"})


def send_task(task: str, target_id: str, payload: dict[str, Any], delay_s: float = 0.0) -> None:
    queue = GPU_QUEUE if task in GPU_TASKS else None
    countdown = delay_s if delay_s > 0 else None
    celery_app.send_task(
        task, args=[target_id], kwargs=payload, queue=queue, retry=False, countdown=countdown
    )


def install() -> None:
    outbox.install_sender(send_task)
