"""eval runs: the runs of an eval, their output items (each stored once), and the ledger's
link to the run an evaluation entry books

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import service.db.types
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, service.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("eval_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("data_source", JSON, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("result_counts", JSON, nullable=True),
        sa.Column("per_model_usage", JSON, nullable=True),
        sa.Column("per_testing_criteria_results", JSON, nullable=True),
        sa.Column("statistics", JSON, nullable=True),
        sa.Column("estimated_cost", service.db.types.Money(), nullable=True),
        sa.Column("cost", service.db.types.Money(), nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("cancel_requested_at"),
        _time("next_step_at"),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        _time("lease_expires_at"),
        _time("heartbeat_at"),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        _time("started_at"),
        _time("finished_at"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_eval_runs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["eval_id"], ["evals.id"], name=op.f("fk_eval_runs_eval_id_evals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_runs")),
    )
    op.create_index("ix_eval_runs_tenant_id", "eval_runs", ["tenant_id"])
    op.create_index("ix_eval_runs_eval_created", "eval_runs", ["eval_id", "created_at"])
    op.create_index("ix_eval_runs_status_next_step", "eval_runs", ["status", "next_step_at"])
    op.create_table(
        "eval_run_output_items",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("eval_id", sa.String(length=40), nullable=False),
        sa.Column("datasource_item_id", sa.Integer(), nullable=False),
        sa.Column("datasource_item", JSON, nullable=False),
        sa.Column("sample", JSON, nullable=True),
        sa.Column("results", JSON, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("usage", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _time("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_eval_run_output_items_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["eval_runs.id"],
            name=op.f("fk_eval_run_output_items_run_id_eval_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_run_output_items")),
        sa.UniqueConstraint("run_id", "datasource_item_id", name="uq_eval_run_output_items_item"),
    )
    op.create_index("ix_eval_run_output_items_tenant_id", "eval_run_output_items", ["tenant_id"])
    op.create_index(
        "ix_eval_run_output_items_run_status", "eval_run_output_items", ["run_id", "status"]
    )
    with op.batch_alter_table("cost_ledger") as batch:
        batch.add_column(sa.Column("eval_run_id", sa.String(length=40), nullable=True))
        batch.create_unique_constraint("uq_cost_ledger_eval_run_kind", ["eval_run_id", "kind"])


def downgrade() -> None:
    with op.batch_alter_table("cost_ledger") as batch:
        batch.drop_constraint("uq_cost_ledger_eval_run_kind", type_="unique")
        batch.drop_column("eval_run_id")
    op.drop_index("ix_eval_run_output_items_run_status", table_name="eval_run_output_items")
    op.drop_index("ix_eval_run_output_items_tenant_id", table_name="eval_run_output_items")
    op.drop_table("eval_run_output_items")
    op.drop_index("ix_eval_runs_status_next_step", table_name="eval_runs")
    op.drop_index("ix_eval_runs_eval_created", table_name="eval_runs")
    op.drop_index("ix_eval_runs_tenant_id", table_name="eval_runs")
    op.drop_table("eval_runs")
