"""SQL for eval runs and their output items."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.db.ids import new_id
from service.db.models import EvalRun, EvalRunOutputItem
from service.db.types import utcnow
from service.evals.runs.status import ACTIVE

Order = Literal["asc", "desc"]


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run: EvalRun) -> EvalRun:
        self.session.add(run)
        self.session.flush()
        return run

    def get_for_tenant(self, tenant_id: str, eval_id: str, run_id: str) -> EvalRun | None:
        return self.session.scalars(
            select(EvalRun).where(
                EvalRun.id == run_id, EvalRun.tenant_id == tenant_id, EvalRun.eval_id == eval_id
            )
        ).first()

    def get(self, run_id: str, *, lock: bool = False) -> EvalRun | None:
        query = select(EvalRun).where(EvalRun.id == run_id)
        if lock and self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        return self.session.scalars(query.execution_options(populate_existing=True)).first()

    def delete(self, run: EvalRun) -> None:
        self.session.delete(run)
        self.session.flush()

    def active_count(self, tenant_id: str) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(EvalRun)
                .where(EvalRun.tenant_id == tenant_id, EvalRun.status.in_([*ACTIVE]))
            )
            or 0
        )

    def list_for_eval(
        self,
        tenant_id: str,
        eval_id: str,
        *,
        after: EvalRun | None,
        limit: int,
        order: Order,
        status: str | None,
    ) -> list[EvalRun]:
        query = select(EvalRun).where(EvalRun.tenant_id == tenant_id, EvalRun.eval_id == eval_id)
        if status is not None:
            query = query.where(EvalRun.status == status)
        if after is not None:
            at, key = after.created_at, after.id
            if order == "asc":
                query = query.where(
                    (EvalRun.created_at > at) | ((EvalRun.created_at == at) & (EvalRun.id > key))
                )
            else:
                query = query.where(
                    (EvalRun.created_at < at) | ((EvalRun.created_at == at) & (EvalRun.id < key))
                )
        if order == "asc":
            query = query.order_by(EvalRun.created_at.asc(), EvalRun.id.asc())
        else:
            query = query.order_by(EvalRun.created_at.desc(), EvalRun.id.desc())
        return list(self.session.scalars(query.limit(limit)))

    # output items

    def stored_indexes(self, run_id: str) -> set[int]:
        return set(
            self.session.scalars(
                select(EvalRunOutputItem.datasource_item_id).where(
                    EvalRunOutputItem.run_id == run_id
                )
            )
        )

    def add_item(self, item: EvalRunOutputItem) -> bool:
        """Store the item once (one INSERT .. ON CONFLICT DO NOTHING, no ORM round trip: a
        run stores every item as it completes); False when the (run, index) is stored."""
        values = {
            column.name: getattr(item, column.key)
            for column in EvalRunOutputItem.__mapper__.columns
        }
        values["id"] = values["id"] or new_id("outputitem_")
        values["created_at"] = values["created_at"] or utcnow()
        insert = (
            postgresql.insert(EvalRunOutputItem)
            if self.session.get_bind().dialect.name == "postgresql"
            else sqlite.insert(EvalRunOutputItem)
        )
        # RETURNING says whether the row went in: psycopg reports rowcount -1 for this insert.
        inserted = self.session.execute(
            insert.values(**values)
            .on_conflict_do_nothing(index_elements=["run_id", "datasource_item_id"])
            .returning(EvalRunOutputItem.id)
        ).first()
        return inserted is not None

    def items_of(self, run_id: str) -> list[EvalRunOutputItem]:
        return list(
            self.session.scalars(
                select(EvalRunOutputItem)
                .where(EvalRunOutputItem.run_id == run_id)
                .order_by(EvalRunOutputItem.datasource_item_id)
            )
        )

    def status_counts(self, run_id: str) -> dict[str, int]:
        rows = self.session.execute(
            select(EvalRunOutputItem.status, func.count())
            .where(EvalRunOutputItem.run_id == run_id)
            .group_by(EvalRunOutputItem.status)
        )
        return {str(status): int(count) for status, count in rows}

    def item_for_run(self, run_id: str, item_id: str) -> EvalRunOutputItem | None:
        return self.session.scalars(
            select(EvalRunOutputItem).where(
                EvalRunOutputItem.run_id == run_id, EvalRunOutputItem.id == item_id
            )
        ).first()

    def list_items(
        self,
        run_id: str,
        *,
        after: EvalRunOutputItem | None,
        limit: int,
        order: Order,
        status: str | None,
    ) -> list[EvalRunOutputItem]:
        """Ordered by the row's index in the data source."""
        column = EvalRunOutputItem.datasource_item_id
        query = select(EvalRunOutputItem).where(EvalRunOutputItem.run_id == run_id)
        if status is not None:
            query = query.where(EvalRunOutputItem.status == status)
        if after is not None:
            index = after.datasource_item_id
            query = query.where(column > index if order == "asc" else column < index)
        query = query.order_by(column.asc() if order == "asc" else column.desc())
        return list(self.session.scalars(query.limit(limit)))
