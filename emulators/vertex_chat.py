"""``generateContent`` for the Vertex emulator, answering like every emulator's chat route
(``emulators.chat``): a tuned model's endpoint (or one of its checkpoints' endpoints) answers
what its Gemini training file taught, a base model answers generically.

- ``POST /{v}/projects/{p}/locations/{l}/endpoints/{e}:generateContent`` (a tuned model)
- ``POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent``
Body ``{contents, systemInstruction?, generationConfig{maxOutputTokens, …}?, tools?}``; answer
``{candidates: [{content: {role: "model", parts: [{text}]}, finishReason: STOP|MAX_TOKENS,
index}], usageMetadata{promptTokenCount, candidatesTokenCount, totalTokenCount}, modelVersion,
responseId}``. Token counts are words, as in ``emulators.chat``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from emulators.chat import completion

TrainingFor = Callable[[str], bytes | None]
Authorize = Callable[[Request], JSONResponse | None]


def gemini_to_chat_lines(content: bytes) -> bytes:
    """A Gemini tuning file as OpenAI chat lines (text parts only), for ``emulators.chat``."""
    out = []
    for raw in content.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            out.append(json.dumps({"messages": _messages(line)}))
    return "\n".join(out).encode()


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = []
    instruction = body.get("systemInstruction")
    if isinstance(instruction, dict):
        text = " ".join(str(p.get("text", "")) for p in instruction.get("parts") or [])
        messages.append({"role": "system", "content": text})
    for turn in body.get("contents") or []:
        if not isinstance(turn, dict):
            continue
        role = "assistant" if turn.get("role") == "model" else "user"
        text = " ".join(str(p.get("text", "")) for p in turn.get("parts") or [] if "text" in p)
        messages.append({"role": role, "content": text})
    return messages


def add_generate_route(
    app: FastAPI,
    training_for: TrainingFor,
    authorize: Authorize,
    error_body: Callable[[int, str], dict[str, Any]],
) -> None:
    async def answer(model: str, request: Request) -> Any:
        if (denied := authorize(request)) is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(error_body(400, "The body is not JSON."), 400)
        if not isinstance(body, dict) or not body.get("contents"):
            return JSONResponse(error_body(400, "contents is required."), 400)
        config = body.get("generationConfig") or {}
        chat = completion(
            {
                "model": model,
                "messages": _messages(body),
                "max_tokens": config.get("maxOutputTokens"),
            },
            training_for,
        )
        choice = chat["choices"][0]
        usage = chat["usage"]
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": choice["message"]["content"]}]},
                    "finishReason": "MAX_TOKENS" if choice["finish_reason"] == "length" else "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": usage["prompt_tokens"],
                "candidatesTokenCount": usage["completion_tokens"],
                "totalTokenCount": usage["total_tokens"],
            },
            "modelVersion": model.rsplit("/", 1)[-1],
            "responseId": secrets.token_urlsafe(12),
        }

    @app.post("/{version}/projects/{project}/locations/{location}/endpoints/{endpoint}")
    async def tuned(
        version: str, project: str, location: str, endpoint: str, request: Request
    ) -> Any:
        endpoint_id, _, method = endpoint.partition(":")
        if method != "generateContent":
            return JSONResponse(error_body(404, f"Unknown method {method!r}."), 404)
        name = f"projects/{project}/locations/{location}/endpoints/{endpoint_id}"
        return await answer(name, request)

    @app.post("/{version}/projects/{project}/locations/{location}/publishers/google/models/{model}")
    async def base(version: str, project: str, location: str, model: str, request: Request) -> Any:
        model_id, _, method = model.partition(":")
        if method != "generateContent":
            return JSONResponse(error_body(404, f"Unknown method {method!r}."), 404)
        return await answer(model_id, request)
