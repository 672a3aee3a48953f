"""eval_runs.deployment: the dedicated deployment a run created for a tuned model that serves
only on one (Together, Fireworks), and whether it is still live (the orphan sweep's index)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 15:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("eval_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deployment", JSON, nullable=True))
        batch_op.add_column(
            sa.Column("deployment_live", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index("ix_eval_runs_deployment_live", ["deployment_live"])


def downgrade() -> None:
    with op.batch_alter_table("eval_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_eval_runs_deployment_live")
        batch_op.drop_column("deployment_live")
        batch_op.drop_column("deployment")
