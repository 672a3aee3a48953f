"""One item of a run: render its prompt, sample the model (or take the row's ready sample),
grade it with every criterion. Plain functions: the caller supplies the completer and stores
the outcome."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from providers.base import ChatCompletion, ChatRequest
from providers.errors import ProviderError, ProviderRetryableError
from service.evals.graders.grade import (
    GraderResult,
    GraderSpec,
    GraderUnavailable,
    GradingContext,
    JudgeUsage,
    grade,
)
from service.evals.graders.sample import Sample
from service.evals.graders.specs import Grader
from service.evals.graders.templates import TemplateError, lookup, references, render

Completer = Callable[[ChatRequest], ChatCompletion]
MAX_ATTEMPTS = 4
MAX_RETRY_WAIT_S = 30.0

_graders: TypeAdapter[Any] = TypeAdapter(Grader)


class ItemStatus(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class Criterion:
    id: str
    grader: GraderSpec


def criteria_of(stored: list[dict[str, Any]]) -> list[Criterion]:
    """The eval's stored criteria (validated at create) as graders with their ids."""
    return [
        Criterion(str(c["id"]), _graders.validate_python({k: v for k, v in c.items() if k != "id"}))
        for c in stored
    ]


@dataclass(frozen=True)
class SamplingPlan:
    """How a ``completions`` run samples: the model, the prompt and the sampling params."""

    model: str
    template: list[dict[str, Any]] | None = None
    item_reference: str | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None


@dataclass
class ModelUsage:
    invocation_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def add(self, other: ModelUsage) -> None:
        self.invocation_count += other.invocation_count
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens


@dataclass
class ItemOutcome:
    index: int
    item: dict[str, Any]
    status: ItemStatus
    results: list[GraderResult] = field(default_factory=list)
    sample: dict[str, Any] | None = None
    usage: dict[str, ModelUsage] = field(default_factory=dict)
    error: str | None = None


def _message_text(content: Any, context: dict[str, Any]) -> str:
    if isinstance(content, str):
        return render(content, context)
    if isinstance(content, dict):
        return render(str(content.get("text", "")), context)
    if isinstance(content, list):
        return "\n".join(_message_text(part, context) for part in content)
    return ""


def prompt_for(plan: SamplingPlan, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat messages for ``item``: the template rendered over ``item`` only, or the
    message list the item names."""
    context = {"item": item}
    if plan.item_reference is not None:
        refs = references("{{" + plan.item_reference + "}}")
        messages = lookup(context, refs[0])
        if not isinstance(messages, list):
            raise TemplateError(f"'{plan.item_reference}' is not a list of messages")
        return [dict(m) for m in messages if isinstance(m, dict)]
    return [
        {"role": m.get("role", "user"), "content": _message_text(m.get("content"), context)}
        for m in plan.template or []
    ]


def complete(
    completer: Completer, request: ChatRequest, sleep: Callable[[float], None] = time.sleep
) -> ChatCompletion:
    """The completion, retrying a retryable provider error after its Retry-After (bounded)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return completer(request)
        except ProviderRetryableError as exc:
            if attempt == MAX_ATTEMPTS:
                raise
            sleep(
                min(
                    exc.retry_after if exc.retry_after is not None else 2.0**attempt,
                    MAX_RETRY_WAIT_S,
                )
            )
    raise AssertionError("unreachable")


def _sample_record(request: ChatRequest, done: ChatCompletion) -> dict[str, Any]:
    usage = done.usage
    return {
        "input": request.messages,
        "output": [{"role": "assistant", "content": done.text}],
        "model": done.model,
        "finish_reason": done.finish_reason,
        "seed": request.seed,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_completion_tokens": request.max_completion_tokens,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cached_tokens": usage.cached_tokens,
        },
        "latency_ms": done.latency_ms,
        "error": None,
    }


def run_item(
    index: int,
    row: dict[str, Any],
    criteria: list[Criterion],
    ctx: GradingContext,
    plan: SamplingPlan | None,
    completer: Completer | None,
    sleep: Callable[[float], None] = time.sleep,
) -> ItemOutcome:
    """Grade one row. ``row`` is ``{"item": {...}, "sample"?: {...}}``; with a ``plan`` the
    sample is generated. Provider and judge failures make the item ``error``, never the run."""
    raw_item, raw_sample = row.get("item"), row.get("sample")
    item: dict[str, Any] = raw_item if isinstance(raw_item, dict) else {}
    outcome = ItemOutcome(index, item, ItemStatus.ERROR)
    try:
        if plan is not None and completer is not None:
            request = ChatRequest(
                model=plan.model,
                messages=prompt_for(plan, item),
                max_completion_tokens=plan.max_completion_tokens,
                temperature=plan.temperature,
                top_p=plan.top_p,
                seed=plan.seed,
                response_format=plan.response_format,
                tools=plan.tools,
            )
            done = complete(completer, request, sleep)
            outcome.sample = _sample_record(request, done)
            outcome.usage[done.model] = ModelUsage(
                1, done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.cached_tokens
            )
            sample = Sample(done.text, done.tool_calls, done.finish_reason)
        else:
            supplied: dict[str, Any] = raw_sample if isinstance(raw_sample, dict) else {}
            sample = Sample.from_row(supplied)
            outcome.sample = supplied or None
        for criterion in criteria:
            result = grade(criterion.grader, item, sample, ctx, name=criterion.id)
            outcome.results.append(result)
            for model, used in result.judge_usage.items():
                outcome.usage.setdefault(model, ModelUsage()).add(_judge_usage(used))
    except (ProviderError, GraderUnavailable, TemplateError) as exc:
        outcome.error = str(exc)[:2000]
        return outcome
    passed = all(r.passed for r in outcome.results)
    outcome.status = ItemStatus.PASS if passed else ItemStatus.FAIL
    return outcome


def _judge_usage(used: JudgeUsage) -> ModelUsage:
    return ModelUsage(used.invocation_count, used.prompt_tokens, used.completion_tokens, 0)
