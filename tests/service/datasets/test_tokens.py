"""Token counts: tiktoken's own numbers, offline; OpenAI chat accounting; stats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpe_openai
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from service.datasets.tokens import load_encoding, openai_encoding_name
from service.datasets.validate import ValidationOptions, validate_file
from tests.service.datasets.helpers import write_jsonl

SAMPLES = ["hello world", "Fine-tuning 🚀 données — 東京", "def f(x):\n    return x**2\n", ""]


def test_known_token_ids() -> None:
    assert load_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert load_encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_counts_match_an_independent_implementation() -> None:
    for name in ("o200k_base", "cl100k_base"):
        ours = load_encoding(name)
        reference = bpe_openai.get_encoding(name)
        for text in SAMPLES:
            assert len(ours.encode_ordinary(text)) == len(reference.encode(text)), (name, text)


def test_model_picks_its_encoding() -> None:
    assert openai_encoding_name("gpt-4o-mini-2024-07-18") == "o200k_base"
    assert openai_encoding_name("gpt-4.1-nano") == "o200k_base"
    assert openai_encoding_name("gpt-3.5-turbo-0125") == "cl100k_base"
    assert openai_encoding_name("gpt-4-0613") == "cl100k_base"


def _expected_chat_tokens(messages: list[dict[str, Any]], encoding_name: str) -> int:
    enc = load_encoding(encoding_name)
    total = 3
    for message in messages:
        total += 3 + sum(len(enc.encode(value)) for value in message.values() if value)
    return total


def test_chat_accounting_follows_openai(tmp_path: Path) -> None:
    rows: list[dict[str, list[dict[str, Any]]]] = [
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": SAMPLES[1]},
                {"role": "assistant", "content": SAMPLES[2], "weight": 0},
                {"role": "user", "content": "again"},
                {"role": "assistant", "content": "hello world"},
            ]
        },
    ]
    path = write_jsonl(tmp_path / "f.jsonl", rows)
    tokens = validate_file(path, model="gpt-3.5-turbo").to_dict()["tokens"]
    enc = load_encoding("cl100k_base")
    plain = [{k: v for k, v in m.items() if k != "weight"} for m in rows[0]["messages"]]
    assert tokens["total"] == _expected_chat_tokens(plain, "cl100k_base")
    assert tokens["assistant"] == len(enc.encode(SAMPLES[2])) + 2
    assert tokens["trainable"] == 2  # the weight-0 turn is not trained on
    assert tokens["estimated"] is False and tokens["tokenizer"] == "cl100k_base"


def test_stats_and_threaded_batches_agree(tmp_path: Path) -> None:
    rows = [{"prompt": "p " * i, "completion": "c " * (i % 7 + 1)} for i in range(1, 101)]
    path = write_jsonl(tmp_path / "f.jsonl", rows)
    one = validate_file(path, provider="together", options=ValidationOptions(workers=1)).to_dict()[
        "tokens"
    ]
    many = validate_file(
        path, provider="together", options=ValidationOptions(workers=2, batch_chars=64)
    ).to_dict()["tokens"]
    assert one == many
    enc = load_encoding("o200k_base")
    per_example = sorted(
        len(enc.encode(r["prompt"])) + len(enc.encode(r["completion"])) for r in rows
    )
    assert one["total"] == sum(per_example)
    assert one["per_example"] == {
        "min": per_example[0],
        "p50": per_example[49],
        "p95": per_example[94],
        "max": per_example[-1],
    }
    assert one["estimated"] is True  # open model without a local tokenizer


def test_a_local_tokenizer_gives_exact_counts(tmp_path: Path) -> None:
    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    tokenizer.save(str(model_dir / "tokenizer.json"))
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps({"text": "hello world hello again"}) + "\n")
    report = validate_file(
        path, provider="together", options=ValidationOptions(tokenizer_dir=model_dir)
    ).to_dict()
    assert report["tokens"]["total"] == 4
    assert report["tokens"]["estimated"] is False
