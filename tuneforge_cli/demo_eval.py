"""The demo's evaluation, through the REST API: an eval with a format-compliance criterion
(``json_schema``: the answer parses as JSON and is a valid record) and a content criterion
(``json_fields``: at least half the record's fields right), one run of the base model and one
of the tuned model over the held-out part of the demo's split (real generation on the local
worker), and the paired comparison. Prints one table: each criterion's pass rate with its
Wilson 95% interval per model, the paired difference with its bootstrap 95% interval, McNemar's
exact p-value and the verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from local_gpu.tiny import RECORD_SCHEMA

RUN_TERMINAL = ("completed", "failed", "canceled")
MAX_ANSWER_TOKENS = 64
ITEM_SCHEMA = {
    "type": "object",
    "properties": {"messages": {"type": "array", "minItems": 2}},
    "required": ["messages"],
}
CRITERIA: list[dict[str, Any]] = [
    {"type": "json_schema", "name": "valid JSON record", "schema": RECORD_SCHEMA},
    {
        "type": "json_fields",
        "name": "half the fields right",
        "reference": "{{item.messages[1].content}}",
        "pass_threshold": 0.5,
    },
]
PROMPT = [{"role": "user", "content": "{{item.messages[0].content}}"}]

Check = Callable[[httpx.Response, str], dict[str, Any]]


def create_eval(client: httpx.Client, check: Check) -> dict[str, Any]:
    return check(
        client.post(
            "/v1/evals",
            json={
                "name": "demo: records as JSON",
                "data_source_config": {"type": "custom", "item_schema": ITEM_SCHEMA},
                "testing_criteria": CRITERIA,
            },
        ),
        "creating the eval",
    )


def start_run(
    client: httpx.Client, check: Check, eval_id: str, model: str, test_file: str
) -> dict[str, Any]:
    return check(
        client.post(
            f"/v1/evals/{eval_id}/runs",
            json={
                "name": model,
                "data_source": {
                    "type": "completions",
                    "model": model,
                    "input_messages": {"type": "template", "template": PROMPT},
                    "sampling_params": {"max_completion_tokens": MAX_ANSWER_TOKENS},
                    "source": {"type": "file_id", "id": test_file},
                },
            },
        ),
        f"starting the run of {model}",
    )


def wait_run(
    client: httpx.Client, check: Check, eval_id: str, run_id: str, timeout_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run = check(client.get(f"/v1/evals/{eval_id}/runs/{run_id}"), "reading the run")
        if run["status"] in RUN_TERMINAL or time.monotonic() > deadline:
            return run
        time.sleep(0.5)


def _rate(statistics: dict[str, Any], criterion_id: str) -> str:
    rate = (statistics.get(criterion_id) or {}).get("pass_rate")
    if not rate:
        return "n/a"
    return (
        f"{100 * rate['value']:5.1f}% [{100 * rate['ci_low']:4.1f}, {100 * rate['ci_high']:5.1f}]"
    )


def _difference(row: dict[str, Any]) -> str:
    rate = row.get("pass_rate_difference")
    diff = row.get("difference")
    if rate is None or not diff:
        return "n/a"
    interval = f"[{diff['ci_low']:+.2f}, {diff['ci_high']:+.2f}]"
    return f"{100 * rate:+6.1f} pts (mean {diff['value']:+.2f} {interval})"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1e}"


def table(
    evaluation: dict[str, Any],
    base: dict[str, Any],
    tuned: dict[str, Any],
    comparison: dict[str, Any],
) -> list[str]:
    """The lines the demo prints: one per criterion, then every criterion together."""
    names = {c["id"]: c["name"] for c in evaluation["testing_criteria"]}
    rows = {row["testing_criteria"]: row for row in comparison["criteria"]}
    header = (
        f"{'criterion':<22} {'base: pass (95% CI)':<24} {'tuned: pass (95% CI)':<24} "
        f"{'tuned - base (95% CI)':<40} {'McNemar p':>9}  verdict"
    )
    lines = [header, "-" * len(header)]
    for criterion_id, name in names.items():
        row = rows.get(criterion_id, {})
        lines.append(
            f"{name:<22} {_rate(base.get('statistics') or {}, criterion_id):<24} "
            f"{_rate(tuned.get('statistics') or {}, criterion_id):<24} {_difference(row):<40} "
            f"{_p(row.get('mcnemar_p')):>9}  {row.get('verdict', 'n/a')}"
        )
    overall = comparison["overall"]
    counts = (base["result_counts"], tuned["result_counts"])
    lines.append(
        f"{'all criteria':<22} {counts[0]['passed']:>3}/{counts[0]['total']:<20} "
        f"{counts[1]['passed']:>3}/{counts[1]['total']:<20} {_difference(overall):<40} "
        f"{_p(overall.get('mcnemar_p')):>9}  {overall['verdict']}"
    )
    lines.append(
        f"(paired over {comparison['paired_items']} held-out items; pass rates with Wilson "
        "intervals, differences with a paired bootstrap, McNemar's exact test)"
    )
    return lines
