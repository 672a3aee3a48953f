"""The evaluations pages in a real browser: an eval's runs, one run's per-criterion results with
intervals, the paired comparison with another run, the item browser (input, expected, both
models' outputs side by side), and the job page's link to the runs of its model.

The runs are graded by the real graders and summarised by the real statistics (``run_item``,
``summarize``); only the model is a deterministic stand-in that answers like a tuned model
(the right JSON) or a base model (prose)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from providers.base import ChatCompletion, ChatRequest, ChatUsage
from service.db.database import Database
from service.db.models import Eval, EvalRun, Job
from service.evals.graders.grade import GradingContext
from service.evals.runs.items import SamplingPlan, criteria_of, run_item
from service.evals.runs.latency import timed
from service.evals.runs.stored import output_item
from service.evals.runs.summary import summarize
from service.settings import Settings
from tests.dashboard.conftest import Dashboard, Screenshot, log_in

pytestmark = pytest.mark.browser

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
STORED_CRITERIA: list[dict[str, Any]] = [
    {
        "id": "exact-1",
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    },
    {
        "id": "format-2",
        "type": "json_schema",
        "name": "format",
        "schema": {"type": "object", "required": ["city"]},
    },
]
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


def _seed(session: Session, dashboard: Dashboard, wordnet: Path) -> SeededEval:
    job = session.get(Job, dashboard.data.succeeded_job_id)
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


def test_evaluations_pages(
    page: Page,
    dashboard: Dashboard,
    screenshot: Screenshot,
    committed_db: Database,
    settings: Settings,
) -> None:
    with committed_db.sessions() as session:
        seeded = _seed(session, dashboard, settings.wordnet_dir)
        session.commit()
    log_in(page, dashboard.data.admin_key)

    page.get_by_role("link", name="Evaluations", exact=True).click()
    card = page.locator(f'[data-eval-id="{seeded.eval_id}"]')
    expect(card).to_contain_text("capitals")
    expect(card.locator(f'[data-run-id="{seeded.tuned_run}"]')).to_contain_text("15")
    expect(card.locator(f'[data-run-id="{seeded.base_run}"]')).to_contain_text("0")
    screenshot(page, "evals")

    card.get_by_role("link", name="tuned").click()
    expect(page).to_have_url(re.compile(rf"/admin/evals/{seeded.eval_id}/runs/{seeded.tuned_run}"))
    expect(page.locator("#run-counts")).to_have_text("16 total · 15 passed · 1 failed · 0 errored")
    exact = page.locator('#criteria-table tr[data-criterion="exact-1"]')
    expect(exact).to_contain_text("94%")  # 15/16, with its Wilson interval beside it
    expect(exact).to_contain_text("[")
    expect(page.locator('#criteria-table tr[data-criterion="format-2"]')).to_contain_text("100%")

    page.get_by_label("Other run", exact=True).select_option(seeded.base_run)
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#paired-items")).to_contain_text("16 items")
    overall = page.locator('#comparison-table tr[data-criterion="all"]')
    expect(overall).to_contain_text("better")
    expect(page.locator('#comparison-table tr[data-criterion="format-2"]')).to_contain_text(
        "better"
    )
    chad = page.locator('[data-item-index="15"]')
    expect(chad.locator(".output-mine pre")).to_have_text('{"city": "Ndjamena"}')
    expect(chad.locator(".output-theirs pre")).to_have_text("I think it is N'Djamena.")
    expect(chad).to_contain_text("Capital of Chad? Answer as JSON.")
    screenshot(page, "eval-run-compare")

    page.get_by_label("Item status", exact=True).select_option("fail")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#item-browser article")).to_have_count(1)
    expect(page.locator("#item-browser article")).to_have_attribute("data-item-index", "15")

    page.goto(f"/admin/jobs/{seeded.job_id}")
    runs = page.locator("#job-evals")
    expect(runs).to_contain_text("tuned")
    expect(runs).to_contain_text("15 / 16")
    expect(runs).not_to_contain_text("base")

    missing = page.goto(f"/admin/evals/{seeded.eval_id}/runs/evalrun_nope")
    assert missing is not None and missing.status == 404
    bad = page.goto(f"/admin/evals/{seeded.eval_id}/runs/{seeded.tuned_run}?status=maybe")
    assert bad is not None and bad.status == 400
