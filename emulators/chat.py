"""Chat completions for every emulator, deterministic, so tests can tell a tuned model from its
base.

- A model that one of the emulator's succeeded jobs produced (its fine-tuned model name, or an
  OpenAI ``…:ckpt-step-N`` checkpoint of it) answers what its training file taught: the final
  assistant message of the training example whose last user message matches the request's
  last user message (exactly after trimming and casefolding, else the one sharing the most
  words; ties go to the earlier line).
- Any other model is a base model and answers generically:
  ``I am not sure about "<the last user message>".``
- ``max_tokens``/``max_completion_tokens`` cut the answer to that many words
  (``finish_reason: length``). Usage counts words: the prompt's words plus 3 per message, and
  the answer's words.
Faults (``/_emulator/faults``) apply to these routes like any other, e.g. a 429 with
``retry_after``."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from emulators.core import EmulatedJob, EmulatorState

TrainingFor = Callable[[str], bytes | None]
"""The training file content of the succeeded job that produced ``model``, or None."""
Refusal = Callable[[str], tuple[int, str] | None]
"""(status, message) when the emulator refuses to serve ``model`` (e.g. a tuned model that
serves only on a dedicated deployment), else None."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _last_user(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def _word_set(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def taught_answer(training: bytes, question: str) -> str | None:
    """The answer the training file gives to the closest question it holds."""
    wanted, wanted_words = _normal(question), _word_set(question)
    best: tuple[int, str] | None = None
    for raw in training.splitlines():
        try:
            example = json.loads(raw)
        except ValueError:
            continue
        messages = example.get("messages") if isinstance(example, dict) else None
        if not isinstance(messages, list) or not messages:
            continue
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "assistant":
            continue
        asked = _normal(_last_user(messages[:-1]))
        answer = _text(last.get("content"))
        if asked == wanted:
            return answer
        overlap = len(wanted_words & _word_set(asked))
        if best is None or overlap > best[0]:
            best = (overlap, answer)
    return best[1] if best else None


def answer_for(model: str, messages: list[Any], training_for: TrainingFor) -> str:
    question = _last_user(messages)
    training = training_for(model)
    taught = taught_answer(training, question) if training is not None else None
    if taught is not None:
        return taught
    return f'I am not sure about "{" ".join(question.split())[:200]}".'


def _words(text: str) -> int:
    return len(text.split())


def completion(
    body: dict[str, Any], training_for: TrainingFor, *, stop_reason: str = "stop"
) -> dict[str, Any]:
    model = str(body.get("model") or "")
    raw = body.get("messages")
    messages: list[Any] = raw if isinstance(raw, list) else []
    text = answer_for(model, messages, training_for)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    finish = stop_reason
    if isinstance(limit, int) and limit > 0 and _words(text) > limit:
        text, finish = " ".join(text.split()[:limit]), "length"
    prompt = sum(_words(_text(m.get("content"))) + 3 for m in messages if isinstance(m, dict))
    answer = _words(text)
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "tool_calls": None},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": answer,
            "total_tokens": prompt + answer,
        },
    }


def training_of_succeeded(
    state: EmulatorState,
    describe: Callable[[EmulatedJob], dict[str, Any]],
    output_model: Callable[[dict[str, Any]], str | None],
    content: Callable[[EmulatedJob], bytes | None],
) -> TrainingFor:
    """``TrainingFor`` over this emulator's jobs: the job whose described output model is
    ``model`` (or ``model`` less an OpenAI checkpoint suffix)."""

    def training_for(model: str) -> bytes | None:
        base = model.split(":ckpt-step-")[0]
        with state.lock:
            jobs = list(state.jobs.values())
        for job in jobs:
            if output_model(describe(job)) in (model, base):
                return content(job)
        return None

    return training_for


def add_chat_route(
    app: FastAPI,
    path: str,
    training_for: TrainingFor,
    error_body: Callable[[int, str], dict[str, Any]],
    *,
    stop_reason: str = "stop",
    refuse: Refusal | None = None,
) -> None:
    @app.post(path)
    async def chat_completions(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(error_body(400, "The body is not JSON."), 400)
        if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
            return JSONResponse(error_body(400, "'model' and 'messages' are required."), 400)
        refused = refuse(str(body["model"])) if refuse is not None else None
        if refused is not None:
            return JSONResponse(error_body(*refused), refused[0])
        return completion(body, training_for, stop_reason=stop_reason)
