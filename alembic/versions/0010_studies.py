"""studies: one dataset, many candidates, baselines, one budget (a kind on the engine)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import service.db.types
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, service.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("training_file_id", sa.String(length=40), nullable=False),
        sa.Column("train_file_id", sa.String(length=40), nullable=False),
        sa.Column("test_file_id", sa.String(length=40), nullable=False),
        sa.Column("quote", JSON, nullable=False),
        sa.Column("candidates", JSON, nullable=False),
        sa.Column("warnings", JSON, nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("evaluation", JSON, nullable=True),
        sa.Column("leaderboard", JSON, nullable=True),
        sa.Column("verdict", JSON, nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        _time("finished_at"),
        _time("next_step_at"),
        sa.Column("step_failures", sa.Integer(), nullable=False),
        _time("cancel_requested_at"),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        _time("lease_expires_at"),
        _time("heartbeat_at"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_studies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["training_file_id"], ["files.id"], name=op.f("fk_studies_training_file_id_files")
        ),
        sa.ForeignKeyConstraint(
            ["train_file_id"], ["files.id"], name=op.f("fk_studies_train_file_id_files")
        ),
        sa.ForeignKeyConstraint(
            ["test_file_id"], ["files.id"], name=op.f("fk_studies_test_file_id_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
    )
    op.create_index("ix_studies_tenant_created", "studies", ["tenant_id", "created_at"])
    op.create_index("ix_studies_status_next_step", "studies", ["status", "next_step_at"])


def downgrade() -> None:
    op.drop_index("ix_studies_status_next_step", table_name="studies")
    op.drop_index("ix_studies_tenant_created", table_name="studies")
    op.drop_table("studies")
