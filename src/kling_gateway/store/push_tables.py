"""Tables of push delivery (migration 0002): one row per callback to send, one per attempt."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from .tables import metadata

callback_deliveries = Table(
    "callback_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(32), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", String(32), nullable=False),
    # one delivery per status change: the task_events row it announces
    Column(
        "event_id", Integer, ForeignKey("task_events.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    Column("status", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("webhook_id", String(80), nullable=False),  # Standard Webhooks id, stable across retries
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", BigInteger, nullable=True),  # NULL once delivered or given up
    Column("last_attempt_at", BigInteger, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", BigInteger, nullable=True),
    Column("gave_up_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),  # time of the status change
)
Index("ix_callback_deliveries_due", callback_deliveries.c.next_attempt_at)
Index("ix_callback_deliveries_task", callback_deliveries.c.task_id, callback_deliveries.c.event_id)

callback_attempts = Table(
    "callback_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, ForeignKey("callback_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
)
Index("ix_callback_attempts_delivery", callback_attempts.c.delivery_id, callback_attempts.c.attempt)
