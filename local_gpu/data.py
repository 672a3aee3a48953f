"""Read the local trainer input (JSONL) and turn each line into token ids and loss labels.

Accepted lines: chat `{"messages": [{"role", "content", "weight"?, "tool_calls"?, ...}, ...],
"tools"?}` (weight 0|1 on assistant messages), `{"prompt", "completion"}`, and `{"text"}`; and,
for DPO, preference lines `{"input": {"messages", "tools"?}, "preferred_output": [msg],
"non_preferred_output": [msg]}`. Conversations (with their tools and tool calls) are rendered
with the model's own chat template, or DEFAULT_CHAT_TEMPLATE (ChatML) when the tokenizer has
none. Loss falls only on assistant replies whose weight is not 0 (and on every token of a
`text` line); in a preference pair only on the preferred / non-preferred reply.
Assistant spans are found by rendering growing prefixes of the conversation and mapping their
character spans to tokens, so any prefix-stable template works, `{% generation %}` or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    messages: list[dict[str, Any]]
    weights: list[int]
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class TextRecord:
    text: str


def _parse_message(message: Any, where: str, path: str, line: int) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise DatasetError(path, line, f"{where} must be an object")
    role, content = message.get("role"), message.get("content")
    if role not in ROLES:
        raise DatasetError(path, line, f"{where}.role must be one of {', '.join(ROLES)}")
    tool_calls = message.get("tool_calls")
    if tool_calls is not None and (role != "assistant" or not isinstance(tool_calls, list)):
        raise DatasetError(path, line, f"{where}.tool_calls must be a list on an assistant")
    if not isinstance(content, str) and not (content is None and tool_calls):
        raise DatasetError(path, line, f"{where}.content must be a string")
    parsed: dict[str, Any] = {"role": role, "content": content}
    # What chat templates read besides role/content (tool calls and their answers).
    for key in ("tool_calls", "tool_call_id", "name"):
        if message.get(key) is not None:
            parsed[key] = message[key]
    return parsed


def _parse_tools(raw: Any, path: str, line: int) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(tool, dict) for tool in raw):
        raise DatasetError(path, line, "'tools' must be a list of objects")
    return raw


def _parse_messages(raw: Any, path: str, line: int, tools: Any = None) -> ChatRecord:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(path, line, "'messages' must be a non-empty list")
    messages: list[dict[str, Any]] = []
    weights: list[int] = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        messages.append(_parse_message(message, where, path, line))
        weight = message.get("weight", 1)
        if weight not in (0, 1) or isinstance(weight, bool):
            raise DatasetError(path, line, f"{where}.weight must be 0 or 1")
        if weight == 0 and message["role"] != "assistant":
            raise DatasetError(path, line, f"{where}.weight is only allowed on assistant messages")
        weights.append(int(weight))
    if not any(m["role"] == "assistant" and w for m, w in zip(messages, weights, strict=True)):
        raise DatasetError(path, line, "no assistant message with weight 1 to learn from")
    return ChatRecord(messages, weights, _parse_tools(tools, path, line))


@dataclass(frozen=True)
class PreferenceRecord:
    """The prompt conversation followed by the preferred or the non-preferred reply: only the
    reply's messages carry weight."""

    chosen: ChatRecord
    rejected: ChatRecord


def _reply(raw: Any, key: str, path: str, line: int) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(path, line, f"'{key}' must be a non-empty list of messages")
    reply = [_parse_message(m, f"{key}[{i}]", path, line) for i, m in enumerate(raw)]
    if not any(m["role"] == "assistant" for m in reply):
        raise DatasetError(path, line, f"'{key}' has no assistant message")
    return reply


def parse_preference(raw: Any, path: str, line: int) -> PreferenceRecord:
    if not isinstance(raw, dict):
        raise DatasetError(path, line, "each line must be a JSON object")
    prompt = raw.get("input")
    if not isinstance(prompt, dict) or "messages" not in raw.get("input", {}):
        raise DatasetError(path, line, "a preference line needs 'input': {'messages': [...]}")
    messages = prompt["messages"]
    if not isinstance(messages, list) or not messages:
        raise DatasetError(path, line, "'input.messages' must be a non-empty list")
    context = [
        _parse_message(message, f"input.messages[{index}]", path, line)
        for index, message in enumerate(messages)
    ]
    tools = _parse_tools(prompt.get("tools"), path, line)

    def record(key: str) -> ChatRecord:
        reply = _reply(raw.get(key), key, path, line)
        weights = [0] * len(context) + [int(m["role"] == "assistant") for m in reply]
        return ChatRecord(context + reply, weights, tools)

    return PreferenceRecord(record("preferred_output"), record("non_preferred_output"))


