"""jobs.evaluation_study_id: the one-candidate study that evaluates a job's tuned model when
the job was created with ``evaluation`` (no foreign key: adding one rebuilds ``jobs`` on SQLite)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evaluation_study_id", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_jobs_evaluation_study_id", ["evaluation_study_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_evaluation_study_id")
        batch_op.drop_column("evaluation_study_id")
