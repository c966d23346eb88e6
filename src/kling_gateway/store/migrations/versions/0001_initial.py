"""Initial schema: accounts, tasks, task events, videos, selection sessions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("api_key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("api_key_prefix", sa.String(16), nullable=False),
        sa.Column("access_key", sa.String(64), nullable=False, unique=True),
        sa.Column("secret_key_enc", sa.Text, nullable=False),
        sa.Column("webhook_secret_enc", sa.Text, nullable=False),
        sa.Column("max_concurrent_tasks", sa.Integer, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("external_task_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_msg", sa.Text, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("info_extra", sa.Text, nullable=True),
        sa.Column("final_unit_deduction", sa.String(32), nullable=True),
        sa.Column("callback_url", sa.Text, nullable=True),
        sa.Column("engine", sa.String(64), nullable=True),
        sa.Column("upstream_task_id", sa.String(128), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger, nullable=True),
        sa.Column("available_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("files_expired_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("account_id", "external_task_id", name="uq_tasks_account_external"),
    )
    op.create_index("ix_tasks_account_family_created", "tasks", ["account_id", "family", "created_at"])
    op.create_index("ix_tasks_claim", "tasks", ["status", "available_at"])
    op.create_index("ix_tasks_finished", "tasks", ["finished_at"])
    op.create_table(
        "task_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(32), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_task_events_task", "task_events", ["task_id", "id"])
    op.create_table(
        "videos",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("task_id", sa.String(32), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("upstream_video_id", sa.String(128), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "selection_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("video_id", sa.String(32), nullable=True),
        sa.Column("video_url", sa.Text, nullable=False),
        sa.Column("info", sa.Text, nullable=False),
        sa.Column("selections", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for name in ("selection_sessions", "videos", "task_events", "tasks", "accounts"):
        op.drop_table(name)
