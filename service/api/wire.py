"""Wire shapes every room shares: OpenAI's error body and its list page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
ListT = TypeVar("ListT", bound=BaseModel)

BINARY = {"type": "string", "format": "binary"}
"""The OpenAPI schema of a download's body."""


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = Field(default=None, description="the request field at fault, if one")
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error body, returned with every 4xx and 5xx."""

    error: ErrorDetail


class ListPage(BaseModel, Generic[T]):
    """OpenAI's cursor page: pass ``last_id`` as ``after`` for the next one."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class Identified(Protocol):
    @property
    def id(self) -> str: ...


def list_page(model: type[ListT], data: Sequence[Identified], has_more: bool) -> ListT:
    """A route's own list response (``model``: OpenAI's cursor page) holding ``data``."""
    return model(
        data=list(data),
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )


class Deleted(BaseModel):
    id: str
    object: str
    deleted: bool
