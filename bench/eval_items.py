"""Eval item throughput: the run item executor (render → complete → grade, at its default
concurrency) against a plain sequential loop of ``client.chat.completions.create`` calls,
on the same OpenAI emulator and the same 200 items (goal: ratio ≥ 5). A third arm is a whole
eval run: created through the runs service and executed by the eval-run step as a worker runs
it (lease and heartbeat, each item stored in its own transaction, the summary at the end), on
an embedded SQLite database in a temporary folder.

    python bench/eval_items.py [--items 200] [--latency 0.05] [--concurrency 8] [--repeat 3]

The emulator answers each chat completion after ``--latency`` seconds (a ``slow`` fault: a
provider's round-trip; on loopback with no delay both arms would measure only this machine's
CPU). Best of ``--repeat`` rounds per arm, alternating (the machine is shared).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.testing import running_emulator  # noqa: E402
from providers.base import ProviderConfig  # noqa: E402
from providers.registry import get_adapter  # noqa: E402
from service.db import migrations  # noqa: E402
from service.db.database import Database  # noqa: E402
from service.db.models import EvalRun  # noqa: E402
from service.db.session import session_scope  # noqa: E402
from service.evals.graders.grade import GradingContext  # noqa: E402
from service.evals.runs.execute import execute_items  # noqa: E402
from service.evals.runs.items import ItemOutcome, SamplingPlan, criteria_of  # noqa: E402
from service.evals.runs.kind import EVAL_RUN  # noqa: E402
from service.evals.runs.requests import CreateRunRequest  # noqa: E402
from service.evals.runs.service import create_run  # noqa: E402
from service.evals.runs.step import RunItemsStep  # noqa: E402
from service.evals.schemas import CreateEvalRequest  # noqa: E402
from service.evals.service import create_eval  # noqa: E402
from service.jobs.lifecycle.adapters import adapter_for  # noqa: E402
from service.lifecycle.runner import run_step  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.tenants.service import create_tenant  # noqa: E402

MODEL = "gpt-4o-mini-2024-07-18"
TEMPLATE = [{"role": "user", "content": "What is {{item.a}} plus {{item.b}}?"}]
RAW_CRITERIA: list[dict[str, object]] = [
    {
        "id": "exact-1",
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.sum}}",
        "operation": "like",
    }
]
CRITERIA = criteria_of(RAW_CRITERIA)


def whole_run(
    folder: Path, base_url: str, rows: list[tuple[int, dict[str, Any]]], concurrency: int
) -> Callable[[], int]:
    """An arm that creates a run (inline rows) and runs its step to the end; items stored."""
    settings = Settings(
        environment="test",
        data_dir=folder,
        openai_base_url=base_url,
        openai_api_key=SecretStr("k"),
        eval_run_concurrency=concurrency,
        _env_file=None,
    )
    migrations.upgrade(settings)
    database = Database.from_url(settings.database_url)
    stored_criteria = [{k: v for k, v in c.items() if k != "id"} for c in RAW_CRITERIA]
    with session_scope(database.sessions) as session:
        tenant_id = create_tenant(session, "bench").id
        eval_id = create_eval(
            session,
            settings,
            tenant_id,
            CreateEvalRequest.model_validate(
                {
                    "data_source_config": {"type": "custom", "item_schema": {"type": "object"}},
                    "testing_criteria": stored_criteria,
                }
            ),
        ).id
    body = CreateRunRequest.model_validate(
        {
            "data_source": {
                "type": "completions",
                "model": MODEL,
                "input_messages": {"type": "template", "template": TEMPLATE},
                "sampling_params": {"seed": 1},
                "source": {"type": "file_content", "content": [row for _, row in rows]},
            }
        }
    )

    def arm() -> int:
        with session_scope(database.sessions) as session:
            run_id = create_run(session, settings, tenant_id, eval_id, body).id
        run_step(EVAL_RUN, RunItemsStep(adapter_for), database.sessions, settings, run_id)
        with session_scope(database.sessions) as session:
            run = session.get(EvalRun, run_id)
            assert run is not None and run.status == "completed", run and run.error
            counts = run.result_counts or {}
            assert counts.get("errored") == 0, "an item errored"
            return int(counts["total"])

    return arm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[int, dict[str, Any]]] = [
        (i, {"item": {"a": i, "b": i + 1, "sum": str(2 * i + 1)}}) for i in range(args.items)
    ]

    with running_emulator("openai") as emu:
        emu.inject(kind="slow", seconds=args.latency, path="/chat/completions$", count=-1)
        sdk = openai.OpenAI(api_key="k", base_url=emu.sdk_base_url, max_retries=0)
        config = ProviderConfig(api_key="k", base_url=emu.sdk_base_url, max_retries=2)
        adapter = get_adapter("openai", config)
        ctx = GradingContext(wordnet_dir=Path("/usr/share/wordnet"))
        plan = SamplingPlan(model=MODEL, template=TEMPLATE, seed=1)

        def sequential() -> int:
            done = 0
            for _, row in rows:
                item = row["item"]
                question = f"What is {item['a']} plus {item['b']}?"
                sdk.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": question}], seed=1
                )
                done += 1
            return done

        def executor() -> int:
            stored: list[ItemOutcome] = []
            execute_items(
                rows,
                CRITERIA,
                ctx,
                plan=plan,
                completer=adapter.chat_completion,
                store=stored.append,
                concurrency=args.concurrency,
            )
            assert all(o.error is None for o in stored), "an item errored"
            return len(stored)

        folder = Path(tempfile.mkdtemp(prefix="tuneforge-bench-"))
        run = whole_run(folder, emu.sdk_base_url, rows, args.concurrency)
        arms: list[tuple[str, Callable[[], int]]] = [
            ("sequential", sequential),
            ("executor", executor),
            ("run", run),
        ]
        best = {name: 0.0 for name, _ in arms}
        for _ in range(args.repeat):
            for name, arm in arms:
                start = time.perf_counter()
                count = arm()
                rate = count / (time.perf_counter() - start)
                best[name] = max(best[name], rate)
    ratio = best["executor"] / best["sequential"]
    run_ratio = best["run"] / best["sequential"]
    print(
        f"items={args.items} latency={args.latency}s concurrency={args.concurrency} "
        f"(best of {args.repeat})"
    )
    print(f"sequential chat.completions.create: {best['sequential']:.1f} items/s")
    print(f"eval item executor:                 {best['executor']:.1f} items/s")
    print(f"whole eval run (step, stores):      {best['run']:.1f} items/s")
    print(f"ratio executor: {ratio:.2f}x, whole run: {run_ratio:.2f}x (goal >= 5)")


if __name__ == "__main__":
    main()
