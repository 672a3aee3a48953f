"""evals: OpenAI-compatible eval definitions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import service.db.types
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "evals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("data_source_config", JSON, nullable=False),
        sa.Column("testing_criteria", JSON, nullable=False),
        sa.Column("created_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_evals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evals")),
    )
    op.create_index("ix_evals_tenant_created", "evals", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_evals_tenant_created", table_name="evals")
    op.drop_table("evals")
