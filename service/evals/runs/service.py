"""Eval runs: create (every check before anything is spent: the eval, the data source and its
rows against the item_schema, the models and their credentials, the tenant's quota and
budget), retrieve, list, cancel, delete; and a run's output items."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from service.billing.budget import BudgetExceeded, ensure_within_budget
from service.credentials.service import CredentialsMissing, credentials_for
from service.db.models import EvalRun, EvalRunOutputItem
from service.db.types import utcnow
from service.errors import InvalidRequest, NotFound, UnknownCursor
from service.evals.runs.costs import estimate_run_cost, run_routes
from service.evals.runs.kind import EVAL_RUN
from service.evals.runs.repository import Order, RunRepository
from service.evals.runs.requests import CompletionsDataSource, CreateRunRequest, sampling_plan
from service.evals.runs.routing import LOCAL, ModelRoute
from service.evals.runs.source import file_id_of, item_schema_of, load_rows
from service.evals.runs.status import TERMINAL, RunStatus
from service.evals.runs.transitions import transition_run
from service.evals.service import get_eval
from service.files.repository import FileRepository
from service.lifecycle import schedule
from service.paging import Page
from service.settings import Settings
from service.tenants.quotas import check_active_eval_runs
from service.tenants.repository import TenantRepository


def create_run(
    session: Session,
    settings: Settings,
    tenant_id: str,
    eval_id: str,
    body: CreateRunRequest,
    *,
    quoted_by_study: str | None = None,
) -> EvalRun:
    """``quoted_by_study``: the study starting this run, whose quote held its cost until now."""
    evaluation = get_eval(session, tenant_id, eval_id)
    item_schema = item_schema_of(evaluation.data_source_config)
    source = body.data_source
    sampling = sampling_plan(source, item_schema)
    file_path = None
    file_id = file_id_of(source)
    if file_id is not None:
        stored = FileRepository(session).get(tenant_id, file_id)
        if stored is None:
            raise InvalidRequest(f"No file with id '{file_id}'.", param="data_source.source.id")
        file_path = Path(stored.storage_path)
    rows = load_rows(source, item_schema, file_path)
    model = source.model if isinstance(source, CompletionsDataSource) else None
    routes = run_routes(session, settings, tenant_id, model, list(evaluation.testing_criteria))
    _check_credentials(session, settings, tenant_id, routes, model)
    hours = Decimal(str(settings.deployment_budget_hours))
    criteria = list(evaluation.testing_criteria)
    estimate = estimate_run_cost(routes, sampling, rows, hours, criteria)
    repository = RunRepository(session)
    TenantRepository(session).lock(tenant_id)
    check_active_eval_runs(settings, repository.active_count(tenant_id))
    now = utcnow()
    try:
        ensure_within_budget(
            session, tenant_id, estimate.total, now, exclude_study_id=quoted_by_study
        )
    except BudgetExceeded as exc:
        raise BudgetExceeded(
            exc.message.replace("This job's estimated cost", "This eval run's estimated cost")
            + f" Its parts: {estimate.summary()}.",
            param="data_source",
            extra={**(exc.extra or {}), "parts": [p.to_dict() for p in estimate.parts]},
        ) from None
    run = repository.add(
        EvalRun(
            tenant_id=tenant_id,
            eval_id=evaluation.id,
            status=RunStatus.QUEUED,
            name=body.name or "",
            model=model,
            provider=_served_by(routes, model),
            data_source=source.model_dump(mode="json", exclude_none=True),
            user_metadata=body.metadata or {},
            result_counts={"total": len(rows), "passed": 0, "failed": 0, "errored": 0},
            estimated_cost=estimate.total,
            created_at=now,
            updated_at=now,
        )
    )
    schedule.schedule(session, EVAL_RUN, run, now, now=now)
    return run


def _served_by(routes: list[ModelRoute], model: str | None) -> str | None:
    """The sampled model's provider; ``local`` when any model of the run (a judge too) is
    generated locally, so the run's step goes to the gpu queue where that model can load."""
    if any(route.local for route in routes):
        return LOCAL
    return routes[0].provider if model is not None else None


