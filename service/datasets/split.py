"""A deterministic held-out split of a JSONL dataset (EVALUATION.md §6).

Each example goes to the test part when ``u < test_fraction``, where
``u = int(sha256(seed ‖ key)[:16], 16) / 2**64`` and ``key`` is the canonical hash of the
example's *input* (its messages without the final assistant reply; the whole record for other
formats). The assignment depends only on the example and the seed: it survives reordering
and appending, and two examples with the same prompt always land on the same side, so an
exact prompt can never leak from train into test."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

INPUT_KEYS_DROPPED = (
    "completion",
    "chosen",
    "rejected",
    "preferred_output",
    "non_preferred_output",
)


def normalise_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _normalised(value: Any) -> Any:
    if isinstance(value, str):
        return normalise_text(value)
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    return value


def _canonical(value: Any) -> str:
    return json.dumps(_normalised(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def example_input(record: Any) -> Any:
    """What the model is asked: the messages before the final assistant reply, or the record
    without its answer fields."""
    if isinstance(record, dict):
        messages = record.get("messages")
        if isinstance(messages, list) and messages:
            last = messages[-1]
            if isinstance(last, dict) and last.get("role") == "assistant":
                return messages[:-1]
            return messages
        return {k: v for k, v in record.items() if k not in INPUT_KEYS_DROPPED}
    return record


def input_hash(record: Any) -> str:
    return hashlib.sha256(_canonical(example_input(record)).encode()).hexdigest()


def full_hash(record: Any) -> str:
    return hashlib.sha256(_canonical(record).encode()).hexdigest()


def assignment(seed: str, key: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def text_of(record: Any) -> str:
    """Every string in the record, in order: what near-duplicate detection compares."""
    if isinstance(record, str):
        return record
    if isinstance(record, list):
        return " ".join(text_of(v) for v in record)
    if isinstance(record, dict):
        return " ".join(
            text_of(v) for k, v in record.items() if k not in ("role", "type", "weight")
        )
    return ""


@dataclass
class Example:
    line: int  # 1-based line number in the source file
    raw: bytes
    record: Any


@dataclass
class Split:
    train: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)


def parse_lines(content: bytes) -> list[Example]:
    """Every non-blank line; a line that is not JSON raises ValueError naming it."""
    examples: list[Example] = []
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            raise ValueError(f"line {number} is not JSON") from None
        examples.append(Example(number, raw, record))
    return examples


def split_examples(examples: list[Example], seed: str, test_fraction: float) -> Split:
    split = Split()
    for example in examples:
        side = (
            split.test
            if assignment(seed, input_hash(example.record)) < test_fraction
            else split.train
        )
        side.append(example)
    return split
