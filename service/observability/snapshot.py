"""Gauges computed at scrape time from the database and the broker: the facts every API replica
and worker share (jobs by status, deliveries by status, queue depth, reconciler lag), so no
process has to keep them in memory and any replica reports the same numbers."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from providers.base import JobStatus
from service.db.models import Job, OutboxMessage, WebhookDelivery
from service.db.types import utcnow
from service.settings import Settings

log = logging.getLogger(__name__)

QUEUES = ("default", "webhooks", "gpu")
ACTIVE_JOB_STATUSES = tuple(s for s in JobStatus if not s.is_terminal)
# kombu's Redis transport keeps one list per priority step; priority 0 is the bare queue name.
_REDIS_PRIORITY_SEP = "\x06\x16"
_REDIS_PRIORITY_STEPS = (3, 6, 9)


def job_counts(session: Session) -> list[tuple[str, str, int]]:
    rows = session.execute(
        select(Job.status, Job.provider, func.count()).group_by(Job.status, Job.provider)
    )
    return [(status, provider, int(count)) for status, provider, count in rows]


def delivery_counts(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(
        select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
    )
    return [(status, int(count)) for status, count in rows]


def reconciler_lag(session: Session, now: datetime | None = None) -> dict[str, float]:
    """Seconds by which the oldest overdue item of each kind is late (0 when none is)."""
    now = now or utcnow()
    oldest = {
        "outbox": session.scalar(
            select(func.min(OutboxMessage.available_at)).where(
                OutboxMessage.sent_at.is_(None), OutboxMessage.available_at <= now
            )
        ),
        "job_poll": session.scalar(
            select(func.min(Job.next_poll_at)).where(
                Job.status.in_(ACTIVE_JOB_STATUSES), Job.next_poll_at <= now
            )
        ),
        "webhook_delivery": session.scalar(
            select(func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now
            )
        ),
    }
    return {
        source: 0.0 if due is None else max((now - due).total_seconds(), 0.0)
        for source, due in oldest.items()
    }


def queue_depths(settings: Settings, queues: Iterable[str] = QUEUES) -> dict[str, int]:
    """Messages waiting in each Celery queue. Raises if the broker cannot be asked."""
    url = settings.broker_url
    if url.startswith(("redis://", "rediss://")):
        return _redis_depths(url, settings.broker_key_prefix, queues)
    if url.startswith("sqla+"):
        return _sqla_depths(_broker_engine(url.removeprefix("sqla+")), queues)
    raise ValueError(f"unsupported broker URL scheme for queue depth: {url.split(':', 1)[0]}")


def _redis_depths(url: str, prefix: str, queues: Iterable[str]) -> dict[str, int]:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        names = list(queues)
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(prefix + name)
            for step in _REDIS_PRIORITY_STEPS:
                pipe.llen(f"{prefix}{name}{_REDIS_PRIORITY_SEP}{step}")
        lengths = [int(n) for n in pipe.execute()]
    finally:
        client.close()
    per_queue = 1 + len(_REDIS_PRIORITY_STEPS)
    return {name: sum(lengths[i * per_queue : (i + 1) * per_queue]) for i, name in enumerate(names)}


@lru_cache(maxsize=4)
def _broker_engine(url: str) -> Engine:
    return create_engine(url)


def _sqla_depths(engine: Engine, queues: Iterable[str]) -> dict[str, int]:
    depths = dict.fromkeys(queues, 0)
    with engine.connect() as connection:
        tables = set(engine.dialect.get_table_names(connection))
        if not {"kombu_queue", "kombu_message"} <= tables:
            return depths  # no worker has declared a queue yet
        rows = connection.execute(
            text(
                "SELECT q.name, COUNT(m.id) FROM kombu_queue q "
                "JOIN kombu_message m ON m.queue_id = q.id AND m.visible "
                "GROUP BY q.name"
            )
        )
        for name, count in rows:
            if name in depths:
                depths[name] = int(count)
    return depths


def collect_snapshot(session: Session, settings: Settings) -> list[Metric]:
    jobs = GaugeMetricFamily(
        "tuneforge_jobs", "Fine-tuning jobs by status and provider.", labels=["status", "provider"]
    )
    for status, provider, count in job_counts(session):
        jobs.add_metric([status, provider], count)

    deliveries = GaugeMetricFamily(
        "tuneforge_webhook_deliveries", "Webhook deliveries by status.", labels=["status"]
    )
    for status, count in delivery_counts(session):
        deliveries.add_metric([status], count)

    lag = GaugeMetricFamily(
        "tuneforge_reconciler_lag_seconds",
        "Age of the oldest overdue item the reconciler should have re-sent, by kind.",
        labels=["source"],
    )
    for source, seconds in reconciler_lag(session).items():
        lag.add_metric([source], seconds)

    broker_up = GaugeMetricFamily(
        "tuneforge_broker_up", "1 when the broker answered the queue-depth query."
    )
    families: list[Metric] = [jobs, deliveries, lag, broker_up]
    try:
        depths = queue_depths(settings)
    except (redis.RedisError, SQLAlchemyError, OSError) as exc:
        log.warning("queue depth unavailable: %s: %s", type(exc).__name__, exc)
        broker_up.add_metric([], 0)
        return families
    broker_up.add_metric([], 1)
    depth = GaugeMetricFamily(
        "tuneforge_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
    )
    for queue, count in depths.items():
        depth.add_metric([queue], count)
    families.append(depth)
    return families


class StaticCollector(Collector):
    """Exposes metric families computed once for this scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
