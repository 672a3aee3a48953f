"""The evaluations pages in a real browser: an eval's runs, one run's per-criterion results with
intervals, the paired comparison with another run, the item browser (input, expected, both
models' outputs side by side), and the job page's link to the runs of its model.

The runs are seeded by ``tests.dashboard.eval_seed``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import Dashboard, Screenshot, log_in
from tests.dashboard.eval_seed import SeededEval

pytestmark = pytest.mark.browser


def test_evaluations_pages(
    page: Page, dashboard: Dashboard, screenshot: Screenshot, seeded_eval: SeededEval
) -> None:
    log_in(page, dashboard.data.admin_key)

    page.get_by_role("link", name="Evaluations", exact=True).click()
    card = page.locator(f'[data-eval-id="{seeded_eval.eval_id}"]')
    expect(card).to_contain_text("capitals")
    expect(card.locator(f'[data-run-id="{seeded_eval.tuned_run}"]')).to_contain_text("15")
    expect(card.locator(f'[data-run-id="{seeded_eval.base_run}"]')).to_contain_text("0")
    screenshot(page, "evals")

    card.get_by_role("link", name="tuned").click()
    expect(page).to_have_url(
        re.compile(rf"/admin/evals/{seeded_eval.eval_id}/runs/{seeded_eval.tuned_run}")
    )
    expect(page.locator("#run-counts")).to_have_text("16 total · 15 passed · 1 failed · 0 errored")
    exact = page.locator('#criteria-table tr[data-criterion="exact-1"]')
    expect(exact).to_contain_text("94%")  # 15/16, with its Wilson interval beside it
    expect(exact).to_contain_text("[")
    expect(page.locator('#criteria-table tr[data-criterion="format-2"]')).to_contain_text("100%")

    page.get_by_label("Other run", exact=True).select_option(seeded_eval.base_run)
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

    page.goto(f"/admin/jobs/{seeded_eval.job_id}")
    runs = page.locator("#job-evals")
    expect(runs).to_contain_text("tuned")
    expect(runs).to_contain_text("15 / 16")
    expect(runs).not_to_contain_text("base")

    missing = page.goto(f"/admin/evals/{seeded_eval.eval_id}/runs/evalrun_nope")
    assert missing is not None and missing.status == 404
    bad = page.goto(f"/admin/evals/{seeded_eval.eval_id}/runs/{seeded_eval.tuned_run}?status=maybe")
    assert bad is not None and bad.status == 400
