"""``/v1/evals/{eval_id}/runs`` and their output items (OpenAI's), and ``/compare`` (ours).
Parsing and status codes only; each route calls one service function."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.query import After, Limit
from service.api.wire import list_page
from service.evals.runs import compare, service
from service.evals.runs.objects import (
    OutputItemList,
    OutputItemObject,
    RunDeleted,
    RunList,
    RunObject,
    output_item_object,
    run_object,
)
from service.evals.runs.requests import CreateRunRequest
from service.evals.runs.status import RunStatus

router = APIRouter(prefix="/v1/evals", tags=["evals"])

Order = Literal["asc", "desc"]


@router.post("/{eval_id}/runs", response_model=RunObject)
def create_run(
    eval_id: str,
    body: CreateRunRequest,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> RunObject:
    run = service.create_run(session, settings, caller.tenant_id, eval_id, body)
    return run_object(run)


@router.get("/{eval_id}/runs", response_model=RunList)
def list_runs(
    eval_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: After = None,
    limit: Limit = 20,
    order: Order = "asc",
    status: RunStatus | None = None,
) -> RunList:
    found = service.list_runs(
        session, caller.tenant_id, eval_id, after=after, limit=limit, order=order, status=status
    )
    data = [run_object(run, service.live_counts(session, run)) for run in found.items]
    return list_page(RunList, data, found.has_more)


@router.get("/{eval_id}/runs/{run_id}", response_model=RunObject)
def retrieve_run(eval_id: str, run_id: str, caller: CallerDep, session: SessionDep) -> RunObject:
    run = service.get_run(session, caller.tenant_id, eval_id, run_id)
    return run_object(run, service.live_counts(session, run))


@router.post("/{eval_id}/runs/{run_id}/cancel", response_model=RunObject)
def cancel_run(
    eval_id: str, run_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> RunObject:
    run = service.cancel_run(session, settings, caller.tenant_id, eval_id, run_id)
    return run_object(run, service.live_counts(session, run))


@router.post("/{eval_id}/runs/{run_id}", response_model=RunObject, include_in_schema=False)
def cancel_run_alias(
    eval_id: str, run_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> RunObject:
    """The API reference prints the cancel path without ``/cancel``."""
    return cancel_run(eval_id, run_id, caller, session, settings)


@router.delete("/{eval_id}/runs/{run_id}", response_model=RunDeleted)
def delete_run(eval_id: str, run_id: str, caller: CallerDep, session: SessionDep) -> RunDeleted:
    return RunDeleted(
        deleted=True, run_id=service.delete_run(session, caller.tenant_id, eval_id, run_id)
    )


@router.get("/{eval_id}/runs/{run_id}/output_items", response_model=OutputItemList)
def list_output_items(
    eval_id: str,
    run_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: After = None,
    limit: Limit = 20,
    order: Order = "asc",
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> OutputItemList:
    found = service.list_items(
        session,
        caller.tenant_id,
        eval_id,
        run_id,
        after=after,
        limit=limit,
        order=order,
        status=status,
    )
    data = [output_item_object(item) for item in found.items]
    return list_page(OutputItemList, data, found.has_more)


@router.get(
    "/{eval_id}/runs/{run_id}/output_items/{output_item_id}", response_model=OutputItemObject
)
def retrieve_output_item(
    eval_id: str, run_id: str, output_item_id: str, caller: CallerDep, session: SessionDep
) -> OutputItemObject:
    item = service.get_item(session, caller.tenant_id, eval_id, run_id, output_item_id)
    return output_item_object(item)


@router.get("/{eval_id}/compare", response_model=compare.Comparison)
def compare_runs(
    eval_id: str,
    caller: CallerDep,
    session: SessionDep,
    runs: Annotated[str, Query(max_length=compare.MAX_RUNS_PARAM)],
) -> compare.Comparison:
    """Ours: run A against run B over the items both graded (A − B; the verdict is A's)."""
    run_a, run_b = compare.parse_runs(runs)
    return compare.compare_runs(session, caller.tenant_id, eval_id, run_a, run_b)
