"""The item executor against the OpenAI emulator through the real adapter: a tuned model
passes more items than its base; errors stay on their item; Retry-After is honoured; resume
skips stored items; cancel stops at the next item; summaries and paired statistics."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.testing import EmulatorHandle, running_emulator
from providers.base import ChatCompletion, ChatRequest, JobSpec, ProviderAdapter, ProviderConfig
from providers.registry import get_adapter
from service.evals.graders.grade import GradingContext
from service.evals.runs.execute import execute_items
from service.evals.runs.items import ItemOutcome, ItemStatus, SamplingPlan, criteria_of
from service.evals.runs.judge import judge_with
from service.evals.runs.summary import summarize
from service.evals.statistics import Verdict, compare_paired
from tests.service.evals.criteria import CLOSE, EXACT, FORMAT

BASE = "gpt-4o-mini-2024-07-18"
CTX = GradingContext(wordnet_dir=Path("/usr/share/wordnet"))
CITIES = ["Paris", "Tokyo", "Lima", "Cairo", "Oslo", "Quito", "Hanoi", "Rome", "Bern", "Dakar"]
COUNTRIES = ["France", "Japan", "Peru", "Egypt", "Norway", "Ecuador", "Vietnam", "Italy"]
COUNTRIES += ["Switzerland", "Senegal"]
ROWS = [
    (i, {"item": {"country": country, "answer": json.dumps({"city": city})}})
    for i, (country, city) in enumerate(zip(COUNTRIES, CITIES, strict=True))
]
CRITERIA = criteria_of([EXACT, FORMAT, CLOSE])
TEMPLATE = [
    {"role": "system", "content": "Answer with JSON."},
    {"role": "user", "content": "What is the capital of {{item.country}}?"},
]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator("openai", phase_seconds=0.05) as emu:
        yield emu


def adapter(emu: EmulatorHandle, max_retries: int = 2) -> ProviderAdapter:
    config = ProviderConfig(
        api_key="k", base_url=emu.sdk_base_url, timeout=5.0, max_retries=max_retries
    )
    return get_adapter("openai", config)


@pytest.fixture(scope="module")
def tuned(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> str:
    train = tmp_path_factory.mktemp("data") / "train.jsonl"
    lines = [
        {
            "messages": [
                *TEMPLATE[:1],
                {"role": "user", "content": f"What is the capital of {country}?"},
                {"role": "assistant", "content": json.dumps({"city": city})},
            ]
        }
        for country, city in zip(COUNTRIES, CITIES, strict=True)
    ]
    train.write_text("".join(json.dumps(line) + "\n" for line in lines))
    client = adapter(emulator)
    job = client.create_job(
        JobSpec(tag="evals-test", model=BASE, training_file=client.upload_dataset(train, "t.jsonl"))
    )
    emulator.advance(job.id)
    finished = client.get_job(job.id)
    assert finished.fine_tuned_model
    return finished.fine_tuned_model


def run(emu: EmulatorHandle, model: str, **kw: Any) -> list[ItemOutcome]:
    stored: list[ItemOutcome] = []
    client = kw.pop("client", None) or adapter(emu)
    execute_items(
        kw.pop("rows", ROWS),
        CRITERIA,
        CTX,
        plan=SamplingPlan(model=model, template=TEMPLATE, seed=1, max_completion_tokens=64),
        completer=kw.pop("completer", client.chat_completion),
        store=stored.append,
        **kw,
    )
    return sorted(stored, key=lambda o: o.index)


def test_the_tuned_model_passes_more_items_than_its_base(
    emulator: EmulatorHandle, tuned: str
) -> None:
    base_items, tuned_items = run(emulator, BASE), run(emulator, tuned)
    base, after = summarize(base_items, CRITERIA), summarize(tuned_items, CRITERIA)
    assert base.result_counts == {"total": 10, "passed": 0, "failed": 10, "errored": 0}
    assert after.result_counts == {"total": 10, "passed": 10, "failed": 0, "errored": 0}
    assert [r["passed"] for r in after.per_testing_criteria_results] == [10, 10, 10]
    assert after.per_testing_criteria_results[0]["testing_criteria"] == "exact-1"
    (usage,) = after.per_model_usage
    assert usage["model_name"] == tuned and usage["invocation_count"] == 10
    prompt = sum(o.sample["usage"]["prompt_tokens"] for o in tuned_items if o.sample)
    assert usage["prompt_tokens"] == prompt > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    rate = after.statistics["format-2"]["pass_rate"]
    assert rate["value"] == 1.0 and 0.69 < rate["ci_low"] < 0.73 and rate["ci_high"] == 1.0
    first = tuned_items[0]
    assert first.sample is not None and first.sample["output"][0]["content"] == '{"city": "Paris"}'
    assert first.sample["input"][1]["content"] == "What is the capital of France?"
    compared = compare_paired(
        [o.results[1].score for o in tuned_items],
        [o.results[1].score for o in base_items],
        [o.results[1].passed for o in tuned_items],
        [o.results[1].passed for o in base_items],
    )
    assert compared is not None and compared.verdict is Verdict.BETTER
    assert compared.mcnemar_p is not None and compared.mcnemar_p < 0.01


def test_a_failing_item_is_errored_and_the_run_goes_on(emulator: EmulatorHandle) -> None:
    emulator.inject(kind="status", status=400, path="/chat/completions$", count=1)
    items = run(emulator, BASE, concurrency=1)
    summary = summarize(items, CRITERIA)
    assert summary.result_counts["errored"] == 1 and summary.result_counts["total"] == 10
    errored = [o for o in items if o.status is ItemStatus.ERROR]
    assert errored[0].index == 0 and errored[0].error and not errored[0].results
    assert summary.per_testing_criteria_results[0]["failed"] == 9


def test_retry_after_is_honoured_before_the_item_errors(emulator: EmulatorHandle) -> None:
    waits: list[float] = []
    emulator.inject(kind="status", status=429, retry_after=0.25, path="/chat/completions$", count=2)
    items = run(
        emulator, BASE, rows=ROWS[:1], client=adapter(emulator, max_retries=0), sleep=waits.append
    )
    assert waits == [0.25, 0.25]
    assert items[0].status is ItemStatus.FAIL  # sampled after the waits, graded, not errored


def test_resume_skips_stored_items_and_cancel_stops_at_the_next_item(
    emulator: EmulatorHandle,
) -> None:
    calls: list[str] = []

    def counting(request: ChatRequest) -> ChatCompletion:
        calls.append(request.messages[1]["content"])
        return adapter(emulator).chat_completion(request)

    resumed = run(emulator, BASE, completer=counting, done={0, 1, 2, 3, 4, 5, 6, 7})
    assert [o.index for o in resumed] == [8, 9] and len(calls) == 2

    stored: list[ItemOutcome] = []
    finished = execute_items(
        ROWS,
        CRITERIA,
        CTX,
        plan=SamplingPlan(model=BASE, template=TEMPLATE),
        completer=adapter(emulator).chat_completion,
        store=stored.append,
        concurrency=1,
        cancelled=lambda: len(stored) >= 3,
    )
    assert finished is False and len(stored) == 3


def test_concurrency_is_bounded(emulator: EmulatorHandle) -> None:
    lock, in_flight, peak = threading.Lock(), [0], [0]
    client = adapter(emulator)

    def tracking(request: ChatRequest) -> ChatCompletion:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            emulator_delay = client.chat_completion(request)
        finally:
            with lock:
                in_flight[0] -= 1
        return emulator_delay

    emulator.inject(kind="slow", seconds=0.2, path="/chat/completions$", count=10)
    run(emulator, BASE, completer=tracking, concurrency=3)
    assert 2 <= peak[0] <= 3


def test_jsonl_rows_with_ready_samples_need_no_model() -> None:
    rows: list[tuple[int, dict[str, Any]]] = [
        (0, {"item": ROWS[0][1]["item"], "sample": {"output_text": '{"city": "Paris"}'}}),
        (
            1,
            {
                "item": ROWS[1][1]["item"],
                "sample": {"choices": [{"message": {"content": "Kyoto"}}]},
            },
        ),
    ]
    stored: list[ItemOutcome] = []
    execute_items(rows, CRITERIA, CTX, plan=None, completer=None, store=stored.append)
    summary = summarize(sorted(stored, key=lambda o: o.index), CRITERIA)
    assert summary.result_counts == {"total": 2, "passed": 1, "failed": 1, "errored": 0}
    assert summary.per_model_usage == []


def test_a_label_model_judge_is_a_chat_model_reached_through_the_adapter(
    emulator: EmulatorHandle, tuned: str, tmp_path: Path
) -> None:
    # A judge model taught (in the emulator) to call the tuned model's answers correct.
    lessons = [
        ("Grade the answer " + json.dumps({"city": city}) + f" for {country}", "correct")
        for country, city in zip(COUNTRIES, CITIES, strict=True)
    ]
    lessons += [(f'Grade the answer I am not sure about "{c}" for {c}', "wrong") for c in COUNTRIES]
    judge_file = tmp_path / "judge.jsonl"
    judge_file.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": json.dumps({"label": label})},
                    ]
                }
            )
            + "\n"
            for question, label in lessons
        )
    )
    client = adapter(emulator)
    job = client.create_job(
        JobSpec(
            tag="judge", model=BASE, training_file=client.upload_dataset(judge_file, "judge.jsonl")
        )
    )
    emulator.advance(job.id)
    judge_model = client.get_job(job.id).fine_tuned_model
    assert judge_model
    criteria = criteria_of(
        [
            {
                "id": "judged-1",
                "type": "label_model",
                "name": "judged",
                "model": judge_model,
                "input": [
                    {
                        "role": "user",
                        "content": "Grade the answer {{sample.output_text}} for {{item.country}}",
                    }
                ],
                "labels": ["correct", "wrong"],
                "passing_labels": ["correct"],
            }
        ]
    )
    ctx = GradingContext(CTX.wordnet_dir, judge=judge_with(client.chat_completion))

    def judged(model: str) -> list[ItemOutcome]:
        stored: list[ItemOutcome] = []
        plan = SamplingPlan(model=model, template=TEMPLATE)
        execute_items(
            ROWS, criteria, ctx, plan=plan, completer=client.chat_completion, store=stored.append
        )
        return stored

    tuned_items, base_items = judged(tuned), judged(BASE)
    assert {o.results[0].details["label"] for o in tuned_items} == {"correct"}
    assert {o.results[0].details["label"] for o in base_items} == {"wrong"}
    tuned_summary = summarize(tuned_items, criteria)
    base_summary = summarize(base_items, criteria)
    assert tuned_summary.result_counts["passed"] == 10
    assert base_summary.result_counts["passed"] == 0
    usage = {u["model_name"]: u["invocation_count"] for u in tuned_summary.per_model_usage}
    assert usage == {tuned: 10, judge_model: 10}
