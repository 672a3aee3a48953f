"""A tiny Llama with a locally trained tokenizer, for tests, benchmarks and the demo.

Nothing is downloaded: the tokenizer is a byte-level BPE trained here on synthetic chats, and
the model is randomly initialised from a config. Widths are multiples of 64 because
bitsandbytes' CPU 4-bit inference kernel needs out_features % 32 == 0.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>")

# The assistant reply sits inside {% generation %} so transformers can build an assistant mask.
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}{{ message['content'] }}<|end|>\n{% endgeneration %}"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_NAMES = ["Ada", "Linus", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Dennis"]
_CITIES = ["Paris", "Lima", "Oslo", "Cairo", "Tokyo", "Quito", "Perth", "Dakar", "Riga"]
_COLORS = ["red", "green", "blue", "amber", "violet", "teal", "coral", "ivory"]
_SYSTEMS = [
    "You are a helpful assistant.",
    "You answer briefly and precisely.",
    "You are a friendly travel guide.",
]


def _turn(rng: random.Random) -> tuple[str, str]:
    name, city, color = rng.choice(_NAMES), rng.choice(_CITIES), rng.choice(_COLORS)
    count = rng.randint(2, 9)
    kind = rng.randrange(3)
    if kind == 0:
        return (
            f"Where does {name} live?",
            f"{name} lives in {city}, in a {color} house with {count} windows.",
        )
    if kind == 1:
        items = ", ".join(rng.sample(_COLORS, k=min(count, len(_COLORS))))
        return (f"List {count} colors for {name}.", f"Here are colors for {name}: {items}.")
    steps = " ".join(f"Step {i}: walk to {rng.choice(_CITIES)}." for i in range(1, count + 1))
    return (f"How does {name} get to {city}?", f"{name} follows {count} steps. {steps}")


def synthetic_conversations(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Chat records in the local trainer input format: 1-3 turns, 60% with a system prompt."""
    return _conversations(count, seed, lambda rng: rng.randint(1, 3), _turn)


_REFUSALS = [
    "Sorry, I cannot help with that.",
    "I do not know, ask someone else.",
    "That is not something I can answer.",
]


def synthetic_preferences(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """DPO records (OpenAI's preference format): a question, the informative answer preferred
    over an unhelpful refusal. The preference generalises to unseen names and cities."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for _ in range(count):
        question, answer = _turn(rng)
        messages = [{"role": "user", "content": question}]
        if rng.random() < 0.5:
            messages.insert(0, {"role": "system", "content": rng.choice(_SYSTEMS)})
        records.append(
            {
                "input": {"messages": messages},
                "preferred_output": [{"role": "assistant", "content": answer}],
                "non_preferred_output": [{"role": "assistant", "content": rng.choice(_REFUSALS)}],
            }
        )
    return records


RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "city": {"type": "string"},
        "color": {"type": "string"},
        "windows": {"type": "integer"},
    },
    "required": ["name", "city", "color", "windows"],
    "additionalProperties": False,
}
"""What every answer of ``synthetic_extractions`` is: the format-compliance schema."""


def synthetic_extractions(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Structured extraction chats: a sentence about a person in, the record as one line of
    JSON out (``RECORD_SCHEMA``). A random-init tiny model never answers JSON; a LoRA trained
    on ~150 of these for a few epochs (under a minute on a CPU) answers valid records for
    unseen sentences, copying some fields right: a real, measurable format fine-tune."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for _ in range(count):
        name, city, color = rng.choice(_NAMES), rng.choice(_CITIES), rng.choice(_COLORS)
        windows = rng.randint(2, 9)
        sentence = f"{name} lives in {city}, in a {color} house with {windows} windows."
        record = {"name": name, "city": city, "color": color, "windows": windows}
        records.append(
            {
                "messages": [
                    {"role": "user", "content": f"{sentence} Reply with the record as JSON."},
                    {"role": "assistant", "content": json.dumps(record)},
                ]
            }
        )
    return records


def varied_conversations(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Chat records with lengths spread like real chat data: mostly one short turn, a long tail
    of prompts carrying a paragraph of context and of multi-turn chats (25-430 tokens with the
    tiny tokenizer, median ~80; ~38% of tokens are the assistant's). Random padded batches of 7
    are then ~55% padding, as in the data ../shared/LOCAL_TRAINING.md measured on (57%)."""
    return _conversations(count, seed, lambda rng: rng.choice([1, 1, 1, 1, 2, 3]), _context_turn)


def _context_turn(rng: random.Random) -> tuple[str, str]:
    facts = min(int(rng.paretovariate(1.3)) - 1, 12)
    context = " ".join(
        f"{rng.choice(_NAMES)} once visited {rng.choice(_CITIES)} in a {rng.choice(_COLORS)} car."
        for _ in range(facts)
    )
    question, answer = _turn(rng)
    return f"{context} {question}".strip(), answer


def _conversations(
    count: int,
    seed: int,
    turns: Callable[[random.Random], int],
    turn: Callable[[random.Random], tuple[str, str]],
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for _ in range(count):
        messages: list[dict[str, str]] = []
        if rng.random() < 0.6:
            messages.append({"role": "system", "content": rng.choice(_SYSTEMS)})
        for _ in range(turns(rng)):
            question, answer = turn(rng)
            messages.append({"role": "user", "content": question})
            messages.append({"role": "assistant", "content": answer})
        records.append({"messages": messages})
    return records


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def _corpus(records: list[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        for message in record["messages"]:
            yield message["content"]


def build_tiny_tokenizer(directory: Path, vocab_size: int = 2048) -> Any:
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    fast_tokenizer: Any = transformers.PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(synthetic_conversations(2000, seed=1234)), trainer=trainer)
    tokenizer = fast_tokenizer(
        tokenizer_object=bpe,
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def build_tiny_model(
    directory: Path,
    *,
    hidden_size: int = 256,
    layers: int = 4,
    heads: int = 8,
    kv_heads: int = 4,
    intermediate_size: int = 704,
    vocab_size: int = 2048,
    max_positions: int = 2048,
    initializer_range: float = 0.02,
    seed: int = 0,
) -> Path:
    """Write a random-init LlamaForCausalLM and its tokenizer to `directory`; return it.

    A random frozen LM head caps how confident LoRA alone can make the model; a larger
    `initializer_range` (e.g. 0.1) lets a tiny model visibly memorise a small dataset.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    for width in (hidden_size, intermediate_size):
        if width % 64:
            raise ValueError(f"width {width} must be a multiple of 64 (bitsandbytes CPU kernel)")
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(directory, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        initializer_range=initializer_range,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(directory))
    return directory


def build_demo_model(directory: Path) -> Path:
    """The demo's tiny model, which the local-generation and evaluation tests also train and
    sample: small enough for a CPU, with the wider initial spread (0.1) that lets LoRA on a
    random tiny model visibly learn in a minute."""
    return build_tiny_model(
        directory,
        hidden_size=128,
        layers=2,
        heads=4,
        kv_heads=2,
        intermediate_size=256,
        initializer_range=0.1,
    )
