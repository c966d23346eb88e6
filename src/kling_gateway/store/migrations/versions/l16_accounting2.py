"""Accounting, second round: the unpaid part of a re-priced charge, per-account rate limits.

Revision ID: l16_accounting2
Revises: h13_idempotency
"""

import sqlalchemy as sa
from alembic import op

revision = "l16_accounting2"
down_revision = "h13_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("shortfall_milli", sa.BigInteger, nullable=False, server_default="0"))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("rate_limit_per_second", sa.Float, nullable=True))
        batch.add_column(sa.Column("rate_limit_burst", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("rate_limit_burst")
        batch.drop_column("rate_limit_per_second")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("shortfall_milli")
