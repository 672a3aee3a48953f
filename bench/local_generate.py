"""Local generation for an eval run against Hugging Face ``generate`` one item at a time.

The same tiny model (built here, nothing downloaded), the same items (the opening system/user
turns of synthetic chats, 10-400 prompt tokens), greedy decoding, the same new-token limit and
torch threads, each arm in its own process:

- ``hf-one-by-one``: ``model.generate`` on one chat-templated prompt after another;
- ``eval-run``: what a run on a ``local/`` model does: ``execute_items`` (``--concurrency``
  threads, one request each) → the worker's local completer (``workers.local_inference``) →
  the micro-batcher (batches of up to ``--max-batch``) → batched, left-padded greedy
  ``generate``;
- ``batch-call``: the alternative design, one ``LocalGenerator.generate`` call over all items
  (sorted by length, batches of ``--max-batch``), no executor.

Tokens/s counts generated (completion) tokens, end token included, over the timed window
(model loading and one warm-up request excluded). Peak memory is the process's peak RSS (CPU)
or peak CUDA allocation (GPU). Every arm must produce the same texts as the one-by-one arm.

    python bench/local_generate.py                 # CPU
    python bench/local_generate.py --device cuda   # GPU (bf16)
Goal: eval-run >= 3x hf-one-by-one tokens/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARMS = ("hf-one-by-one", "eval-run", "batch-call")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    return parser.parse_args()


def _peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _items(count: int) -> list[list[dict[str, str]]]:
    from local_gpu.tiny import varied_conversations

    conversations = []
    for record in varied_conversations(count, seed=21):
        messages = record["messages"]
        first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
        conversations.append(messages[: first_user + 1])
    return conversations


def run_hf(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    import transformers

    auto_model: Any = transformers.AutoModelForCausalLM
    device = torch.device(spec["device"])
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tokenizer: Any = transformers.AutoTokenizer.from_pretrained(
        spec["model_dir"], local_files_only=True
    )
    model: Any = auto_model.from_pretrained(
        spec["model_dir"], local_files_only=True, dtype=dtype
    ).to(device)
    model.eval()
    eos = tokenizer.eos_token_id

    def one(messages: list[dict[str, str]]) -> tuple[str, int]:
        ids = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        inputs = torch.tensor([ids], device=device)
        with torch.inference_mode():
            output = model.generate(
                inputs,
                attention_mask=torch.ones_like(inputs),
                do_sample=False,
                max_new_tokens=spec["max_new_tokens"],
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
            )
        row = output[0, len(ids) :].tolist()
        tokens = row[: row.index(eos) + 1] if eos in row else row
        text = tokenizer.decode([t for t in tokens if t != eos], skip_special_tokens=True)
        return text, len(tokens)

    one(spec["items"][0])  # warm-up
    _sync(device)
    start = time.perf_counter()
    answers = [one(messages) for messages in spec["items"]]
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "texts": [text for text, _ in answers],
        "tokens": sum(count for _, count in answers),
        "seconds": seconds,
        "peak_mb": _peak_memory_mb(spec["device"]),
    }


def run_eval(spec: dict[str, Any]) -> dict[str, Any]:
    from service.evals.graders.grade import GradingContext
    from service.evals.runs.execute import execute_items
    from service.evals.runs.items import ItemOutcome, SamplingPlan, criteria_of
    from service.evals.runs.local import LocalModel
    from workers.local_inference import LocalModels

    criteria = criteria_of(
        [
            {
                "id": "answered",
                "type": "string_check",
                "name": "answered",
                "input": "{{sample.output_text}}",
                "reference": "",
                "operation": "ne",
            }
        ]
    )
    models = LocalModels(device=spec["device"], max_batch=spec["max_batch"], max_wait_s=0.05)
    completer = models.completer(LocalModel("local/bench", Path(spec["model_dir"]), None))
    plan = SamplingPlan(
        model="local/bench",
        item_reference="item.messages",
        max_completion_tokens=spec["max_new_tokens"],
    )
    rows = [(i, {"item": {"messages": m}}) for i, m in enumerate(spec["items"])]
    context = GradingContext(wordnet_dir=Path("/usr/share/wordnet"))
    warm: list[ItemOutcome] = []
    execute_items(rows[:1], criteria, context, plan=plan, completer=completer, store=warm.append)
    device = _torch_device(spec["device"])
    _sync(device)
    stored: list[ItemOutcome] = []
    start = time.perf_counter()
    execute_items(
        rows,
        criteria,
        context,
        plan=plan,
        completer=completer,
        store=stored.append,
        concurrency=spec["concurrency"],
    )
    _sync(device)
    seconds = time.perf_counter() - start
    errors = [o.error for o in stored if o.error]
    if errors:
        raise SystemExit(f"items errored: {errors[:3]}")
    stored.sort(key=lambda outcome: outcome.index)
    stats = completer.batcher.stats
    return {
        "texts": [o.sample["output"][0]["content"] for o in stored if o.sample],
        "tokens": sum(u.completion_tokens for o in stored for u in o.usage.values()),
        "seconds": seconds,
        "peak_mb": _peak_memory_mb(spec["device"]),
        # the warm-up request was one batch of one
        "mean_batch": (stats.requests - 1) / max(stats.batches - 1, 1),
    }


def run_batch_call(spec: dict[str, Any]) -> dict[str, Any]:
    from local_gpu.generate import GenerationConfig, LocalGenerator

    generator = LocalGenerator(
        GenerationConfig(
            Path(spec["model_dir"]), device=spec["device"], batch_size=spec["max_batch"]
        )
    )
    generator.generate(spec["items"][:1], spec["max_new_tokens"])  # warm-up
    device = _torch_device(spec["device"])
    _sync(device)
    start = time.perf_counter()
    answers = generator.generate(spec["items"], spec["max_new_tokens"])
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "texts": [a.text for a in answers],
        "tokens": sum(a.completion_tokens for a in answers),
        "seconds": seconds,
        "peak_mb": _peak_memory_mb(spec["device"]),
    }


def _torch_device(name: str) -> Any:
    import torch

    return torch.device(name)


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _child(arm: str, spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--run", arm, "--spec", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        raise SystemExit(f"{arm} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    args = _arguments()
    if args.run:
        import torch

        from local_gpu import go_offline

        go_offline()
        spec = json.loads(args.spec)
        torch.set_num_threads(spec["threads"])
        run = {"hf-one-by-one": run_hf, "eval-run": run_eval, "batch-call": run_batch_call}
        print(json.dumps(run[args.run](spec)))
        return

    from local_gpu import go_offline
    from local_gpu.tiny import build_tiny_model

    go_offline()
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = build_tiny_model(Path(scratch) / "tiny")
        spec = {
            "model_dir": str(model_dir),
            "device": args.device,
            "items": _items(args.items),
            "max_new_tokens": args.max_new_tokens,
            "concurrency": args.concurrency,
            "max_batch": args.max_batch,
            "threads": args.threads,
        }
        results = {arm: _child(arm, spec) for arm in ARMS}
    baseline = results["hf-one-by-one"]
    base_rate = baseline["tokens"] / baseline["seconds"]
    print(
        f"device={args.device} items={args.items} max_new_tokens={args.max_new_tokens} "
        f"concurrency={args.concurrency} max_batch={args.max_batch} threads={args.threads} "
        "(tiny Llama: 256 wide, 4 layers)"
    )
    header = f"{'arm':<15} {'tokens':>7} {'seconds':>8} {'tok/s':>8} {'ratio':>6} {'peak MB':>8}"
    print(f"{header}  same")
    for arm, result in results.items():
        rate = result["tokens"] / result["seconds"]
        same = sum(a == b for a, b in zip(result["texts"], baseline["texts"], strict=True))
        extra = f"  (mean batch {result['mean_batch']:.1f})" if "mean_batch" in result else ""
        print(
            f"{arm:<15} {result['tokens']:>7} {result['seconds']:>8.2f} {rate:>8.1f} "
            f"{rate / base_rate:>5.2f}x {result['peak_mb']:>8.0f}  {same}/{args.items}{extra}"
        )
    ratio = results["eval-run"]["tokens"] / results["eval-run"]["seconds"] / base_rate
    print(f"eval-run vs hf-one-by-one: {ratio:.2f}x tokens/s (goal >= 3)")


if __name__ == "__main__":
    main()
