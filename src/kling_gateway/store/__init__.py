"""The durable store: tables, migrations and queries (SQLite or PostgreSQL)."""

from .accounts import AccountRow, AccountStore
from .database import Database
from .tasks import DuplicateExternalId, TaskRow, TaskStore, VideoInsert

__all__ = [
    "AccountRow",
    "AccountStore",
    "Database",
    "DuplicateExternalId",
    "TaskRow",
    "TaskStore",
    "VideoInsert",
]
