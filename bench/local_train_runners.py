"""The three contenders of bench/local_train.py, each run in its own process.

Every runner imports the same libraries first (so peak RSS compares training, not imports),
counts only real (non-padding) tokens per optimizer step (summed over its micro-batches), and
stamps the end of each step with wall time and process CPU time (all threads), after a device
sync on CUDA so queued kernels are not left out of the window.
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
from local_gpu.loading import attention_implementation

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
    # Every contender trains on about the same real tokens per optimizer step (~1,150-1,200):
    # ours and TRL 2 packed rows of <= 600 tokens, HF 6 x 2 examples of the varied data (~101
    # tokens each) or 7 x 2 of the uniform data (~85 tokens each).
    packed_rows: int = 2
    # Packed rows per micro-batch, the rest of packed_rows by accumulation, alike for TRL and
    # ours (activation memory follows the micro-batch). TRL's padding-free collator flattens a
    # micro-batch into one row, so with SDPA its block-diagonal mask is (rows x 600)^2: one
    # row per micro-batch was TRL's faster setting here (~3,700 vs ~2,600-3,000 tok/s).
    packed_rows_per_micro_batch: int = 1
    padded_batch: int = 7
    padded_accumulation: int = 2
    learning_rate: float = 2e-4
    lora_rank: int = 8


@dataclass
class BenchResult:
    name: str
    # Per optimizer step: real tokens, token slots (real + padding), end wall/CPU stamps.
    tokens: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    cpu_stamps: list[float] = field(default_factory=list)
    peak_bytes: int = 0
    peak_reserved_bytes: int = 0
    torch_threads: int = 0
    note: str = ""
    pending_tokens: int = 0
    pending_slots: int = 0

    def end_step(self, device: str) -> None:
        if device == "cuda":
            torch.cuda.synchronize()
        self.stamps.append(time.perf_counter())
        self.cpu_stamps.append(time.process_time())
        self.tokens.append(self.pending_tokens)
        self.slots.append(self.pending_slots)
        self.pending_tokens = self.pending_slots = 0
        self.torch_threads = torch.get_num_threads()
        # Peaks up to the end of this step: what each side does after training (ours saves a
        # checkpoint on cancel) stays out of the comparison.
        self.peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if device == "cuda":
            self.peak_bytes = int(torch.cuda.max_memory_allocated())
            self.peak_reserved_bytes = int(torch.cuda.max_memory_reserved())

    def steady_tokens_per_second(self, skip: int) -> float:
        """Real tokens of steps skip+2.. over the wall time from the end of step skip+1."""
        return sum(self.tokens[skip + 1 :]) / (self.stamps[-1] - self.stamps[skip])

    def steady_tokens_per_cpu_second(self, skip: int) -> float:
        return sum(self.tokens[skip + 1 :]) / (self.cpu_stamps[-1] - self.cpu_stamps[skip])

    def padding_fraction(self, skip: int) -> float | None:
        """Share of token slots that were padding; None where the runner cannot see slots."""
        slots = sum(self.slots[skip + 1 :])
        return 1.0 - sum(self.tokens[skip + 1 :]) / slots if slots else None


def _packed_accumulation(spec: BenchSpec) -> int:
    return max(spec.packed_rows // spec.packed_rows_per_micro_batch, 1)


def _lora(spec: BenchSpec) -> Any:
    return peft.LoraConfig(
        r=spec.lora_rank,
        lora_alpha=2 * spec.lora_rank,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def _hf_model(spec: BenchSpec) -> Any:
    # The attention kernel ours picks (flash-attention 2 on CUDA when installed, else SDPA).
    options: dict[str, Any] = {
        "local_files_only": True,
        "attn_implementation": attention_implementation(torch.device(spec.device)),
    }
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
    model.config.use_cache = False  # Trainer sets it too (TrainingArguments.use_cache=False)
    if spec.four_bit:
        model = PEFT.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=spec.gradient_checkpointing
        )
    return model


class _Stamp(transformers.TrainerCallback):
    def __init__(self, result: BenchResult, device: str) -> None:
        self.result, self.device = result, device

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.result.end_step(self.device)


def _counting(base: type, result: BenchResult) -> type:
    """The trainer class, counting real tokens of every micro-batch it trains on."""

    class Counting(base):  # type: ignore[misc]
        def training_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            mask = inputs.get("attention_mask")
            # Padding-free batches carry no mask: one flattened row with no padding.
            slots = inputs["input_ids"].numel()
            result.pending_tokens += slots if mask is None else int(mask.sum())
            result.pending_slots += slots
            return super().training_step(model, inputs, *args, **kwargs)

    return Counting


def _trainer_args(spec: BenchSpec, batch: int, accumulation: int) -> dict[str, Any]:
    on_cuda = spec.device == "cuda"
    fused_adamw = "adamw_torch_fused" if on_cuda else "adamw_torch"
    return {
        "output_dir": spec.output_dir,
        "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": accumulation,
        "max_steps": spec.steps,
        "learning_rate": spec.learning_rate,
        "lr_scheduler_type": "linear",
        "logging_steps": 10_000,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": not on_cuda,
        # Explicit: TRL's SFTConfig defaults to bf16=True and gradient_checkpointing=True.
        "bf16": on_cuda,
        "fp16": False,
        "gradient_checkpointing": spec.gradient_checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        # The optimizer ours builds: paged 8-bit AdamW for QLoRA, fused torch AdamW on CUDA.
        "optim": "paged_adamw_8bit" if spec.four_bit else fused_adamw,
        "eval_strategy": "no",
        "train_sampling_strategy": "random",  # not group_by_length: the plain user choice
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
            remove_unused_columns=False,
            **_trainer_args(spec, spec.padded_batch, spec.padded_accumulation),
        ),
        train_dataset=datasets.Dataset.from_list(rows),
        data_collator=transformers.DataCollatorForSeq2Seq(tokenizer, padding=True),
        callbacks=[_Stamp(result, spec.device)],
    )
    trainer.train()
    return result


def run_trl_packed(spec: BenchSpec) -> BenchResult:
    """TRL SFTTrainer with packing=True (BFD, padding-free) and assistant-only loss."""
    result = BenchResult("TRL SFTTrainer, packing=True (bfd, padding-free)")
    accumulation = _packed_accumulation(spec)
    records = [json.loads(line) for line in Path(spec.train_file).read_text().splitlines()]
    trainer_class = _counting(TRL.SFTTrainer, result)
    trainer = trainer_class(
        model=_hf_model(spec),
        args=TRL.SFTConfig(
            max_length=spec.row_tokens,
            packing=True,
            packing_strategy="bfd",
            padding_free=True,
            assistant_only_loss=True,
            **_trainer_args(spec, spec.packed_rows_per_micro_batch, accumulation),
        ),
        train_dataset=datasets.Dataset.from_list(records),
        processing_class=transformers.AutoTokenizer.from_pretrained(
            spec.model_dir, local_files_only=True
        ),
        peft_config=_lora(spec),
        callbacks=[_Stamp(result, spec.device)],
    )
    trainer.train()
    return result


def run_ours(spec: BenchSpec) -> BenchResult:
    result = BenchResult("tuneforge local_gpu (packed loop)")
    tokens_before = [0]

    def on_progress(metrics: ProgressMetrics) -> None:
        # Progress reports real tokens only; the filler ending a short row is not visible.
        result.pending_tokens = metrics.tokens_seen - tokens_before[0]
        tokens_before[0] = metrics.tokens_seen
        result.end_step(spec.device)

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
        rows_per_batch=spec.packed_rows_per_micro_batch,
        gradient_accumulation_steps=_packed_accumulation(spec),
        torch_threads=spec.threads,
        progress_every=1,
        checkpoint_every=10**9,
        resume=False,
    )
    outcome = run_training(
        config, TrainingCallbacks(on_progress=on_progress, should_cancel=stop_after_budget)
    )
    result.note = outcome.path_description
    return result


RUNNERS = {"hf": run_hf_padded, "trl": run_trl_packed, "ours": run_ours}


def run_one(name: str, spec_json: str) -> str:
    spec = BenchSpec(**json.loads(spec_json))
    torch.set_num_threads(spec.threads)
    torch.manual_seed(0)
    if spec.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = RUNNERS[name](spec)
    if result.torch_threads != spec.threads:
        raise RuntimeError(f"{name} trained on {result.torch_threads} threads, not {spec.threads}")
    return json.dumps(asdict(result))
