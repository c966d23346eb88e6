"""Table definitions (SQLAlchemy Core). Every query is written to run on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("api_key_hash", String(64), nullable=False, unique=True),
    Column("api_key_prefix", String(16), nullable=False),
    Column("access_key", String(64), nullable=False, unique=True),
    Column("secret_key_enc", Text, nullable=False),
    Column("webhook_secret_enc", Text, nullable=False),
    Column("max_concurrent_tasks", Integer, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("daily_unit_cap", BigInteger, nullable=True),  # milli-units per UTC day
    Column("monthly_unit_cap", BigInteger, nullable=True),  # milli-units per UTC month
    Column("rate_limit_per_second", Float, nullable=True),  # overrides the global setting
    Column("rate_limit_burst", Integer, nullable=True),
    # bumped by a trigger with every task row of the account inserted or deleted (migration
    # v18_list_version; list anchors, store/anchors.py)
    Column("list_version", BigInteger, nullable=False, default=0, server_default="0"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("family", String(64), nullable=False),
    Column("external_task_id", String(128), nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_msg", Text, nullable=False, default=""),
    Column("request", Text, nullable=False),  # JSON, as the client sent it
    Column("result", Text, nullable=True),  # JSON task_result with storage: refs
    Column("info_extra", Text, nullable=True),  # JSON merged into task_info (parent_video)
    Column("final_unit_deduction", String(32), nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("engine", String(64), nullable=True),  # engine or channel that holds the task
    Column("upstream_task_id", String(128), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("available_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("files_expired_at", BigInteger, nullable=True),
    UniqueConstraint("account_id", "external_task_id", name="uq_tasks_account_external"),
)
Index(
    "ix_tasks_account_family_created_id", tasks.c.account_id, tasks.c.family, tasks.c.created_at, tasks.c.id
)
Index("ix_tasks_account_created_id", tasks.c.account_id, tasks.c.created_at, tasks.c.id)
Index("ix_tasks_claim", tasks.c.status, tasks.c.available_at)
Index("ix_tasks_finished", tasks.c.finished_at)

task_events = Table(
    "task_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(32), ForeignKey("tasks.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_task_events_task", task_events.c.task_id, task_events.c.id)

videos = Table(
    "videos",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("task_id", String(32), ForeignKey("tasks.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("duration", Float, nullable=False),
    Column("channel", String(64), nullable=True),
    Column("upstream_video_id", String(128), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

# Resources a task made that later tasks name by id: custom voices and elements. ``id`` is the
# gateway's id (the creating task's id); ``channel``/``upstream_id`` say where a relayed one lives
# upstream (follow-up tasks are pinned there); ``deleted_at`` is set by a delete call.
resources = Table(
    "resources",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # "voice" | "element"
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("task_id", String(32), ForeignKey("tasks.id"), nullable=False),
    Column("channel", String(64), nullable=True),
    Column("upstream_id", String(128), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
)
Index("ix_resources_task", resources.c.task_id)

selection_sessions = Table(
    "selection_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("video_id", String(32), nullable=True),
    Column("video_url", Text, nullable=False),  # storage: ref of the normalized video
    Column("info", Text, nullable=False),  # JSON: fps, width, height, duration, total_frame
    Column("selections", Text, nullable=False),  # JSON list
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# Resource packs an operator granted to an account (Kling's resource_pack_subscribe_infos).
resource_packs = Table(
    "resource_packs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("pack_type", String(32), nullable=False),  # decreasing_total | constant_period
    Column("package_type", String(16), nullable=False),  # video | image | audio | try_on
    Column("total_milli", BigInteger, nullable=False),
    Column("remaining_milli", BigInteger, nullable=False),
    Column("concurrency", Integer, nullable=True),  # slots per model version while the pack is online
    Column("effective_time", BigInteger, nullable=False),
    Column("invalid_time", BigInteger, nullable=False),
    Column("purchase_time", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)
Index("ix_resource_packs_account", resource_packs.c.account_id, resource_packs.c.invalid_time)

# One entry per task, written at admission (charged) and closed with the task's terminal status
# (settled, or refunded when it failed).
ledger = Table(
    "ledger",
    metadata,
    Column("task_id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("family", String(64), nullable=False),
    Column("model", String(64), nullable=False),
    Column("resolution", String(16), nullable=False),
    Column("seconds", Float, nullable=True),
    Column("items", Integer, nullable=False),
    Column("slots", Integer, nullable=False),
    Column("package_type", String(16), nullable=False),
    Column("units_milli", BigInteger, nullable=False),
    Column("draws", Text, nullable=False),  # JSON [[pack_id, milli, remaining_before], ...]
    Column("status", String(16), nullable=False),  # charged | settled | refunded
    Column("upstream_units", String(32), nullable=True),  # a relay's final_unit_deduction
    Column("created_at", BigInteger, nullable=False),
    Column("settled_at", BigInteger, nullable=True),
    # re-priced at completion above what was held, and the packs could not cover the rest
    Column("shortfall_milli", BigInteger, nullable=False, server_default="0"),
)
Index("ix_ledger_account_created", ledger.c.account_id, ledger.c.created_at, ledger.c.task_id)
Index("ix_ledger_created", ledger.c.created_at, ledger.c.task_id)