def _check_credentials(
    session: Session,
    settings: Settings,
    tenant_id: str,
    routes: list[ModelRoute],
    model: str | None,
) -> None:
    """A provider the run would call with no key (the tenant's own, or the operator's where
    the tenant may use it) is refused now, not item by item later."""
    for position, route in enumerate(routes):
        if route.local:
            continue
        sampled = position == 0 and model is not None
        param = "data_source.model" if sampled else "testing_criteria"
        try:
            found = credentials_for(session, settings, tenant_id, route.provider)
        except CredentialsMissing as missing:
            raise InvalidRequest(
                missing.message, param=param, code="provider_credentials_required"
            ) from None
        if not found.api_key and route.provider != "vertex":  # Vertex: a service account
            raise InvalidRequest(
                f"No {route.provider} credentials are configured for this service, and this "
                f"tenant stored none: PUT /v1/provider_credentials/{route.provider}.",
                param=param,
                code="provider_credentials_required",
            )


def get_run(session: Session, tenant_id: str, eval_id: str, run_id: str) -> EvalRun:
    run = RunRepository(session).get_for_tenant(tenant_id, eval_id, run_id)
    if run is None:
        raise NotFound(f"No eval run with id '{run_id}' in eval '{eval_id}'.", param="run_id")
    return run


def live_counts(session: Session, run: EvalRun) -> dict[str, int] | None:
    """Item statuses stored so far, for a run that has not ended (None once it has)."""
    if RunStatus(run.status) in TERMINAL:
        return None
    return RunRepository(session).status_counts(run.id)


def list_runs(
    session: Session,
    tenant_id: str,
    eval_id: str,
    *,
    after: str | None,
    limit: int,
    order: Order,
    status: RunStatus | None,
) -> Page[EvalRun]:
    get_eval(session, tenant_id, eval_id)
    repository = RunRepository(session)
    anchor = None
    if after is not None:
        anchor = repository.get_for_tenant(tenant_id, eval_id, after)
        if anchor is None:
            raise UnknownCursor(after)
    rows = repository.list_for_eval(
        tenant_id,
        eval_id,
        after=anchor,
        limit=limit + 1,
        order=order,
        status=None if status is None else str(status),
    )
    return Page.of(rows, limit)


def cancel_run(
    session: Session, settings: Settings, tenant_id: str, eval_id: str, run_id: str
) -> EvalRun:
    """A run nobody is working on ends canceled at once; a running one stops before its next
    item (its worker reads the request) and ends canceled with what it has graded."""
    found = get_run(session, tenant_id, eval_id, run_id)
    run = RunRepository(session).get(found.id, lock=True) or found
    if RunStatus(run.status) in TERMINAL:
        if run.status == RunStatus.CANCELED:
            return run
        raise InvalidRequest(
            f"Eval run {run.id} has already {run.status}; it cannot be canceled.",
            param="run_id",
            code="run_not_cancelable",
        )
    now = utcnow()
    if run.cancel_requested_at is None:
        run.cancel_requested_at = now
    working = run.lease_expires_at is not None and run.lease_expires_at > now
    if not working:
        transition_run(session, settings, run, RunStatus.CANCELED, now=now)
    session.flush()
    return run


def delete_run(session: Session, tenant_id: str, eval_id: str, run_id: str) -> str:
    run = get_run(session, tenant_id, eval_id, run_id)
    if run.deployment_live:
        raise InvalidRequest(
            f"Eval run {run.id} still has a dedicated deployment running; it is deleted once "
            "the deployment is stopped (cancel the run, then retry).",
            param="run_id",
            code="run_deployment_live",
        )
    RunRepository(session).delete(run)
    return run_id


ITEM_STATUSES = {"pass": "pass", "fail": "fail", "failed": "fail", "error": "error"}


def list_items(
    session: Session,
    tenant_id: str,
    eval_id: str,
    run_id: str,
    *,
    after: str | None,
    limit: int,
    order: Order,
    status: str | None,
) -> Page[EvalRunOutputItem]:
    run = get_run(session, tenant_id, eval_id, run_id)
    repository = RunRepository(session)
    wanted = None
    if status is not None:
        wanted = ITEM_STATUSES.get(status)
        if wanted is None:
            raise InvalidRequest(
                f"Invalid status {status!r}: use pass or fail (or error).", param="status"
            )
    anchor = None
    if after is not None:
        anchor = repository.item_for_run(run.id, after)
        if anchor is None:
            raise UnknownCursor(after)
    rows = repository.list_items(run.id, after=anchor, limit=limit + 1, order=order, status=wanted)
    return Page.of(rows, limit)


def get_item(
    session: Session, tenant_id: str, eval_id: str, run_id: str, item_id: str
) -> EvalRunOutputItem:
    run = get_run(session, tenant_id, eval_id, run_id)
    item = RunRepository(session).item_for_run(run.id, item_id)
    if item is None:
        raise NotFound(
            f"No output item with id '{item_id}' in run '{run_id}'.", param="output_item_id"
        )
    return item
