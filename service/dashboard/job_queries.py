"""Read-only SQL for the jobs table and one job's page, across every tenant."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from providers.base import JobStatus
from service.db.models import (
    Checkpoint,
    CostLedgerEntry,
    File,
    Job,
    JobEvent,
    Metric,
    Tenant,
)

SortKey = Literal["created", "status", "provider", "model", "tenant", "cost", "estimated_cost"]
SORT_KEYS: tuple[str, ...] = (
    "created",
    "status",
    "provider",
    "model",
    "tenant",
    "cost",
    "estimated_cost",
)
PAGE_SIZE = 25
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])
MAX_EVENTS = 500


@dataclass(frozen=True)
class JobFilters:
    status: JobStatus | None = None
    provider: str | None = None
    tenant_id: str | None = None
    model: str | None = None  # a case-insensitive substring
    created_from: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class JobRow:
    job: Job
    tenant_name: str


@dataclass(frozen=True)
class JobPage:
    rows: list[JobRow]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class JobDetail:
    job: Job
    tenant_name: str
    events: list[JobEvent]  # oldest first
    checkpoints: list[Checkpoint]
    ledger: list[CostLedgerEntry]
    files: dict[str, File]
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def _sort_column(sort: SortKey) -> InstrumentedAttribute[Any]:
    columns: dict[str, InstrumentedAttribute[Any]] = {
        "created": Job.created_at,
        "status": Job.status,
        "provider": Job.provider,
        "model": Job.model,
        "tenant": Tenant.name,
        "cost": Job.cost,
        "estimated_cost": Job.estimated_cost,
    }
    return columns[sort]


def _filtered(query: _Query, filters: JobFilters) -> _Query:
    if filters.status:
        query = query.where(Job.status == filters.status)
    if filters.provider:
        query = query.where(Job.provider == filters.provider)
    if filters.tenant_id:
        query = query.where(Job.tenant_id == filters.tenant_id)
    if filters.model:
        pattern = "%" + filters.model.lower().replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(func.lower(Job.model).like(pattern, escape="\\"))
    if filters.created_from:
        query = query.where(Job.created_at >= filters.created_from)
    if filters.created_before:
        query = query.where(Job.created_at < filters.created_before)
    return query


class DashboardJobQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def page(self, filters: JobFilters, *, sort: SortKey, descending: bool, page: int) -> JobPage:
        base = select(Job, Tenant.name).join(Tenant, Tenant.id == Job.tenant_id)
        base = _filtered(base, filters)
        total = int(
            self.session.scalar(_filtered(select(func.count()).select_from(Job), filters)) or 0
        )
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(page, 1), pages)
        column = _sort_column(sort)
        order = (column.desc() if descending else column.asc()).nulls_last()
        tiebreak = Job.id.desc() if descending else Job.id.asc()
        rows = self.session.execute(
            base.order_by(order, tiebreak).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        ).all()
        return JobPage(
            rows=[JobRow(job=job, tenant_name=name) for job, name in rows],
            total=total,
            page=page,
            pages=pages,
        )

    def distinct_values(self) -> dict[str, list[str]]:
        """The statuses and providers that occur, for the filter drop-downs."""
        return {
            "status": sorted(self.session.scalars(select(Job.status).distinct())),
            "provider": sorted(self.session.scalars(select(Job.provider).distinct())),
        }

    def tenants(self) -> list[tuple[str, str]]:
        return [
            (tenant_id, name)
            for tenant_id, name in self.session.execute(
                select(Tenant.id, Tenant.name).order_by(Tenant.name)
            )
        ]

    def detail(self, job_id: str) -> JobDetail | None:
        found = self.session.execute(
            select(Job, Tenant.name)
            .join(Tenant, Tenant.id == Job.tenant_id)
            .where(Job.id == job_id)
        ).first()
        if found is None:
            return None
        job: Job = found[0]
        tenant_name: str = found[1]
        events = list(
            self.session.scalars(
                select(JobEvent)
                .where(JobEvent.job_id == job_id)
                .order_by(JobEvent.seq.desc())
                .limit(MAX_EVENTS)
            )
        )
        events.reverse()
        checkpoints = list(
            self.session.scalars(
                select(Checkpoint).where(Checkpoint.job_id == job_id).order_by(Checkpoint.step)
            )
        )
        ledger = list(
            self.session.scalars(
                select(CostLedgerEntry)
                .where(CostLedgerEntry.job_id == job_id)
                .order_by(CostLedgerEntry.occurred_at)
            )
        )
        file_ids = [i for i in (job.training_file_id, job.validation_file_id) if i]
        files = {f.id: f for f in self.session.scalars(select(File).where(File.id.in_(file_ids)))}
        return JobDetail(
            job=job,
            tenant_name=tenant_name,
            events=events,
            checkpoints=checkpoints,
            ledger=ledger,
            files=files,
            series=self.metric_series(job_id),
        )

    def metric_series(self, job_id: str) -> dict[str, list[tuple[int, float]]]:
        """Every metric of the job as ``name -> [(step, value), ...]`` in step order."""
        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        rows = self.session.execute(
            select(Metric.name, Metric.step, Metric.value)
            .where(Metric.job_id == job_id)
            .order_by(Metric.name, Metric.step)
        )
        for name, step, value in rows:
            series[str(name)].append((int(step), float(value)))
        return dict(series)

    def event_count(self, job_id: str) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(JobEvent).where(JobEvent.job_id == job_id)
            )
            or 0
        )

    def job(self, job_id: str) -> Job | None:
        return self.session.get(Job, job_id)
