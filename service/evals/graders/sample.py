"""What a model produced for one item, as graders and templates see it (``sample.*``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def parse_json(text: str) -> Any | None:
    """The text's JSON value, or None when it is not JSON (OpenAI fills ``output_json`` only
    then)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


@dataclass(frozen=True)
class Sample:
    output_text: str
    output_tools: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"

    @property
    def output_json(self) -> Any | None:
        return parse_json(self.output_text)

    def context(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.output_text}
        if self.output_tools:
            message["tool_calls"] = self.output_tools
        return {
            "output_text": self.output_text,
            "output_json": self.output_json,
            "output_tools": self.output_tools,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        }

    @classmethod
    def from_row(cls, raw: dict[str, Any]) -> Sample:
        """A ``sample`` supplied in a JSONL row: ``output_text`` (or the first choice's
        content) and ``output_tools`` (or that choice's ``tool_calls``)."""
        choice = (raw.get("choices") or [{}])[0]
        message = choice.get("message", {}) if isinstance(choice, dict) else {}
        text = raw.get("output_text", message.get("content"))
        tools = raw.get("output_tools", message.get("tool_calls"))
        return cls(
            output_text=text if isinstance(text, str) else "",
            output_tools=tools if isinstance(tools, list) else [],
        )