def parse_record(raw: Any, path: str, line: int) -> ChatRecord | TextRecord:
    if not isinstance(raw, dict):
        raise DatasetError(path, line, "each line must be a JSON object")
    if "preferred_output" in raw or "non_preferred_output" in raw:
        raise DatasetError(
            path, line, "preference (DPO) record in a supervised job: use method type 'dpo'"
        )
    if "messages" in raw:
        return _parse_messages(raw["messages"], path, line, raw.get("tools"))
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


def read_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as error:
                raise DatasetError(str(path), number, f"invalid JSON ({error.msg})") from None


def read_records(path: Path) -> list[ChatRecord | TextRecord]:
    records = [parse_record(raw, str(path), number) for number, raw in read_json_lines(path)]
    if not records:
        raise DatasetError(str(path), 0, "the file has no records")
    return records


class ExampleTokenizer:
    """Renders records with the chat template and labels only trainable assistant tokens."""

    def __init__(self, tokenizer: Any, max_seq_len: int) -> None:
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self.template: str = tokenizer.chat_template or DEFAULT_CHAT_TEMPLATE

    def _render(
        self,
        messages: list[dict[str, Any]],
        generation_prompt: bool,
        tools: list[dict[str, Any]] | None,
    ) -> str:
        text: str = self.tokenizer.apply_chat_template(
            messages,
            tools=tools,
            chat_template=self.template,
            tokenize=False,
            add_generation_prompt=generation_prompt,
        )
        return text

    def trainable_spans(self, record: ChatRecord) -> tuple[str, list[tuple[int, int]]]:
        full = self._render(record.messages, False, record.tools)
        spans: list[tuple[int, int]] = []
        for index, message in enumerate(record.messages):
            if message["role"] != "assistant" or not record.weights[index]:
                continue
            before = self._render(record.messages[:index], True, record.tools)
            through = self._render(record.messages[: index + 1], False, record.tools)
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


@dataclass(frozen=True)
class PreferencePair:
    chosen: TokenizedExample
    rejected: TokenizedExample

    @property
    def tokens(self) -> int:
        return len(self.chosen.input_ids) + len(self.rejected.input_ids)


@dataclass(frozen=True)
class LoadedPairs:
    pairs: list[PreferencePair]
    truncated: int
    dropped_without_loss: int

    @property
    def tokens(self) -> int:
        return sum(pair.tokens for pair in self.pairs)


def load_pairs(path: Path, tokenizer: Any, max_seq_len: int) -> LoadedPairs:
    """Preference lines as (chosen, rejected) token sequences; loss only on the replies."""
    renderer = ExampleTokenizer(tokenizer, max_seq_len)
    pairs: list[PreferencePair] = []
    truncated = dropped = 0
    for number, raw in read_json_lines(path):
        if isinstance(raw, dict) and "messages" in raw and "input" not in raw:
            raise DatasetError(
                str(path),
                number,
                "a DPO job needs preference lines ('input', 'preferred_output', "
                "'non_preferred_output'), not a chat line",
            )
        record = parse_preference(raw, str(path), number)
        chosen, chosen_cut = renderer.tokenize(record.chosen)
        rejected, rejected_cut = renderer.tokenize(record.rejected)
        truncated += chosen_cut or rejected_cut
        if not chosen.supervised_tokens or not rejected.supervised_tokens:
            dropped += 1
            continue
        pairs.append(PreferencePair(chosen, rejected))
    if not pairs and not dropped:
        raise DatasetError(str(path), 0, "the file has no records")
    if not pairs:
        raise DatasetError(str(path), 0, f"no pair keeps a reply token within {max_seq_len}")
    return LoadedPairs(pairs, truncated, dropped)
