"""Our canonical records as Gemini tuning lines (Vertex AI supervised tuning), and back.

A line is ``{"systemInstruction": {"role": "system", "parts": [{"text"}]}?, "contents":
[{"role": "user"|"model", "parts": [...]}], "tools": [{"functionDeclarations": [...]}]?}``
(cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-prepare, read
2026-11-29). Parts are ``{"text"}``, ``{"functionCall": {name, args}}`` in model turns and
``{"functionResponse": {name, response}}`` in user turns.

What Gemini cannot express makes the line unexpressible (``Unexpressible``: the line is left
out and reported): a system message after the conversation started, an assistant turn with
``weight: 0`` (Vertex trains on every model turn), tool-call arguments that are not a JSON
object, a tool response with no matching call, non-string content. What changes shape but
keeps its meaning is reported as a note: a ``developer`` message sent as a system
instruction, tool-call ids (Gemini pairs responses with calls by name and order), a
prompt/completion pair sent as one user and one model turn.
"""

from __future__ import annotations

import json
from typing import Any

from service.datasets.records import (
    ChatRecord,
    Message,
    PromptCompletionRecord,
    Record,
    RecordError,
)

Problem = tuple[str, str]
INSTRUCTION_ROLES = ("system", "developer")


class Unexpressible(Exception):
    """The record cannot be written as a Gemini line at all."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_gemini(record: Record) -> tuple[dict[str, Any], list[Problem]]:
    """The Gemini line for ``record`` and the notes on what changed shape."""
    if isinstance(record, PromptCompletionRecord):
        chat = ChatRecord(
            messages=[
                Message(role="user", content=record.prompt),
                Message(role="assistant", content=record.completion),
            ]
        )
        line, notes = _chat(chat)
        return line, [
            *notes,
            ("format_mapped", "prompt/completion sent as a user and a model turn"),
        ]
    if isinstance(record, ChatRecord):
        return _chat(record)
    raise Unexpressible("format_not_supported", "vertex takes chat and prompt/completion lines")


def _text(message: Message, where: str) -> str:
    if not isinstance(message.content, str) or not message.content:
        raise Unexpressible("content_not_text", f"{where}: Gemini needs non-empty text content")
    return message.content


def _chat(record: ChatRecord) -> tuple[dict[str, Any], list[Problem]]:
    notes: list[Problem] = []
    instruction: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for index, message in enumerate(record.messages):
        where = f"message {index}"
        if message.role in INSTRUCTION_ROLES:
            if contents:
                raise Unexpressible(
                    "system_not_first",
                    f"{where}: Gemini takes system instructions only before the conversation",
                )
            if message.role == "developer":
                notes.append(("role_mapped", "developer message sent as a system instruction"))
            instruction.append({"text": _text(message, where)})
        elif message.role == "user":
            contents.append({"role": "user", "parts": [{"text": _text(message, where)}]})
        elif message.role == "assistant":
            contents.append({"role": "model", "parts": _model_parts(message, where, call_names)})
        elif message.role == "tool":
            part = _function_response(message, where, call_names)
            last = contents[-1] if contents else None
            if (
                last is not None
                and last["role"] == "user"
                and "functionResponse" in last["parts"][0]
            ):
                last["parts"].append(part)  # answers to parallel calls share one turn
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            raise Unexpressible("role_not_supported", f"{where}: Gemini has no {message.role} role")
    if call_names:
        notes.append(("tool_call_id_dropped", "tool-call ids dropped: Gemini pairs by name"))
    line: dict[str, Any] = {}
    if instruction:
        line["systemInstruction"] = {"role": "system", "parts": instruction}
    line["contents"] = contents
    if record.tools:
        line["tools"] = [{"functionDeclarations": [_declaration(t) for t in record.tools]}]
    return line, notes


def _model_parts(message: Message, where: str, call_names: dict[str, str]) -> list[Any]:
    if message.weight == 0:
        raise Unexpressible(
            "weight_not_supported", f"{where}: Vertex trains on every model turn (weight 0)"
        )
    parts: list[dict[str, Any]] = []
    if message.content:
        parts.append({"text": _text(message, where)})
    for call in message.tool_calls or []:
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        try:
            args = json.loads(function.get("arguments") or "{}") if function else None
        except (TypeError, ValueError):
            args = None
        if not isinstance(name, str) or not isinstance(args, dict):
            raise Unexpressible(
                "tool_call_not_expressible",
                f"{where}: a Gemini function call needs a name and JSON-object arguments",
            )
        if isinstance(call.get("id"), str):
            call_names[call["id"]] = name
        parts.append({"functionCall": {"name": name, "args": args}})
    if not parts:
        raise Unexpressible("content_not_text", f"{where}: the model turn is empty")
    return parts


def _function_response(message: Message, where: str, call_names: dict[str, str]) -> Any:
    name = call_names.get(message.tool_call_id or "")
    if name is None:
        raise Unexpressible(
            "tool_response_without_call", f"{where}: no earlier tool call has this tool_call_id"
        )
    text = _text(message, where)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def _declaration(tool: Any) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or tool.get("type") != "function" or not function:
        raise Unexpressible("tool_not_supported", "Gemini takes function tools only")
    declaration = {"name": function.get("name")}
    for key in ("description", "parameters"):
        if key in function:
            declaration[key] = function[key]
    return declaration


def from_gemini(obj: dict[str, Any]) -> ChatRecord:
    """A Gemini line read back as a chat record (tool-call ids are made up: Gemini has none)."""
    contents = obj.get("contents")
    if not isinstance(contents, list):
        raise RecordError("a Gemini line needs a contents list")
    instruction = obj.get("systemInstruction") or {}
    messages = [
        Message(role="system", content=part.get("text")) for part in instruction.get("parts", [])
    ]
    calls: list[tuple[str, str]] = []  # (id, name) not answered yet
    for turn in contents:
        for part in turn.get("parts", []):
            messages.extend(_messages_for(turn.get("role"), part, calls))
    tools = None
    if obj.get("tools"):
        tools = [
            {"type": "function", "function": declaration}
            for group in obj["tools"]
            for declaration in group.get("functionDeclarations", [])
        ]
    return ChatRecord(messages=messages, tools=tools)


def _messages_for(role: Any, part: dict[str, Any], calls: list[tuple[str, str]]) -> list[Message]:
    if "text" in part:
        return [Message(role="assistant" if role == "model" else "user", content=part["text"])]
    if "functionCall" in part:
        call = part["functionCall"]
        call_id = f"call{len(calls) + 1}"
        calls.append((call_id, call["name"]))
        arguments = json.dumps(call.get("args") or {})
        tool_call = {
            "id": call_id,
            "type": "function",
            "function": {"name": call["name"], "arguments": arguments},
        }
        return [Message(role="assistant", content=None, tool_calls=[tool_call])]
    if "functionResponse" in part:
        response = part["functionResponse"]
        match = next((c for c in calls if c[1] == response["name"]), ("", ""))
        if match in calls:
            calls.remove(match)
        content = response.get("response") or {}
        text = content["content"] if list(content) == ["content"] else json.dumps(content)
        return [Message(role="tool", content=text, tool_call_id=match[0] or None)]
    raise RecordError("a Gemini part needs text, functionCall or functionResponse")
