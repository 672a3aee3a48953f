"""The three contenders of bench/local_train.py, each run in its own process.

Every runner imports the same libraries first (so peak RSS compares training, not imports),
counts only real (non-padding) tokens per optimizer step, and stamps the end of each step.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import peft
import torch
import transformers
import trl

from local_gpu import LoraSettings, ProgressMetrics, TrainingCallbacks, TrainingConfig, run_training
from local_gpu.data import load_examples

# Re-exported lazily or untyped: mypy cannot see these names.
TRL: Any = trl
HF: Any = transformers
PEFT: Any = peft


@dataclass
class BenchSpec:
    model_dir: str
    train_file: str
    output_dir: str
    device: str
    four_bit: bool
    steps: int
    warmup_steps: int
    threads: int
    gradient_checkpointing: bool
    row_tokens: int = 600
    packed_rows: int = 2
    padded_batch: int = 8
    learning_rate: float = 2e-4
    lora_rank: int = 8


@dataclass
class BenchResult:
    name: str
    tokens: list[int] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    peak_bytes: int = 0
    note: str = ""

    def steady_tokens_per_second(self, skip: int) -> float:
        tokens = sum(self.tokens[skip + 1 :])
        return tokens / (self.stamps[-1] - self.stamps[skip])


def _peak_bytes(device: str) -> int:
    if device == "cuda":
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _lora(spec: BenchSpec) -> Any:
    return peft.LoraConfig(
        r=spec.lora_rank,
        lora_alpha=2 * spec.lora_rank,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def _hf_model(spec: BenchSpec) -> Any:
    options: dict[str, Any] = {"local_files_only": True, "attn_implementation": "sdpa"}
    if spec.four_bit:
        options["quantization_config"] = HF.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if spec.device == "cuda" else torch.float32,
        )
    if spec.device == "cuda":
        options["device_map"] = {"": 0}
        options["dtype"] = torch.bfloat16
    else:
        options["dtype"] = torch.float32
    model = transformers.AutoModelForCausalLM.from_pretrained(spec.model_dir, **options)
    if spec.four_bit:
        model = PEFT.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=spec.gradient_checkpointing
        )
    return model


class _Stamp(transformers.TrainerCallback):
    def __init__(self, result: BenchResult) -> None:
        self.result = result

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.result.stamps.append(time.perf_counter())


def _counting(base: type, result: BenchResult) -> type:
    class Counting(base):  # type: ignore[misc]
        def training_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            mask = inputs.get("attention_mask")
            real = inputs["input_ids"].numel() if mask is None else int(mask.sum())
            result.tokens.append(real)
            return super().training_step(model, inputs, *args, **kwargs)

    return Counting


def _trainer_args(spec: BenchSpec, batch: int) -> dict[str, Any]:
    on_cuda = spec.device == "cuda"
    return {
        "output_dir": spec.output_dir,
        "per_device_train_batch_size": batch,
        "max_steps": spec.steps,
        "learning_rate": spec.learning_rate,
        "lr_scheduler_type": "linear",
        "logging_steps": 10_000,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": not on_cuda,
        "bf16": on_cuda,
        "gradient_checkpointing": spec.gradient_checkpointing,
        "optim": "paged_adamw_8bit" if spec.four_bit else "adamw_torch",
        "dataloader_num_workers": 0,
        "seed": 42,
    }


def run_hf_padded(spec: BenchSpec) -> BenchResult:
    """Plain HF Trainer + PEFT: one example per sequence, padded batches."""
    result = BenchResult("HF Trainer + PEFT, padded")
    tokenizer = transformers.AutoTokenizer.from_pretrained(spec.model_dir, local_files_only=True)
    examples = load_examples(Path(spec.train_file), tokenizer, spec.row_tokens).examples
    rows = [
        {"input_ids": e.input_ids, "labels": e.labels, "attention_mask": [1] * len(e.input_ids)}
        for e in examples
    ]
    model = peft.get_peft_model(_hf_model(spec), _lora(spec))
    trainer_class = _counting(transformers.Trainer, result)
    trainer = trainer_class(
        model=model,
        args=transformers.TrainingArguments(
            remove_unused_columns=False, **_trainer_args(spec, spec.padded_batch)
        ),
        train_dataset=datasets.Dataset.from_list(rows),
        data_collator=transformers.DataCollatorForSeq2Seq(tokenizer, padding=True),
        callbacks=[_Stamp(result)],
    )
    trainer.train()
    result.peak_bytes = _peak_bytes(spec.device)
    return result


def run_trl_packed(spec: BenchSpec) -> BenchResult:
    """TRL SFTTrainer with packing=True (BFD, padding-free) and assistant-only loss."""
    result = BenchResult("TRL SFTTrainer, packing=True")
    records = [json.loads(line) for line in Path(spec.train_file).read_text().splitlines()]
    trainer_class = _counting(TRL.SFTTrainer, result)
    trainer = trainer_class(
        model=_hf_model(spec),
        args=TRL.SFTConfig(
            max_length=spec.row_tokens,
            packing=True,
            assistant_only_loss=True,
            **_trainer_args(spec, spec.packed_rows),
        ),
        train_dataset=datasets.Dataset.from_list(records),
        processing_class=transformers.AutoTokenizer.from_pretrained(
            spec.model_dir, local_files_only=True
        ),
        peft_config=_lora(spec),
        callbacks=[_Stamp(result)],
    )
    trainer.train()
    result.peak_bytes = _peak_bytes(spec.device)
    return result


def run_ours(spec: BenchSpec) -> BenchResult:
    result = BenchResult("tuneforge local_gpu (packed loop)")
    tokens_before = [0]

    def on_progress(metrics: ProgressMetrics) -> None:
        result.stamps.append(time.perf_counter())
        result.tokens.append(metrics.tokens_seen - tokens_before[0])
        tokens_before[0] = metrics.tokens_seen

    def stop_after_budget() -> bool:
        return len(result.stamps) >= spec.steps

    config = TrainingConfig(
        model_dir=Path(spec.model_dir),
        train_file=Path(spec.train_file),
        output_dir=Path(spec.output_dir),
        device=spec.device,
        quantization="nf4" if spec.four_bit else "none",
        gradient_checkpointing=spec.gradient_checkpointing,
        lora=LoraSettings(rank=spec.lora_rank, alpha=2 * spec.lora_rank, dropout=0.0),
        epochs=100,
        learning_rate=spec.learning_rate,
        max_seq_len=spec.row_tokens,
        rows_per_batch=spec.packed_rows,
        progress_every=1,
        checkpoint_every=10**9,
        resume=False,
    )
    outcome = run_training(
        config, TrainingCallbacks(on_progress=on_progress, should_cancel=stop_after_budget)
    )
    result.note = outcome.path_description
    result.peak_bytes = _peak_bytes(spec.device)
    return result


RUNNERS = {"hf": run_hf_padded, "trl": run_trl_packed, "ours": run_ours}


def run_one(name: str, spec_json: str) -> str:
    spec = BenchSpec(**json.loads(spec_json))
    torch.set_num_threads(spec.threads)
    torch.manual_seed(0)
    if spec.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    return json.dumps(asdict(RUNNERS[name](spec)))
