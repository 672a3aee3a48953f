"""cost_ledger: an eval run's entries are unique on (run, kind, provider), not (run, kind), so a
run that used models of two providers (a judge on another provider) books one ``evaluation``
entry under each; the interim kind ``evaluation:<provider>`` becomes ``evaluation`` again

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 18:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "uq_cost_ledger_eval_run_kind"
_NEW = "uq_cost_ledger_eval_run_kind_provider"


def upgrade() -> None:
    with op.batch_alter_table("cost_ledger") as batch:
        batch.drop_constraint(_OLD, type_="unique")
        batch.create_unique_constraint(_NEW, ["eval_run_id", "kind", "provider"])
    op.execute(
        "UPDATE cost_ledger SET kind = 'evaluation'"
        " WHERE eval_run_id IS NOT NULL AND kind LIKE 'evaluation:%'"
    )


def downgrade() -> None:
    # every run's first evaluation entry keeps its kind; the others get the interim name back
    op.execute(
        "UPDATE cost_ledger SET kind = substr('evaluation:' || provider, 1, 32)"
        " WHERE kind = 'evaluation' AND eval_run_id IS NOT NULL AND id NOT IN"
        " (SELECT min(id) FROM cost_ledger WHERE kind = 'evaluation'"
        " AND eval_run_id IS NOT NULL GROUP BY eval_run_id)"
    )
    with op.batch_alter_table("cost_ledger") as batch:
        batch.drop_constraint(_NEW, type_="unique")
        batch.create_unique_constraint(_OLD, ["eval_run_id", "kind"])
