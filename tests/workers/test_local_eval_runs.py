"""An eval run against a local job's fine-tuned model, real generation: the API and a Celery
worker on ``default,gpu`` as processes; a local job trained through the REST API on the train
part of a held-out split; through the official openai SDK, ``evals.create`` and a
``completions`` run of the base and of the tuned model over the test part, run by the gpu
worker's local generator; result counts, usage and the comparison are right."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from local_gpu.tiny import RECORD_SCHEMA, build_demo_model, synthetic_extractions
from service.db.database import Database
from service.db.session import session_scope
from service.settings import Settings
from tests.factories import make_key, make_tenant
from tests.workers.local_stack import MODEL, LocalStack, local_stack

CRITERIA: Any = [
    {"type": "json_schema", "name": "valid record", "schema": RECORD_SCHEMA},
    {
        "type": "json_fields",
        "name": "fields",
        "reference": "{{item.messages[1].content}}",
        "pass_threshold": 0.5,
    },
]
ITEM_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"messages": {"type": "array"}},
    "required": ["messages"],
}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local-models")
    build_demo_model(root / "tiny")
    return root


@pytest.fixture()
def stack_and_sdk(
    settings: Settings,
    committed_db: Database,
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[LocalStack, openai.OpenAI]]:
    # One torch thread in the worker: two spin against each other on a shared 2-core box.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with session_scope(committed_db.sessions) as session:
        key = make_key(session, make_tenant(session))
    with local_stack(settings, models_dir, key, tmp_path / "logs") as running:
        base_url = str(running.client.base_url).rstrip("/")
        yield running, openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)


def _wait_run(sdk: openai.OpenAI, eval_id: str, run_id: str, stack: LocalStack) -> Any:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        run = sdk.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in ("completed", "failed", "canceled"):
            if run.status != "completed":
                print(stack.processes.logs())
            return run
        time.sleep(0.5)
    print(stack.processes.logs())
    raise AssertionError(f"run {run_id} did not end")


@pytest.mark.integration
@pytest.mark.slow
def test_a_local_jobs_tuned_model_is_evaluated_with_real_generation(
    stack_and_sdk: tuple[LocalStack, openai.OpenAI],
) -> None:
    stack, sdk = stack_and_sdk
    uploaded = stack.upload(synthetic_extractions(200, seed=11))
    split = stack.client.post(
        f"/v1/files/{uploaded}/split", json={"test_fraction": 0.2, "seed": "t"}
    ).json()
    created = stack.create(
        split["train_file"]["id"],
        hyperparameters={"n_epochs": 4, "batch_size": 2, "learning_rate_multiplier": 10},
        provider_options={"quantization": "none", "max_seq_len": 256, "checkpoint_every": 1000},
    )
    assert created.status_code == 200, created.text
    job = stack.wait_status(created.json()["id"], ("succeeded", "failed"), timeout=600)
    assert job["status"] == "succeeded", job
    tuned = job["fine_tuned_model"]

    evaluation = sdk.evals.create(
        data_source_config={"type": "custom", "item_schema": ITEM_SCHEMA},
        testing_criteria=CRITERIA,
    )
    source: Any = {"type": "file_id", "id": split["test_file"]["id"]}
    template: Any = {
        "type": "template",
        "template": [{"role": "user", "content": "{{item.messages[0].content}}"}],
    }
    runs = {
        model: sdk.evals.runs.create(
            evaluation.id,
            data_source={
                "type": "completions",
                "model": model,
                "input_messages": template,
                "sampling_params": {"max_completion_tokens": 64},
                "source": source,
            },
        )
        for model in (MODEL, tuned)
    }
    done = {model: _wait_run(sdk, evaluation.id, run.id, stack) for model, run in runs.items()}
    held_out = split["report"]["test_examples"]
    for model, run in done.items():
        assert run.status == "completed", (model, run.error)
        assert run.result_counts.total == held_out and run.result_counts.errored == 0
        usage = run.per_model_usage[0]
        assert (usage.run_model_name, usage.invocation_count) == (model, held_out)
        assert usage.prompt_tokens > 20 * held_out  # the rendered chat template, every item
        assert 0 < usage.completion_tokens <= 64 * held_out

    format_id = evaluation.testing_criteria[0].id  # type: ignore[union-attr]
    base_stats: Any = done[MODEL].model_extra
    tuned_stats: Any = done[tuned].model_extra
    assert base_stats["statistics"][format_id]["pass_rate"]["value"] <= 0.05
    # Four epochs of a tiny model on 160 examples: most answers become valid records, how many
    # varies with the box's float summation order (0.82-0.95 seen), so the floor is well below.
    assert tuned_stats["statistics"][format_id]["pass_rate"]["value"] >= 0.6
    items = sdk.evals.runs.output_items.list(
        done[tuned].id, eval_id=evaluation.id, limit=3, status="pass"
    )
    answer = items.data[0].sample.output[0].content or ""
    assert json.loads(answer).keys() == RECORD_SCHEMA["properties"].keys()

    comparison = stack.client.get(
        f"/v1/evals/{evaluation.id}/compare",
        params={"runs": f"{done[tuned].id},{done[MODEL].id}"},
    ).json()
    by_id = {row["testing_criteria"]: row for row in comparison["criteria"]}
    assert by_id[format_id]["verdict"] == "better"
    assert by_id[format_id]["mcnemar_p"] < 1e-4
