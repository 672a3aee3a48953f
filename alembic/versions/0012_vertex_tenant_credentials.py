"""provider_credentials.bucket: a tenant's own Vertex AI service account and bucket

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 15:00:00.000000

For Vertex the encrypted secret is the service account's JSON key; the bucket its datasets
go to is kept beside it (not a secret).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("provider_credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bucket", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provider_credentials", schema=None) as batch_op:
        batch_op.drop_column("bucket")
