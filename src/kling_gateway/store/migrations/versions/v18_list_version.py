"""A counter per account bumped in the transaction of every task insert and delete: list pages
check it to know that their cached keyset anchors (store/anchors.py) still sit at the offsets
they were seen at.

Revision ID: v18_list_version
Revises: v17_resources
"""

import sqlalchemy as sa
from alembic import op

revision = "v18_list_version"
down_revision = "v17_resources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("list_version", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("list_version")
