"""SQL for evals."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.db.models import Eval
from service.errors import UnknownCursor

Order = Literal["asc", "desc"]
OrderBy = Literal["created_at", "updated_at"]


class EvalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Eval) -> Eval:
        self.session.add(row)
        self.session.flush()
        return row

    def get_for_tenant(self, tenant_id: str, eval_id: str) -> Eval | None:
        return self.session.scalars(
            select(Eval).where(Eval.id == eval_id, Eval.tenant_id == tenant_id)
        ).first()

    def delete(self, row: Eval) -> None:
        self.session.delete(row)
        self.session.flush()

    def list_for_tenant(
        self, tenant_id: str, *, after: str | None, limit: int, order: Order, order_by: OrderBy
    ) -> list[Eval]:
        """Ordered by ``order_by`` then id; ``after`` is the last id of the previous page."""
        column = Eval.created_at if order_by == "created_at" else Eval.updated_at
        query = select(Eval).where(Eval.tenant_id == tenant_id)
        if after is not None:
            anchor = self.get_for_tenant(tenant_id, after)
            if anchor is None:
                raise UnknownCursor(after)
            value = getattr(anchor, order_by)
            if order == "asc":
                query = query.where(or_(column > value, (column == value) & (Eval.id > anchor.id)))
            else:
                query = query.where(or_(column < value, (column == value) & (Eval.id < anchor.id)))
        if order == "asc":
            query = query.order_by(column.asc(), Eval.id.asc())
        else:
            query = query.order_by(column.desc(), Eval.id.desc())
        return list(self.session.scalars(query.limit(limit)))
