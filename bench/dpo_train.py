"""DPO throughput and peak memory: our local trainer against TRL's DPOTrainer.

Both train the same tiny model (built here, nothing downloaded) on the same synthetic
preference pairs with the same LoRA (r=8, alpha 16, dropout 0.05, all linear layers), beta,
pairs per step, learning rate, precision and torch threads, each in its own process. Timing
covers the optimizer steps after --warmup-steps. Tokens/s is pairs/s times the mean real tokens
of a pair (chosen + rejected, rendered with the model's chat template), the same factor for
both, so the ratio is the ratio of pairs trained per second. Peak memory is the process's
peak RSS (CPU) or peak CUDA allocation (GPU).

Differences by design: ours packs a micro-batch's chosen and rejected sequences into rows of
up to --max-len tokens and runs the LM head only on reply tokens; TRL pads chosen and rejected
to the longest sequence and concatenates them into one padded batch. Both compute the
reference with the adapter disabled, once per step (ours caches it per pair, which only pays
from the second epoch; this bench runs less than one epoch).

    python bench/dpo_train.py                   # CPU
    python bench/dpo_train.py --device cuda     # GPU, bf16
Goal: ours >= 1.5x TRL's tokens/s, peak memory <= TRL's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

    def stamp(_: ProgressMetrics) -> None:
        if spec["device"] == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

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
    run_training(config, TrainingCallbacks(on_progress=stamp))
    return {
        "pairs_per_second": _steady(stamps, spec["warmup"], spec["pairs_per_step"]),
        "peak_mb": _peak_memory_mb(spec["device"]),
    }


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

    class Stamp(hf.TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, *_: Any, **__: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    args = trl_any.DPOConfig(
        output_dir=spec["output_dir"],
        per_device_train_batch_size=spec["pairs_per_step"],
        gradient_accumulation_steps=1,
        max_steps=spec["steps"],
        learning_rate=5e-4,
        lr_scheduler_type="linear",
        beta=spec["beta"],
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
    return {
        "pairs_per_second": _steady(stamps, spec["warmup"], spec["pairs_per_step"]),
        "peak_mb": _peak_memory_mb(spec["device"]),
    }


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
    results = {}
    for name in ("trl", "ours"):
        spec = {
            "model_dir": str(model_dir),
            "train_file": str(train_file),
            "output_dir": str(work / f"out-{name}"),
            "device": args.device,
            "steps": args.steps,
            "warmup": args.warmup_steps,
            "pairs_per_step": args.pairs_per_step,
            "threads": args.threads,
            "max_len": args.max_len,
            "beta": args.beta,
        }
        results[name] = _child(name, spec)
        tokens = results[name]["pairs_per_second"] * per_pair
        print(
            f"  {name}: {tokens:,.0f} tok/s ({results[name]['pairs_per_second']:.2f} pairs/s), "
            f"peak {results[name]['peak_mb']:,.0f} MB, load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    ratio = results["ours"]["pairs_per_second"] / results["trl"]["pairs_per_second"]
    memory = results["ours"]["peak_mb"] / results["trl"]["peak_mb"]
    print(
        f"DPO on {args.device}, {args.steps} steps of {args.pairs_per_step} pairs "
        f"({per_pair:.0f} tokens a pair), {args.threads} threads: ours/TRL tokens/s "
        f"{ratio:.2f}x (goal >= 1.5x), peak memory {memory:.2f}x (goal <= 1); "
        f"load average at start {load_at_start[0]:.2f}, at end {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
