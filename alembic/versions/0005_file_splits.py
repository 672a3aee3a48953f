"""file_splits: frozen held-out splits with their leakage report

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import service.db.types
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "file_splits",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("source_file_id", sa.String(length=40), nullable=False),
        sa.Column("seed", sa.String(length=128), nullable=False),
        sa.Column("test_fraction", sa.String(length=16), nullable=False),
        sa.Column("train_file_id", sa.String(length=40), nullable=False),
        sa.Column("test_file_id", sa.String(length=40), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("created_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_file_splits_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_file_id"],
            ["files.id"],
            name=op.f("fk_file_splits_source_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["train_file_id"], ["files.id"], name=op.f("fk_file_splits_train_file_id_files")
        ),
        sa.ForeignKeyConstraint(
            ["test_file_id"], ["files.id"], name=op.f("fk_file_splits_test_file_id_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_splits")),
        sa.UniqueConstraint(
            "source_file_id", "seed", "test_fraction", name="uq_file_splits_request"
        ),
    )


def downgrade() -> None:
    op.drop_table("file_splits")
