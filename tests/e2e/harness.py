"""Real processes for end-to-end tests: a tuneforge API (uvicorn, via the CLI) and Celery
workers (with beat) started with the test's settings in their environment, talking to
provider emulators on loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from emulators.testing import EmulatorHandle
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(settings: Settings, emulators: dict[str, EmulatorHandle]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEFORGE_")}
    env.update(
        TUNEFORGE_ENVIRONMENT="test",
        TUNEFORGE_DATABASE_URL=settings.database_url,
        TUNEFORGE_BROKER_URL=settings.broker_url,
        TUNEFORGE_BROKER_KEY_PREFIX=settings.broker_key_prefix,
        TUNEFORGE_DATA_DIR=str(settings.data_dir),
        TUNEFORGE_RECONCILE_INTERVAL_S="0.5",
        TUNEFORGE_LEASE_TTL_S="2",
        TUNEFORGE_JOB_POLL_MIN_S="0.3",
        TUNEFORGE_JOB_POLL_MAX_S="1.5",
        TUNEFORGE_WEBHOOK_ALLOW_HTTP="true",
        TUNEFORGE_WEBHOOK_ALLOW_PRIVATE="true",
        TUNEFORGE_WEBHOOK_ALLOW_ANY_PORT="true",
        PYTHONPATH=str(ROOT),
    )
    for name, emulator in emulators.items():
        env[f"TUNEFORGE_{name.upper()}_BASE_URL"] = emulator.sdk_base_url
        env[f"TUNEFORGE_{name.upper()}_API_KEY"] = f"{name}-test-key"
    return env


@dataclass
class Processes:
    env: dict[str, str]
    log_dir: Path
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_port: int = 0
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}-{len(self.children)}.log").open("wb")
        child = subprocess.Popen(
            [sys.executable, "-m", "tuneforge_cli.main", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children.append(child)
        return child

    def start_api(self) -> str:
        self.api_port = self.api_port or free_port()
        self.api = self._spawn("api", "api", "--host", "127.0.0.1", "--port", str(self.api_port))
        base = f"http://127.0.0.1:{self.api_port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise RuntimeError(f"API exited early; see {self.log_dir}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"API did not start; see {self.log_dir}")

    def start_worker(self, *, beat: bool = True, concurrency: int = 2) -> subprocess.Popen[bytes]:
        args = ["worker", "--queues", "default,webhooks", "--concurrency", str(concurrency)]
        self.worker = self._spawn("worker", *args, *(["--beat"] if beat else []))
        return self.worker

    def kill(self, child: subprocess.Popen[bytes] | None, sig: int = signal.SIGKILL) -> None:
        if child is None or child.poll() is not None:
            return
        os.killpg(child.pid, sig)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=5)

    def stop_all(self) -> None:
        for child in self.children:
            self.kill(child, signal.SIGTERM)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


@contextmanager
def running_processes(
    settings: Settings, emulators: dict[str, EmulatorHandle], log_dir: Path
) -> Iterator[Processes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = Processes(env=process_env(settings, emulators), log_dir=log_dir)
    try:
        yield processes
    finally:
        processes.stop_all()


def wait_for(predicate: object, timeout: float, what: str, interval: float = 0.2) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
