"""A grader's judge through the same provider edge as sampling: any chat model we can reach
(its adapter's ``chat_completion``), with the same Retry-After handling as items."""

from __future__ import annotations

import time
from collections.abc import Callable

from providers.base import ChatRequest
from service.evals.graders.judges import Judge, JudgeReply, JudgeRequest
from service.evals.runs.items import Completer, complete


def judge_with(completer: Completer, sleep: Callable[[float], None] = time.sleep) -> Judge:
    def judge(request: JudgeRequest) -> JudgeReply:
        done = complete(
            completer,
            ChatRequest(
                model=request.model,
                messages=request.messages,
                response_format=request.response_format,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
                max_completion_tokens=request.max_completion_tokens,
            ),
            sleep,
        )
        return JudgeReply(done.text, done.usage.prompt_tokens, done.usage.completion_tokens)

    return judge
