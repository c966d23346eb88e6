"""Resources made by tasks and named by later ones (custom voices, elements): owner, upstream
origin of relayed ones, deletion.

Revision ID: v17_resources
Revises: l16_accounting2
"""

import sqlalchemy as sa
from alembic import op

revision = "v17_resources"
down_revision = "l16_accounting2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("task_id", sa.String(32), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("upstream_id", sa.String(128), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("deleted_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_resources_task", "resources", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_resources_task", table_name="resources")
    op.drop_table("resources")
