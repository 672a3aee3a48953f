"""Issue #16's must-show "a job with ``evaluation`` sends ``fine_tuning.job.evaluated`` with its
verdict", through real processes: the API and a Celery worker, the OpenAI emulator, a loopback
receiver. The job trains on the train part of a frozen split, succeeds, its tuned model and the
default baselines are evaluated on the held-out items, and the signed webhooks (to the
subscribed endpoint and to the job's own ``webhook_url``) and ``GET`` of the job carry the
verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from emulators.testing import EmulatorHandle
from tests.e2e.harness import Processes, wait_for
from tests.e2e.test_study import EXAMPLES, SPEC
from tests.service.webhooks.receiver import running_receiver

EVALUATED = "fine_tuning.job.evaluated"


@pytest.mark.integration
def test_a_job_with_evaluation_sends_its_verdict(
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    api_key: str,
    tmp_path: Path,
) -> None:
    processes.env["TUNEFORGE_STUDY_CHECK_S"] = "0.5"
    base_url = processes.start_api()
    processes.start_worker(concurrency=4)
    headers = {"Authorization": f"Bearer {api_key}"}
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES[:32]))
    with running_receiver() as receiver:
        endpoint = httpx.post(
            f"{base_url}/v1/webhook_endpoints",
            headers=headers,
            json={"url": receiver.url(), "events": [EVALUATED]},
        )
        assert endpoint.status_code == 200, endpoint.text
        with data.open("rb") as handle:
            uploaded = httpx.post(
                f"{base_url}/v1/files",
                headers=headers,
                files={"file": ("labels.jsonl", handle)},
                data={"purpose": "fine-tune"},
            )
        assert uploaded.status_code == 200, uploaded.text
        file_id = uploaded.json()["id"]
        created = httpx.post(
            f"{base_url}/v1/fine_tuning/jobs",
            headers=headers,
            json={
                "model": "gpt-4o-mini-2024-07-18",
                "training_file": file_id,
                "webhook_url": receiver.url("/job"),
                "evaluation": {
                    "testing_criteria": SPEC["testing_criteria"],
                    "primary": "exact",
                    "holdout": 0.25,
                },
            },
        )
        assert created.status_code == 200, created.text
        job_id = created.json()["id"]
        assert created.json()["training_file"] != file_id  # the train part

        def job() -> dict[str, Any]:
            answer = httpx.get(f"{base_url}/v1/fine_tuning/jobs/{job_id}", headers=headers)
            return dict(answer.json())

        try:
            wait_for(
                lambda: job()["evaluation"]["status"] in ("completed", "failed", "skipped"),
                180,
                "the job's evaluation",
            )
        except AssertionError:
            print(json.dumps(job(), indent=1)[-4000:], processes.logs())
            raise
        finished = job()
        evaluation = finished["evaluation"]
        assert finished["status"] == "succeeded"
        assert evaluation["status"] == "completed", (evaluation, processes.logs())
        assert evaluation["verdict"]["outcome"] == "winner"
        assert evaluation["comparison"]["ci_low"] > 0
        assert all(r["run_status"] == "completed" for r in evaluation["results"])
        assert len(evaluation["results"]) == 3  # two default baselines and the tuned model
        # the endpoint hears the evaluation; the job's URL its end, then the evaluation
        wait_for(lambda: len(receiver.received) >= 3, 30, "the job.evaluated webhooks")
        secrets = {
            "/hook": endpoint.json()["secret"],
            "/job": httpx.get(f"{base_url}/v1/webhook_secret", headers=headers).json()["secret"],
        }
        by_path: dict[str, dict[str, dict[str, Any]]] = {"/hook": {}, "/job": {}}
        for received in receiver.received:
            assert Webhook(secrets[received.path]).verify(received.body, received.headers)
            event = json.loads(received.body)
            by_path[received.path][event["type"]] = event
        assert sorted(by_path["/hook"]) == [EVALUATED]
        assert sorted(by_path["/job"]) == [EVALUATED, "fine_tuning.job.succeeded"]
        assert len(receiver.received) == 3
        payload = by_path["/hook"][EVALUATED]
        assert by_path["/job"][EVALUATED] == payload  # the same event to both targets
        assert payload["data"]["id"] == job_id
        assert payload["data"]["fine_tuned_model"] == finished["fine_tuned_model"]
        assert payload["data"]["evaluation"]["verdict"] == evaluation["verdict"]
        assert payload["data"]["evaluation"]["comparison"] == evaluation["comparison"]
