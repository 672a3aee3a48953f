"""Evals: create (validated before anything is stored), retrieve, update, list, delete."""

from __future__ import annotations

import uuid
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy.orm import Session

from service.db.models import Eval
from service.errors import InvalidRequest, NotFound
from service.evals.graders.validate import check_criteria
from service.evals.repository import EvalRepository, Order, OrderBy
from service.evals.schemas import (
    CreateEvalRequest,
    CustomDataSourceConfig,
    UpdateEvalRequest,
    stored_config,
)
from service.json_depth import TOO_DEEP, too_deep
from service.paging import Page
from service.settings import Settings

NO_LOGS = (
    "data_source_config type '{kind}' grades stored production completions, and tuneforge "
    "keeps no completion logs: use type 'custom' with an item_schema and supply the rows in "
    "each run's data_source."
)


def create_eval(
    session: Session, settings: Settings, tenant_id: str, body: CreateEvalRequest
) -> Eval:
    config = body.data_source_config
    if not isinstance(config, CustomDataSourceConfig):
        raise InvalidRequest(
            NO_LOGS.format(kind=config.type),
            param="data_source_config.type",
            code="unsupported_data_source",
        )
    _check_item_schema(config.item_schema)
    check_criteria(list(body.testing_criteria), config.item_schema, settings.wordnet_dir)
    criteria = [
        {
            "id": f"{grader.name}-{uuid.uuid4()}",
            **grader.model_dump(by_alias=True, exclude_none=True),
        }
        for grader in body.testing_criteria
    ]
    row = Eval(
        tenant_id=tenant_id,
        name=body.name or "",
        user_metadata=body.metadata or {},
        data_source_config=stored_config(config),
        testing_criteria=criteria,
    )
    return EvalRepository(session).add(row)


def _check_item_schema(schema: dict[str, Any]) -> None:
    if too_deep(schema):
        raise InvalidRequest(
            f"data_source_config.item_schema {TOO_DEEP}.", param="data_source_config.item_schema"
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidRequest(
            f"data_source_config.item_schema is not a JSON Schema: {exc.message}",
            param="data_source_config.item_schema",
        ) from None
    if schema.get("type", "object") != "object":
        raise InvalidRequest(
            "data_source_config.item_schema must describe an object (one row of data).",
            param="data_source_config.item_schema",
        )


def get_eval(session: Session, tenant_id: str, eval_id: str) -> Eval:
    row = EvalRepository(session).get_for_tenant(tenant_id, eval_id)
    if row is None:
        raise NotFound(f"No eval with id '{eval_id}'.", param="eval_id")
    return row


def update_eval(session: Session, tenant_id: str, eval_id: str, body: UpdateEvalRequest) -> Eval:
    row = get_eval(session, tenant_id, eval_id)
    if body.name is not None:
        row.name = body.name
    if body.metadata is not None:
        row.user_metadata = body.metadata
    session.flush()
    return row


def delete_eval(session: Session, tenant_id: str, eval_id: str) -> str:
    row = get_eval(session, tenant_id, eval_id)
    EvalRepository(session).delete(row)
    return eval_id


def list_evals(
    session: Session,
    tenant_id: str,
    *,
    after: str | None,
    limit: int,
    order: Order,
    order_by: OrderBy,
) -> Page[Eval]:
    rows = EvalRepository(session).list_for_tenant(
        tenant_id, after=after, limit=limit + 1, order=order, order_by=order_by
    )
    return Page.of(rows, limit)
