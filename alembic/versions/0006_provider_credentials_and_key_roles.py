"""tenant provider credentials, operator fallback per tenant, API key roles

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:50:00.000000

Keys that were ``is_admin`` were global across tenants; they become ``operator`` keys, which
is what they were.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import service.db.types
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_credentials",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=False),
        sa.Column("api_key_last4", sa.String(length=4), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.Column("organization", sa.String(length=255), nullable=True),
        sa.Column("project", sa.String(length=255), nullable=True),
        sa.Column("created_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_provider_credentials_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "provider", name=op.f("pk_provider_credentials")),
    )
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column(
                "operator_credentials_fallback",
                sa.Boolean(),
                server_default=sa.true(),
                nullable=False,
            )
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), server_default="member", nullable=False)
        )
    api_keys = sa.table("api_keys", sa.column("role", sa.String), sa.column("is_admin", sa.Boolean))
    op.execute(api_keys.update().where(api_keys.c.is_admin == sa.true()).values(role="operator"))
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("is_admin")


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    api_keys = sa.table("api_keys", sa.column("role", sa.String), sa.column("is_admin", sa.Boolean))
    op.execute(api_keys.update().where(api_keys.c.role == "operator").values(is_admin=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("is_admin", server_default=None)
        batch.drop_column("role")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("operator_credentials_fallback")
    op.drop_table("provider_credentials")
