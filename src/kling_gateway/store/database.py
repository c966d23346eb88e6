"""Engines, connection settings and migrations for SQLite (embedded) and PostgreSQL.

SQLite gets two engines: reads use ordinary deferred transactions (WAL lets them run beside a
writer), writes use ``BEGIN IMMEDIATE`` so two writers queue on ``busy_timeout`` instead of
failing with "database is locked" when a read lock would have to be upgraded. On PostgreSQL
both names point at the same engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Insert, Select, Table, Update, bindparam, event, insert, text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Connection, processors
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from ..fsmodes import DIR_MODE, create_private_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_325_001


_ENDED = "kling_gateway.transaction_ended"  # in a pooled connection's info: its transaction ended


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int, max_overflow: int) -> AsyncEngine:
    # The pool rolls a returned connection back as it would (pool_reset_on_return="rollback"),
    # except after a WriteTransaction ended its transaction itself (``_ENDED``): for a create
    # batch that rollback would be one more hand-off to aiosqlite's thread.
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_reset_on_return=None
    )

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, state: PoolResetState
    ) -> None:
        ended = record.info.pop(_ENDED, False)
        if not (ended or state.transaction_was_reset or state.terminate_only or not state.asyncio_safe):
            dbapi_connection.rollback()

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


def insert_of(table: Table) -> Insert:
    """An INSERT of a new row of ``table``, for :class:`Statement`: each column from the parameter
    of its name, but those the database fills itself (a server default, the autoincrement key)."""
    filled = [c for c in table.c if c.server_default is None and c is not table.autoincrement_column]
    return insert(table).values({c.name: bindparam(c.name) for c in filled})


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
        # the parameters in order, picked in C (a create batch picks 40 per task)
        self._pick = operator.itemgetter(*self.positions) if len(self.positions) > 1 else None

    def sqlite_params(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        if self._fixed:
            params = {**params, **self._fixed}
        if self._pick is None:
            return tuple(params[name] for name in self.positions)
        picked: tuple[Any, ...] = self._pick(params)
        return picked


class WriteTransaction:
    """One write transaction for a batch's own statements (:class:`Statement`):
    :meth:`rows` reads, :meth:`execute` writes. This one runs them through SQLAlchemy's
    transaction on :attr:`conn` (PostgreSQL, or SQLite when hooks run their own statements in
    the transaction); on SQLite, :class:`_SQLiteTransaction` runs them on the driver."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    @property
    def postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    async def rows(self, query: Statement, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return list((await self.conn.execute(query.stmt, dict(params))).all())

    async def execute(
        self,
        query: Statement,
        params: Sequence[Mapping[str, Any]],
        *,
        unless_changed: Exception | None = None,
    ) -> None:
        """Run ``query`` once per parameter set; raise ``unless_changed`` (failing the
        transaction) when it changes no row (a guarded UPDATE)."""
        result = await self.conn.execute(query.stmt, [dict(p) for p in params])
        if unless_changed is not None and result.rowcount == 0:
            raise unless_changed


_Write = tuple[str, list[tuple[Any, ...]], Exception | None]  # SQL, parameter sets, unless_changed


class _SQLiteTransaction(WriteTransaction):
    """The batch's statements straight on aiosqlite's connection, in its thread, as compiled
    once for SQLite: ``BEGIN IMMEDIATE`` goes with the first read, writes wait for the next read
    or the ``COMMIT`` and go with it. A create batch (its admission's reads, then its inserts)
    is two hand-offs to aiosqlite's thread; through SQLAlchemy it was nine (a cursor, its
    execute and its close per statement, the begin, the commit and the pool's reset), each a
    thread switch and a wake-up of the event loop, and every row's parameters converted.

    A function runs in aiosqlite's thread through ``Connection._execute`` (aiosqlite's own
    methods are built on it; SQLAlchemy's adapter queues work on the same thread the same way).
    sqlite3's errors leave as SQLAlchemy's (``IntegrityError`` for a repeated key), as they
    would through SQLAlchemy. :attr:`conn` holds no transaction here: nothing else may run on it."""

    def __init__(self, conn: AsyncConnection, driver: Any):
        super().__init__(conn)
        self._driver = driver  # aiosqlite.Connection
        self._begun = False
        self._writes: list[_Write] = []

    async def rows(self, query: Statement, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return await self._hand_off(query.sqlite_sql, query.sqlite_params(params), None)

    async def execute(
        self,
        query: Statement,
        params: Sequence[Mapping[str, Any]],
        *,
        unless_changed: Exception | None = None,
    ) -> None:
        self._writes.append((query.sqlite_sql, [query.sqlite_params(p) for p in params], unless_changed))

    async def commit(self) -> None:
        if self._begun or self._writes:
            await self._hand_off(None, (), "COMMIT")

    async def rollback(self) -> None:
        if self._begun:
            await self._driver._execute(_rollback, self._driver._conn)

    async def _hand_off(
        self, read: str | None, params: tuple[Any, ...], end: str | None
    ) -> list[Sequence[Any]]:
        writes, self._writes = self._writes, []
        begin, self._begun = not self._begun, True
        try:
            found: list[Sequence[Any]] = await self._driver._execute(
                _run, self._driver._conn, begin, writes, read, params, end
            )
        except sqlite3.Error as exc:
            raise DBAPIError.instance(read or end or "", None, exc, sqlite3.Error) from exc
        return found


def _run(
    conn: sqlite3.Connection,
    begin: bool,
    writes: list[_Write],
    read: str | None,
    params: tuple[Any, ...],
    end: str | None,
) -> list[Any]:
    """In aiosqlite's thread: BEGIN, the waiting writes, one read, the end, in that order."""
    if begin:
        conn.execute("BEGIN IMMEDIATE")
    for sql, sets, unless_changed in writes:
        cursor = conn.execute(sql, sets[0]) if len(sets) == 1 else conn.executemany(sql, sets)
        if unless_changed is not None and cursor.rowcount == 0:
            raise unless_changed
    found = conn.execute(read, params).fetchall() if read is not None else []
    if end is not None:
        conn.execute(end)
    return found


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


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
    async def writing(self, *, shared: bool = False) -> AsyncIterator[WriteTransaction]:
        """A write transaction, committed when the block ends, rolled back when it raises.
        ``shared``: hooks run their own statements on its ``conn`` (SQLAlchemy's transaction
        then, on SQLite too); otherwise SQLite runs it on the driver (:class:`_SQLiteTransaction`)."""
        if self.dialect != "sqlite" or shared:
            async with self.write.begin() as conn:
                yield WriteTransaction(conn)
            return
        async with self.write.connect() as conn:
            raw = await conn.get_raw_connection()
            tx = _SQLiteTransaction(conn, raw.driver_connection)
            try:
                yield tx
                await tx.commit()
            except BaseException:
                try:
                    await tx.rollback()
                except Exception:  # the connection is broken: the pool must not hand it out again
                    await conn.invalidate()
                raise
            raw.info[_ENDED] = True  # nothing for the pool to roll back

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
