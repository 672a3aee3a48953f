"""Chat completion on Vertex through ``generate_content``: OpenAI-style messages become
Gemini's ``contents`` (system messages → ``system_instruction``, assistant → ``model``,
tool calls ↔ ``functionCall``, tool messages → ``functionResponse``) and the answer comes back
in OpenAI's vocabulary (``MAX_TOKENS`` → ``length``). The model is a tuned model's endpoint
(``projects/…/endpoints/…``, our ``fine_tuned_model``) or a base model id."""

from __future__ import annotations

import json
from typing import Any

from google.genai import types

from providers.base import ChatCompletion, ChatRequest, ChatUsage

FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _args(raw: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"value": raw}


def gemini_request(request: ChatRequest) -> tuple[list[types.Content], types.GenerateContentConfig]:
    system: list[str] = []
    contents: list[types.Content] = []
    names: dict[str, str] = {}
    for message in request.messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
            continue
        if role == "tool":
            name = names.get(str(message.get("tool_call_id")), "tool")
            response = _args(_text(message.get("content")))
            part = types.Part.from_function_response(name=name, response=response)
            contents.append(types.Content(role="user", parts=[part]))
            continue
        parts: list[types.Part] = []
        if text := _text(message.get("content")):
            parts.append(types.Part.from_text(text=text))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            names[str(call.get("id"))] = str(function.get("name"))
            parts.append(
                types.Part.from_function_call(
                    name=str(function.get("name")), args=_args(function.get("arguments"))
                )
            )
        contents.append(types.Content(role="model" if role == "assistant" else "user", parts=parts))
    fields: dict[str, Any] = {
        "system_instruction": "\n\n".join(system) if system else None,
        "max_output_tokens": request.max_completion_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
    }
    response_format = request.response_format or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        fields["response_mime_type"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema is not None:
            fields["response_json_schema"] = schema
    if request.tools:
        declarations = [
            types.FunctionDeclaration(
                name=t["function"]["name"],
                description=t["function"].get("description"),
                parameters_json_schema=t["function"].get("parameters"),
            )
            for t in request.tools
            if isinstance(t, dict) and t.get("type") == "function"
        ]
        fields["tools"] = [types.Tool(function_declarations=declarations)]
    config = types.GenerateContentConfig(**{k: v for k, v in fields.items() if v is not None})
    return contents, config


def completion_from(response: types.GenerateContentResponse, model: str) -> ChatCompletion:
    candidate = response.candidates[0] if response.candidates else None
    parts = candidate.content.parts if candidate and candidate.content else None
    text = "".join(p.text for p in parts or [] if p.text and not p.thought)
    tool_calls = [
        {
            "id": f"call_{n}",
            "type": "function",
            "function": {
                "name": p.function_call.name,
                "arguments": json.dumps(p.function_call.args or {}),
            },
        }
        for n, p in enumerate(parts or [])
        if p.function_call is not None
    ]
    raw = candidate.finish_reason.value if candidate and candidate.finish_reason else "STOP"
    usage = response.usage_metadata
    return ChatCompletion(
        model=model,
        text=text,
        tool_calls=tool_calls,
        finish_reason="tool_calls" if tool_calls else FINISH.get(raw, raw.lower()),
        usage=ChatUsage(
            prompt_tokens=(usage.prompt_token_count or 0) if usage else 0,
            completion_tokens=(usage.candidates_token_count or 0) if usage else 0,
            cached_tokens=(usage.cached_content_token_count or 0) if usage else 0,
        ),
    )
