"""Read the local trainer input (JSONL) and turn each line into token ids and loss labels.

Accepted lines: chat `{"messages": [{"role", "content", "weight"?}, ...]}` (weight 0|1 on
assistant messages), `{"prompt", "completion"}`, and `{"text"}`. Conversations are rendered with
the model's own chat template, or DEFAULT_CHAT_TEMPLATE (ChatML) when the tokenizer has none.
Loss falls only on assistant replies whose weight is not 0 (and on every token of a `text` line).
Assistant spans are found by rendering growing prefixes of the conversation and mapping their
character spans to tokens, so any prefix-stable template works, `{% generation %}` or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_gpu.errors import DatasetError, LocalTrainingError

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant", "tool", "developer")

DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]

    @property
    def supervised_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass(frozen=True)
class LoadedDataset:
    examples: list[TokenizedExample]
    truncated: int
    dropped_without_loss: int

    @property
    def tokens(self) -> int:
        return sum(len(example.input_ids) for example in self.examples)


@dataclass(frozen=True)
class ChatRecord:
    messages: list[dict[str, str]]
    weights: list[int]


@dataclass(frozen=True)
class TextRecord:
    text: str


def _parse_messages(raw: Any, path: str, line: int) -> ChatRecord:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(path, line, "'messages' must be a non-empty list")
    messages: list[dict[str, str]] = []
    weights: list[int] = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise DatasetError(path, line, f"{where} must be an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise DatasetError(path, line, f"{where}.role must be one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise DatasetError(path, line, f"{where}.content must be a string")
        weight = message.get("weight", 1)
        if weight not in (0, 1) or isinstance(weight, bool):
            raise DatasetError(path, line, f"{where}.weight must be 0 or 1")
        if weight == 0 and role != "assistant":
            raise DatasetError(path, line, f"{where}.weight is only allowed on assistant messages")
        messages.append({"role": role, "content": content})
        weights.append(int(weight))
    if not any(m["role"] == "assistant" and w for m, w in zip(messages, weights, strict=True)):
        raise DatasetError(path, line, "no assistant message with weight 1 to learn from")
    return ChatRecord(messages, weights)


def parse_record(raw: Any, path: str, line: int) -> ChatRecord | TextRecord:
    if not isinstance(raw, dict):
        raise DatasetError(path, line, "each line must be a JSON object")
    if "preferred_output" in raw or "non_preferred_output" in raw:
        raise DatasetError(
            path, line, "preference (DPO) record: only supervised training is supported locally"
        )
    if "messages" in raw:
        return _parse_messages(raw["messages"], path, line)
    if "prompt" in raw or "completion" in raw:
        prompt, completion = raw.get("prompt"), raw.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str) or not completion:
            raise DatasetError(path, line, "'prompt' and 'completion' must both be strings")
        return ChatRecord(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
            [1, 1],
        )
    if "text" in raw:
        if not isinstance(raw["text"], str) or not raw["text"]:
            raise DatasetError(path, line, "'text' must be a non-empty string")
        return TextRecord(raw["text"])
    raise DatasetError(path, line, "expected 'messages', 'prompt'/'completion' or 'text'")


def read_records(path: Path) -> list[ChatRecord | TextRecord]:
    records: list[ChatRecord | TextRecord] = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                raise DatasetError(str(path), number, f"invalid JSON ({error.msg})") from None
            records.append(parse_record(raw, str(path), number))
    if not records:
        raise DatasetError(str(path), 0, "the file has no records")
    return records


class ExampleTokenizer:
    """Renders records with the chat template and labels only trainable assistant tokens."""

    def __init__(self, tokenizer: Any, max_seq_len: int) -> None:
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self.template: str = tokenizer.chat_template or DEFAULT_CHAT_TEMPLATE

    def _render(self, messages: list[dict[str, str]], generation_prompt: bool) -> str:
        text: str = self.tokenizer.apply_chat_template(
            messages,
            chat_template=self.template,
            tokenize=False,
            add_generation_prompt=generation_prompt,
        )
        return text

    def trainable_spans(self, record: ChatRecord) -> tuple[str, list[tuple[int, int]]]:
        full = self._render(record.messages, generation_prompt=False)
        spans: list[tuple[int, int]] = []
        for index, message in enumerate(record.messages):
            if message["role"] != "assistant" or not record.weights[index]:
                continue
            before = self._render(record.messages[:index], generation_prompt=True)
            through = self._render(record.messages[: index + 1], generation_prompt=False)
            if not (full.startswith(before) and full.startswith(through)):
                raise LocalTrainingError(
                    "the model's chat template does not render conversations prefix-stably, "
                    "so assistant turns cannot be located"
                )
            spans.append((len(before), len(through)))
        return full, spans

    def tokenize(self, record: ChatRecord | TextRecord) -> tuple[TokenizedExample, bool]:
        """The example (cut to max_seq_len) and whether it was cut."""
        if isinstance(record, TextRecord):
            bos = self.tokenizer.bos_token or ""
            eos = self.tokenizer.eos_token or ""
            text, spans = bos + record.text + eos, [(len(bos), len(bos + record.text + eos))]
        else:
            text, spans = self.trainable_spans(record)
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = list(encoded["input_ids"])
        labels = [
            token if any(lo <= start < hi for lo, hi in spans) else IGNORE_INDEX
            for token, (start, _) in zip(ids, encoded["offset_mapping"], strict=True)
        ]
        # The first token of an example is never a target: in a packed row it would otherwise
        # be predicted from the previous example's last token.
        labels[0] = IGNORE_INDEX
        example = TokenizedExample(ids[: self.max_seq_len], labels[: self.max_seq_len])
        return example, len(ids) > self.max_seq_len


def load_examples(path: Path, tokenizer: Any, max_seq_len: int) -> LoadedDataset:
    renderer = ExampleTokenizer(tokenizer, max_seq_len)
    examples: list[TokenizedExample] = []
    truncated = dropped = 0
    for record in read_records(path):
        example, was_cut = renderer.tokenize(record)
        truncated += was_cut
        if example.supervised_tokens == 0:
            dropped += 1
            continue
        examples.append(example)
    if not examples:
        raise DatasetError(str(path), 0, f"no example keeps a trainable token within {max_seq_len}")
    return LoadedDataset(examples, truncated, dropped)
