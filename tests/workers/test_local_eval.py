"""The demo's claim, proven with the eval machinery itself: a tiny model LoRA-tuned on
structured-extraction chats (``synthetic_extractions``) answers valid JSON records on a held-out
split where its base never does — a significant improvement by the paired comparison (McNemar
exact, paired bootstrap) — through the worker's local completer, real generation both sides.
Also: the adapter changes the answers, usage counts every prompt and completion token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_gpu import TrainingConfig, go_offline, run_training
from local_gpu.tiny import RECORD_SCHEMA, build_demo_model, synthetic_extractions, write_jsonl
from service.datasets.split import parse_lines, split_examples
from service.evals.graders.grade import GradingContext
from service.evals.runs.execute import execute_items
from service.evals.runs.items import ItemOutcome, ItemStatus, SamplingPlan, criteria_of
from service.evals.runs.local import LocalModel
from service.evals.runs.summary import summarize
from service.evals.statistics import Verdict, compare_paired
from workers.local_inference import LocalModels

go_offline()

CRITERIA = criteria_of(
    [
        {"id": "format", "type": "json_schema", "name": "valid record", "schema": RECORD_SCHEMA},
        {
            "id": "fields",
            "type": "json_fields",
            "name": "fields right",
            "reference": "{{item.messages[1].content}}",
            "pass_threshold": 0.5,
        },
    ]
)
PLAN_TEMPLATE = [{"role": "user", "content": "{{item.messages[0].content}}"}]


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared 2-core box two threads spin against each other (measured
    ~20x slower training); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, one_thread: None
) -> tuple[Path, Path, list[tuple[int, dict[str, object]]]]:
    root = tmp_path_factory.mktemp("local-eval")
    model_dir = build_demo_model(root / "tiny")
    content = "".join(json.dumps(r) + "\n" for r in synthetic_extractions(200, seed=11)).encode()
    split = split_examples(parse_lines(content), "demo", 0.2)
    train_file = write_jsonl(root / "train.jsonl", [e.record for e in split.train])
    result = run_training(
        TrainingConfig(
            model_dir=model_dir,
            train_file=train_file,
            output_dir=root / "job",
            device="cpu",
            quantization="none",
            epochs=4,
            learning_rate=2e-3,
            rows_per_batch=2,
            max_seq_len=256,
            checkpoint_every=10_000,
            torch_threads=1,
        )
    )
    assert result.adapter_dir is not None
    rows = [(i, {"item": e.record}) for i, e in enumerate(split.test)]
    return model_dir, result.adapter_dir, rows


def _run(
    models: LocalModels, model: LocalModel, rows: list[tuple[int, dict[str, object]]]
) -> list[ItemOutcome]:
    stored: list[ItemOutcome] = []
    execute_items(
        rows,
        CRITERIA,
        GradingContext(wordnet_dir=Path("/usr/share/wordnet")),
        plan=SamplingPlan(model="m", template=PLAN_TEMPLATE, max_completion_tokens=64),
        completer=models.completer(model),
        store=stored.append,
        concurrency=8,
    )
    return sorted(stored, key=lambda outcome: outcome.index)


@pytest.mark.slow
def test_the_tuned_model_is_significantly_better_at_the_format_on_held_out_items(
    trained: tuple[Path, Path, list[tuple[int, dict[str, object]]]],
) -> None:
    model_dir, adapter_dir, rows = trained
    assert len(rows) >= 25
    models = LocalModels(device="cpu", max_batch=8)
    base = _run(models, LocalModel("local/tiny", model_dir, None), rows)
    tuned = _run(models, LocalModel("local/tiny:ft", model_dir, adapter_dir), rows)
    assert models.loads == 2
    assert [o.sample for o in base] != [o.sample for o in tuned]
    assert all(o.status is not ItemStatus.ERROR for o in base + tuned)

    base_summary, tuned_summary = summarize(base, CRITERIA), summarize(tuned, CRITERIA)
    assert base_summary.statistics["format"]["pass_rate"]["value"] <= 0.05
    assert tuned_summary.statistics["format"]["pass_rate"]["ci_low"] >= 0.8
    usage = tuned_summary.per_model_usage[0]
    assert usage["invocation_count"] == len(rows)
    assert usage["prompt_tokens"] == sum(
        o.sample["usage"]["prompt_tokens"] for o in tuned if o.sample
    )
    assert usage["completion_tokens"] == sum(
        o.sample["usage"]["completion_tokens"] for o in tuned if o.sample
    )

    for position, criterion in enumerate(CRITERIA):
        comparison = compare_paired(
            [o.results[position].score for o in tuned],
            [o.results[position].score for o in base],
            [o.results[position].passed for o in tuned],
            [o.results[position].passed for o in base],
        )
        assert comparison is not None
        if criterion.id == "format":
            assert comparison.verdict is Verdict.BETTER
            assert comparison.mcnemar_p is not None and comparison.mcnemar_p < 1e-4
        # content is partly right after a minute of training, never worse than the base
        assert comparison.verdict is not Verdict.WORSE
