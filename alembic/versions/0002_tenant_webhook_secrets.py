"""tenant webhook secrets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:34:51.825866
"""

from collections.abc import Sequence

import sqlalchemy as sa

import service.db.types
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "tenant_webhook_secrets",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("previous_secret", sa.String(length=255), nullable=True),
        sa.Column(
            "previous_secret_expires_at", service.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_webhook_secrets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_webhook_secrets")),
    )


def downgrade() -> None:

    op.drop_table("tenant_webhook_secrets")
