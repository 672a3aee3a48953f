"""Money over HTTP: usage, quotes, the provider catalog and the caller's budget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.billing.budget import budget_status
from service.billing.catalog_view import providers_listing
from service.billing.objects import Budget, ProviderList, QuoteList, Usage
from service.billing.quotes import Candidate, QuoteRequest, quote_dataset
from service.billing.usage import GROUP_BY, GroupBy, totals, usage_report
from service.db.types import utcnow
from service.errors import Forbidden, InvalidRequest
from service.jobs.api.schemas import DpoHyperparameters

router = APIRouter(prefix="/v1", tags=["billing"])


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_instant(value: str | None, param: str) -> datetime | None:
    """Unix seconds, or an ISO 8601 date or date-time (UTC when it has no zone)."""
    if value is None or value == "":
        return None
    try:
        if value.lstrip("-").isdigit() and len(value) <= 12:
            parsed = datetime.fromtimestamp(int(value), UTC)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        # In UTC now, inside the range every later step can compute with (9999-12-31T23:59
        # at -14:00 is in year 10000: it overflowed further down, a 500).
        parsed = parsed.astimezone(UTC)
        if not _EARLIEST <= parsed <= _LATEST:
            raise ValueError("out of range")
    except (ValueError, OverflowError, OSError):
        raise InvalidRequest(
            f"{param} must be unix seconds or an ISO 8601 date/time between 1970 and 9000, "
            f"got {value[:64]!r}",
            param=param,
        ) from None
    return parsed


@router.get("/usage", response_model=Usage, response_model_exclude_unset=True)
def get_usage(
    caller: CallerDep,
    session: SessionDep,
    group_by: str = "provider",
    start: str | None = Query(default=None, alias="from"),
    end: str | None = Query(default=None, alias="to"),
) -> dict[str, Any]:
    """Booked spend in [from, to). ``group_by=tenant`` is for operators and covers all tenants;
    every other grouping covers the caller's tenant."""
    if group_by not in GROUP_BY:
        raise InvalidRequest(
            f"group_by must be one of {', '.join(GROUP_BY)}, got {group_by!r}", param="group_by"
        )
    if group_by == "tenant" and not caller.is_operator:
        raise Forbidden("group_by=tenant needs an operator API key.", code="operator_required")
    since, until = parse_instant(start, "from"), parse_instant(end, "to")
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("'from' must be before 'to'", param="from")
    grouping: GroupBy = group_by  # type: ignore[assignment]
    rows = usage_report(
        session,
        group_by=grouping,
        tenant_id=None if grouping == "tenant" else caller.tenant_id,
        start=since,
        end=until,
    )
    return {
        "object": "usage",
        "group_by": grouping,
        "from": None if since is None else int(since.timestamp()),
        "to": None if until is None else int(until.timestamp()),
        "data": [row.to_dict(grouping) for row in rows],
        "total": totals(rows),
    }


class CandidateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=255)
    provider: str | None = Field(default=None, max_length=32)


class QuoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    training_file: str = Field(min_length=1, max_length=64)
    validation_file: str | None = Field(default=None, max_length=64)
    candidates: list[CandidateBody] | None = Field(default=None, min_length=1, max_length=50)
    # Typed and bounded as at job create: n_epochs 1e300 or true is a 400, not a 500.
    hyperparameters: DpoHyperparameters | None = None
    method: Literal["supervised", "dpo"] | None = None


@router.post("/quotes", response_model=QuoteList)
def create_quotes(
    body: QuoteBody, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    request = QuoteRequest(
        training_file=body.training_file,
        validation_file=body.validation_file,
        candidates=(
            None
            if body.candidates is None
            else [Candidate(c.model, c.provider) for c in body.candidates]
        ),
        hyperparameters=(
            body.hyperparameters.model_dump(exclude_none=True) if body.hyperparameters else {}
        ),
        method=body.method,
    )
    quotes = quote_dataset(session, settings, caller.tenant_id, request)
    return {
        "object": "list",
        "training_file": body.training_file,
        "validation_file": body.validation_file,
        "data": [q.to_dict() for q in quotes],
    }


@router.get("/providers", response_model=ProviderList)
def list_providers(_: CallerDep, settings: SettingsDep) -> dict[str, Any]:
    return {"object": "list", "data": providers_listing(settings)}


@router.get("/budget", response_model=Budget, response_model_exclude_unset=True)
def get_budget(caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    """The caller's monthly budget and what is left of it; ``monthly_limit: null`` when none."""
    status = budget_status(session, caller.tenant_id, utcnow())
    if status is None:
        return {"object": "budget", "monthly_limit": None}
    return status.to_dict()
