"""The canonical dataset record: one typed dataclass per format, lossless both ways.

Keys a format does not model are kept in ``extra`` (per record and per message), so that
``record_to_dict(record_from_dict(obj, fmt)) == obj`` for every well-formed line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMATS = ("chat", "preference", "prompt_completion", "text")

_MESSAGE_KEYS = ("role", "content", "name", "weight", "tool_calls", "tool_call_id")
_CHAT_KEYS = ("messages", "tools", "parallel_tool_calls")


class RecordError(ValueError):
    """A line whose shape does not fit the canonical record (the validator names why)."""


@dataclass(slots=True)
class Message:
    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    weight: int | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    has_content: bool = True  # tells "content": null apart from no content key at all
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChatRecord:
    messages: list[Message]
    tools: list[dict[str, Any]] | None = None
    parallel_tool_calls: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PreferenceRecord:
    input: ChatRecord
    preferred_output: list[Message]
    non_preferred_output: list[Message]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PromptCompletionRecord:
    prompt: str
    completion: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TextRecord:
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


Record = ChatRecord | PreferenceRecord | PromptCompletionRecord | TextRecord


def detect_format(obj: dict[str, Any]) -> list[str]:
    """Every format whose required keys are present (more than one means ambiguous)."""
    found = []
    if "messages" in obj:
        found.append("chat")
    if "input" in obj and "preferred_output" in obj and "non_preferred_output" in obj:
        found.append("preference")
    if "prompt" in obj and "completion" in obj:
        found.append("prompt_completion")
    if "text" in obj:
        found.append("text")
    return found


def format_of(record: Record) -> str:
    if isinstance(record, ChatRecord):
        return "chat"
    if isinstance(record, PreferenceRecord):
        return "preference"
    if isinstance(record, PromptCompletionRecord):
        return "prompt_completion"
    return "text"


def message_from_dict(obj: Any) -> Message:
    if not isinstance(obj, dict) or not isinstance(obj.get("role"), str):
        raise RecordError("message must be an object with a string role")
    weight = obj.get("weight")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int)):
        raise RecordError("weight must be an integer")
    return Message(
        role=obj["role"],
        content=obj.get("content"),
        name=obj.get("name"),
        weight=weight,
        tool_calls=obj.get("tool_calls"),
        tool_call_id=obj.get("tool_call_id"),
        has_content="content" in obj,
        extra={k: v for k, v in obj.items() if k not in _MESSAGE_KEYS},
    )


def message_to_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.has_content:
        out["content"] = message.content
    for key in ("name", "weight", "tool_calls", "tool_call_id"):
        value = getattr(message, key)
        if value is not None:
            out[key] = value
    out.update(message.extra)
    return out


def _messages(value: Any) -> list[Message]:
    if not isinstance(value, list):
        raise RecordError("messages must be a list")
    return [message_from_dict(m) for m in value]


def chat_from_dict(obj: dict[str, Any]) -> ChatRecord:
    return ChatRecord(
        messages=_messages(obj.get("messages")),
        tools=obj.get("tools"),
        parallel_tool_calls=obj.get("parallel_tool_calls"),
        extra={k: v for k, v in obj.items() if k not in _CHAT_KEYS},
    )


def chat_to_dict(record: ChatRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"messages": [message_to_dict(m) for m in record.messages]}
    if record.tools is not None:
        out["tools"] = record.tools
    if record.parallel_tool_calls is not None:
        out["parallel_tool_calls"] = record.parallel_tool_calls
    out.update(record.extra)
    return out


def record_from_dict(obj: Any, fmt: str) -> Record:
    if not isinstance(obj, dict):
        raise RecordError("line is not a JSON object")
    extra_keys: tuple[str, ...]
    if fmt == "chat":
        return chat_from_dict(obj)
    if fmt == "preference":
        if not isinstance(obj.get("input"), dict):
            raise RecordError("input must be an object")
        extra_keys = ("input", "preferred_output", "non_preferred_output")
        return PreferenceRecord(
            input=chat_from_dict(obj["input"]),
            preferred_output=_messages(obj.get("preferred_output")),
            non_preferred_output=_messages(obj.get("non_preferred_output")),
            extra={k: v for k, v in obj.items() if k not in extra_keys},
        )
    if fmt == "prompt_completion":
        prompt, completion = obj.get("prompt"), obj.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise RecordError("prompt and completion must be strings")
        extra_keys = ("prompt", "completion")
        extra = {k: v for k, v in obj.items() if k not in extra_keys}
        return PromptCompletionRecord(prompt=prompt, completion=completion, extra=extra)
    if fmt == "text":
        if not isinstance(obj.get("text"), str):
            raise RecordError("text must be a string")
        return TextRecord(text=obj["text"], extra={k: v for k, v in obj.items() if k != "text"})
    raise RecordError(f"unknown format {fmt!r}")


def record_to_dict(record: Record) -> dict[str, Any]:
    if isinstance(record, ChatRecord):
        return chat_to_dict(record)
    if isinstance(record, PreferenceRecord):
        return {
            "input": chat_to_dict(record.input),
            "preferred_output": [message_to_dict(m) for m in record.preferred_output],
            "non_preferred_output": [message_to_dict(m) for m in record.non_preferred_output],
            **record.extra,
        }
    if isinstance(record, PromptCompletionRecord):
        return {"prompt": record.prompt, "completion": record.completion, **record.extra}
    return {"text": record.text, **record.extra}
