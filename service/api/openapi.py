"""``/openapi.json`` as the real contract: OpenAI's error body on every operation, 400 (never
FastAPI's 422) for a request that fails validation, the bearer scheme on authenticated routes
(so "Authorize" in /docs works) and one operation id per operation."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from service.api.wire import ErrorResponse

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_ERRORS = {
    "400": "Invalid request: the message and param name the field",
    "401": "Missing or incorrect API key",
    "403": "The key's role may not do this (tenant admin or operator needed)",
    "404": "No such object for this tenant",
    "409": "Conflicts with the object's state",
    "413": "The request body is larger than its limit",
    "415": "The request body has the wrong content type",
    "429": (
        "Too many requests: over the tenant's request rate (retry after Retry-After seconds), "
        "or too much work in flight (code active_job_limit_reached or "
        "active_eval_run_limit_reached: retry when some has finished)"
    ),
    "500": "Server error",
    "503": "Temporarily unavailable: retry after Retry-After seconds",
}


def operation_id(route: APIRoute) -> str:
    """The route function's name (``create_job``, ``list_files``): names are unique in the app
    (a test checks), and one route serves one method."""
    return route.name


RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 1},
}
# What every authenticated response says about the tenant's request rate (OpenAI's names).
RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": {
        "description": "Requests the tenant may make in the tightest window",
        "schema": {"type": "integer"},
    },
    "x-ratelimit-remaining-requests": {
        "description": "Requests left in that window",
        "schema": {"type": "integer"},
    },
    "x-ratelimit-reset-requests": {
        "description": "When the window frees a request again, e.g. 1.5s",
        "schema": {"type": "string"},
    },
}


def _document_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    authenticated = bool(operation.get("security"))
    for status, description in _ERRORS.items():
        if status in ("401", "403", "429") and not authenticated:
            continue  # only an authenticated caller is counted against a tenant's rate
        if status in ("413", "415") and "requestBody" not in operation:
            continue
        responses.setdefault(
            status,
            {"description": description, "content": {"application/json": {"schema": ERROR_REF}}},
        )
    if "503" in responses:
        responses["503"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    if not authenticated:
        return
    responses["429"].setdefault("headers", {}).update(
        {"Retry-After": RETRY_AFTER, **RATE_LIMIT_HEADERS}
    )
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorResponse"] = ErrorResponse.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        schemas.update(schemas["ErrorResponse"].pop("$defs", {}))
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for methods in document.get("paths", {}).values():
            for operation in methods.values():
                _document_errors(operation)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
