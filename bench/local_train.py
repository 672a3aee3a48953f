"""Throughput benchmark of the local trainer against two baselines on the same model and data.

Baselines: a plain Hugging Face Trainer + PEFT loop with padded batches, and TRL's SFTTrainer
with packing. Each contender runs in its own process; only real (non-padding) tokens count,
and tokens/s is taken at steady state (after --warmup-steps). Goals: >= 2x the first,
>= 1.2x the second, peak memory <= both.

    python bench/local_train.py                      # CPU, tiny 4M-parameter Llama
    python bench/local_train.py --device cuda --4bit # GPU: NF4 base, paged 8-bit AdamW
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--4bit", dest="four_bit", action="store_true", help="NF4 QLoRA")
    parser.add_argument("--model-dir", type=Path, help="local HF model (default: build tiny)")
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=3, help="round-robin rounds; best and median are shown"
    )
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--only", choices=["hf", "trl", "ours"], action="append")
    parser.add_argument("--run", choices=["hf", "trl", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    return parser.parse_args()


def _child(name: str, spec_json: str) -> dict[str, object]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, __file__, "--run", name, "--spec", spec_json],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        sys.exit(f"{name} failed:\n{done.stderr[-4000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    args = _arguments()
    if args.run:
        os.environ["HF_HUB_OFFLINE"] = "1"
        from local_train_runners import run_one

        print(run_one(args.run, args.spec))
        return

    from local_train_runners import BenchResult, BenchSpec

    from local_gpu.tiny import build_tiny_model, synthetic_conversations, write_jsonl

    work = Path(tempfile.mkdtemp(prefix="local-train-bench-"))
    model_dir = args.model_dir or build_tiny_model(work / "tiny-model")
    train_file = write_jsonl(work / "train.jsonl", synthetic_conversations(args.examples, 3))
    results: dict[str, list[BenchResult]] = {}
    # Round-robin so that load from other processes on a shared box hits every contender alike.
    for name in [n for _ in range(args.repeats) for n in args.only or ["hf", "trl", "ours"]]:
        spec = BenchSpec(
            model_dir=str(model_dir),
            train_file=str(train_file),
            output_dir=str(work / f"out-{name}"),
            device=args.device,
            four_bit=args.four_bit,
            steps=args.steps,
            warmup_steps=args.warmup_steps,
            threads=args.threads,
            gradient_checkpointing=args.gradient_checkpointing,
        )
        run = BenchResult(**_child(name, json.dumps(asdict(spec))))  # type: ignore[arg-type]
        results.setdefault(name, []).append(run)
        print(f"  {name}: {run.steady_tokens_per_second(args.warmup_steps):,.0f} tok/s", flush=True)
    _report(results, args)


def _report(results: dict[str, list[Any]], args: argparse.Namespace) -> None:
    memory = "peak GPU memory" if args.device == "cuda" else "peak RSS"
    print(
        f"\ndevice={args.device} 4bit={args.four_bit} steps={args.steps} "
        f"(steady state after step {args.warmup_steps}), threads={args.threads}, "
        f"repeats={args.repeats}"
    )
    print(f"{'contender':<52} {'best tok/s':>10} {'median':>8} {memory:>15}")
    best: dict[str, float] = {}
    peak: dict[str, int] = {}
    for name, runs in results.items():
        speeds = [run.steady_tokens_per_second(args.warmup_steps) for run in runs]
        best[name], peak[name] = max(speeds), max(run.peak_bytes for run in runs)
        label = runs[0].name + (f" [{runs[0].note}]" if runs[0].note else "")
        print(
            f"{label:<52} {best[name]:>10,.0f} {statistics.median(speeds):>8,.0f} "
            f"{peak[name] / 2**20:>11,.0f} MiB"
        )
    if "ours" not in results:
        return
    for name, goal in {"hf": 2.0, "trl": 1.2}.items():
        if name in results:
            ratio, mem = best["ours"] / best[name], peak["ours"] / peak[name]
            verdict = "met" if ratio >= goal and mem <= 1.0 else "NOT met"
            print(
                f"ours / {name}: {ratio:.2f}x tokens/s (goal >= {goal}x), "
                f"peak memory {mem:.2f}x (goal <= 1.0x) -> {verdict}"
            )


if __name__ == "__main__":
    main()
