"""The durable store: tables, migrations and queries (SQLite or PostgreSQL)."""

from .accounts import AccountRow, AccountStore
from .database import Database
from .ledger import DailyUsage, LedgerRow, LedgerStore, PackRow, UsageQuery
from .resources import ResourceInsert, ResourceRow, ResourceStore
from .tasks import DuplicateExternalId, TaskRow, TaskStore, VideoInsert

__all__ = [
    "AccountRow",
    "AccountStore",
    "DailyUsage",
    "Database",
    "DuplicateExternalId",
    "LedgerRow",
    "LedgerStore",
    "PackRow",
    "ResourceInsert",
    "ResourceRow",
    "ResourceStore",
    "TaskRow",
    "TaskStore",
    "UsageQuery",
    "VideoInsert",
]
