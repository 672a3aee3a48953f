"""The admin dashboard in a real browser (Debian's headless Chromium) against a live tuneforge
with seeded data: login, every page, filters, curves, and the operator's actions."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from service.db.database import Database
from service.db.models import Job, OutboxMessage
from service.db.types import utcnow
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.cancel import cancel_job as cancel_at_provider
from service.jobs.lifecycle.steps import POLL_TASK, next_task
from tests.dashboard.conftest import Dashboard, Screenshot, log_in
from tests.dashboard.seed import FILLER_JOBS, LOSS_STEPS, train_loss

pytestmark = pytest.mark.browser


def chart_data(page: Page, chart_id: str) -> dict[str, Any]:
    """What the chart was drawn with: the page's ``window.__charts`` entry (set by the script
    only after Chart.js built the chart) and the series it plotted."""
    page.wait_for_function("(id) => window.__charts && window.__charts[id]", arg=chart_id)
    entry: dict[str, Any] = page.evaluate(
        """(id) => {
            const e = window.__charts[id];
            return e && {drawn: e.drawn, spec: e.spec,
                         plotted: e.chart.data.datasets.map(d => ({label: d.label, data: d.data}))};
        }""",
        chart_id,
    )
    return entry


def test_login_pages_and_loss_curve(
    page: Page, dashboard: Dashboard, screenshot: Screenshot
) -> None:
    page.goto("/admin/jobs")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/jobs"))
    screenshot(page, "login")
    page.get_by_label("Admin API key").fill(dashboard.data.admin_key)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/jobs$"))
    expect(page.locator("#jobs-count")).to_have_text(f"{FILLER_JOBS + 5} jobs.")

    page.goto("/admin")
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.locator('[data-status-count="running"]')).to_have_text("1")
    expect(page.locator("#running-table")).to_contain_text(dashboard.data.running_job_id)
    failures = page.locator("section", has=page.locator("#failures"))
    expect(failures).to_contain_text("Line 12: messages is empty.")
    expect(page.locator("section", has=page.locator("#spend-month"))).to_contain_text("acme")
    screenshot(page, "overview")
    running = page.request.get("/admin/api/running").json()["jobs"]  # what the table polls
    assert [(j["id"], j["last_step"]) for j in running] == [(dashboard.data.running_job_id, 8)]

    # Filter: status and provider narrow the table to the one failed Fireworks job.
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_label("Status").select_option("failed")
    page.get_by_label("Provider").select_option("fireworks")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#jobs-count")).to_have_text("1 job matches the filters.")
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(dashboard.data.failed_job_id)
    page.get_by_label("Status").select_option("")
    page.get_by_label("Provider").select_option("")
    page.get_by_label("Model contains").fill("llama")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#jobs-count")).to_have_text("3 jobs match the filters.")
    page.goto("/admin/jobs")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(25)
    expect(page.get_by_text("Page 1 of 2", exact=True)).to_be_visible()
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("#jobs-table tbody tr")).to_have_count(FILLER_JOBS + 5 - 25)
    page.goto("/admin/jobs")
    screenshot(page, "jobs")
    page.get_by_role("link", name="Estimate").click()
    page.get_by_role("link", name="Estimate").click()  # second click: ascending
    expect(page.locator("#jobs-table tbody tr").first.locator("td").nth(6)).to_have_text("$0.05")

    # Job page: the loss curve is drawn from the job's metric rows.
    page.goto("/admin/jobs")
    page.get_by_role("link", name=dashboard.data.succeeded_job_id).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(dashboard.data.succeeded_job_id)
    page.wait_for_function(
        "() => window.__charts && window.__charts.loss && window.__charts.loss.drawn"
    )
    loss = chart_data(page, "loss")
    plotted = {d["label"]: d["data"] for d in loss["plotted"]}
    assert sorted(plotted) == ["train_loss", "valid_loss"]
    assert plotted["train_loss"] == [{"x": s, "y": train_loss(s)} for s in range(1, LOSS_STEPS + 1)]
    ys = [p["y"] for p in plotted["train_loss"]]
    assert ys == sorted(ys, reverse=True) and ys[0] > 2 * ys[-1]
    assert [p["x"] for p in plotted["valid_loss"]] == [5, 10, 15, 20]
    accuracy = chart_data(page, "accuracy")
    assert accuracy["drawn"] and len(accuracy["plotted"]) == 2
    attribute = json.loads(page.locator("#chart-loss").get_attribute("data-series") or "{}")
    assert attribute["series"]["train_loss"][0] == [1, train_loss(1)]
    expect(page.locator("#estimated-cost")).to_have_text("$1.20")
    expect(page.locator("#actual-cost")).to_have_text("$1.05")
    expect(page.locator("#checkpoints ~ div table")).to_contain_text("ckpt-step-20")
    expect(page.locator(".timeline li")).to_have_count(3)
    screenshot(page, "job")

    page.get_by_role("link", name="Spend").click()
    spend = chart_data(page, "spend-provider")
    assert spend["drawn"]
    assert spend["spec"]["series"]["together"][-1] == pytest.approx(1.05)
    assert spend["spec"]["series"]["openai"][-2] == pytest.approx(0.55 * FILLER_JOBS)
    by_tenant = chart_data(page, "spend-tenant")["spec"]["series"]
    assert by_tenant["acme"][-1] == pytest.approx(1.05)
    expect(page.locator("#spend-tenant")).to_contain_text("globex")
    expect(page.locator("#estimate-accuracy")).to_contain_text("1.10×")
    screenshot(page, "spend")

    page.get_by_role("link", name="Providers").click()
    expect(page.locator("#lifecycle-warnings")).to_contain_text("mistral/open-mistral-7b")
    expect(page.locator("#lifecycle-warnings")).to_contain_text("retired")
    expect(page.locator("table.catalog").first).to_contain_text("openai.com/api/pricing")
    screenshot(page, "providers")

    page.get_by_role("link", name="Webhooks").click()
    expect(page.locator("#endpoints-table")).to_contain_text(
        "Disabled after failing for 5 days (last: HTTP 503)."
    )
    screenshot(page, "webhooks")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/login"))


def test_cancel_a_running_job_reaches_the_provider(
    page: Page, dashboard: Dashboard, committed_db: Database
) -> None:
    log_in(page, dashboard.data.admin_key)
    job_id = dashboard.data.running_job_id
    page.goto(f"/admin/jobs/{job_id}")
    expect(page.locator("#job-status")).to_have_text("running")
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator(".flash-ok")).to_contain_text("Cancellation of")
    expect(page.locator("#cancel-requested")).to_be_visible()
    # What the worker's tuneforge.cancel_job task runs: the cancel reaches the emulator.
    cancel_at_provider(committed_db.sessions, dashboard.settings, job_id, adapter_for)
    # The open page polls the job and reloads itself when the status changes.
    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=15_000)
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    expect(page.locator(".timeline")).to_contain_text("cancelled")


def test_retry_a_failed_launch_then_cancel_before_launch(
    page: Page, dashboard: Dashboard, committed_db: Database
) -> None:
    log_in(page, dashboard.data.admin_key)
    job_id = dashboard.data.queued_job_id
    page.goto(f"/admin/jobs/{job_id}")
    expect(page.locator(".timeline")).to_contain_text("Launch attempt 2 failed")
    page.get_by_role("button", name="Retry launch now").click()
    expect(page.locator(".flash-ok")).to_have_text(f"Launch of {job_id} queued to run now.")
    with committed_db.sessions() as session:
        tasks = session.scalars(
            select(OutboxMessage.task).where(OutboxMessage.target_id == job_id)
        ).all()
        job = session.get(Job, job_id)
        assert job is not None and job.next_poll_at is not None
        assert job.next_poll_at <= utcnow()
        launch = next_task(job)  # a local job's launch is the gpu queue's train task
    assert tasks == [launch] and launch != POLL_TASK
    # The launch has not run (no worker here): cancelling now stops it before the provider.
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator(".flash-ok")).to_have_text(
        f"Job {dashboard.data.queued_job_id} is cancelled."
    )
    expect(page.locator("#job-status")).to_have_text("cancelled")


def test_redeliver_a_failed_webhook(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.data.admin_key)
    page.goto(f"/admin/jobs/{dashboard.data.running_job_id}")
    delivery = page.locator(f'[data-delivery-id="{dashboard.data.failed_delivery_id}"]')
    expect(delivery.locator("[data-delivery-status]")).to_have_text("failed")
    delivery.get_by_text("Attempt log (2)").click()
    expect(delivery).to_contain_text("timed out after 15s")
    delivery.get_by_role("button", name="Redeliver").click()
    expect(page.locator(".flash-ok")).to_contain_text("queued for redelivery")
    expect(page).to_have_url(re.compile(f"/admin/jobs/{dashboard.data.running_job_id}$"))
    expect(delivery.locator("[data-delivery-status]")).to_have_text("pending")


def test_non_operator_key_and_bad_key_are_refused(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.data.user_key)
    expect(page.get_by_role("alert")).to_contain_text("not an operator key")
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    log_in(page, "sk-not-a-key")
    expect(page.get_by_role("alert")).to_have_text("Incorrect API key.")
    response = page.request.get("/admin/api/running")
    assert response.status == 401


def test_post_without_csrf_token_is_refused(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.data.admin_key)
    expect(page).to_have_url(re.compile(r"/admin$"))
    job_id = dashboard.data.queued_job_id
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=dashboard.base_url, cookies=cookies) as client:
        refused = client.post(f"/admin/jobs/{job_id}/cancel", data={})
        assert refused.status_code == 403
        forged = client.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": "guess"})
        assert forged.status_code == 403
        assert "security token" in forged.text
        state = client.get(f"/admin/api/jobs/{job_id}").json()
    assert state["status"] == "queued"
    # Without the login form's own token, a login attempt is refused too.
    with httpx.Client(base_url=dashboard.base_url) as client:
        login = client.post("/admin/login", data={"api_key": dashboard.data.admin_key})
    assert login.status_code == 403 and "tuneforge_admin=" not in login.headers.get(
        "set-cookie", ""
    )


def test_session_cookie_flags(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.data.admin_key)
    (session,) = [c for c in page.context.cookies() if c["name"] == "tuneforge_admin"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert session["path"] == "/admin"
    assert not session["secure"]  # plain http on loopback; Secure is set when served over https
    assert page.evaluate("document.cookie") == ""
