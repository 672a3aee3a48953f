"""Eval runs through the official openai SDK against a live tuneforge whose OpenAI adapter
points at the emulator; the run step runs in this process as the worker's task would."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from sqlalchemy import select

from service.db.models import CostLedgerEntry
from service.db.session import session_scope
from tests.service.evals.runs.conftest import (
    BASE_MODEL,
    CONFIG,
    CRITERIA,
    TEMPLATE,
    RunWorld,
    completions,
    rows,
)


def jsonl(content: list[dict[str, Any]]) -> Any:
    return {"type": "jsonl", "source": {"type": "file_content", "content": content}}


def _eval(world: RunWorld) -> str:
    return world.sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA).id


def test_a_jsonl_run_grades_the_samples_its_rows_carry(world: RunWorld) -> None:
    eval_id = _eval(world)
    content = [
        {**row, "sample": {"output_text": row["item"]["answer"] if n % 2 == 0 else "nope"}}
        for n, row in enumerate(rows(6))
    ]
    run = world.sdk.evals.runs.create(
        eval_id,
        name="supplied",
        metadata={"k": "v"},
        data_source=jsonl(content),
    )
    assert run.object == "eval.run" and run.id.startswith("evalrun_")
    assert (run.status, run.name, run.metadata) == ("queued", "supplied", {"k": "v"})
    assert run.report_url == f"/admin/evals/{eval_id}/runs/{run.id}"
    world.work(run.id)

    done = world.sdk.evals.runs.retrieve(run.id, eval_id=eval_id)
    assert done.status == "completed"
    counts = done.result_counts
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (6, 3, 3, 0)
    assert done.per_model_usage == []
    results = done.per_testing_criteria_results
    assert [(r.passed, r.failed) for r in results] == [(3, 3), (3, 3)]
    assert results[0].testing_criteria.startswith("exact-")
    extra: Any = done.model_extra
    rate = extra["statistics"][results[0].testing_criteria]["pass_rate"]
    assert rate["value"] == 0.5 and rate["ci_low"] < 0.5 < rate["ci_high"]
    assert world.chat_requests() == 0

    page = world.sdk.evals.runs.output_items.list(run.id, eval_id=eval_id, limit=4)
    assert [i.datasource_item_id for i in page.data] == [0, 1, 2, 3] and page.has_more
    assert [i.datasource_item_id for i in page] == [0, 1, 2, 3, 4, 5]  # SDK pages on
    passed = world.sdk.evals.runs.output_items.list(run.id, eval_id=eval_id, status="pass")
    assert [i.datasource_item_id for i in passed] == [0, 2, 4]
    failed = world.sdk.evals.runs.output_items.list(run.id, eval_id=eval_id, status="fail")
    assert [i.status for i in failed] == ["fail"] * 3
    first = page.data[0]
    assert first.results[0].passed is True and first.datasource_item == content[0]["item"]
    again = world.sdk.evals.runs.output_items.retrieve(first.id, eval_id=eval_id, run_id=run.id)
    assert again.model_dump() == first.model_dump()


def test_base_and_tuned_models_sampled_compared_and_costed(world: RunWorld, tmp_path: Path) -> None:
    tuned = world.tuned_model(tmp_path)
    eval_id = _eval(world)
    params = {"max_completion_tokens": 50, "seed": 1, "temperature": 0}
    base_run = world.sdk.evals.runs.create(
        eval_id, data_source=completions(BASE_MODEL, sampling_params=params)
    )
    tuned_run = world.sdk.evals.runs.create(
        eval_id, data_source=completions(tuned, sampling_params=params)
    )
    assert tuned_run.model == tuned
    before = world.chat_requests()
    world.work(base_run.id)
    world.work(tuned_run.id)
    assert world.chat_requests() - before == 20  # one per item and run

    base = world.sdk.evals.runs.retrieve(base_run.id, eval_id=eval_id)
    tuned_done = world.sdk.evals.runs.retrieve(tuned_run.id, eval_id=eval_id)
    assert (base.status, tuned_done.status) == ("completed", "completed")
    assert (base.result_counts.passed, base.result_counts.failed) == (0, 10)
    assert (tuned_done.result_counts.passed, tuned_done.result_counts.total) == (10, 10)
    usage = tuned_done.per_model_usage[0]
    # the emulator counts words: 3 + 3 per message ("Answer in JSON." + 7-word question)
    assert (usage.run_model_name, usage.invocation_count) == (tuned, 10)
    assert (usage.prompt_tokens, usage.completion_tokens) == (10 * (3 + 3 + 7 + 3), 10 * 2)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert base.per_model_usage[0].run_model_name == BASE_MODEL
    assert base.per_model_usage[0].completion_tokens == 10 * 12  # I am not sure about "…"
    # tokens × the catalog's serving prices (per 1M): the base model's, and tuned gpt-4o-mini's
    base_extra: Any = base.model_extra
    tuned_extra: Any = tuned_done.model_extra
    assert (
        Decimal(base_extra["cost"]["amount"])
        == (160 * Decimal("0.15") + 120 * Decimal("0.60")) / 10**6
    )
    assert (
        Decimal(tuned_extra["cost"]["amount"])
        == (160 * Decimal("0.30") + 20 * Decimal("1.20")) / 10**6
    )
    with session_scope(world.database.sessions) as session:
        booked = session.scalars(
            select(CostLedgerEntry).where(CostLedgerEntry.eval_run_id == tuned_run.id)
        ).one()
        assert (booked.kind, booked.amount) == (
            "evaluation",
            Decimal(tuned_extra["cost"]["amount"]),
        )
    item = world.sdk.evals.runs.output_items.list(tuned_run.id, eval_id=eval_id, limit=1).data[0]
    assert item.sample.output[0].content == '{"code": "C0"}'
    assert item.sample.model == tuned and item.sample.max_completion_tokens == 50
    # each sampling call's wall time rides on its output item (the SDK keeps our extra key);
    # the run's p50/p95 are those of its items
    items = world.sdk.evals.runs.output_items.list(tuned_run.id, eval_id=eval_id, limit=100).data
    latencies = [float((i.sample.model_extra or {})["latency_ms"]) for i in items]
    assert len(latencies) == 10 and all(0 < ms < 60_000 for ms in latencies)
    assert tuned_extra["statistics"]["latency_ms"] == {
        "p50": pytest.approx(float(np.percentile(latencies, 50)), abs=1e-3),
        "p95": pytest.approx(float(np.percentile(latencies, 95)), abs=1e-3),
        "n": 10,
    }

    compared = _get(world, f"/v1/evals/{eval_id}/compare", runs=f"{tuned_run.id},{base_run.id}")
    assert compared["paired_items"] == 10
    assert compared["overall"]["verdict"] == "better"
    exact = compared["criteria"][0]
    assert exact["testing_criteria"].startswith("exact-")
    assert (exact["a_only_passed"], exact["b_only_passed"]) == (10, 0)
    assert exact["mcnemar_p"] < 0.01 and exact["verdict"] == "better"
    assert exact["difference"]["ci_low"] > 0
    reverse = _get(world, f"/v1/evals/{eval_id}/compare", runs=f"{base_run.id},{tuned_run.id}")
    assert reverse["overall"]["verdict"] == "worse"


def _get(world: RunWorld, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{world.sdk.base_url}".removesuffix("/v1/") + path,
        params=params,
        headers={"Authorization": f"Bearer {world.sdk.api_key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_list_filters_by_status_and_pages(world: RunWorld) -> None:
    eval_id = _eval(world)
    source: Any = {"type": "jsonl", "source": {"type": "file_content", "content": rows(1)}}
    created = [world.sdk.evals.runs.create(eval_id, data_source=source) for _ in range(3)]
    world.work(created[1].id)
    ids = [r.id for r in world.sdk.evals.runs.list(eval_id, limit=2)]
    assert ids == [r.id for r in created]
    newest = world.sdk.evals.runs.list(eval_id, order="desc").data[0]
    assert newest.id == created[2].id
    completed = world.sdk.evals.runs.list(eval_id, status="completed")
    assert [r.id for r in completed] == [created[1].id]
    queued = world.sdk.evals.runs.list(eval_id, status="queued")
    assert [r.id for r in queued] == [created[0].id, created[2].id]

    deleted = world.sdk.evals.runs.delete(created[0].id, eval_id=eval_id)
    assert (deleted.deleted, deleted.run_id) == (True, created[0].id)
    with pytest.raises(openai.NotFoundError):
        world.sdk.evals.runs.retrieve(created[0].id, eval_id=eval_id)


def test_a_file_uploaded_for_evals_is_a_runs_source_and_never_a_jobs(
    world: RunWorld, tmp_path: Path
) -> None:
    path = tmp_path / "rows.jsonl"
    # a line may be the item itself or {"item": …, "sample": …}
    lines = [rows(3)[0]["item"], {**rows(3)[1], "sample": {"output_text": "x"}}, rows(3)[2]]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with path.open("rb") as handle:
        uploaded = world.sdk.files.create(file=handle, purpose="evals")
    assert (uploaded.purpose, uploaded.status) == ("evals", "processed")
    eval_id = _eval(world)
    run = world.sdk.evals.runs.create(
        eval_id,
        data_source={
            "type": "completions",
            "model": BASE_MODEL,
            "source": {"type": "file_id", "id": uploaded.id},
            "input_messages": TEMPLATE,
        },
    )
    world.work(run.id)
    done = world.sdk.evals.runs.retrieve(run.id, eval_id=eval_id)
    assert (done.status, done.result_counts.total) == ("completed", 3)
    assert world.chat_requests() == 3
    with pytest.raises(openai.BadRequestError) as refused:
        world.sdk.fine_tuning.jobs.create(model=BASE_MODEL, training_file=uploaded.id)
    assert refused.value.code == "held_out_file"


def test_an_item_the_provider_keeps_refusing_is_errored_and_says_why(world: RunWorld) -> None:
    world.emulator.inject(kind="status", status=400, path="/chat/completions$", count=1)
    eval_id = _eval(world)
    run = world.sdk.evals.runs.create(eval_id, data_source=completions(BASE_MODEL, 3))
    world.work(run.id, world.settings.model_copy(update={"eval_run_concurrency": 1}))
    done = world.sdk.evals.runs.retrieve(run.id, eval_id=eval_id)
    assert done.status == "completed"  # a failed item is errored, not a failed run
    counts = done.result_counts
    assert (counts.total, counts.errored, counts.failed) == (3, 1, 2)
    items = world.sdk.evals.runs.output_items.list(run.id, eval_id=eval_id)
    bad = next(i for i in items if i.status == "error")
    assert bad.datasource_item_id == 0 and bad.results == []
    extra: Any = bad.sample
    assert extra.error.code == "item_error" and "openai" in extra.error.message
