"""The studies pages in a real browser: the list, one study's verdict, leaderboard (intervals,
gates, paired delta, costs, break-even), the quality-vs-monthly-cost chart, and the links to
each job, each eval run and the winner-vs-best-baseline item browser.

The leaderboard is built by the study's own ``build_leaderboard`` over runs graded by the real
graders (``tests.dashboard.eval_seed``, as on the evaluations page test), with the catalog's
real serving prices."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.catalog import find_model
from service.db.database import Database
from service.db.models import EvalRun, EvalRunOutputItem, File, Job, Study
from service.studies.leaderboard import Entry, build_leaderboard
from tests.dashboard.conftest import Dashboard, Screenshot, log_in
from tests.dashboard.eval_seed import STORED_CRITERIA, SeededEval
from tests.dashboard.test_dashboard import chart_data

pytestmark = pytest.mark.browser

SPEC = {
    "testing_criteria": STORED_CRITERIA,
    "primary": "exact",
    "gates": {},
    "budget": "25",
    "volume": 100_000,
    "horizon_months": 6,
}


def _entry(
    session: Session, role: str, label: str, run_id: str, provider: str, model: str
) -> Entry:
    run = session.get(EvalRun, run_id)
    assert run is not None
    items = {
        item.datasource_item_id: item
        for item in session.scalars(
            select(EvalRunOutputItem).where(EvalRunOutputItem.run_id == run_id)
        )
    }
    return Entry(role, label, model, provider, find_model(provider, model), run, items)


def _study(session: Session, seeded: SeededEval) -> Study:
    job = session.get(Job, seeded.job_id)
    assert job is not None
    training = session.get(File, job.training_file_id)
    assert training is not None
    base = _entry(session, "baseline", "zero-shot", seeded.base_run, "together", job.model)
    tuned = _entry(session, "candidate", "candidate 1", seeded.tuned_run, "together", job.model)
    tuned.job_id, tuned.training_cost = job.id, Decimal("3.20")
    criterion_ids = [str(c["id"]) for c in STORED_CRITERIA]
    board = build_leaderboard(
        SPEC, [base, tuned], today=date(2026, 11, 29), criterion_ids=criterion_ids
    )
    study = Study(
        tenant_id=job.tenant_id,
        name="capitals study",
        status="completed",
        spec=SPEC,
        training_file_id=training.id,
        train_file_id=training.id,
        test_file_id=training.id,
        quote={
            "total": {"amount": "4.10", "currency": "USD"},
            "parts": [],
            "budget": {"amount": "25", "currency": "USD"},
            "test_items": 16,
            "train_examples": 120,
        },
        candidates=[
            {"model": job.model, "provider": "together", "job_id": job.id, "status": "succeeded"},
            {
                "model": "fireworks/accounts/fireworks/models/llama-v3p1-8b-instruct",
                "provider": "fireworks",
                "label": "candidate 1 as on fireworks",
                "as_on": "fireworks",
                "status": "refused",
            },
        ],
        evaluation={"eval_id": seeded.eval_id, "runs": []},
        leaderboard=board.rows,
        verdict=board.verdict,
    )
    session.add(study)
    session.flush()
    return study


def test_studies_pages(
    page: Page,
    dashboard: Dashboard,
    screenshot: Screenshot,
    committed_db: Database,
    seeded_eval: SeededEval,
) -> None:
    with committed_db.sessions() as session:
        study = _study(session, seeded_eval)
        session.commit()
        study_id = study.id
    log_in(page, dashboard.data.admin_key)

    page.get_by_role("link", name="Studies", exact=True).click()
    row = page.locator(f'#studies-table tr[data-study-id="{study_id}"]')
    expect(row).to_contain_text("winner: candidate 1")
    row.get_by_role("link", name="capitals study").click()
    expect(page).to_have_url(re.compile(rf"/admin/studies/{study_id}$"))

    expect(page.locator("#verdict-text")).to_contain_text("candidate 1")
    candidate = page.locator('#leaderboard-table tr[data-row="candidate 1"]')
    expect(candidate).to_contain_text("0.938")  # 15 of 16 exact, with its interval
    expect(candidate).to_contain_text("better")  # paired delta against the zero-shot baseline
    expect(candidate).to_contain_text("$3.20")  # training cost from the ledger's figure
    # p50/p95 (numpy, linear) of the stand-ins' stepped latencies: 100 + 20·i ms, i < 16
    expect(candidate).to_contain_text("250 / 385 ms")
    baseline = page.locator('#leaderboard-table tr[data-row="zero-shot"]')
    expect(baseline).to_contain_text("0.000")
    expect(baseline).to_contain_text("600 / 870 ms")  # 300 + 40·i ms
    expect(candidate.get_by_role("link", name="job")).to_have_attribute(
        "href", f"/admin/jobs/{seeded_eval.job_id}"
    )

    expect(page.locator("#candidates-table")).to_contain_text("candidate 1 as on fireworks")
    drawn = chart_data(page, "cost-quality")
    assert drawn["drawn"] and {d["label"] for d in drawn["plotted"]} == {
        "baseline: zero-shot",
        "candidate: candidate 1",
    }
    screenshot(page, "study")

    page.locator("#compare-winner").click()
    expect(page).to_have_url(
        re.compile(rf"/runs/{seeded_eval.tuned_run}\?against={seeded_eval.base_run}$")
    )
    expect(page.locator('#comparison-table tr[data-criterion="all"]')).to_contain_text("better")

    missing = page.goto("/admin/studies/study_nope")
    assert missing is not None and missing.status == 404


def _attach(db: Database, seeded: SeededEval, status: str) -> None:
    """The seeded study as the evaluation attached to the seeded succeeded job, ``status``."""
    with db.sessions() as session:
        study = _study(session, seeded)
        study.status = status
        study.spec = {**SPEC, "job_id": seeded.job_id}
        study.evaluation = {
            "eval_id": seeded.eval_id,
            "runs": [
                {"role": "baseline", "label": "zero-shot", "run_id": seeded.base_run},
                {"role": "candidate", "label": "candidate 1", "run_id": seeded.tuned_run},
            ],
        }
        if status != "completed":
            study.leaderboard, study.verdict = None, None
        job = session.get(Job, seeded.job_id)
        assert job is not None
        job.evaluation_study_id = study.id
        session.commit()


def test_a_jobs_page_shows_its_evaluation(
    page: Page,
    dashboard: Dashboard,
    screenshot: Screenshot,
    committed_db: Database,
    seeded_eval: SeededEval,
) -> None:
    """A job created with ``evaluation``: its page shows the attached study's status, verdict,
    the comparison against the best baseline with its interval, each model's results and links
    to the eval runs' pages (the same leaderboard as above, attached to the job)."""
    _attach(committed_db, seeded_eval, "completed")
    log_in(page, dashboard.data.admin_key)
    page.goto(f"/admin/jobs/{seeded_eval.job_id}")

    card = page.locator("#job-evaluation-card")
    expect(card.locator("#evaluation-status")).to_have_text("completed")
    expect(card.locator("#evaluation-verdict")).to_contain_text("winner")
    comparison = card.locator("#evaluation-comparison")
    expect(comparison).to_contain_text("zero-shot")  # the best (here the only) baseline
    expect(comparison).to_contain_text("better")
    expect(comparison).to_contain_text(re.compile(r"Δ \+0\.938 95% CI \[\+0\.\d{3}, \+\d\.\d{3}\]"))
    tuned = card.locator('#evaluation-results tr[data-row="candidate 1"]')
    expect(tuned).to_contain_text("0.938")  # 15 of 16 exact, with its interval
    expect(tuned).to_contain_text("completed")
    expect(card.locator('#evaluation-results tr[data-row="zero-shot"]')).to_contain_text("0.000")
    expect(tuned.get_by_role("link", name=seeded_eval.tuned_run)).to_have_attribute(
        "href", f"/admin/evals/{seeded_eval.eval_id}/runs/{seeded_eval.tuned_run}"
    )
    screenshot(page, "job-evaluation")

    card.locator("#evaluation-compare").click()
    expect(page).to_have_url(
        re.compile(rf"/runs/{seeded_eval.tuned_run}\?against={seeded_eval.base_run}$")
    )
    expect(page.locator('#comparison-table tr[data-criterion="all"]')).to_contain_text("better")


def test_cancel_on_a_succeeded_jobs_page_cancels_its_running_evaluation(
    page: Page, dashboard: Dashboard, committed_db: Database, seeded_eval: SeededEval
) -> None:
    _attach(committed_db, seeded_eval, "evaluating")
    log_in(page, dashboard.data.admin_key)
    page.goto(f"/admin/jobs/{seeded_eval.job_id}")
    expect(page.locator("#evaluation-status")).to_have_text("running")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    page.get_by_role("button", name="Cancel evaluation").click()
    expect(page.locator(".flash-ok")).to_contain_text("the job stays succeeded")
    expect(page.locator("#job-status")).to_have_text("succeeded")
    expect(page.locator("#evaluation-status")).to_have_text("cancelled")
    expect(page.locator("#evaluation-error")).to_contain_text("evaluation_cancelled")
    expect(page.get_by_role("button", name="Cancel evaluation")).to_have_count(0)
