"""``tuneforge migrate | serve | api | worker | beat``: running the service's processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer
import uvicorn

from service.db import migrations
from service.observability.metrics import serve_worker_metrics
from service.observability.setup import configure_process
from service.settings import Settings, get_settings

err_echo = typer.echo


def migrate() -> None:
    """Upgrade the database schema to the latest revision (SQLite or PostgreSQL)."""
    settings = get_settings()
    configure_process(settings)
    migrations.upgrade(settings)
    typer.echo(f"database is at the latest revision ({_redact(settings.database_url)})")


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def _run_api(settings: Settings, host: str, port: int) -> None:
    from workers import dispatch  # the API process relays outbox rows to the broker

    dispatch.install()
    from service.api.app import create_app

    typer.echo(f"tuneforge API listening on http://{host}:{port}  (docs: /docs)")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,  # keep the process's logging (JSON when configured)
        log_level="info",
        access_log=False,
    )


def api(
    host: str = typer.Option(None, help="Bind address (default TUNEFORGE_HOST)."),
    port: int = typer.Option(None, help="Port (default TUNEFORGE_PORT)."),
) -> None:
    """Run the API server alone (production: run workers separately)."""
    settings = get_settings()
    configure_process(settings)
    _run_api(settings, host or settings.host, port or settings.port)


def serve(
    host: str = typer.Option(None, help="Bind address (default TUNEFORGE_HOST)."),
    port: int = typer.Option(None, help="Port (default TUNEFORGE_PORT)."),
) -> None:
    """Run tuneforge. Embedded default: migrate, then the API plus a worker child process;
    with PostgreSQL + Redis configured: the API alone (start workers with `tuneforge worker`)."""
    settings = get_settings()
    configure_process(settings)
    host, port = host or settings.host, port or settings.port
    if not settings.embedded:
        _run_api(settings, host, port)
        return
    migrations.upgrade(settings)
    # SIGTERM (docker stop, systemd) must reach the ``finally`` below: uvicorn re-raises the
    # signal it caught once it has stopped, which without a handler of ours kills this process
    # on the spot and leaves the worker running on its own.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    workers = [
        _start_worker("--beat", "--queues", "default,gpu"),
        # Deliveries have workers of their own: a slow receiver never holds a launch or a poll.
        # Its counters reach /metrics through the shared multiprocess folder; the port is the
        # first worker's.
        _start_worker("--queues", "webhooks", "--concurrency", "2", metrics_port=False),
    ]
    try:
        _run_api(settings, host, port)
    finally:
        _stop_groups(workers)


def _start_worker(*args: str, metrics_port: bool = True) -> subprocess.Popen[bytes]:
    # Each worker leads its own process group (its pool and beat processes join it), so one
    # signal to the group reaches every process it started, and a Ctrl-C in a terminal reaches
    # only this process, which stops the workers in order.
    env = os.environ.copy()
    if not metrics_port:
        env.pop("TUNEFORGE_METRICS_PORT", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tuneforge_cli.main", "worker", *args],
        env=env,
        start_new_session=True,
    )


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


STOP_GRACE_S = 10.0


def _stop_groups(children: list[subprocess.Popen[bytes]], grace_s: float = STOP_GRACE_S) -> None:
    """Warm shutdown first (SIGTERM to each worker: it stops its pool and beat in order), then
    SIGKILL to each one's whole process group once ``grace_s`` has passed or it has exited, so
    that nothing they started outlives them. A task cut short is not lost: tasks are
    acknowledged late and rejected when their process is lost, so the broker hands them out
    again."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # empty group: every process in it exited
        os.killpg(group, signum)


def worker(
    queues: str = typer.Option(
        "default", help="Comma-separated queues: default, webhooks, gpu (see the README)."
    ),
    concurrency: int = typer.Option(None, help="Worker processes (gpu: 1 per GPU)."),
    beat: bool = typer.Option(False, "--beat", help="Also run the scheduler (one per cluster)."),
    loglevel: str = typer.Option("INFO", help="Log level."),
) -> None:
    """Run a Celery worker."""
    settings = get_settings()
    configure_process(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from workers import dispatch, quiet_logs
    from workers.celery_app import QUEUES, celery_app

    dispatch.install()
    quiet_logs.install()
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if unknown:
        typer.echo(f"error: unknown queue(s): {', '.join(unknown)}", err=True)
        raise typer.Exit(code=2)
    if concurrency is None:
        # Deliveries wait on receivers, not on the CPU: their workers run more at a time.
        concurrency = {("gpu",): 1, ("webhooks",): 4}.get(tuple(wanted), 2)
    argv = [
        "worker",
        f"--queues={','.join(wanted)}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        "--prefetch-multiplier=1",
        f"--hostname=tuneforge-{'-'.join(wanted)}@%h",
    ]
    try:
        serve_worker_metrics(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    if beat:
        argv += ["--beat", f"--schedule={Path(settings.data_dir) / 'celerybeat-schedule'}"]
    celery_app.worker_main(argv=argv)


def beat(loglevel: str = typer.Option("INFO", help="Log level.")) -> None:
    """Run the Celery beat scheduler (exactly one per deployment)."""
    settings = get_settings()
    configure_process(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from workers import quiet_logs
    from workers.celery_app import celery_app

    quiet_logs.install()
    celery_app.start(
        argv=[
            "beat",
            f"--loglevel={loglevel}",
            f"--schedule={settings.data_dir / 'celerybeat-schedule'}",
        ]
    )
