"""A study's test items and prompts: each held-out chat example becomes one frozen item —
``{"messages": the prompt (everything before the last assistant turn), "ideal": that turn's
text}`` — which every baseline and candidate is evaluated on. A baseline's prompt adds its
system prompt and ``few_shot`` examples drawn (the first k, in file order) from the train
split. Token counts here feed the evaluation quote."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import InvalidRequest

MAX_TEST_ITEMS = 5_000
MAX_TEST_BYTES = 64 * 1024 * 1024

ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "messages": {"type": "array", "items": {"type": "object"}},
        "ideal": {"type": "string"},
    },
    "required": ["messages", "ideal"],
}
"""What a criterion's templates may name: ``{{item.ideal}}``, ``{{item.messages}}``."""

Message = dict[str, Any]


@dataclass(frozen=True)
class TestItem:
    line: int
    messages: list[Message]
    ideal: str

    def to_item(self) -> dict[str, Any]:
        return {"messages": self.messages, "ideal": self.ideal}


def _as_item(record: Any) -> tuple[list[Message], str] | None:
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    content = last.get("content")
    if not isinstance(content, str):
        return None
    prompt = [m for m in messages[:-1] if isinstance(m, dict)]
    return (prompt, content) if prompt else None


def read_items(path: Path, file_id: str, param: str) -> list[TestItem]:
    """Every line of a chat JSONL file as a test item; a 400 naming the first line that is
    not a chat example ending with an assistant turn."""
    if path.stat().st_size > MAX_TEST_BYTES:
        raise InvalidRequest(
            f"{param} {file_id} is over {MAX_TEST_BYTES // 2**20} MiB: a test split that large "
            "costs more to evaluate than it tells; use a smaller holdout.",
            param=param,
        )
    items: list[TestItem] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                raise InvalidRequest(
                    f"{param} {file_id} line {number} is not JSON.", param=param
                ) from None
            parsed = _as_item(record)
            if parsed is None:
                raise InvalidRequest(
                    f"{param} {file_id} line {number}: a test item must be a chat example "
                    "whose last message is the assistant's text answer.",
                    param=param,
                    code="invalid_test_item",
                )
            items.append(TestItem(number, parsed[0], parsed[1]))
            if len(items) > MAX_TEST_ITEMS:
                raise InvalidRequest(
                    f"{param} {file_id} has more than {MAX_TEST_ITEMS} items; use a smaller "
                    "holdout.",
                    param=param,
                )
    if not items:
        raise InvalidRequest(f"{param} {file_id} has no test items.", param=param)
    return items


def read_shots(path: Path, k: int) -> list[TestItem]:
    """The first ``k`` chat examples of the train split (file order: frozen)."""
    shots: list[TestItem] = []
    if k == 0:
        return shots
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                parsed = _as_item(json.loads(raw)) if raw.strip() else None
            except ValueError:
                parsed = None
            if parsed is not None:
                shots.append(TestItem(number, parsed[0], parsed[1]))
                if len(shots) == k:
                    break
    return shots


def baseline_prefix(system_prompt: str | None, shots: Sequence[TestItem]) -> list[Message]:
    """The fixed part of a baseline's prompt (a provider can cache it): the system prompt and
    the shots as user/assistant turns."""
    prefix: list[Message] = []
    if system_prompt:
        prefix.append({"role": "system", "content": system_prompt})
    for shot in shots:
        prefix.extend(m for m in shot.messages if m.get("role") != "system")
        prefix.append({"role": "assistant", "content": shot.ideal})
    return prefix


def message_text(messages: Sequence[Message]) -> str:
    parts = []
    for message in messages:
        content = message.get("content")
        parts.append(content if isinstance(content, str) else json.dumps(content))
    return "\n".join(parts)
