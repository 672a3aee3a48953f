"""Webhooks end to end: a job run through the API, a real Celery worker process and the OpenAI
emulator reaches a real loopback receiver exactly once per subscribed endpoint and event,
signed so that ``standardwebhooks`` and the ``openai`` SDK both accept it; the worker's provider
calls and delivery outcomes show on the API's ``/metrics`` (shared multiprocess directory)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from emulators.clock import ManualClock
from emulators.testing import EmulatorHandle, running_emulator
from service.webhooks.events import (
    CHECKPOINT_CREATED,
    JOB_FAILED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
)
from tests.e2e.harness import Processes, wait_for
from tests.service.webhooks.helpers import verify_with_both_libraries
from tests.service.webhooks.receiver import Receiver, running_receiver

PHASE_S = 1.0


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture()
def emulators(clock: ManualClock) -> Iterator[dict[str, EmulatorHandle]]:
    """The emulator's job moves only when the test advances its clock: the test holds it in
    ``running`` until our side has seen it there (a job that finishes between two reads goes
    straight to ``succeeded``, and says so; on a loaded box that can happen at any phase length)."""
    with running_emulator("openai", phase_seconds=PHASE_S, clock=clock) as openai_emu:
        yield {"openai": openai_emu}


def _endpoint(base: str, headers: dict[str, str], url: str, events: list[str] | None) -> str:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = events
    response = httpx.post(f"{base}/v1/webhook_endpoints", json=body, headers=headers)
    assert response.status_code == 200, response.text
    secret: str = response.json()["secret"]
    return secret


class ProviderTerminalWatch:
    """Notes when the emulator first reports the job finished (its own clock, polled often)."""

    def __init__(self, emulator: EmulatorHandle) -> None:
        self.emulator = emulator
        self.at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and self.at is None:
            jobs = self.emulator.jobs()
            if jobs and jobs[0]["job"]["status"] == "succeeded":
                self.at = time.time()
            self._stop.wait(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


RUNNING_AT_S = 2 * PHASE_S  # validating_files, queued, then running for three phases
FINISHED_AT_S = 5 * PHASE_S


def _delivered(receiver: Receiver, path: str, event: str) -> bool:
    with receiver.lock:
        bodies = [item.body for item in receiver.received if item.path == path]
    return any(json.loads(body)["type"] == event for body in bodies)


def _deliveries_settled(base: str, headers: dict[str, str], job_id: str) -> bool:
    listed = httpx.get(
        f"{base}/v1/webhook_deliveries",
        params={"job_id": job_id, "limit": 100},
        headers=headers,
    ).json()["data"]
    return bool(listed) and all(item["status"] == "delivered" for item in listed)


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.integration
def test_a_job_produces_one_signed_delivery_per_subscribed_endpoint_and_metrics(
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    clock: ManualClock,
    api_key: str,
    training_path: Path,
    tmp_path: Path,
) -> None:
    processes.env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    base = processes.start_api()
    processes.start_worker()
    headers = {"Authorization": f"Bearer {api_key}"}
    with running_receiver() as receiver:
        secrets = {
            "/all": _endpoint(
                base,
                headers,
                receiver.url("/all"),
                [JOB_RUNNING, JOB_SUCCEEDED, CHECKPOINT_CREATED],
            ),
            "/terminal": _endpoint(base, headers, receiver.url("/terminal"), None),
            "/failed-only": _endpoint(base, headers, receiver.url("/failed-only"), [JOB_FAILED]),
        }
        secrets["/job"] = httpx.get(f"{base}/v1/webhook_secret", headers=headers).json()["secret"]
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)
        with training_path.open("rb") as handle:
            uploaded = client.files.create(file=handle, purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18",
            training_file=uploaded.id,
            extra_body={"webhook_url": receiver.url("/job")},
        )
        watch = ProviderTerminalWatch(emulators["openai"])
        try:
            wait_for(lambda: emulators["openai"].job_count() == 1, 60, "the provider's job")
            clock.advance(RUNNING_AT_S)
            wait_for(
                lambda: _delivered(receiver, "/all", JOB_RUNNING),
                60,
                "the running webhook",
            )
            clock.advance(FINISHED_AT_S - RUNNING_AT_S)
            wait_for(
                lambda: client.fine_tuning.jobs.retrieve(job.id).status == "succeeded",
                60,
                "the job to succeed",
            )
            wait_for(lambda: _deliveries_settled(base, headers, job.id), 30, "deliveries")
            time.sleep(1.5)  # a few reconciler ticks: any duplicate would arrive by now
        except AssertionError:
            print(processes.logs())
            raise
        finally:
            watch.stop()
        received = list(receiver.received)
        _check_deliveries(received, secrets, job.id, client)
        _report_latency(received, watch, receiver)

    metrics = httpx.get(f"{base}/metrics").text

    def calls(operation: str) -> float:
        return _metric(
            metrics,
            "tuneforge_provider_call_duration_seconds_count",
            provider="openai",
            operation=operation,
        )

    for operation in ("create_job", "upload_dataset", "list_events"):
        assert calls(operation) > 0, (operation, metrics)
    # The job's status is read by its own poll or by the provider's sweep, whichever comes first.
    assert calls("get_job") + calls("list_jobs") > 0, metrics
    delivered = _metric(metrics, "tuneforge_webhook_delivery_attempts_total", outcome="delivered")
    assert delivered == len(received), metrics


def _check_deliveries(
    received: list[Any], secrets: dict[str, str], job_id: str, client: openai.OpenAI
) -> None:
    by_path: dict[str, list[dict[str, Any]]] = {}
    for item in received:
        payload = verify_with_both_libraries(item, secrets[item.path])
        assert payload["data"]["id"] == job_id
        by_path.setdefault(item.path, []).append(payload)
    assert "/failed-only" not in by_path
    assert [p["type"] for p in by_path["/terminal"]] == [JOB_SUCCEEDED]
    assert [p["type"] for p in by_path["/job"]] == [JOB_SUCCEEDED]
    counts = Counter(p["type"] for p in by_path["/all"])
    assert counts[JOB_RUNNING] == 1 and counts[JOB_SUCCEEDED] == 1, counts
    steps = [
        p["data"]["checkpoint"]["step_number"]
        for p in by_path["/all"]
        if p["type"] == CHECKPOINT_CREATED
    ]
    listed = client.fine_tuning.jobs.checkpoints.list(job_id).data
    assert sorted(steps) == sorted(c.step_number for c in listed) and steps
    # One webhook-id per delivery: nothing was sent twice.
    ids = [item.headers["webhook-id"] for item in received]
    assert len(ids) == len(set(ids))
    succeeded = by_path["/job"][0]["data"]
    assert succeeded["status"] == "succeeded" and succeeded["fine_tuned_model"]
    assert succeeded["cost"] is not None


def _report_latency(received: list[Any], watch: ProviderTerminalWatch, receiver: Receiver) -> None:
    assert watch.at is not None
    latencies = {
        item.path: item.at - watch.at
        for item in received
        if json.loads(item.body)["type"] == JOB_SUCCEEDED
    }
    print(
        "provider-terminal → delivered (s): "
        + ", ".join(f"{path} {seconds:.2f}" for path, seconds in sorted(latencies.items()))
    )
