"""api_keys.session_generation: dashboard logout ends the key's sessions server-side

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 14:30:00.000000

A dashboard session cookie names the generation it was issued under; logout moves the key's
generation on, so a replayed cookie is refused.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
