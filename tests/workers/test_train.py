"""``local/…`` jobs through the real lifecycle: the API and a Celery worker on the gpu queue as
processes, a tiny model, QLoRA on the CPU. Success with metrics, checkpoints and downloadable
results; cancel of a running job; SIGKILL of the worker mid-run and resume from the checkpoint."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from local_gpu.tiny import build_tiny_model, synthetic_preferences
from service.db.database import Database
from service.db.session import session_scope
from service.settings import Settings
from tests.e2e.harness import ROOT
from tests.factories import make_key, make_tenant
from tests.service.jobs.helpers import jsonl
from tests.workers.local_stack import (
    MODEL,
    LocalStack,
    local_stack,
    metric_steps,
    training_records,
)

# Short packed rows and one row per step: many small steps from a small file. The success
# test runs the real QLoRA (NF4) path; cancel and resume use plain LoRA, which is faster here.
FAST = {"max_seq_len": 96, "progress_every": 1, "quantization": "none"}


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local-models")
    build_tiny_model(
        root / "tiny", hidden_size=128, layers=2, heads=4, kv_heads=2, intermediate_size=256
    )
    return root


@pytest.fixture()
def stack(
    settings: Settings, committed_db: Database, models_dir: Path, tmp_path: Path
) -> Iterator[LocalStack]:
    with session_scope(committed_db.sessions) as session:
        key = make_key(session, make_tenant(session))
    with local_stack(settings, models_dir, key, tmp_path / "logs") as running:
        yield running


@pytest.mark.integration
def test_local_job_runs_to_success_with_metrics_checkpoints_and_results(
    stack: LocalStack, settings: Settings, committed_db: Database
) -> None:
    training = stack.upload(training_records(12))
    unknown = stack.create(training, model="local/no-such-model")
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "model"
    dpo = stack.create(training, method={"type": "dpo"})
    assert dpo.status_code == 400 and dpo.json()["error"]["param"] == "training_file"
    assert "needs preference lines" in dpo.json()["error"]["message"]
    bad_option = stack.create(training, provider_options={"lora_rank": 0})
    assert bad_option.json()["error"]["param"] == "provider_options.lora_rank"

    created = stack.create(
        training,
        hyperparameters={"n_epochs": 1, "batch_size": 1},
        provider_options={**FAST, "quantization": "nf4", "checkpoint_every": 4},
        suffix="t",
    )
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["provider"] == "local" and job["estimated_cost"] is not None

    job = stack.wait_status(job["id"], ("succeeded", "failed", "cancelled"), 150)
    assert job["status"] == "succeeded", (job["error"], stack.processes.logs())
    assert job["fine_tuned_model"] == f"local/tiny:ft-t-{job['id']}"
    assert job["cost"]["basis"] == "hours_x_hourly_rate" and job["trained_tokens"] > 0

    events = stack.events(job["id"])
    messages = [e["message"] for e in events]
    assert "training path: qlora-nf4 on cpu" in messages
    steps = metric_steps(events)
    assert steps == list(range(1, steps[-1] + 1)) and steps[-1] >= 9
    first = next(e for e in events if e["type"] == "metrics")
    assert {"train_loss", "learning_rate", "tokens_per_second", "epoch"} <= set(first["data"])
    checkpoints = stack.checkpoints(job["id"])
    assert sorted(c["step_number"] for c in checkpoints)[:2] == [4, 8]

    # Result files are file ids: the metrics CSV first, then the training outputs.
    described = [stack.client.get(f"/v1/files/{f}").json() for f in job["result_files"]]
    assert {d["purpose"] for d in described} == {"fine-tune-results"}
    names = {d["filename"]: d["id"] for d in described}
    assert described[0]["filename"] == "step_metrics.csv"
    csv_lines = stack.client.get(f"/v1/files/{described[0]['id']}/content").text.splitlines()
    assert csv_lines[0].startswith("step,train_loss") and len(csv_lines) == steps[-1] + 1
    base = f"/v1/fine_tuning/jobs/{job['id']}/results"
    download = stack.client.get(f"{base}/adapter/adapter_model.safetensors")
    on_disk = settings.artifacts_dir / job["id"] / "adapter" / "adapter_model.safetensors"
    assert download.status_code == 200 and download.content == on_disk.read_bytes()
    by_id = stack.client.get(f"/v1/files/{names['adapter/adapter_model.safetensors']}/content")
    assert by_id.status_code == 200 and by_id.content == on_disk.read_bytes()
    for sneaky in ("../../tuneforge.sqlite", "data/training.jsonl", "%2e%2e/%2e%2e/x"):
        assert stack.client.get(f"{base}/{sneaky}").status_code == 404, sneaky
    with session_scope(committed_db.sessions) as session:
        stranger = make_key(session, make_tenant(session))
    foreign = stack.client.get(
        f"{base}/adapter/adapter_model.safetensors",
        headers={"Authorization": f"Bearer {stranger}"},
    )
    assert foreign.status_code == 404


@pytest.mark.integration
def test_cancel_stops_a_running_local_job_and_keeps_its_checkpoint(
    stack: LocalStack, settings: Settings
) -> None:
    training = stack.upload(training_records(12))
    job = stack.create(
        training,
        hyperparameters={"n_epochs": 50, "batch_size": 1},
        provider_options={**FAST, "checkpoint_every": 2},
    ).json()
    stack.wait_checkpoint(job["id"], 2, 120)
    cancelled = stack.client.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    job = stack.wait_status(job["id"], ("succeeded", "failed", "cancelled"), 60)
    assert job["status"] == "cancelled"
    assert job["fine_tuned_model"] is None
    messages = [e["message"] for e in stack.events(job["id"])]
    stopped = [m for m in messages if m.startswith("cancelled at step")]
    assert stopped, messages
    kept = list((settings.artifacts_dir / job["id"] / "checkpoints").glob("step-*"))
    assert kept and all((k / "adapter" / "adapter_model.safetensors").is_file() for k in kept)


@pytest.mark.integration
def test_openai_sdk_pauses_a_local_job_and_resumes_it_from_its_checkpoint(
    stack: LocalStack,
) -> None:
    token = stack.client.headers["Authorization"].removeprefix("Bearer ")
    base = str(stack.client.base_url).rstrip("/")
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)
    training = stack.upload(training_records(12))
    job = stack.create(
        training,
        hyperparameters={"n_epochs": 50, "batch_size": 1},
        provider_options={**FAST, "checkpoint_every": 2},
    ).json()
    stack.wait_checkpoint(job["id"], 2, 120)
    pausing = client.fine_tuning.jobs.pause(job["id"])
    assert pausing.status in ("pausing", "paused")
    paused = stack.wait_status(job["id"], ("paused", "succeeded", "failed", "cancelled"), 60)
    assert paused["status"] == "paused", paused
    messages = [e["message"] for e in stack.events(job["id"])]
    [stopped] = [m for m in messages if m.startswith("The job is paused: paused at step")]
    paused_at = int(stopped.split("paused at step ")[1].split(" ")[0])
    before = metric_steps(stack.events(job["id"]))
    assert before == list(range(1, paused_at + 1))
    assert max(c["step_number"] for c in stack.checkpoints(job["id"])) == paused_at
    assert client.fine_tuning.jobs.pause(job["id"]).status == "paused"  # asked twice: no-op
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.pause(job["id"] + "x")

    resumed = client.fine_tuning.jobs.resume(job["id"])
    assert resumed.status == "queued"
    stack.wait_checkpoint(job["id"], paused_at + 4, 120)
    client.fine_tuning.jobs.cancel(job["id"])
    stack.wait_status(job["id"], ("succeeded", "failed", "cancelled"), 60)
    events = stack.events(job["id"])
    messages = [e["message"] for e in events]
    assert f"resumed from checkpoint at step {paused_at}" in messages, messages
    steps = metric_steps(events)
    # One loss curve: the run after the pause took up at the step after it.
    assert steps == sorted(set(steps)) == list(range(1, steps[-1] + 1))
    assert steps[-1] >= paused_at + 4


@pytest.mark.integration
def test_worker_killed_mid_training_resumes_from_its_checkpoint(stack: LocalStack) -> None:
    training = stack.upload(training_records(12))
    job = stack.create(
        training,
        hyperparameters={"n_epochs": 2, "batch_size": 1},
        provider_options={**FAST, "checkpoint_every": 4},
    ).json()
    stack.wait_checkpoint(job["id"], 4, 120)
    stack.processes.kill(stack.worker, signal.SIGKILL)
    before = metric_steps(stack.events(job["id"]))
    stack.start_worker()
    job = stack.wait_status(job["id"], ("succeeded", "failed", "cancelled"), 150)
    assert job["status"] == "succeeded", job["error"]

    events = stack.events(job["id"])
    messages = [e["message"] for e in events]
    resumed = [m for m in messages if m.startswith("resumed from checkpoint at step")]
    assert len(resumed) == 1, messages
    resumed_at = int(resumed[0].rsplit(" ", 1)[1])
    assert resumed_at >= 4
    assert any(m.startswith("Training restarted on") for m in messages)
    steps = metric_steps(events)
    # One curve: every step reported once, the run after the crash took up where it stopped.
    assert steps == sorted(set(steps)) == list(range(1, steps[-1] + 1))
    assert steps[-1] > max(before) >= resumed_at
    assert messages.count("training path: lora fp32 on cpu") == 2


@pytest.mark.integration
def test_openai_sdk_runs_a_local_dpo_job_with_reward_metrics(stack: LocalStack) -> None:
    """DPO on a local model through the official SDK: the held-out reward margin rises."""
    token = stack.client.headers["Authorization"].removeprefix("Bearer ")
    base = str(stack.client.base_url).rstrip("/")
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)
    train, valid = (
        client.files.create(file=(name, jsonl(records)), purpose="fine-tune")
        for name, records in (
            ("prefs.jsonl", synthetic_preferences(24, seed=3)),
            ("held-out.jsonl", synthetic_preferences(12, seed=99)),
        )
    )
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=train.id,
        validation_file=valid.id,
        method={
            "type": "dpo",
            "dpo": {
                "hyperparameters": {
                    "beta": 0.1,
                    "n_epochs": 3,
                    "batch_size": 4,
                    "learning_rate_multiplier": 25,
                }
            },
        },
        extra_body={"provider_options": {**FAST, "max_seq_len": 128, "lora_dropout": 0}},
    )
    assert job.method is not None and job.method.type == "dpo"
    finished = stack.wait_status(job.id, ("succeeded", "failed", "cancelled"), 240)
    assert finished["status"] == "succeeded", (finished["error"], stack.processes.logs())

    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data[::-1]
    metrics = [e.data for e in events if e.type == "metrics" and isinstance(e.data, dict)]
    assert [m["step"] for m in metrics] == list(range(1, 19))
    first, last = metrics[0], metrics[-1]
    assert {"rewards/chosen", "rewards/rejected", "rewards/accuracy", "rewards/margin"} <= set(
        first
    )
    assert first["rewards/margin"] == pytest.approx(0.0, abs=1e-4)  # adapter starts at zero
    assert last["full_valid_rewards/margin"] > 1.0
    assert last["full_valid_rewards/accuracy"] >= 0.9
    assert any("reward accuracy=" in e.message for e in events)


@pytest.mark.integration
def test_a_local_job_trains_on_from_its_parent_and_never_from_another_tenants(
    stack: LocalStack, committed_db: Database
) -> None:
    training = stack.upload(training_records(6))
    options = {**FAST, "lora_dropout": 0}
    hyper = {"n_epochs": 2, "batch_size": 1, "learning_rate_multiplier": 25}
    parent = stack.create(training, hyperparameters=hyper, provider_options=options).json()
    parent = stack.wait_status(parent["id"], ("succeeded", "failed", "cancelled"), 400)
    assert parent["status"] == "succeeded", parent["error"]
    parent_losses = [
        e["data"]["train_loss"] for e in stack.events(parent["id"]) if e["type"] == "metrics"
    ]

    with session_scope(committed_db.sessions) as session:
        stranger = make_key(session, make_tenant(session))
    as_stranger = {"Authorization": f"Bearer {stranger}"}
    their_file = stack.client.post(
        "/v1/files",
        files={"file": ("train.jsonl", jsonl(training_records(12)), "application/jsonl")},
        data={"purpose": "fine-tune"},
        headers=as_stranger,
    ).json()["id"]
    foreign = stack.client.post(
        "/v1/fine_tuning/jobs",
        json={
            "model": MODEL,
            "training_file": their_file,
            "provider_options": {"from_checkpoint": parent["id"]},
        },
        headers=as_stranger,
    )
    assert foreign.status_code == 400, foreign.text
    error = foreign.json()["error"]
    assert error["param"] == "provider_options.from_checkpoint"
    assert "is not a fine-tuning job of yours" in error["message"]

    child = stack.create(
        training,
        hyperparameters={**hyper, "n_epochs": 1},
        provider_options={**options, "from_checkpoint": parent["id"]},
    ).json()
    child = stack.wait_status(child["id"], ("succeeded", "failed", "cancelled"), 400)
    assert child["status"] == "succeeded", child["error"]
    events = stack.events(child["id"])
    assert any(e["message"].startswith("training on from the adapter") for e in events)
    child_losses = [e["data"]["train_loss"] for e in events if e["type"] == "metrics"]
    # The child's curve starts where the parent's ended, not where the parent's began.
    ended = sum(parent_losses[-2:]) / 2
    assert parent_losses[0] - ended > 0.3
    assert abs(child_losses[0] - ended) < abs(child_losses[0] - parent_losses[0])


def test_api_and_default_workers_never_import_torch() -> None:
    """Only a run on the gpu queue loads torch: importing the API and every task module
    (the train task included) must not."""
    code = (
        "import sys, service.api.app, workers.tasks, workers.train, workers.file_tasks; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
