"""The durable store: tables, migrations and queries (SQLite or PostgreSQL)."""

from .accounts import AccountRow, AccountStore
from .database import Database
from .tasks import ACTIVE, DuplicateExternalId, TaskRow, TaskStore, VideoInsert

__all__ = [
    "ACTIVE",
    "AccountRow",
    "AccountStore",
    "Database",
    "DuplicateExternalId",
    "TaskRow",
    "TaskStore",
    "VideoInsert",
]
