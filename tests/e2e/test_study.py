"""Issue #16's must-show, through real processes: a study with three candidates on two managed
providers (the OpenAI and Together emulators), default baselines, a json_schema and a
string_check criterion, submitted with ``tuneforge study run`` to a live tuneforge with a real
Celery worker; it runs to completion, prints a leaderboard with intervals, costs, break-even and
a winner, and its ``fine_tuning.study.completed`` webhook verifies with standardwebhooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from emulators.testing import EmulatorHandle
from local_gpu.tiny import build_tiny_model
from tests.e2e.harness import Processes, wait_for
from tests.service.evals.criteria import IDEAL_EXACT, LABEL_FORMAT
from tests.service.webhooks.receiver import running_receiver
from tuneforge_cli.main import app

KINDS = {"cat": "animal", "dog": "animal", "car": "vehicle", "bus": "vehicle"}
EXAMPLES = [
    {
        "messages": [
            {"role": "user", "content": f"Label this: the {thing} number {n} went by"},
            {"role": "assistant", "content": json.dumps({"label": KINDS[thing]})},
        ]
    }
    for n, thing in enumerate(list(KINDS) * 12)
]
SPEC: dict[str, Any] = {
    "holdout": 0.25,
    "candidates": [
        {"model": "gpt-4o-mini-2024-07-18"},
        {"model": "gpt-4o-mini-2024-07-18", "hyperparameters": {"n_epochs": 2}},
        {"model": "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"},
    ],
    "testing_criteria": [IDEAL_EXACT, LABEL_FORMAT],
    "primary": "exact",
    "budget": "20",
    "volume": 100_000,
}


@pytest.mark.integration
def test_a_study_runs_to_a_winner_through_real_workers(
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
    data.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    with running_receiver() as receiver:
        endpoint = httpx.post(
            f"{base_url}/v1/webhook_endpoints",
            headers=headers,
            json={"url": receiver.url(), "events": ["fine_tuning.study.completed"]},
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
        spec = tmp_path / "study.json"
        spec.write_text(json.dumps({**SPEC, "training_file": uploaded.json()["id"]}))
        args = ["study", "run", str(spec), "--url", base_url, "--api-key", api_key]
        result = CliRunner().invoke(
            app, [*args, "--interval", "0.5", "--timeout", "240"], env={"COLUMNS": "240"}
        )
        print(result.output)
        assert result.exit_code == 0, result.output + processes.logs()
        for expected in ("leaderboard", "[", "/month", "verdict:", "beats the best prompting"):
            assert expected in result.output
        studies = httpx.get(f"{base_url}/v1/fine_tuning/studies", headers=headers).json()
        study = studies["data"][0]
        assert study["status"] == "completed"
        board = study["leaderboard"]
        assert [r["role"] for r in board] == ["baseline"] * 4 + ["candidate"] * 3
        assert {r["provider"] for r in board if r["role"] == "candidate"} == {"openai", "together"}
        assert all(r["run_status"] == "completed" for r in board)
        assert study["verdict"]["outcome"] == "winner"
        for row in board:
            assert row["primary"]["ci_low"] <= row["primary"]["value"] <= row["primary"]["ci_high"]
            assert row["monthly_cost"] is not None
        candidates = [r for r in board if r["role"] == "candidate"]
        assert all(r["training_cost"] is not None and r["break_even"] for r in candidates)
        wait_for(lambda: len(receiver.received) >= 1, 30, "the study.completed webhook")
        received = receiver.received[0]
        secret = endpoint.json()["secret"]
        assert Webhook(secret).verify(received.body, received.headers)
        payload = json.loads(received.body)
        assert payload["type"] == "fine_tuning.study.completed"
        assert payload["data"]["id"] == study["id"]
        assert payload["data"]["verdict"]["outcome"] == "winner"


@pytest.mark.integration
def test_a_study_with_a_local_candidate_trains_and_evaluates_it_on_the_gpu_queue(
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    api_key: str,
    tmp_path: Path,
) -> None:
    """Managed candidates and a ``local/…`` one (a tiny model trained and sampled by the gpu
    queue's worker, on the CPU here): every row is evaluated on the same items."""
    models = tmp_path / "models"
    build_tiny_model(
        models / "tiny", hidden_size=64, layers=1, heads=2, kv_heads=1, intermediate_size=128
    )
    processes.env["TUNEFORGE_STUDY_CHECK_S"] = "0.5"
    processes.env["TUNEFORGE_LOCAL_MODELS_DIR"] = str(models)
    processes.env["TUNEFORGE_LOCAL_INFERENCE_TOKENS_PER_SECOND"] = "500"
    base_url = processes.start_api()
    processes._spawn(
        "worker", "worker", "--queues", "default,gpu,webhooks", "--concurrency", "3", "--beat"
    )
    headers = {"Authorization": f"Bearer {api_key}"}
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES[:32]))
    with data.open("rb") as handle:
        uploaded = httpx.post(
            f"{base_url}/v1/files",
            headers=headers,
            files={"file": ("labels.jsonl", handle)},
            data={"purpose": "fine-tune"},
        )
    assert uploaded.status_code == 200, uploaded.text
    local = {
        "model": "local/tiny",
        "hyperparameters": {"n_epochs": 1, "batch_size": 4},
        "provider_options": {"max_seq_len": 64, "quantization": "none", "device": "cpu"},
    }
    body = {
        **SPEC,
        "training_file": uploaded.json()["id"],
        "candidates": [*SPEC["candidates"][::2], local],
        "baselines": [{"model": "gpt-4o-mini-2024-07-18"}, {"model": "local/tiny"}],
    }
    created = httpx.post(f"{base_url}/v1/fine_tuning/studies", headers=headers, json=body)
    assert created.status_code == 200, created.text
    study_id = created.json()["id"]

    def study() -> dict[str, Any]:
        answer = httpx.get(f"{base_url}/v1/fine_tuning/studies/{study_id}", headers=headers)
        return dict(answer.json())

    try:
        wait_for(lambda: study()["status"] in ("completed", "failed"), 480, "the study")
    except AssertionError:
        print(json.dumps(study(), indent=1)[-4000:], processes.logs())
        raise
    finished = study()
    assert finished["status"] == "completed", (finished["events"], processes.logs())
    board = finished["leaderboard"]
    assert {(r["role"], r["provider"]) for r in board} == {
        ("baseline", "openai"),
        ("baseline", "local"),
        ("candidate", "openai"),
        ("candidate", "together"),
        ("candidate", "local"),
    }
    assert all(r["run_status"] == "completed" for r in board), board
    local_row = next(r for r in board if r["role"] == "candidate" and r["provider"] == "local")
    assert local_row["training_cost"] is not None and local_row["monthly_cost"] is not None
    assert finished["verdict"]["outcome"] == "winner"
