"""Counters recorded in forked children (Celery's prefork pool) reach the parent's exporter when
``PROMETHEUS_MULTIPROC_DIR`` is in the environment before the process starts (prometheus_client's
documented mechanism). Runs in a fresh interpreter: multiprocess mode is process-wide and must
not leak into the other tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from prometheus_client import generate_latest
    from service.observability.metrics import (
        configure_metrics, counters_registry, observe_provider_call, count_webhook_delivery,
    )
    from service.settings import Settings

    settings = Settings(data_dir=sys.argv[1], _env_file=None)
    assert str(settings.metrics_multiproc_dir) == os.environ["PROMETHEUS_MULTIPROC_DIR"]
    configure_metrics(settings)
    children = []
    for n in range(2):
        pid = os.fork()
        if pid == 0:
            observe_provider_call("openai", "create_job", 0.2, "RateLimited")
            count_webhook_delivery("delivered")
            os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    sys.stdout.write(generate_latest(counters_registry(settings)).decode())
    """
)


def test_children_counters_are_summed_by_the_parent(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data")],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        'tuneforge_provider_call_errors_total{error_class="RateLimited",operation="create_job",'
        'provider="openai"} 2.0' in lines
    )
    assert 'tuneforge_webhook_delivery_attempts_total{outcome="delivered"} 2.0' in lines
    assert len(list((tmp_path / "prom").glob("*.db"))) >= 2
