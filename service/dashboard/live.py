"""Small JSON reads under ``/admin/api`` (session-cookie authenticated) that the pages poll to
refresh running jobs and curves without a full reload."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import SessionDep
from service.dashboard.auth import AdminDep
from service.dashboard.charts import job_charts
from service.dashboard.job_queries import DashboardJobQueries
from service.dashboard.overview_queries import OverviewQueries
from service.dashboard.rendering import iso, money, when
from service.jobs.transitions import is_terminal

router = APIRouter(prefix="/admin/api", include_in_schema=False)

RECENT_EVENTS = 20


def _no_store(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/running")
def running_jobs(admin: AdminDep, session: SessionDep) -> JSONResponse:
    return _no_store(
        {
            "jobs": [
                {
                    "id": row.job.id,
                    "tenant": row.tenant_name,
                    "provider": row.job.provider,
                    "model": row.job.model,
                    "provider_status": row.job.provider_status,
                    "started_at": iso(row.job.started_at),
                    "started": when(row.job.started_at),
                    "last_step": row.last_step,
                    "last_train_loss": row.last_train_loss,
                    "cancel_requested": row.job.cancel_requested_at is not None,
                }
                for row in OverviewQueries(session).running()
            ]
        }
    )


@router.get("/jobs/{job_id}")
def job_state(job_id: str, admin: AdminDep, session: SessionDep) -> JSONResponse:
    queries = DashboardJobQueries(session)
    job = queries.job(job_id)
    if job is None:
        return _no_store({"error": f"no job {job_id!r}"}, status_code=404)
    return _no_store(
        {
            "id": job.id,
            "status": job.status,
            "provider_status": job.provider_status,
            "terminal": is_terminal(job.status),
            "cancel_requested": job.cancel_requested_at is not None,
            "cost": money(job.cost),
            "trained_tokens": job.trained_tokens,
            "charts": job_charts(queries.metric_series(job.id)),
            "event_count": queries.event_count(job.id),
        }
    )
