"""A live tuneforge for local-training tests: the API and a Celery worker on ``default,gpu``
(with beat) as real processes, a tiny model in the local models folder, a tenant's client."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from local_gpu.tiny import synthetic_conversations
from service.settings import Settings
from tests.e2e.harness import ROOT, Processes, process_env, wait_for
from tests.service.jobs.helpers import jsonl

MODEL = "local/tiny"
WORKER_ARGS = ("--queues", "default,gpu,webhooks", "--concurrency", "2", "--beat")


@dataclass
class LocalStack:
    processes: Processes
    client: httpx.Client
    worker: subprocess.Popen[bytes] | None = None

    def start_worker(self) -> subprocess.Popen[bytes]:
        """A worker on both queues with beat (the reconciler), like the embedded ``serve``."""
        procs = self.processes
        log = (procs.log_dir / f"worker-{len(procs.children)}.log").open("wb")
        child = subprocess.Popen(
            [sys.executable, "-m", "tuneforge_cli.main", "worker", *WORKER_ARGS],
            env=procs.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.children.append(child)
        self.worker = child
        return child

    def upload(self, records: list[dict[str, Any]]) -> str:
        response = self.client.post(
            "/v1/files",
            files={"file": ("train.jsonl", jsonl(records), "application/jsonl")},
            data={"purpose": "fine-tune"},
        )
        assert response.status_code == 200, (response.text, self.processes.logs())
        file_id: str = response.json()["id"]
        return file_id

    def create(self, training_file: str, **fields: Any) -> httpx.Response:
        return self.client.post(
            "/v1/fine_tuning/jobs", json={"model": MODEL, "training_file": training_file, **fields}
        )

    def job(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.client.get(f"/v1/fine_tuning/jobs/{job_id}").json()
        return body

    def events(self, job_id: str) -> list[dict[str, Any]]:
        """All events, oldest first."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
            body = self.client.get(f"/v1/fine_tuning/jobs/{job_id}/events", params=params).json()
            found += body["data"]
            if not body["has_more"]:
                return found[::-1]
            after = body["last_id"]

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        body = self.client.get(f"/v1/fine_tuning/jobs/{job_id}/checkpoints?limit=100").json()
        data: list[dict[str, Any]] = body["data"]
        return data

    def wait_status(self, job_id: str, statuses: tuple[str, ...], timeout: float) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def reached() -> bool:
            nonlocal found
            found = self.job(job_id)
            return found["status"] in statuses

        try:
            wait_for(reached, timeout, f"job {job_id} to reach {statuses}", interval=0.3)
        except AssertionError:
            print(self.processes.logs())
            raise
        return found

    def wait_checkpoint(self, job_id: str, min_step: int, timeout: float) -> None:
        def saved() -> bool:
            return any(c["step_number"] >= min_step for c in self.checkpoints(job_id))

        try:
            wait_for(saved, timeout, f"a checkpoint at step >= {min_step}", interval=0.2)
        except AssertionError:
            print(self.processes.logs())
            raise


def metric_steps(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["data"]["step"]) for e in events if e["type"] == "metrics"]


def training_records(count: int = 24) -> list[dict[str, Any]]:
    return synthetic_conversations(count, seed=7)


@contextmanager
def local_stack(
    settings: Settings, models_dir: Path, api_key: str, log_dir: Path
) -> Iterator[LocalStack]:
    log_dir.mkdir(parents=True, exist_ok=True)
    env = process_env(settings, {})
    env["TUNEFORGE_LOCAL_MODELS_DIR"] = str(models_dir)
    processes = Processes(env=env, log_dir=log_dir)
    try:
        base = processes.start_api()
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        ) as client:
            stack = LocalStack(processes, client)
            stack.start_worker()
            yield stack
    finally:
        # Every job is terminal by now; a warm shutdown of a worker whose pool child loaded
        # torch can take the harness's full 15 s grace, so end workers outright.
        for child in processes.children[1:]:
            processes.kill(child, signal.SIGKILL)
        processes.stop_all()
