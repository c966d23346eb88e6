"""Accounting: spend caps on accounts, resource packs, and the per-task usage ledger.

Revision ID: 0004_ledger
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_ledger"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("daily_unit_cap", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("monthly_unit_cap", sa.BigInteger, nullable=True))
    op.create_table(
        "resource_packs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("pack_type", sa.String(32), nullable=False),
        sa.Column("package_type", sa.String(16), nullable=False),
        sa.Column("total_milli", sa.BigInteger, nullable=False),
        sa.Column("remaining_milli", sa.BigInteger, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=True),
        sa.Column("effective_time", sa.BigInteger, nullable=False),
        sa.Column("invalid_time", sa.BigInteger, nullable=False),
        sa.Column("purchase_time", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_resource_packs_account", "resource_packs", ["account_id", "invalid_time"])
    op.create_table(
        "ledger",
        sa.Column("task_id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("resolution", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("package_type", sa.String(16), nullable=False),
        sa.Column("units_milli", sa.BigInteger, nullable=False),
        sa.Column("draws", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("upstream_units", sa.String(32), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("settled_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_ledger_account_created", "ledger", ["account_id", "created_at", "task_id"])
    op.create_index("ix_ledger_created", "ledger", ["created_at", "task_id"])


def downgrade() -> None:
    op.drop_table("ledger")
    op.drop_table("resource_packs")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("monthly_unit_cap")
        batch.drop_column("daily_unit_cap")
