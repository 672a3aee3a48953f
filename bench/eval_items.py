"""Eval item throughput: the run item executor (render → complete → grade, at its default
concurrency) against a plain sequential loop of ``client.chat.completions.create`` calls,
on the same OpenAI emulator and the same 200 items (goal: ratio ≥ 5).

    python bench/eval_items.py [--items 200] [--latency 0.05] [--concurrency 8] [--repeat 3]

The emulator answers each chat completion after ``--latency`` seconds (a ``slow`` fault: a
provider's round-trip; on loopback with no delay both arms would measure only this machine's
CPU). Best of ``--repeat`` rounds per arm, alternating (the machine is shared).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.testing import running_emulator  # noqa: E402
from providers.base import ProviderConfig  # noqa: E402
from providers.registry import get_adapter  # noqa: E402
from service.evals.graders.grade import GradingContext  # noqa: E402
from service.evals.runs.execute import execute_items  # noqa: E402
from service.evals.runs.items import ItemOutcome, SamplingPlan, criteria_of  # noqa: E402

MODEL = "gpt-4o-mini-2024-07-18"
TEMPLATE = [{"role": "user", "content": "What is {{item.a}} plus {{item.b}}?"}]
CRITERIA = criteria_of(
    [
        {
            "id": "exact-1",
            "type": "string_check",
            "name": "exact",
            "input": "{{sample.output_text}}",
            "reference": "{{item.sum}}",
            "operation": "like",
        }
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [(i, {"item": {"a": i, "b": i + 1, "sum": str(2 * i + 1)}}) for i in range(args.items)]

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

        best = {"sequential": 0.0, "executor": 0.0}
        for _ in range(args.repeat):
            for name, arm in (("sequential", sequential), ("executor", executor)):
                start = time.perf_counter()
                count = arm()
                rate = count / (time.perf_counter() - start)
                best[name] = max(best[name], rate)
    ratio = best["executor"] / best["sequential"]
    print(
        f"items={args.items} latency={args.latency}s concurrency={args.concurrency} "
        f"(best of {args.repeat})"
    )
    print(f"sequential chat.completions.create: {best['sequential']:.1f} items/s")
    print(f"eval item executor:                 {best['executor']:.1f} items/s")
    print(f"ratio: {ratio:.2f}x (goal >= 5)")


if __name__ == "__main__":
    main()
