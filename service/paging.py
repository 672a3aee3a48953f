"""One page of a cursor-paginated list, as the services hand it to the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool

    @classmethod
    def of(cls, rows: list[T], limit: int) -> Page[T]:
        """The first ``limit`` of ``rows``, fetched as ``limit + 1`` to learn whether more
        follow."""
        return cls(rows[:limit], len(rows) > limit)
