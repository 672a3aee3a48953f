"""The Celery application: queues ``default`` (launches, polls, cancels, file work),
``webhooks`` (webhook deliveries, served by workers of their own so that slow receivers never
hold the workers launches and polls need) and ``gpu`` (local training, served only by workers
on GPU hosts)."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from service.settings import Settings, get_settings

DEFAULT_QUEUE = "default"
GPU_QUEUE = "gpu"
WEBHOOK_QUEUE = "webhooks"
QUEUES = (DEFAULT_QUEUE, WEBHOOK_QUEUE, GPU_QUEUE)


def create_celery(settings: Settings) -> Celery:
    app = Celery(
        "tuneforge",
        broker=settings.broker_url,
        include=["workers.tasks", "workers.file_tasks", "workers.train"],
    )
    transport_options: dict[str, object] = {}
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # A task not acked within this window is handed to another worker; it must outlast
        # the longest task (local training holds a lease and heartbeats in the database).
        transport_options["visibility_timeout"] = 6 * 3600
        if settings.broker_key_prefix:
            transport_options["global_keyprefix"] = settings.broker_key_prefix
    app.conf.update(
        task_default_queue=DEFAULT_QUEUE,
        task_queues=tuple(Queue(name) for name in QUEUES),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "reconcile": {
                "task": "tuneforge.reconcile",
                "schedule": settings.reconcile_interval_s,
                "options": {"expires": settings.reconcile_interval_s * 2},
            }
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    return app


celery_app = create_celery(get_settings())
