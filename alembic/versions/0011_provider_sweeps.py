"""provider sweeps: one paged list call per provider credential watches many jobs

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 14:20:00.000000

``provider_sweeps`` holds one row per provider credential (the sweep kind on the lifecycle
engine); ``jobs.provider_progress`` is what a sweep compares besides the status. Jobs already
in flight keep their polls; their next poll starts the sweep of their credential.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import service.db.types
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_sweeps",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_sweep_at", service.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_swept_at", service.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rounds", sa.BigInteger(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.Column("active_jobs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", service.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", service.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_provider_sweeps_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_sweeps")),
    )
    op.create_index("ix_provider_sweeps_tenant_id", "provider_sweeps", ["tenant_id"])
    op.create_index(
        "ix_provider_sweeps_status_next", "provider_sweeps", ["status", "next_sweep_at"]
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("provider_progress", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("provider_progress")
    op.drop_index("ix_provider_sweeps_status_next", table_name="provider_sweeps")
    op.drop_index("ix_provider_sweeps_tenant_id", table_name="provider_sweeps")
    op.drop_table("provider_sweeps")
