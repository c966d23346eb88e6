"""The new standard's cursor listing (``POST /tasks``) reads every family of an account in
``created_at DESC, id DESC`` order: index (account_id, created_at, id).

Revision ID: 0005_standard2
Revises: 0004_ledger
"""

from alembic import op

revision = "0005_standard2"
down_revision = "0004_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_account_created_id", "tasks", ["account_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_account_created_id", table_name="tasks")
