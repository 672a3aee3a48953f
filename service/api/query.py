"""The cursor pagination parameters every list route takes, and unknown query parameters
refused, as OpenAI refuses unknown body fields: a typo such as ``?limt=5`` must not silently
mean the default."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from starlette.routing import BaseRoute

from service.errors import InvalidRequest

After = Annotated[str | None, Query(max_length=64)]
"""The last id of the previous page."""
Limit = Annotated[int, Query(ge=1, le=100)]

# Query parameters whose names are data: ``metadata[key]=value`` filters on the jobs list.
_DYNAMIC_PREFIXES = ("metadata[",)
_known: dict[int, frozenset[str]] = {}


def _declared(route: BaseRoute) -> frozenset[str] | None:
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    key = id(route)
    if key not in _known:
        _known[key] = frozenset(_query_names(dependant))
    return _known[key]


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def reject_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    declared = _declared(route) if isinstance(route, BaseRoute) else None
    if declared is None:
        return
    for name in request.query_params:
        if name not in declared and not name.startswith(_DYNAMIC_PREFIXES):
            raise InvalidRequest(
                f"Unrecognized request argument supplied: {name[:64]}",
                param=name[:64],
                code="unknown_parameter",
            )
