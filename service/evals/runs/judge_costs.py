"""What the judges of ``score_model``/``label_model`` criteria will cost, before anything runs:
per judge model, one call per item and criterion (a ``multi``'s inner judges included) of the
prompt the grader would send — its messages rendered over the item, with the sampled answer
counted at the length given wherever the template names the sample, plus the instruction we
append — and ``max_completions_tokens`` of answer (``DEFAULT_JUDGE_COMPLETION_TOKENS`` when the
grader sets none). Prompt tokens are characters / 3, rounded up, plus 4 per message: an upper
bound for English, as the sampling estimate is."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from service.evals.graders.judges import (
    JudgeReply,
    JudgeRequest,
    label_with_model,
    score_with_model,
)
from service.evals.graders.sample import Sample
from service.evals.graders.specs import Grader, LabelModelGrader, MultiGrader, ScoreModelGrader
from service.evals.graders.templates import TemplateError
from service.evals.runs.routing import ModelRoute, inference_cost

DEFAULT_JUDGE_COMPLETION_TOKENS = 1024
CHARS_PER_TOKEN_BOUND = 3
TOKENS_PER_MESSAGE = 4
_ANSWER = "\u2063tuneforge-sampled-answer\u2063"
_graders: TypeAdapter[Any] = TypeAdapter(Grader)

JudgeSpec = ScoreModelGrader | LabelModelGrader


@dataclass(frozen=True)
class JudgeTokens:
    """What one judge model is expected to read and write over a run's items."""

    model: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def describe(self) -> str:
        return (
            f"{self.calls} judge calls x ({self.prompt_tokens // max(self.calls, 1)} prompt + "
            f"{self.completion_tokens // max(self.calls, 1)} completion tokens)"
        )


def _judges(criteria: Iterable[dict[str, Any]]) -> list[JudgeSpec]:
    found: list[JudgeSpec] = []
    for raw in criteria:
        grader = _graders.validate_python({k: v for k, v in raw.items() if k != "id"})
        inner = list(grader.graders.values()) if isinstance(grader, MultiGrader) else [grader]
        found.extend(g for g in inner if isinstance(g, ScoreModelGrader | LabelModelGrader))
    return found


def _request(grader: JudgeSpec, context: dict[str, Any]) -> JudgeRequest | None:
    """The request the grader would send over ``context`` (None: its template fails there, so
    it would score 0 without a call)."""
    seen: list[JudgeRequest] = []

    def capture(request: JudgeRequest) -> JudgeReply:
        seen.append(request)
        return JudgeReply("{}")

    try:
        if isinstance(grader, ScoreModelGrader):
            score_with_model(grader, context, capture)
        else:
            label_with_model(grader, context, capture)
    except TemplateError:
        return None
    return seen[0] if seen else None


def _prompt_tokens(request: JudgeRequest, answer_tokens: int) -> int:
    text = "".join(m["content"] for m in request.messages)
    answers = text.count(_ANSWER)
    chars = len(text) - answers * len(_ANSWER)
    return (
        math.ceil(chars / CHARS_PER_TOKEN_BOUND)
        + TOKENS_PER_MESSAGE * len(request.messages)
        + answers * answer_tokens
    )


def judge_tokens(
    criteria: Iterable[dict[str, Any]], items: Iterable[tuple[dict[str, Any], int]]
) -> list[JudgeTokens]:
    """Per judge model (first named first), the tokens its calls would use over ``items``:
    each an item and the length in tokens of the answer sampled for it. Empty when no
    criterion calls a model."""
    judges = _judges(criteria)
    if not judges:
        return []
    totals: dict[str, JudgeTokens] = {}
    sample = Sample(_ANSWER).context()
    for item, answer_tokens in items:
        context = {"item": item, "sample": sample}
        for grader in judges:
            request = _request(grader, context)
            if request is None:
                continue
            now = totals.get(grader.model, JudgeTokens(grader.model))
            totals[grader.model] = JudgeTokens(
                grader.model,
                now.calls + 1,
                now.prompt_tokens + _prompt_tokens(request, answer_tokens),
                now.completion_tokens
                + (request.max_completion_tokens or DEFAULT_JUDGE_COMPLETION_TOKENS),
            )
    return list(totals.values())


def judge_cost(route: ModelRoute, tokens: JudgeTokens) -> Decimal | None:
    """The judge's tokens at its route's inference price; None when unpriced."""
    return inference_cost(route, tokens.prompt_tokens, tokens.completion_tokens)
