"""Engines, connection settings and migrations for SQLite (embedded) and PostgreSQL.

SQLite gets two engines: reads use ordinary deferred transactions (WAL lets them run beside a
writer), writes use ``BEGIN IMMEDIATE`` so two writers queue on ``busy_timeout`` instead of
failing with "database is locked" when a read lock would have to be upgraded. On PostgreSQL
both names point at the same engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Select, event, text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from ..fsmodes import DIR_MODE, create_private_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_325_001


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int, max_overflow: int) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Hand transaction control to the "begin" hook below (pysqlite's own is unreliable).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class SQLitePointReader:
    """Primary-key and unique-index lookups on a plain sqlite3 connection, run in the calling thread.

    The polling hot path reads one row by key. Through SQLAlchemy + aiosqlite that is a thread
    hand-off, a BEGIN and statement compilation per call; a WAL reader never waits on a writer, so
    an indexed lookup here takes tens of microseconds and is cheaper to run inline on the event loop.
    """

    def __init__(self, path: str):
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=15000")
            conn.execute("PRAGMA query_only=ON")
            self._conn = conn
        return self._conn

    def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._connection().execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._connection().execute(sql, params).fetchall()
        return rows

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PointQuery:
    """A lookup by an indexed key (one row, or one list page), written once in SQLAlchemy.

    On SQLite it runs on the inline :class:`SQLitePointReader` as the same statement compiled
    once for the SQLite dialect (``?`` placeholders, in :attr:`positions` order), so there is
    no second SQL text to keep in step with the first."""

    def __init__(self, stmt: Select[Any]):
        self.stmt = stmt
        compiled = stmt.compile(dialect=sqlite_dialect())
        self.sqlite_sql = str(compiled)
        self.positions: tuple[str, ...] = tuple(compiled.positiontup or ())

    def sqlite_params(self, params: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(params[name] for name in self.positions)


class SQLiteRangeReader(SQLitePointReader):
    """Index-ordered range reads (list pages) on a plain sqlite3 connection of their own, in one
    worker thread.

    A deep page walks tens of thousands of index entries (milliseconds): that must not stall the
    event loop, but one hand-off to a thread of its own costs tens of microseconds where
    SQLAlchemy + aiosqlite spend about a millisecond of CPU per query. SQLite releases the GIL
    while it scans; pages queue on the one thread."""

    def __init__(self, path: str):
        super().__init__(path)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-pages")

    async def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.all, sql, params)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        super().close()


class Database:
    """The gateway's connection to its store."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int | None = None):
        self.url = url
        overflow = pool_size if max_overflow is None else max_overflow
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            if "///" in url:  # the file is created 0600 before SQLite opens it (its -wal/-shm follow)
                db_file = Path(url.split("///", 1)[1])
                db_file.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                create_private_file(db_file)
            self.read = _sqlite_engine(url, immediate=False, pool_size=pool_size, max_overflow=overflow)
            # One writer connection per process: SQLite runs one write transaction at a time anyway,
            # and waiting for the pool is a fair asyncio queue where SQLite's busy handler sleeps
            # and retries (create p99 of seconds under load). Other processes still use busy_timeout.
            self.write = _sqlite_engine(url, immediate=True, pool_size=1, max_overflow=0)
            self.point_reader: SQLitePointReader | None = SQLitePointReader(url.split("///", 1)[1])
            self.range_reader: SQLiteRangeReader | None = SQLiteRangeReader(url.split("///", 1)[1])
        else:
            # No pre-ping: it costs a round trip per checkout on the polling hot path; connections
            # broken by a server restart are invalidated on first use and the pool refills.
            self.read = self.write = create_async_engine(
                url, pool_size=pool_size, max_overflow=overflow, pool_recycle=1800
            )
            self.point_reader = None
            self.range_reader = None

    async def point(self, query: PointQuery, params: dict[str, Any]) -> Sequence[Any] | None:
        """One row by an indexed key: inline on SQLite (see :class:`SQLitePointReader`), else
        through the read pool."""
        if self.point_reader is not None:
            return self.point_reader.one(query.sqlite_sql, query.sqlite_params(params))
        async with self.read.connect() as conn:
            row: Sequence[Any] | None = (await conn.execute(query.stmt, params)).first()
        return row

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    async def migrate(self) -> None:
        """Apply Alembic migrations up to head (serialised across processes on PostgreSQL)."""

        def upgrade(connection: Connection) -> None:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

        async with self.write.begin() as conn:
            await conn.run_sync(upgrade)

    async def dispose(self) -> None:
        if self.point_reader is not None:
            self.point_reader.close()
        if self.range_reader is not None:
            self.range_reader.close()
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()
