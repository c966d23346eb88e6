"""Engines, connection settings and migrations for SQLite (embedded) and PostgreSQL.

SQLite gets two engines: reads use ordinary deferred transactions (WAL lets them run beside a
writer), writes use ``BEGIN IMMEDIATE`` so two writers queue on ``busy_timeout`` instead of
failing with "database is locked" when a read lock would have to be upgraded. On PostgreSQL
both names point at the same engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Insert, Select, Table, Update, bindparam, event, insert, text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Connection, processors
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
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


# Bind conversions SQLite does itself: ``float()`` for a REAL column (its affinity makes an int a
# REAL; a float is unchanged).
_AS_SQLITE_DOES = (None, processors.to_float)


def insert_of(table: Table, names: Iterable[str]) -> Insert:
    """An INSERT of these columns of ``table`` (each from the parameter of its name; the others
    take their defaults), for :class:`Statement`."""
    return insert(table).values({name: bindparam(name) for name in names})


class Statement:
    """A statement written once in SQLAlchemy: a lookup by an indexed key (one row, one list
    page) or one of the create batch's writes.

    On SQLite it runs straight on the driver's connection (the inline :class:`SQLitePointReader`
    for reads, aiosqlite's for :class:`WriteTransaction`) as the same statement compiled once
    for the SQLite dialect (``?`` placeholders, in :attr:`positions` order), so there is no
    second SQL text to keep in step with the first. That hands the parameters over as they are:
    a statement whose parameters SQLAlchemy would convert or expand (``in_``) for SQLite is
    refused here."""

    def __init__(self, stmt: Select[Any] | Insert | Update):
        self.stmt = stmt
        dialect = sqlite_dialect()
        compiled = stmt.compile(dialect=dialect)
        self.sqlite_sql = str(compiled)
        self.positions: tuple[str, ...] = tuple(compiled.positiontup or ())
        converted = [
            n
            for n, b in compiled.binds.items()
            if b.expanding or b.type.bind_processor(dialect) not in _AS_SQLITE_DOES
        ]
        if converted:  # a list for ``in_`` is expanded by SQLAlchemy when it runs the statement
            raise TypeError(f"parameters {converted} need SQLAlchemy's conversion: {self.sqlite_sql}")
        # values the statement holds itself (``status == "queued"``): the caller does not pass them
        self._fixed = {n: compiled.binds[n].value for n in self.positions if not compiled.binds[n].required}

    def sqlite_params(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        if not self._fixed:
            return tuple(params[name] for name in self.positions)
        fixed = self._fixed
        return tuple(fixed[name] if name in fixed else params[name] for name in self.positions)


class WriteTransaction:
    """One write transaction: SQLAlchemy's connection (:attr:`conn`, for the hooks that run in
    it) and :meth:`rows` / :meth:`execute` for a batch's own statements (:class:`Statement`).

    On SQLite those run on the transaction's aiosqlite connection itself (its public
    ``execute_fetchall`` / ``execute`` / ``executemany``): one hand-off to its thread per
    statement, where SQLAlchemy's adapter takes three or four (cursor, execute, fetch, close)
    and converts every row's parameters in Python. A create batch is a handful of statements,
    so this is most of its store CPU. sqlite3's errors leave as SQLAlchemy's (``IntegrityError``
    for a repeated external id), as they would through SQLAlchemy."""

    def __init__(self, conn: AsyncConnection, driver: Any | None):
        self.conn = conn
        self._driver = driver  # aiosqlite.Connection on SQLite, else None

    async def rows(self, query: Statement, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        if self._driver is None:
            return list((await self.conn.execute(query.stmt, dict(params))).all())
        try:
            found = await self._driver.execute_fetchall(query.sqlite_sql, query.sqlite_params(params))
        except sqlite3.Error as exc:
            raise _dbapi_error(query, exc) from exc
        return list(found)

    async def execute(self, query: Statement, params: Sequence[Mapping[str, Any]]) -> int:
        """Run ``query`` once per parameter set (executemany); the rows it changed (an
        UPDATE's count: psycopg reports -1 for an INSERT)."""
        if self._driver is None:
            result = await self.conn.execute(query.stmt, [dict(p) for p in params])
            return int(result.rowcount)
        try:
            if len(params) == 1:
                cursor = await self._driver.execute(query.sqlite_sql, query.sqlite_params(params[0]))
            else:
                sets = [query.sqlite_params(p) for p in params]
                cursor = await self._driver.executemany(query.sqlite_sql, sets)
        except sqlite3.Error as exc:
            raise _dbapi_error(query, exc) from exc
        return int(cursor.rowcount)


def _dbapi_error(query: Statement, exc: sqlite3.Error) -> StatementError:
    """sqlite3's error as SQLAlchemy raises it (``IntegrityError`` for ``sqlite3.IntegrityError``)."""
    return DBAPIError.instance(query.sqlite_sql, None, exc, sqlite3.Error)


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

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[WriteTransaction]:
        """A write transaction (committed when the block ends, rolled back when it raises)."""
        async with self.write.begin() as conn:
            driver = None
            if self.dialect == "sqlite":
                driver = (await conn.get_raw_connection()).driver_connection
            yield WriteTransaction(conn, driver)

    async def point(self, query: Statement, params: dict[str, Any]) -> Sequence[Any] | None:
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
