"""``score_model`` and ``label_model``: a chat model grades the sample.

The judge is any chat model tuneforge can reach; the caller supplies it as a ``Judge`` (the
provider edge does the call). We ask for OpenAI's structured answer, ``{"result": float,
"steps": [...]}`` for scores and ``{"label": str}`` for labels, with ``response_format``
and an instruction appended to the prompt (not every judge honours ``response_format``).
A score outside ``range`` is clipped into it; an answer we cannot read scores 0 and says why."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.evals.graders.sample import parse_json
from service.evals.graders.specs import InputMessage, LabelModelGrader, ScoreModelGrader
from service.evals.graders.templates import render


@dataclass(frozen=True)
class JudgeRequest:
    model: str
    messages: list[dict[str, str]]
    response_format: dict[str, Any]
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_completion_tokens: int | None = None


@dataclass(frozen=True)
class JudgeReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


Judge = Callable[[JudgeRequest], JudgeReply]


@dataclass
class Verdict:
    score: float
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _messages(inputs: list[InputMessage], context: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"role": m.role, "content": "\n".join(render(t, context) for t in m.template_texts())}
        for m in inputs
    ]


def _schema(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "strict": True,
            "schema": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


def score_with_model(
    grader: ScoreModelGrader, context: dict[str, Any], judge: Judge
) -> tuple[Verdict, JudgeReply]:
    low, high = grader.score_range()
    steps = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"description": {"type": "string"}, "conclusion": {"type": "string"}},
            "required": ["description", "conclusion"],
            "additionalProperties": False,
        },
    }
    instruction = (
        f'Answer only with a JSON object {{"result": <a number from {low:g} to {high:g}>, '
        '"steps": [{"description": "...", "conclusion": "..."}]}.'
    )
    params = grader.sampling_params
    request = JudgeRequest(
        model=grader.model,
        messages=[*_messages(grader.input, context), {"role": "system", "content": instruction}],
        response_format=_schema(
            "score", {"result": {"type": "number"}, "steps": steps}, ["result", "steps"]
        ),
        temperature=params.temperature if params else None,
        top_p=params.top_p if params else None,
        seed=params.seed if params else None,
        max_completion_tokens=params.max_completions_tokens if params else None,
    )
    reply = judge(request)
    answer = parse_json(reply.text)
    raw = answer.get("result") if isinstance(answer, dict) else answer
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return Verdict(0.0, False, {"output": reply.text[:2000]}, "model_grader_parse_error"), reply
    score = min(max(float(raw), low), high)
    threshold = grader.pass_threshold if grader.pass_threshold is not None else (low + high) / 2
    details = {"result": raw, "steps": answer.get("steps") if isinstance(answer, dict) else None}
    return Verdict(score, score >= threshold, details), reply


def label_with_model(
    grader: LabelModelGrader, context: dict[str, Any], judge: Judge
) -> tuple[Verdict, JudgeReply]:
    instruction = (
        "Answer only with a JSON object "
        + json.dumps({"label": f"one of {grader.labels}"}, ensure_ascii=False)
        + "."
    )
    request = JudgeRequest(
        model=grader.model,
        messages=[*_messages(grader.input, context), {"role": "system", "content": instruction}],
        response_format=_schema(
            "label", {"label": {"type": "string", "enum": grader.labels}}, ["label"]
        ),
    )
    reply = judge(request)
    answer = parse_json(reply.text)
    label = answer.get("label") if isinstance(answer, dict) else reply.text.strip()
    if label not in grader.labels:
        return Verdict(0.0, False, {"output": reply.text[:2000]}, "model_grader_parse_error"), reply
    passed = label in grader.passing_labels
    return Verdict(1.0 if passed else 0.0, passed, {"label": label}), reply
