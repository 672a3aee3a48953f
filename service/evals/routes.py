"""``/v1/evals``: OpenAI's create, retrieve, update, list and delete. Parsing and status codes
only; each route calls one service function."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.query import After, Limit
from service.api.wire import list_page
from service.evals import service
from service.evals.repository import Order, OrderBy
from service.evals.schemas import (
    CreateEvalRequest,
    EvalDeleted,
    EvalList,
    EvalObject,
    UpdateEvalRequest,
    eval_object,
)

router = APIRouter(prefix="/v1/evals", tags=["evals"])


@router.post("", response_model=EvalObject)
def create_eval(
    body: CreateEvalRequest, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> EvalObject:
    return eval_object(service.create_eval(session, settings, caller.tenant_id, body))


@router.get("", response_model=EvalList)
def list_evals(
    caller: CallerDep,
    session: SessionDep,
    after: After = None,
    limit: Limit = 20,
    order: Order = "asc",
    order_by: OrderBy = "created_at",
) -> EvalList:
    found = service.list_evals(
        session, caller.tenant_id, after=after, limit=limit, order=order, order_by=order_by
    )
    return list_page(EvalList, [eval_object(row) for row in found.items], found.has_more)


@router.get("/{eval_id}", response_model=EvalObject)
def retrieve_eval(eval_id: str, caller: CallerDep, session: SessionDep) -> EvalObject:
    return eval_object(service.get_eval(session, caller.tenant_id, eval_id))


@router.post("/{eval_id}", response_model=EvalObject)
def update_eval(
    eval_id: str, body: UpdateEvalRequest, caller: CallerDep, session: SessionDep
) -> EvalObject:
    return eval_object(service.update_eval(session, caller.tenant_id, eval_id, body))


@router.delete("/{eval_id}", response_model=EvalDeleted)
def delete_eval(eval_id: str, caller: CallerDep, session: SessionDep) -> EvalDeleted:
    return EvalDeleted(
        deleted=True, eval_id=service.delete_eval(session, caller.tenant_id, eval_id)
    )
