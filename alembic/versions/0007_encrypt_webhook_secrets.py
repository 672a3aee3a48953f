"""webhook signing secrets encrypted at rest

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:55:00.000000

Encrypts every endpoint and tenant webhook secret (current and previous) with the newest
encryption key; the downgrade decrypts them again.
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from alembic import op
from service.encryption.migration import migration_keyring

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {"webhook_endpoints": "id", "tenant_webhook_secrets": "tenant_id"}


def _rewrite(change: Callable[[str], str]) -> None:
    connection = op.get_bind()
    for name, key in TABLES.items():
        table = sa.table(
            name,
            sa.column(key, sa.String),
            sa.column("secret", sa.String),
            sa.column("previous_secret", sa.String),
        )
        rows = connection.execute(sa.select(table.c[key], table.c.secret, table.c.previous_secret))
        for row_key, secret, previous in rows.all():
            connection.execute(
                table.update()
                .where(table.c[key] == row_key)
                .values(
                    secret=change(secret),
                    previous_secret=change(previous) if previous is not None else None,
                )
            )


def upgrade() -> None:
    _rewrite(migration_keyring().encrypt)


def downgrade() -> None:
    _rewrite(migration_keyring().decrypt)
