"""A graded eval for the evaluations and studies pages' browser tests: the capitals, run by
the dashboard's succeeded job's tuned model and by its base model.

The runs are graded by the real graders and summarised by the real statistics (``run_item``,
``summarize``); only the model is a deterministic stand-in that answers like a tuned model
(the right JSON) or a base model (prose), each call "taking" a stepped time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from providers.base import ChatCompletion, ChatRequest, ChatUsage
from service.db.models import Eval, EvalRun, Job
from service.evals.graders.grade import GradingContext
from service.evals.runs.items import SamplingPlan, criteria_of, run_item
from service.evals.runs.latency import timed
from service.evals.runs.stored import output_item
from service.evals.runs.summary import summarize
from tests.service.evals.criteria import EXACT, FORMAT

CITIES = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Peru": "Lima",
    "Kenya": "Nairobi",
    "Chile": "Santiago",
    "Egypt": "Cairo",
    "Spain": "Madrid",
    "Italy": "Rome",
    "Ghana": "Accra",
    "Nepal": "Kathmandu",
    "Cuba": "Havana",
    "Iran": "Tehran",
    "Oman": "Muscat",
    "Laos": "Vientiane",
    "Mali": "Bamako",
    "Chad": "N'Djamena",
}
STORED_CRITERIA: list[dict[str, Any]] = [EXACT, FORMAT]
TEMPLATE = [{"role": "user", "content": "Capital of {{item.country}}? Answer as JSON."}]


@dataclass(frozen=True)
class SeededEval:
    eval_id: str
    tuned_run: str
    base_run: str
    job_id: str


def _model(tuned: bool) -> Callable[[ChatRequest], ChatCompletion]:
    def answer(request: ChatRequest) -> ChatCompletion:
        country = str(request.messages[0]["content"]).split(" of ")[1].split("?")[0]
        text = (
            json.dumps({"city": CITIES[country]}) if tuned else f"I think it is {CITIES[country]}."
        )
        # The tuned stand-in gets one answer wrong, so the table is not all 100%.
        if tuned and country == "Chad":
            text = json.dumps({"city": "Ndjamena"})
        return ChatCompletion(request.model, text, usage=ChatUsage(12, 6))

    return answer


def _run(
    session: Session, evaluation: Eval, model: str, name: str, tuned: bool, wordnet: Path
) -> EvalRun:
    criteria = criteria_of(STORED_CRITERIA)
    run = EvalRun(
        tenant_id=evaluation.tenant_id,
        eval_id=evaluation.id,
        status="completed",
        name=name,
        model=model,
        provider="openai",
        data_source={"type": "completions", "model": model},
    )
    session.add(run)
    session.flush()
    plan = SamplingPlan(model=model, template=TEMPLATE)
    outcomes = []
    for index, (country, city) in enumerate(CITIES.items()):
        row = {"item": {"country": country, "answer": json.dumps({"city": city})}}
        # each call "takes" 100 + 20·i ms (tuned) or 300 + 40·i ms (base) on a stepped clock
        ticks = iter([0.0, (100 + 20 * index if tuned else 300 + 40 * index) / 1000])
        answer = timed(_model(tuned), clock=ticks.__next__)
        outcome = run_item(
            index, row, criteria, GradingContext(wordnet), plan, answer, lambda _: None
        )
        outcomes.append(outcome)
        session.add(output_item(evaluation.tenant_id, evaluation.id, run.id, outcome))
    summary = summarize(outcomes, criteria)
    run.result_counts = summary.result_counts
    run.per_model_usage = summary.per_model_usage
    run.per_testing_criteria_results = summary.per_testing_criteria_results
    run.statistics = summary.statistics
    return run


def seed_eval(session: Session, job_id: str, wordnet: Path) -> SeededEval:
    """An eval of the capitals with a completed run of the dashboard's succeeded job's tuned
    model (15 of 16 right) and one of its base model (prose: none right); ``job_id`` is a
    succeeded job's."""
    job = session.get(Job, job_id)
    assert job is not None and job.fine_tuned_model
    evaluation = Eval(
        tenant_id=job.tenant_id,
        name="capitals",
        data_source_config={"type": "custom", "item_schema": {"type": "object"}},
        testing_criteria=STORED_CRITERIA,
    )
    session.add(evaluation)
    session.flush()
    tuned = _run(session, evaluation, job.fine_tuned_model, "tuned", True, wordnet)
    base = _run(session, evaluation, job.model, "base", False, wordnet)
    return SeededEval(evaluation.id, tuned.id, base.id, job.id)
