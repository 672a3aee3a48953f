"""Read-only SQL for the evaluations pages, across every tenant: evals with their runs, one
run's items beside another run's outputs for the same items, and the runs of a job's models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import Checkpoint, Eval, EvalRun, EvalRunOutputItem, Job, Tenant

PAGE_SIZE = 25
MAX_EVALS = 100
MAX_RUNS_PER_EVAL = 50
ITEM_STATUSES = ("pass", "fail", "error")


@dataclass(frozen=True)
class EvalRow:
    evaluation: Eval
    tenant_name: str
    runs: list[EvalRun]


@dataclass(frozen=True)
class ItemPair:
    """One data-source item: this run's graded output and, when compared, the other run's."""

    mine: EvalRunOutputItem
    theirs: EvalRunOutputItem | None

    @property
    def index(self) -> int:
        return self.mine.datasource_item_id

    @property
    def item(self) -> dict[str, Any]:
        return self.mine.datasource_item


@dataclass(frozen=True)
class ItemPage:
    pairs: list[ItemPair]
    total: int
    page: int
    pages: int


def output_text(item: EvalRunOutputItem | None) -> str:
    """What the model answered (the sample's assistant message), or its error."""
    if item is None:
        return ""
    if item.error:
        return f"error: {item.error}"
    sample = item.sample or {}
    output = sample.get("output")
    if isinstance(output, list) and output:
        first = output[0]
        if isinstance(first, dict):
            return str(first.get("content") or "")
    if isinstance(sample.get("output_text"), str):
        return str(sample["output_text"])
    return ""


def input_text(item: EvalRunOutputItem) -> str:
    """The prompt the model saw, one ``role: content`` line per message."""
    messages = (item.sample or {}).get("input")
    if not isinstance(messages, list):
        return ""
    return "\n".join(
        f"{m.get('role', '?')}: {m.get('content', '')}" for m in messages if isinstance(m, dict)
    )


class DashboardEvalQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def evals(self) -> list[EvalRow]:
        """The newest evals with their runs, newest first."""
        rows = self.session.execute(
            select(Eval, Tenant.name)
            .join(Tenant, Tenant.id == Eval.tenant_id)
            .order_by(Eval.created_at.desc(), Eval.id.desc())
            .limit(MAX_EVALS)
        ).all()
        ids = [evaluation.id for evaluation, _ in rows]
        runs: dict[str, list[EvalRun]] = {eval_id: [] for eval_id in ids}
        if ids:
            query = (
                select(EvalRun)
                .where(EvalRun.eval_id.in_(ids))
                .order_by(EvalRun.created_at.desc(), EvalRun.id.desc())
            )
            for run in self.session.scalars(query):
                if len(runs[run.eval_id]) < MAX_RUNS_PER_EVAL:
                    runs[run.eval_id].append(run)
        return [EvalRow(evaluation, name, runs[evaluation.id]) for evaluation, name in rows]

    def run(self, eval_id: str, run_id: str) -> tuple[EvalRun, Eval, str] | None:
        row = self.session.execute(
            select(EvalRun, Eval, Tenant.name)
            .join(Eval, Eval.id == EvalRun.eval_id)
            .join(Tenant, Tenant.id == EvalRun.tenant_id)
            .where(EvalRun.id == run_id, EvalRun.eval_id == eval_id)
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    def sibling_runs(self, run: EvalRun) -> list[EvalRun]:
        """The eval's other runs: what this one can be set beside."""
        return list(
            self.session.scalars(
                select(EvalRun)
                .where(EvalRun.eval_id == run.eval_id, EvalRun.id != run.id)
                .order_by(EvalRun.created_at.desc())
                .limit(MAX_RUNS_PER_EVAL)
            )
        )

    def items(
        self, run: EvalRun, against: EvalRun | None, status: str | None, page: int
    ) -> ItemPage:
        base = select(EvalRunOutputItem).where(EvalRunOutputItem.run_id == run.id)
        if status is not None:
            base = base.where(EvalRunOutputItem.status == status)
        total = self.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(page, pages)
        mine = list(
            self.session.scalars(
                base.order_by(EvalRunOutputItem.datasource_item_id)
                .offset((page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
        )
        theirs: dict[int, EvalRunOutputItem] = {}
        if against is not None and mine:
            indexes = [item.datasource_item_id for item in mine]
            for other in self.session.scalars(
                select(EvalRunOutputItem).where(
                    EvalRunOutputItem.run_id == against.id,
                    EvalRunOutputItem.datasource_item_id.in_(indexes),
                )
            ):
                theirs[other.datasource_item_id] = other
        pairs = [ItemPair(item, theirs.get(item.datasource_item_id)) for item in mine]
        return ItemPage(pairs, total, page, pages)

    def runs_of_job(self, job: Job) -> list[EvalRun]:
        """The tenant's runs that sampled the job's fine-tuned model or one of its checkpoints."""
        models = {job.fine_tuned_model} if job.fine_tuned_model else set()
        models.update(
            name
            for name in self.session.scalars(
                select(Checkpoint.fine_tuned_model_checkpoint).where(Checkpoint.job_id == job.id)
            )
            if name
        )
        if not models:
            return []
        return list(
            self.session.scalars(
                select(EvalRun)
                .where(EvalRun.tenant_id == job.tenant_id, EvalRun.model.in_(sorted(models)))
                .order_by(EvalRun.created_at.desc())
                .limit(MAX_RUNS_PER_EVAL)
            )
        )
