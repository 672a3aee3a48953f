"""Chat completion wire mapping shared by the adapters: our ``ChatRequest`` to SDK keyword
arguments, and an SDK response (OpenAI-shaped in every SDK we use) back to ``ChatCompletion``."""

from __future__ import annotations

from typing import Any

from providers.base import ChatCompletion, ChatRequest, ChatUsage, finish_reason


def request_kwargs(
    request: ChatRequest, *, max_tokens: str = "max_completion_tokens", seed: str = "seed"
) -> dict[str, Any]:
    """Only what the caller set; ``max_tokens``/``seed`` name the SDK's parameters."""
    kwargs: dict[str, Any] = {"model": request.model, "messages": request.messages}
    optional = {
        max_tokens: request.max_completion_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        seed: request.seed,
        "response_format": request.response_format,
        "tools": request.tools,
    }
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    return kwargs


def _dump(value: Any) -> Any:
    return value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else value


def _content(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):  # content chunks (Mistral)
        return "".join(str(getattr(p, "text", "") or "") for p in raw)
    return ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def completion_from(response: Any, model: str) -> ChatCompletion:
    choice = response.choices[0]
    message = choice.message
    usage = getattr(response, "usage", None)
    details = getattr(usage, "prompt_tokens_details", None)
    tool_calls = getattr(message, "tool_calls", None)
    return ChatCompletion(
        model=model,
        text=_content(getattr(message, "content", None)),
        tool_calls=[_dump(call) for call in tool_calls if call is not None]
        if isinstance(tool_calls, list)
        else [],
        finish_reason=finish_reason(choice.finish_reason),
        usage=ChatUsage(
            prompt_tokens=_int(getattr(usage, "prompt_tokens", 0)),
            completion_tokens=_int(getattr(usage, "completion_tokens", 0)),
            cached_tokens=_int(getattr(details, "cached_tokens", 0)),
        ),
    )
