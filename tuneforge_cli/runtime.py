"""``tuneforge migrate | serve | api | worker | beat``: running the service's processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    worker = subprocess.Popen(
        [sys.executable, "-m", "tuneforge_cli.main", "worker", "--beat", "--queues", "default,gpu"],
        env=os.environ.copy(),
    )
    try:
        _run_api(settings, host, port)
    finally:
        _stop_child(worker)


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def worker(
    queues: str = typer.Option("default", help="Comma-separated queues: default, gpu."),
    concurrency: int = typer.Option(None, help="Worker processes (gpu: 1 per GPU)."),
    beat: bool = typer.Option(False, "--beat", help="Also run the scheduler (one per cluster)."),
    loglevel: str = typer.Option("INFO", help="Log level."),
) -> None:
    """Run a Celery worker."""
    settings = get_settings()
    configure_process(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from workers import dispatch, quiet_logs
    from workers.celery_app import celery_app

    dispatch.install()
    quiet_logs.install()
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - {"default", "gpu"})
    if unknown:
        typer.echo(f"error: unknown queue(s): {', '.join(unknown)}", err=True)
        raise typer.Exit(code=2)
    if concurrency is None:
        concurrency = 1 if wanted == ["gpu"] else 2
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
