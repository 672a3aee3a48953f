"""Issue #15's must-show through the official openai SDK against a live tuneforge (API and a
real Celery worker) whose OpenAI adapter points at the emulator: fine-tune on the train part of
a held-out split, evaluate the base and the tuned model on the test part, and compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.webhooks import EvalRunSucceededWebhookEvent
from standardwebhooks import Webhook

from emulators.testing import EmulatorHandle
from tests.e2e.harness import Processes, wait_for
from tests.service.webhooks.receiver import running_receiver

BASE = "gpt-4o-mini-2024-07-18"
SYSTEM = "You answer with a JSON object."
TOPICS = ["rivers", "mountains", "poets", "planets", "bridges", "operas", "glaciers", "deserts"]
EXAMPLES = [
    {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Give the atlas id of {topic} entry number {i}"},
            {"role": "assistant", "content": f'{{"id": {i}}}'},
        ]
    }
    for i, topic in enumerate(TOPICS * 8)
]
MESSAGE = {
    "type": "object",
    "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
    "required": ["role", "content"],
}
ITEM_SCHEMA: Any = {
    "type": "object",
    "properties": {"messages": {"type": "array", "items": MESSAGE, "minItems": 3}},
    "required": ["messages"],
}
CRITERIA: Any = [
    {  # format compliance: the answer is the JSON object the training data taught
        "type": "string_check",
        "name": "json format",
        "input": "{{sample.output_text}}",
        "reference": '{"id": ',
        "operation": "like",
    },
    {
        "type": "text_similarity",
        "name": "close to expected",
        "input": "{{sample.output_text}}",
        "reference": "{{item.messages[2].content}}",
        "evaluation_metric": "fuzzy_match",
        "pass_threshold": 0.7,
    },
]
TEMPLATE: Any = {
    "type": "template",
    "template": [
        {"role": "system", "content": "{{item.messages[0].content}}"},
        {"role": "user", "content": "{{item.messages[1].content}}"},
    ],
}


def _finished(client: openai.OpenAI, eval_id: str, run_id: str) -> bool:
    status = client.evals.runs.retrieve(run_id, eval_id=eval_id).status
    return status in ("completed", "failed", "canceled")


@pytest.mark.integration
def test_the_tuned_model_beats_its_base_on_held_out_items(
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    api_key: str,
    tmp_path: Path,
) -> None:
    base_url = processes.start_api()
    processes.start_worker()
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)
    headers = {"Authorization": f"Bearer {api_key}"}
    data = tmp_path / "atlas.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    with data.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    split = httpx.post(
        f"{base_url}/v1/files/{uploaded.id}/split",
        headers=headers,
        json={"test_fraction": 0.25, "seed": "e2e"},
    )
    assert split.status_code == 200, split.text
    parts = split.json()
    held_out = parts["report"]["test_examples"]
    assert held_out >= 8

    job = client.fine_tuning.jobs.create(model=BASE, training_file=parts["train_file"]["id"])
    wait_for(
        lambda: client.fine_tuning.jobs.retrieve(job.id).status in ("succeeded", "failed"),
        60,
        "the fine-tuning job",
    )
    tuned = client.fine_tuning.jobs.retrieve(job.id)
    assert tuned.status == "succeeded" and tuned.fine_tuned_model, processes.logs()

    evaluation = client.evals.create(
        name="atlas",
        data_source_config={"type": "custom", "item_schema": ITEM_SCHEMA},
        testing_criteria=CRITERIA,
    )
    source: Any = {"type": "file_id", "id": parts["test_file"]["id"]}
    runs = {
        model: client.evals.runs.create(
            evaluation.id,
            name=model,
            data_source={
                "type": "completions",
                "model": model,
                "source": source,
                "input_messages": TEMPLATE,
                "sampling_params": {"max_completion_tokens": 64, "temperature": 0},
            },
        )
        for model in (BASE, tuned.fine_tuned_model)
    }
    for run in runs.values():
        try:
            wait_for(lambda run=run: _finished(client, evaluation.id, run.id), 60, "the run")
        except AssertionError:
            print(processes.logs())
            raise
    base_run = client.evals.runs.retrieve(runs[BASE].id, eval_id=evaluation.id)
    tuned_run = client.evals.runs.retrieve(runs[tuned.fine_tuned_model].id, eval_id=evaluation.id)
    assert (base_run.status, tuned_run.status) == ("completed", "completed"), processes.logs()
    for finished in (base_run, tuned_run):
        counts = finished.result_counts
        assert (counts.total, counts.errored) == (held_out, 0)
        assert counts.passed + counts.failed == held_out
        usage = finished.per_model_usage
        assert len(usage) == 1 and usage[0].invocation_count == held_out
    assert tuned_run.per_model_usage[0].run_model_name == tuned.fine_tuned_model
    assert base_run.result_counts.passed == 0
    assert tuned_run.result_counts.passed > base_run.result_counts.passed
    format_results = tuned_run.per_testing_criteria_results[0]
    assert (format_results.passed, format_results.failed) == (held_out, 0)
    chats = [r for r in emulators["openai"].requests() if r["path"].endswith("/chat/completions")]
    assert len(chats) == 2 * held_out  # each held-out item sampled once per model

    items = client.evals.runs.output_items.list(tuned_run.id, eval_id=evaluation.id, limit=100)
    assert len(items.data) == held_out
    sample: Any = items.data[0].sample
    assert sample.output[0].content.startswith('{"id": ')

    compared = httpx.get(
        f"{base_url}/v1/evals/{evaluation.id}/compare",
        headers=headers,
        params={"runs": f"{tuned_run.id},{base_run.id}"},
    )
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert body["paired_items"] == held_out
    assert body["criteria"][0]["verdict"] == "better"
    assert body["criteria"][0]["mcnemar_p"] < 0.05
    assert body["overall"]["verdict"] == "better"


def _stored(client: openai.OpenAI, eval_id: str, run_id: str) -> int:
    return len(client.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=100).data)


@pytest.mark.integration
def test_a_run_survives_its_worker_being_killed(
    processes: Processes, emulators: dict[str, EmulatorHandle], api_key: str
) -> None:
    """SIGKILL the worker mid-run: its lease expires, the reconciler hands the run to a new
    worker, which skips the stored items. At most the items in flight at the kill (the run's
    concurrency) are sampled again; no stored item is."""
    items = 24
    processes.env["TUNEFORGE_EVAL_RUN_CONCURRENCY"] = "2"
    emulators["openai"].inject(kind="slow", path="/chat/completions$", seconds=0.25, count=-1)
    base_url = processes.start_api()
    worker = processes.start_worker()
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)
    says_unsure: Any = {**CRITERIA[0], "reference": "I am"}
    evaluation = client.evals.create(
        data_source_config={"type": "custom", "item_schema": {"type": "object"}},
        testing_criteria=[says_unsure],
    )
    run = client.evals.runs.create(
        evaluation.id,
        data_source={
            "type": "completions",
            "model": BASE,
            "source": {
                "type": "file_content",
                "content": [{"item": {"n": n}} for n in range(items)],
            },
            "input_messages": {
                "type": "template",
                "template": [{"role": "user", "content": "Item {{item.n}}"}],
            },
        },
    )
    wait_for(lambda: _stored(client, evaluation.id, run.id) >= 4, 60, "a few items stored")
    processes.kill(worker)
    before_restart = _stored(client, evaluation.id, run.id)
    assert before_restart < items
    processes.start_worker()
    try:
        wait_for(lambda: _finished(client, evaluation.id, run.id), 90, "the resumed run")
    except AssertionError:
        print(processes.logs())
        raise
    done = client.evals.runs.retrieve(run.id, eval_id=evaluation.id)
    assert done.status == "completed", processes.logs()
    assert (done.result_counts.total, done.result_counts.passed) == (items, items)
    listed = client.evals.runs.output_items.list(run.id, eval_id=evaluation.id, limit=100)
    assert sorted(i.datasource_item_id for i in listed.data) == list(range(items))
    chats = [r for r in emulators["openai"].requests() if r["path"].endswith("/chat/completions")]
    assert items <= len(chats) <= items + 2  # only the two in flight at the kill, if any
    print(f"{before_restart} items stored before the kill; {len(chats)} chat requests in all")


@pytest.mark.integration
def test_a_runs_end_reaches_a_subscribed_endpoint_signed_for_the_openai_sdk(
    processes: Processes, api_key: str
) -> None:
    base_url = processes.start_api()
    processes.start_worker()
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)
    headers = {"Authorization": f"Bearer {api_key}"}
    with running_receiver() as receiver:
        created = httpx.post(
            f"{base_url}/v1/webhook_endpoints",
            headers=headers,
            json={"url": receiver.url(), "events": ["eval.run.succeeded"]},
        )
        assert created.status_code == 200, created.text
        secret = created.json()["secret"]
        opens_an_object: Any = {**CRITERIA[0], "reference": "{"}
        evaluation = client.evals.create(
            data_source_config={"type": "custom", "item_schema": {"type": "object"}},
            testing_criteria=[opens_an_object],
        )
        content: Any = [{"item": {"n": n}, "sample": {"output_text": "{}"}} for n in range(3)]
        run = client.evals.runs.create(
            evaluation.id,
            data_source={"type": "jsonl", "source": {"type": "file_content", "content": content}},
        )
        wait_for(lambda: len(receiver.received) >= 1, 60, "the eval.run.succeeded webhook")
        received = receiver.received[0]
        assert Webhook(secret).verify(received.body, received.headers)
        unwrapped = client.webhooks.unwrap(received.body, received.headers, secret=secret)
        assert isinstance(unwrapped, EvalRunSucceededWebhookEvent)
        assert unwrapped.data.id == run.id
        payload = json.loads(received.body)
        assert payload["data"]["result_counts"]["passed"] == 3
        assert len(receiver.received) == 1
