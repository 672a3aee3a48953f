"""Process-local Prometheus metrics and the helpers other modules call to feed them.

Counters and histograms live here; facts that span processes (jobs by status, queue depth,
reconciler lag) are not counted in memory but read from the database and the broker at scrape
time (``service.observability.snapshot``). Worker processes that count (provider calls, webhook
attempts) share them through prometheus_client's multiprocess mode when
``PROMETHEUS_MULTIPROC_DIR`` is set (see ``configure_metrics``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from service.settings import Settings

PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

PROVIDER_CALL_SECONDS = Histogram(
    "tuneforge_provider_call_duration_seconds",
    "Latency of calls to a fine-tuning provider's API, by provider and operation.",
    ["provider", "operation"],
    buckets=_LATENCY_BUCKETS,
    registry=PROCESS_REGISTRY,
)
PROVIDER_CALL_ERRORS = Counter(
    "tuneforge_provider_call_errors",
    "Failed calls to a provider's API, by provider, operation and error class.",
    ["provider", "operation", "error_class"],
    registry=PROCESS_REGISTRY,
)
WEBHOOK_DELIVERY_ATTEMPTS = Counter(
    "tuneforge_webhook_delivery_attempts",
    "Webhook delivery attempts by outcome (delivered, failed, retrying, gave_up, …).",
    ["outcome"],
    registry=PROCESS_REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "tuneforge_http_request_duration_seconds",
    "API request latency by method, route template and status code.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
    registry=PROCESS_REGISTRY,
)


def observe_provider_call(
    provider: str, operation: str, seconds: float, error_class: str | None = None
) -> None:
    """Record one provider API call; ``error_class`` names the failure (None: it succeeded)."""
    PROVIDER_CALL_SECONDS.labels(provider, operation).observe(max(seconds, 0.0))
    if error_class is not None:
        PROVIDER_CALL_ERRORS.labels(provider, operation, error_class).inc()


@contextmanager
def time_provider_call(provider: str, operation: str) -> Iterator[None]:
    """Time the block as one provider call; an exception is counted by its class and re-raised."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        observe_provider_call(
            provider, operation, time.perf_counter() - started, type(exc).__name__
        )
        raise
    observe_provider_call(provider, operation, time.perf_counter() - started)


def count_webhook_delivery(outcome: str) -> None:
    """Count one webhook delivery attempt by its outcome."""
    WEBHOOK_DELIVERY_ATTEMPTS.labels(outcome).inc()


def observe_http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUEST_SECONDS.labels(method, route, str(status)).observe(max(seconds, 0.0))


def configure_metrics(settings: Settings) -> None:
    """Make sure the shared directory exists before the first sample is written. Multiprocess
    mode itself is prometheus_client's documented one: ``PROMETHEUS_MULTIPROC_DIR`` in the
    environment before the process starts (read when prometheus_client is imported, inherited
    by the children a worker forks)."""
    directory = settings.metrics_multiproc_dir
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)


def counters_registry(settings: Settings) -> CollectorRegistry:
    """The registry to expose this process's counters from: every process's (multiprocess mode)
    or this one's."""
    if settings.metrics_multiproc_dir is None:
        return PROCESS_REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=str(settings.metrics_multiproc_dir))  # type: ignore[no-untyped-call]
    return registry


def serve_worker_metrics(settings: Settings) -> bool:
    """Serve every worker process's counters on ``metrics_port`` from a background thread of
    the worker's main process. Returns False when no port is configured."""
    if settings.metrics_port is None:
        return False
    if settings.metrics_multiproc_dir is None:
        raise ValueError(
            "TUNEFORGE_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR: Celery runs tasks in "
            "child processes, whose counters only a shared directory can gather"
        )
    start_http_server(settings.metrics_port, registry=counters_registry(settings))
    return True
