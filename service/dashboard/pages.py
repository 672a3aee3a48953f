"""The dashboard's pages (GET only): parsing of filters and rendering; SQL lives in the
``*_queries`` modules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from providers.base import JobStatus
from service.api.deps import SessionDep, SettingsDep
from service.billing.catalog import service_catalog
from service.billing.catalog_view import providers_listing
from service.dashboard.auth import AdminDep, DashboardError
from service.dashboard.charts import job_charts, spend_chart
from service.dashboard.eval_queries import ITEM_STATUSES, DashboardEvalQueries
from service.dashboard.job_queries import (
    SORT_KEYS,
    DashboardJobQueries,
    JobFilters,
    SortKey,
)
from service.dashboard.overview_queries import OverviewQueries, day_ago
from service.dashboard.rendering import render
from service.dashboard.spend_queries import SpendQueries, recent_months
from service.dashboard.study_queries import (
    DashboardStudyQueries,
    cost_quality_chart,
    winner_and_best_baseline,
)
from service.dashboard.webhook_queries import WebhookQueries
from service.db.models import Job
from service.db.types import utcnow
from service.errors import TuneforgeError
from service.evals.runs.compare import Comparison, compare_runs
from service.jobs.api.evaluation import evaluation_object
from service.jobs.transitions import is_terminal
from service.webhooks.queries import DELIVERY_STATUSES, list_deliveries

router = APIRouter(prefix="/admin", include_in_schema=False)

STATUSES = ("validating_files", "queued", "running", "succeeded", "failed", "cancelled")


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request, admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    now = utcnow()
    queries = OverviewQueries(session)
    by_status = queries.counts_by_status()
    return render(
        request,
        settings,
        admin,
        "overview.html",
        section="overview",
        statuses=STATUSES,
        by_status=by_status,
        total=sum(by_status.values()),
        by_provider=queries.counts_by_provider_status(),
        running=queries.running(),
        failures=queries.failures_since(day_ago(now)),
        spend=queries.spend_this_month(now),
        month=f"{now.year:04d}-{now.month:02d}",
    )


def _day(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise DashboardError(
            400, "Bad filter", f"{field} must be a date like 2026-01-31, not {value!r}."
        ) from None
    return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


def _status(value: str) -> JobStatus | None:
    if not value:
        return None
    try:
        return JobStatus(value)
    except ValueError:
        known = ", ".join(JobStatus)
        raise DashboardError(
            400, "Bad filter", f"status must be one of {known}, not {value!r}."
        ) from None


@router.get("/jobs", response_class=HTMLResponse)
def jobs(
    request: Request,
    admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    status: str = "",
    provider: str = "",
    tenant: str = "",
    model: str = "",
    created_from: str = "",
    created_to: str = "",
    sort: str = "created",
    order: str = "desc",
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    until = _day(created_to, "created_to")
    filters = JobFilters(
        status=_status(status),
        provider=provider or None,
        tenant_id=tenant or None,
        model=model.strip() or None,
        created_from=_day(created_from, "created_from"),
        created_before=until + timedelta(days=1) if until else None,
    )
    sort_key: SortKey = sort if sort in SORT_KEYS else "created"  # type: ignore[assignment]
    queries = DashboardJobQueries(session)
    result = queries.page(filters, sort=sort_key, descending=order != "asc", page=page)
    params = {
        "status": status,
        "provider": provider,
        "tenant": tenant,
        "model": model,
        "created_from": created_from,
        "created_to": created_to,
    }
    options = queries.distinct_values()
    return render(
        request,
        settings,
        admin,
        "jobs.html",
        section="jobs",
        result=result,
        params=params,
        active_params={k: v for k, v in params.items() if v},
        sort=sort_key,
        order="asc" if order == "asc" else "desc",
        statuses=sorted(set(STATUSES) | set(options["status"])),
        providers=options["provider"],
        tenants=queries.tenants(),
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_detail(
    job_id: str, request: Request, admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    detail = DashboardJobQueries(session).detail(job_id)
    if detail is None:
        raise DashboardError(404, "Job not found", f"There is no job with id {job_id!r}.")
    job = detail.job
    deliveries = list_deliveries(session, job.tenant_id, job_id=job.id, limit=100).items
    study = job.evaluation_study
    evaluation = None if study is None else evaluation_object(study)
    return render(
        request,
        settings,
        admin,
        "job.html",
        section="jobs",
        detail=detail,
        job=job,
        charts=job_charts(detail.series),
        deliveries=deliveries,
        can_cancel=not is_terminal(job.status),
        can_retry_launch=_can_retry_launch(job),
        live=not is_terminal(job.status),
        is_terminal=is_terminal(job.status),
        booked=sum((entry.amount for entry in detail.ledger), Decimal(0)),
        eval_runs=DashboardEvalQueries(session).runs_of_job(job),
        evaluation=evaluation,
        # the job's cancel, once it has succeeded, cancels the evaluation still in progress
        can_cancel_evaluation=job.status == "succeeded"
        and evaluation is not None
        and evaluation["status"] in ("pending", "running"),
    )


def _can_retry_launch(job: Job) -> bool:
    """A launch that failed and waits for its backoff: tried, no provider job yet, active."""
    return not is_terminal(job.status) and job.provider_job_id is None and job.launch_attempts > 0


@router.get("/spend", response_class=HTMLResponse)
def spend(
    request: Request,
    admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    months: Annotated[int, Query(ge=1, le=24)] = 6,
) -> HTMLResponse:
    now = utcnow()
    window = recent_months(now, months)
    queries = SpendQueries(session)
    tables = queries.tables(window)
    return render(
        request,
        settings,
        admin,
        "spend.html",
        section="spend",
        tables=tables,
        months=months,
        spend_charts={table.dimension: spend_chart(table) for table in tables},
        accuracy=queries.estimate_accuracy(window[0][1]),
    )


@router.get("/providers", response_class=HTMLResponse)
def providers(
    request: Request, admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    catalog = service_catalog(settings)
    in_use = OverviewQueries(session).active_jobs_by_model()
    listing = providers_listing(settings)
    # every provider /v1/providers lists, local included even before its first model is found
    by_provider: dict[str, list[Any]] = {p["id"]: [] for p in listing}
    for info in sorted(catalog, key=lambda m: (m.provider, m.model)):
        by_provider.setdefault(info.provider, []).append(info)
    warnings = [
        (info, in_use.get((info.provider, info.model), 0))
        for info in catalog
        if info.lifecycle != "available"
    ]
    return render(
        request,
        settings,
        admin,
        "providers.html",
        section="providers",
        by_provider=by_provider,
        warnings=warnings,
        in_use=in_use,
        configured={p["id"]: p["configured"] for p in listing},
        local_models_dir=settings.local_models_dir,
    )


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks(
    request: Request,
    admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    status: str = "",
) -> HTMLResponse:
    queries = WebhookQueries(session)
    return render(
        request,
        settings,
        admin,
        "webhooks.html",
        section="webhooks",
        endpoints=queries.endpoints(),
        deliveries=queries.recent_deliveries(status or None),
        status=status,
        delivery_statuses=DELIVERY_STATUSES,
    )


@router.get("/evals", response_class=HTMLResponse)
def evals(
    request: Request, admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    return render(
        request,
        settings,
        admin,
        "evals.html",
        section="evals",
        rows=DashboardEvalQueries(session).evals(),
    )


@router.get("/evals/{eval_id}/runs/{run_id}", response_class=HTMLResponse)
def eval_run(
    eval_id: str,
    run_id: str,
    request: Request,
    admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    against: str = "",
    status: str = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    queries = DashboardEvalQueries(session)
    found = queries.run(eval_id, run_id)
    if found is None:
        raise DashboardError(404, "Run not found", f"Eval {eval_id!r} has no run {run_id!r}.")
    run, evaluation, tenant_name = found
    if status and status not in ITEM_STATUSES:
        raise DashboardError(
            400, "Bad filter", f"status must be one of {', '.join(ITEM_STATUSES)}, not {status!r}."
        )
    siblings = queries.sibling_runs(run)
    other = next((r for r in siblings if r.id == against), None) if against else None
    if against and other is None:
        raise DashboardError(
            404, "Run not found", f"Eval {eval_id!r} has no other run {against!r} to compare with."
        )
    comparison: Comparison | None = None
    if other is not None:
        try:
            comparison = compare_runs(session, run.tenant_id, eval_id, run.id, other.id)
        except TuneforgeError:  # a run deleted meanwhile: show the page without the comparison
            comparison = None
    return render(
        request,
        settings,
        admin,
        "eval_run.html",
        section="evals",
        run=run,
        evaluation=evaluation,
        tenant_name=tenant_name,
        siblings=siblings,
        other=other,
        comparison=comparison,
        items=queries.items(run, other, status or None, page),
        status=status,
        item_statuses=ITEM_STATUSES,
    )


@router.get("/studies", response_class=HTMLResponse)
def studies(
    request: Request, admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    return render(
        request,
        settings,
        admin,
        "studies.html",
        section="studies",
        rows=DashboardStudyQueries(session).studies(),
    )


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_detail(
    study_id: str, request: Request, admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    found = DashboardStudyQueries(session).study(study_id)
    if found is None:
        raise DashboardError(404, "Study not found", f"There is no study with id {study_id!r}.")
    study = found.study
    winner, best = winner_and_best_baseline(study)
    return render(
        request,
        settings,
        admin,
        "study.html",
        section="studies",
        study=study,
        tenant_name=found.tenant_name,
        chart_spec=cost_quality_chart(study),
        winner=winner,
        best=best,
        eval_id=(study.evaluation or {}).get("eval_id"),
        criteria=[str(c.get("name")) for c in study.spec.get("testing_criteria", [])],
    )
