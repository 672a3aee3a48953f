"""DPO throughput and peak memory: our local trainer against TRL's DPOTrainer.

Both train the same tiny model (built here, nothing downloaded) on the same synthetic
preference pairs with the same LoRA (r=8, alpha 16, dropout 0.05, all linear layers), beta,
pairs per step, learning rate, precision and torch threads, each in its own process. Timing
covers the whole training loop, from its start (TRL: on_train_begin; ours: the event that
describes the data, just before the loop) to the last optimizer step, so work done once
before or at the first step (our reference log-probs) is counted; the steady rate over the
steps after --warmup-steps is printed beside it. Tokens/s is pairs/s times the mean real
tokens of a pair (chosen + rejected, rendered with the model's chat template), the same factor
for both, so the ratio is the ratio of pairs trained per second. Peak memory is the process's
peak RSS (CPU) or peak CUDA allocation (GPU). --repeat N runs the two N times, alternating,
and reports the median of the N same-round ratios (the machine's load moves between rounds);
pairs per CPU-second of the loop (process user + system time) are reported beside wall time,
being less sensitive to other processes on a shared machine.

Differences by design: see local_gpu/dpo.py for ours (packed rows, the prompt shared by
chosen and rejected, LM head only on reply tokens, reference log-probs computed in large
no-grad chunks and cached); TRL pads chosen and rejected to the longest sequence,
concatenates them into one padded batch and runs the reference forward every step. Both
disable dropout for DPO (TRL's default disable_dropout=True; ours always).

    python bench/dpo_train.py                   # CPU
    python bench/dpo_train.py --device cuda     # GPU, bf16
Goal: ours >= 1.5x TRL's tokens/s, peak memory <= TRL's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LORA_RANK, LORA_ALPHA, LORA_DROPOUT = 8, 16, 0.05


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--warmup-steps", type=int, default=4)
    parser.add_argument("--pairs-per-step", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=1, help="alternating rounds (median)")
    parser.add_argument("--run", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    return parser.parse_args()


def _peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _steady(stamps: list[float], warmup: int, pairs_per_step: int) -> float:
    """Pairs per second over the steps after warmup (stamps: end time of each step)."""
    window = stamps[warmup:]
    return pairs_per_step * (len(window) - 1) / max(window[-1] - window[0], 1e-9)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rates(
    start: float, stamps: list[float], cpu: tuple[float, float], spec: dict[str, Any]
) -> dict[str, float]:
    """Whole-loop and steady pairs/s, pairs per CPU-second of the loop, and peak memory."""
    pairs = spec["pairs_per_step"]
    return {
        "pairs_per_cpu_second": pairs * len(stamps) / max(cpu[1] - cpu[0], 1e-9),
        "pairs_per_second": pairs * len(stamps) / max(stamps[-1] - start, 1e-9),
        "steady_pairs_per_second": _steady(stamps, spec["warmup"], pairs),
        "peak_mb": _peak_memory_mb(spec["device"]),
    }


def run_ours(spec: dict[str, Any]) -> dict[str, float]:
    import torch

    from local_gpu import (
        LoraSettings,
        ProgressMetrics,
        TrainingCallbacks,
        TrainingConfig,
        run_training,
    )

    torch.set_num_threads(spec["threads"])
    stamps: list[float] = []
    began: list[float] = []
    cpu: list[float] = []

    def stamp(_: ProgressMetrics) -> None:
        if spec["device"] == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        cpu[1:] = [_cpu_seconds()]

    def loop_starts(event: str) -> None:
        if "preference pairs" in event:  # the data summary, emitted just before the loop
            began.append(time.perf_counter())
            cpu.append(_cpu_seconds())

    config = TrainingConfig(
        model_dir=Path(spec["model_dir"]),
        train_file=Path(spec["train_file"]),
        output_dir=Path(spec["output_dir"]),
        method="dpo",
        dpo_beta=spec["beta"],
        device=spec["device"],
        quantization="none",
        precision="bf16" if spec["device"] == "cuda" else "fp32",
        gradient_checkpointing=False,
        lora=LoraSettings(rank=LORA_RANK, alpha=LORA_ALPHA, dropout=LORA_DROPOUT),
        learning_rate=5e-4,
        warmup_ratio=0.0,
        max_seq_len=spec["max_len"],
        rows_per_batch=spec["pairs_per_step"],
        progress_every=1,
        checkpoint_every=10**6,
        torch_threads=spec["threads"],
    )
    run_training(config, TrainingCallbacks(on_progress=stamp, on_event=loop_starts))
    return _rates(began[0], stamps, (cpu[0], cpu[1]), spec)


def run_trl(spec: dict[str, Any]) -> dict[str, float]:
    import datasets
    import peft
    import torch
    import transformers
    import trl

    trl_any: Any = trl
    hf: Any = transformers
    torch.set_num_threads(spec["threads"])
    records = [json.loads(line) for line in Path(spec["train_file"]).read_text().splitlines()]
    dataset = datasets.Dataset.from_list(
        [
            {
                "prompt": r["input"]["messages"],
                "chosen": r["preferred_output"],
                "rejected": r["non_preferred_output"],
            }
            for r in records
        ]
    )
    cuda = spec["device"] == "cuda"
    model = hf.AutoModelForCausalLM.from_pretrained(
        spec["model_dir"],
        dtype=torch.bfloat16 if cuda else torch.float32,
        attn_implementation="sdpa",
    )
    stamps: list[float] = []
    began: list[float] = []
    cpu: list[float] = []

    class Stamp(hf.TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, *_: Any, **__: Any) -> None:
            began.append(time.perf_counter())
            cpu.append(_cpu_seconds())

        def on_step_end(self, *_: Any, **__: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            cpu[1:] = [_cpu_seconds()]

    args = trl_any.DPOConfig(
        output_dir=spec["output_dir"],
        per_device_train_batch_size=spec["pairs_per_step"],
        gradient_accumulation_steps=1,
        max_steps=spec["steps"],
        learning_rate=5e-4,
        lr_scheduler_type="linear",
        beta=spec["beta"],
        disable_dropout=True,  # TRL's default, said out loud: ours turns dropout off too
        max_length=spec["max_len"],
        bf16=cuda,
        gradient_checkpointing=False,
        use_cpu=not cuda,
        report_to=[],
        logging_steps=10**6,
        save_strategy="no",
        dataloader_num_workers=0,
        seed=42,
    )
    lora = peft.LoraConfig(
        r=LORA_RANK,
        lora_alpha=LORA_ALPHA,
        lora_dropout=LORA_DROPOUT,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    tokenizer = hf.AutoTokenizer.from_pretrained(spec["model_dir"])
    trainer = trl_any.DPOTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[Stamp()],
    )
    trainer.train()
    return _rates(began[0], stamps, (cpu[0], cpu[1]), spec)


def _child(name: str, spec: dict[str, Any]) -> dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, __file__, "--run", name, "--spec", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        sys.exit(f"{name} failed:\n{done.stderr[-4000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _mean_pair_tokens(model_dir: Path, train_file: Path, max_len: int) -> float:
    from local_gpu import go_offline

    go_offline()
    from local_gpu.data import load_pairs
    from local_gpu.loading import load_tokenizer

    pairs = load_pairs(train_file, load_tokenizer(model_dir), max_len).pairs
    return sum(p.tokens for p in pairs) / len(pairs)


def main() -> None:
    args = _arguments()
    if args.run:
        os.environ["HF_HUB_OFFLINE"] = "1"
        spec = json.loads(args.spec)
        print(json.dumps(run_ours(spec) if args.run == "ours" else run_trl(spec)))
        return
    from local_gpu.tiny import build_tiny_model, synthetic_preferences, write_jsonl

    work = Path(tempfile.mkdtemp(prefix="dpo-bench-"))
    model_dir = build_tiny_model(work / "tiny-model")
    pairs = args.steps * args.pairs_per_step
    train_file = write_jsonl(work / "pairs.jsonl", synthetic_preferences(pairs, seed=5))
    per_pair = _mean_pair_tokens(model_dir, train_file, args.max_len)
    load_at_start = os.getloadavg()
    ratios: list[float] = []
    steady_ratios: list[float] = []
    cpu_ratios: list[float] = []
    memories: list[float] = []
    for round_ in range(1, args.repeat + 1):
        results = {}
        for name in ("trl", "ours"):
            spec = {
                "model_dir": str(model_dir),
                "train_file": str(train_file),
                "output_dir": str(work / f"out-{name}-{round_}"),
                "device": args.device,
                "steps": args.steps,
                "warmup": args.warmup_steps,
                "pairs_per_step": args.pairs_per_step,
                "threads": args.threads,
                "max_len": args.max_len,
                "beta": args.beta,
            }
            found = results[name] = _child(name, spec)
            print(
                f"  round {round_} {name}: {found['pairs_per_second'] * per_pair:,.0f} tok/s "
                f"({found['pairs_per_second']:.2f} pairs/s; steady after warmup "
                f"{found['steady_pairs_per_second'] * per_pair:,.0f} tok/s; "
                f"{found['pairs_per_cpu_second'] * per_pair:,.0f} tok per CPU-s), "
                f"peak {found['peak_mb']:,.0f} MB, load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        ours, trl = results["ours"], results["trl"]
        ratios.append(ours["pairs_per_second"] / trl["pairs_per_second"])
        steady_ratios.append(ours["steady_pairs_per_second"] / trl["steady_pairs_per_second"])
        cpu_ratios.append(ours["pairs_per_cpu_second"] / trl["pairs_per_cpu_second"])
        memories.append(ours["peak_mb"] / trl["peak_mb"])
    print(
        f"DPO on {args.device}, {args.steps} steps of {args.pairs_per_step} pairs "
        f"({per_pair:.0f} tokens a pair), {args.threads} threads, {args.repeat} round(s): "
        f"ours/TRL tokens/s {statistics.median(ratios):.2f}x (goal >= 1.5x; rounds "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; steady after warmup "
        f"{statistics.median(steady_ratios):.2f}x; pairs per CPU-second of the loop "
        f"{statistics.median(cpu_ratios):.2f}x, rounds {', '.join(f'{r:.2f}' for r in cpu_ratios)}"
        "), peak memory "
        f"{statistics.median(memories):.2f}x (goal <= 1); load average at start "
        f"{load_at_start[0]:.2f}, at end {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
