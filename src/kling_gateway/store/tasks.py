"""Task queries. Every status change is a compare-and-set on (id, status[, lease owner]) and
records a ``task_events`` row in the same transaction, so history and state never disagree."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    outerjoin,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import GatewayError, KlingError
from ..schemas.tasks import ACTIVE_STATUSES, TERMINAL_STATUSES
from .anchors import ListAnchors
from .database import Database, Statement, WriteTransaction, insert_of
from .resources import ResourceInsert, ResourceStore, insert_resources
from .tables import accounts, resources, selection_sessions, task_events, tasks, videos

INSERT_BATCH = 128  # most new tasks committed in one transaction
INSERT_LINGER_TURNS = 3  # event-loop turns a batch may wait for more creates (under load only)

# Called inside the transaction that makes a task runnable (created, released, lease expired) with
# (connection, task_id, engine, available_at, again): a distributed job backend enqueues its job
# there, so the job exists exactly when the row change commits (see jobs/distributed.py). ``again``
# is False for a new task and True when it was run before (retry, relay poll, lost worker).
RunnableHook = Callable[[AsyncConnection, str, str | None, int, bool], Awaitable[None]]

# Called inside the insert transaction before a new task's row is written, with (connection,
# row): a per-task admission rule that reads (an engine's queue bound). Raising KlingError
# refuses that task alone; the hook must not write (nothing is rolled back per task).
AdmissionHook = Callable[[AsyncConnection, "TaskRow"], Awaitable[None]]


class BatchCheck(Protocol):
    """A batch admission's rules for one insert batch (see :class:`BatchAdmission`)."""

    def check(self, row: TaskRow) -> None:
        """Raise the KlingError that refuses ``row``; writes nothing."""

    def accept(self, row: TaskRow) -> None:
        """``row`` is admitted: count it for the rows after it."""

    async def write(self, tx: WriteTransaction) -> None:
        """Write what the admitted rows need (after their task rows), in the batch's transaction."""

    def committed(self, rows: Sequence[TaskRow]) -> None:
        """The batch's transaction committed: ``rows`` are its admitted tasks offered to the
        workers (a held, synchronous one is its caller's to count once its outcome is known)."""


class BatchAdmission(Protocol):
    """Admission of a whole insert batch (the ledger: limits, packs, charge; store/ledger.py):
    ``prepare`` reads (and locks) what the rules need once per batch, the rules then run per
    task in Python, so a batch of creates costs a few statements instead of several per task."""

    async def prepare(self, tx: WriteTransaction, rows: Sequence[TaskRow]) -> BatchCheck: ...


# Called inside the transaction that gives a task its terminal status, with (connection, task
# id, status, now, final_unit_deduction as reported by the engine, task_result or None); may
# return the deduction to store instead (the ledger's own charge, re-priced from the result).
TerminalHook = Callable[
    [AsyncConnection, str, str, int, str | None, dict[str, Any] | None], Awaitable[str | None]
]

# Called inside the transaction that withdraws a task (:meth:`TaskStore.withdraw`), with
# (connection, task id), before its row goes: undo what admission wrote (the ledger's charge).
WithdrawHook = Callable[[AsyncConnection, str], Awaitable[None]]


@dataclass(frozen=True)
class TaskRow:
    id: str
    account_id: str
    family: str
    external_task_id: str | None
    status: str
    status_msg: str
    request: str
    result: str | None
    info_extra: str | None
    final_unit_deduction: str | None
    callback_url: str | None
    engine: str | None
    upstream_task_id: str | None
    attempts: int
    lease_owner: str | None
    lease_expires_at: int | None
    available_at: int
    created_at: int
    updated_at: int
    finished_at: int | None
    files_expired_at: int | None

    @property
    def request_body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.request)
        return body


COLUMNS = [tasks.c[name] for name in TaskRow.__dataclass_fields__]


_INSERT_TASK = Statement(insert_of(tasks))
_INSERT_EVENT = Statement(insert_of(task_events))
_BY_ID = Statement(select(*COLUMNS).where(tasks.c.id == bindparam("id")))
_BY_EXTERNAL = Statement(
    select(*COLUMNS).where(
        tasks.c.account_id == bindparam("account_id"),
        tasks.c.external_task_id == bindparam("external_task_id"),
        tasks.c.family == bindparam("family"),
    )
)

# A list page's keys, newest first, with the account's list_version read in the same statement
# (see store/anchors.py): walked in the list index alone (it holds every column but the version,
# one primary-key lookup), so a deep offset reads no table row. From an anchor, the index is
# entered at the anchor's key (a row-value range both databases seek on) instead of its head.
_VERSION = select(accounts.c.list_version).where(accounts.c.id == bindparam("account_id")).scalar_subquery()


def _page_keys(*where: Any) -> Statement:
    return Statement(
        select(_VERSION, tasks.c.created_at, tasks.c.id)
        .where(tasks.c.account_id == bindparam("account_id"), tasks.c.family == bindparam("family"), *where)
        .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


_PAGE_FROM_HEAD = _page_keys()
_PAGE_FROM_ANCHOR = _page_keys(
    tuple_(tasks.c.created_at, tasks.c.id)
    <= tuple_(bindparam("anchor_created_at", type_=BigInteger), bindparam("anchor_id", type_=String))
)
INLINE_SCAN = 1_000  # list index entries a page may walk inline on SQLite (~0.1 ms), else on its thread
_BY_IDS: dict[int, Statement] = {}  # rows by primary key, one statement per count of ids


def _by_ids(count: int) -> Statement:
    query = _BY_IDS.get(count)
    if query is None:
        ids: list[Any] = [bindparam(f"id{n}") for n in range(count)]
        query = _BY_IDS[count] = Statement(select(*COLUMNS).where(tasks.c.id.in_(ids)))
    return query


T = TypeVar("T")


async def read_rows(
    db: Database, query: Statement, params: dict[str, Any], scan: int
) -> Sequence[Sequence[Any]]:
    """Rows of an indexed read that walks about ``scan`` index entries: on SQLite inline when
    that is short (:data:`INLINE_SCAN`: a thread hand-off costs more), else on the range
    reader's thread (plain sqlite3); on PostgreSQL through the read pool."""
    if db.point_reader is not None and scan <= INLINE_SCAN:
        return db.point_reader.all(query.sqlite_sql, query.sqlite_params(params))
    reader = db.range_reader
    if reader is not None:
        return await reader.rows(query.sqlite_sql, query.sqlite_params(params))
    async with db.read.connect() as conn:
        return list((await conn.execute(query.stmt, params)).all())


async def rows_by_ids(db: Database, ids: Sequence[str]) -> dict[str, TaskRow]:
    """The tasks with these ids (by primary key: an ``account_id = ?`` beside the ``IN`` would
    let SQLite walk the account's index instead), by id; unknown ids are left out. Inline on
    SQLite (see :class:`~kling_gateway.store.database.SQLitePointReader`)."""
    if not ids:
        return {}
    query, params = _by_ids(len(ids)), {f"id{n}": task_id for n, task_id in enumerate(ids)}
    found: Sequence[Sequence[Any]]
    if db.point_reader is not None:
        # primary-key lookups (≤ 500, no scan): inline like the other point reads, not queued on
        # the range reader's thread behind deep pages' index walks
        found = db.point_reader.all(query.sqlite_sql, query.sqlite_params(params))
    else:
        async with db.read.connect() as conn:
            found = list((await conn.execute(query.stmt, params)).all())
    return {r[0]: TaskRow(*r) for r in found}


class DuplicateExternalId(GatewayError):
    """Another task of the account already has this ``external_task_id`` (the message)."""


@dataclass(frozen=True)
class VideoInsert:
    id: str
    url: str
    duration: float
    channel: str | None = None
    upstream_video_id: str | None = None


class TaskStore:
    def __init__(self, db: Database):
        self.db = db
        self.resources = ResourceStore(db)
        self.anchors = ListAnchors()
        self.runnable_hooks: list[RunnableHook] = []
        self.batch_admission: list[BatchAdmission] = []
        self.admission_hooks: list[AdmissionHook] = []
        self.terminal_hooks: list[TerminalHook] = []
        self.withdraw_hooks: list[WithdrawHook] = []
        self._pending_inserts: list[tuple[TaskRow, asyncio.Future[None]]] = []
        self._held: set[str] = set()  # inserted for the caller to run (synchronous): not runnable
        self._inserting = False

    async def _runnable(
        self, conn: AsyncConnection, task_id: str, engine: str | None, available_at: int, again: bool
    ) -> None:
        for hook in self.runnable_hooks:
            await hook(conn, task_id, engine, available_at, again)

    # ---- creation and reads -------------------------------------------------------------

    async def insert(self, row: TaskRow, *, runnable: bool = True) -> None:
        """Insert a new task and its first event; DuplicateExternalId on a repeated external id.

        Returns once the row is committed. Concurrent inserts share one transaction (group
        commit): a write transaction costs several round trips to the database whatever it holds,
        so creates under load are batched instead of queueing one by one for the writer.
        ``runnable=False``: the caller runs the task itself (a synchronous family), so the
        runnable hooks are not told (no job is queued for it)."""
        if not runnable:
            self._held.add(row.id)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending_inserts.append((row, future))
        if not self._inserting:
            self._inserting = True
            asyncio.get_running_loop().create_task(self._drain_inserts())
        try:
            await future
        finally:
            self._held.discard(row.id)

    async def _gather_inserts(self) -> None:
        """Up to :data:`INSERT_LINGER_TURNS` turns of the event loop while creates keep joining
        the next batch (as PostgreSQL's ``commit_delay`` waits only when other transactions are
        open): a batch costs about the same few hand-offs whatever it holds, so under load a
        fuller batch is less CPU per create, for a delay of a few loop turns."""
        for _ in range(INSERT_LINGER_TURNS):
            waiting = len(self._pending_inserts)
            if waiting >= INSERT_BATCH:
                return
            await asyncio.sleep(0)
            if len(self._pending_inserts) == waiting:  # nobody joined in that turn
                return

    async def _drain_inserts(self) -> None:
        last = 0  # rows in the previous batch
        try:
            while self._pending_inserts:
                if last > 1:  # creates arrive together: let the ones the loop has ready join
                    await self._gather_inserts()
                batch = self._pending_inserts[:INSERT_BATCH]
                last = len(batch)
                del self._pending_inserts[:INSERT_BATCH]
                try:
                    refused = await self._insert_rows([row for row, _ in batch])
                except Exception as exc:
                    if isinstance(exc, IntegrityError) or len(batch) > 1:
                        # a repeated external_task_id, or one row's admission failed oddly: one row
                        # at a time, so only that row's create hears it
                        for row, future in batch:
                            await self._settle(future, self._insert_one(row), row)
                        continue
                    for _, future in batch:  # the store is down: the waiter hears it
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for row, future in batch:
                    if not future.done():
                        if row.id in refused:
                            future.set_exception(refused[row.id])
                        else:
                            future.set_result(None)
        finally:
            self._inserting = False

    @staticmethod
    async def _settle(future: asyncio.Future[None], work: Awaitable[None], row: TaskRow) -> None:
        try:
            await work
        except IntegrityError as exc:
            error: BaseException = DuplicateExternalId(row.external_task_id or "")
            error.__cause__ = exc
            if not future.done():
                future.set_exception(error)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(None)

    async def _insert_one(self, row: TaskRow) -> None:
        refused = await self._insert_rows([row])
        if row.id in refused:
            raise refused[row.id]

    async def _insert_rows(self, rows: list[TaskRow]) -> dict[str, Exception]:
        """Insert the rows that admission accepts, in one transaction; the refusals by task id.

        Rows are admitted one by one in account order, so each sees the ones before it and
        PostgreSQL takes account locks in one order (no deadlocks). A refusal is a KlingError
        raised before anything of that row is written; any other error fails the transaction
        (the caller retries the batch one row at a time)."""
        refused: dict[str, Exception] = {}
        admitted: list[TaskRow] = []
        async with self.db.writing(shared=bool(self.admission_hooks or self.runnable_hooks)) as tx:
            checks = [await hook.prepare(tx, rows) for hook in self.batch_admission]
            for row in sorted(rows, key=lambda r: r.account_id):
                try:
                    for check in checks:
                        check.check(row)
                    for hook in self.admission_hooks:
                        await hook(tx.conn, row)
                except KlingError as exc:
                    refused[row.id] = exc
                    continue
                for check in checks:
                    check.accept(row)
                if self.admission_hooks:  # the next row's hooks see this one
                    await tx.execute(_INSERT_TASK, [row.__dict__])
                admitted.append(row)
            if admitted:
                if not self.admission_hooks:
                    await tx.execute(_INSERT_TASK, [row.__dict__ for row in admitted])
                for check in checks:
                    await check.write(tx)
                await tx.execute(
                    _INSERT_EVENT,
                    [{"task_id": r.id, "status": r.status, "created_at": r.created_at} for r in admitted],
                )
            for row in admitted:
                if row.id not in self._held:
                    await self._runnable(tx.conn, row.id, row.engine, row.available_at, False)
        offered = [row for row in admitted if row.id not in self._held]
        for check in checks:
            check.committed(offered)
        return refused

    async def get(self, task_id: str) -> TaskRow | None:
        found = await self.db.point(_BY_ID, {"id": task_id})
        return TaskRow(*found) if found else None

    async def find(self, account_id: str, family: str, id_or_external: str) -> TaskRow | None:
        """A task of this account and family by task id, else by external_task_id.

        Two lookups on unique indexes (primary key; account + external id) rather than one OR
        query, which no index serves."""
        row = await self.get(id_or_external)
        if row is not None and row.account_id == account_id and row.family == family:
            return row
        params = {"account_id": account_id, "external_task_id": id_or_external, "family": family}
        found = await self.db.point(_BY_EXTERNAL, params)
        return TaskRow(*found) if found else None

    async def page(
        self,
        account_id: str,
        family: str,
        page_num: int,
        page_size: int,
        known: Callable[[str], T | None] = lambda _task_id: None,
    ) -> list[TaskRow | T]:
        """One list page, newest first: per task, what ``known(task_id)`` has for it (a finished
        task's answer the caller keeps), else its row.

        The page's ids come from the list index alone, entered at the nearest anchor this
        process has seen (store/anchors.py); only the rows ``known`` lacks are read, by primary
        key. On SQLite a short index walk runs inline, a long one on the range reader's thread."""
        offset = (page_num - 1) * page_size
        keys = await self._page_keys(account_id, family, offset, page_size)
        ids = [str(r[2]) for r in keys]
        have = {task_id: known(task_id) for task_id in ids}
        rows = await rows_by_ids(self.db, [task_id for task_id, found in have.items() if found is None])
        page: list[TaskRow | T] = []
        for task_id in ids:
            item = have[task_id]
            if item is not None:
                page.append(item)
            elif task_id in rows:  # else removed between the two reads
                page.append(rows[task_id])
        return page

    async def _page_keys(
        self, account_id: str, family: str, offset: int, limit: int
    ) -> Sequence[Sequence[Any]]:
        """(list_version, created_at, id) of the page's rows: exactly the plain OFFSET query's rows.

        Through the nearest anchor when its version is still the account's (read in the same
        statement), else from the head of the list; the page's first row becomes an anchor."""
        params: dict[str, Any] = {"account_id": account_id, "family": family, "limit": limit}
        anchor = self.anchors.nearest(account_id, family, offset)
        keys: Sequence[Sequence[Any]] = ()
        if anchor is not None:
            params.update(
                offset=offset - anchor.offset, anchor_created_at=anchor.key[0], anchor_id=anchor.key[1]
            )
            keys = await read_rows(self.db, _PAGE_FROM_ANCHOR, params, offset - anchor.offset + limit)
            if keys and keys[0][0] != anchor.version:  # a task was inserted or deleted since
                self.anchors.forget(account_id, family, keys[0][0])
                keys = ()
        if not keys:  # no anchor, a moved one, or past the end (the head read is the judge)
            params["offset"] = offset
            keys = await read_rows(self.db, _PAGE_FROM_HEAD, params, offset + limit)
        if keys:
            self.anchors.learn(account_id, family, keys[0][0], offset, (keys[0][1], keys[0][2]))
        return keys

    async def page_live(
        self, account_id: str, family: str, kind: str, page_num: int, page_size: int
    ) -> list[TaskRow]:
        """:meth:`page` without the tasks whose resource of ``kind`` was deleted (a task still
        running, or failed, has no resource row and is listed)."""
        joined = outerjoin(
            tasks, resources, and_(resources.c.task_id == tasks.c.id, resources.c.kind == kind)
        )
        query = (
            select(*COLUMNS)
            .select_from(joined)
            .where(
                tasks.c.account_id == account_id, tasks.c.family == family, resources.c.deleted_at.is_(None)
            )
            .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
            .limit(page_size)
            .offset((page_num - 1) * page_size)
        )
        async with self.db.read.connect() as conn:
            return [TaskRow(*r) for r in (await conn.execute(query)).all()]

    async def events(self, task_id: str, after_id: int = 0) -> list[tuple[int, str, int]]:
        query = (
            select(task_events.c.id, task_events.c.status, task_events.c.created_at)
            .where(task_events.c.task_id == task_id, task_events.c.id > after_id)
            .order_by(task_events.c.id)
        )
        async with self.db.read.connect() as conn:
            return [(int(r[0]), str(r[1]), int(r[2])) for r in (await conn.execute(query)).all()]

    # ---- leases ------------------------------------------------------------------------

    async def claim(
        self,
        owner: str,
        now: int,
        lease_ms: int,
        engines: Sequence[str] | None = None,
        available_before: int | None = None,
    ) -> TaskRow | None:
        """Lease the oldest runnable task: active, available, and not leased (or lease expired).

        ``available_before`` (default ``now``) only considers tasks runnable since then: the
        fallback loop of distributed workers takes only rows no job picked up for a while.
        """
        free = or_(tasks.c.lease_expires_at.is_(None), tasks.c.lease_expires_at < now)
        ready = now if available_before is None else available_before
        conditions = [tasks.c.status.in_(ACTIVE_STATUSES), tasks.c.available_at <= ready, free]
        if engines is not None:
            conditions.append(tasks.c.engine.in_(list(engines)))
        pick = select(tasks.c.id).where(*conditions).order_by(tasks.c.available_at, tasks.c.id).limit(1)
        if self.db.is_postgres:
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(tasks)
            .where(tasks.c.id == pick.scalar_subquery(), free)
            .values(lease_owner=owner, lease_expires_at=now + lease_ms, attempts=tasks.c.attempts + 1)
            .returning(*COLUMNS)
        )
        async with self.db.write.begin() as conn:
            found = (await conn.execute(stmt)).first()
        return TaskRow(*found) if found else None

    async def claim_one(self, task_id: str, owner: str, now: int, lease_ms: int) -> TaskRow | None:
        """Lease this task if it is runnable now; None when it is leased, waiting or finished.

        Concurrent claims of one row serialise on its row lock and re-check the condition, so
        exactly one wins (a duplicated job finds the row leased and does nothing)."""
        free = or_(tasks.c.lease_expires_at.is_(None), tasks.c.lease_expires_at < now)
        stmt = (
            update(tasks)
            .where(
                tasks.c.id == task_id, tasks.c.status.in_(ACTIVE_STATUSES), tasks.c.available_at <= now, free
            )
            .values(lease_owner=owner, lease_expires_at=now + lease_ms, attempts=tasks.c.attempts + 1)
            .returning(*COLUMNS)
        )
        async with self.db.write.begin() as conn:
            found = (await conn.execute(stmt)).first()
        return TaskRow(*found) if found else None

    async def renew(self, task_id: str, owner: str, expires_at: int) -> bool:
        async with self.db.write.begin() as conn:
            result = await conn.execute(
                update(tasks)
                .where(
                    tasks.c.id == task_id, tasks.c.lease_owner == owner, tasks.c.status.in_(ACTIVE_STATUSES)
                )
                .values(lease_expires_at=expires_at)
            )
        return result.rowcount == 1

    async def release(self, task_id: str, owner: str, available_at: int, **values: Any) -> bool:
        """Give a task back for a later attempt (transient failure, or relay waiting on upstream)."""
        stmt = (
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.lease_owner == owner, tasks.c.status.in_(ACTIVE_STATUSES))
            .values(lease_owner=None, lease_expires_at=None, available_at=available_at, **values)
        )
        return await self.make_runnable(stmt) > 0

    async def make_runnable(self, stmt: Any) -> int:
        """Run an UPDATE that makes tasks runnable; tell the runnable hooks in its transaction;
        returns how many it made runnable."""
        async with self.db.write.begin() as conn:
            if not self.runnable_hooks:
                return int((await conn.execute(stmt)).rowcount)
            freed = (
                await conn.execute(stmt.returning(tasks.c.id, tasks.c.engine, tasks.c.available_at))
            ).all()
            for task_id, engine, available_at in freed:
                await self._runnable(conn, task_id, engine, available_at, True)
        return len(freed)

    async def expired_leases(self, now: int) -> list[str]:
        query = select(tasks.c.id).where(
            tasks.c.status.in_(ACTIVE_STATUSES),
            tasks.c.lease_expires_at.is_not(None),
            tasks.c.lease_expires_at < now,
        )
        async with self.db.read.connect() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    async def clear_expired_lease(self, task_id: str, now: int) -> bool:
        stmt = (
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.status.in_(ACTIVE_STATUSES), tasks.c.lease_expires_at < now)
            .values(lease_owner=None, lease_expires_at=None)
        )
        return await self.make_runnable(stmt) > 0

    # ---- transitions (compare-and-set) -------------------------------------------------

    async def transition(
        self,
        task_id: str,
        *,
        from_statuses: Sequence[str],
        to_status: str,
        now: int,
        owner: str | None = None,
        status_msg: str | None = None,
        result: dict[str, Any] | None = None,
        info_extra: dict[str, Any] | None = None,
        final_unit_deduction: str | None = None,
        new_videos: Sequence[VideoInsert] = (),
        account_id: str | None = None,
        new_resources: tuple[ResourceInsert, ...] = (),
        extra_values: dict[str, Any] | None = None,
    ) -> bool:
        """Move a task from one of ``from_statuses`` to ``to_status``; False if someone else did first."""
        conditions = [tasks.c.id == task_id, tasks.c.status.in_(list(from_statuses))]
        if owner is not None:
            conditions.append(tasks.c.lease_owner == owner)
        values: dict[str, Any] = {"status": to_status, "updated_at": now, **(extra_values or {})}
        if status_msg is not None:
            values["status_msg"] = status_msg
        if result is not None:
            values["result"] = json.dumps(result, separators=(",", ":"))
        if info_extra:
            values["info_extra"] = json.dumps(info_extra, separators=(",", ":"))
        if final_unit_deduction is not None:
            values["final_unit_deduction"] = final_unit_deduction
        if to_status in TERMINAL_STATUSES:
            values.update(finished_at=now, lease_owner=None, lease_expires_at=None)
        async with self.db.write.begin() as conn:
            changed = (await conn.execute(update(tasks).where(and_(*conditions)).values(**values))).rowcount
            if changed != 1:
                return False
            await _event(conn, task_id, to_status, now)
            if to_status in TERMINAL_STATUSES:
                for hook in self.terminal_hooks:
                    charged = await hook(conn, task_id, to_status, now, final_unit_deduction, result)
                    if charged is not None:
                        await conn.execute(
                            update(tasks).where(tasks.c.id == task_id).values(final_unit_deduction=charged)
                        )
            for video in new_videos:
                await conn.execute(
                    insert(videos).values(
                        id=video.id,
                        account_id=account_id,
                        task_id=task_id,
                        url=video.url,
                        duration=video.duration,
                        channel=video.channel,
                        upstream_video_id=video.upstream_video_id,
                        created_at=now,
                    )
                )
            if new_resources:
                assert account_id is not None, "a resource needs its owner"
                await insert_resources(conn, task_id, account_id, new_resources, now)
        return True

    async def withdraw(self, task_id: str, now: int) -> bool:
        """Take back an active task as if it was never created: the withdraw hooks undo its
        admission (the ledger's charge), then its events and its row go, in one transaction.

        For a synchronous call refused for its input after its task was admitted; False when
        the task is no longer active (someone else finished it first: it stays)."""
        async with self.db.write.begin() as conn:
            claimed = await conn.execute(  # the compare-and-set; on PostgreSQL it locks the row
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.status.in_(ACTIVE_STATUSES))
                .values(updated_at=now)
            )
            if claimed.rowcount != 1:
                return False
            for hook in self.withdraw_hooks:
                await hook(conn, task_id)
            await conn.execute(delete(task_events).where(task_events.c.task_id == task_id))
            await conn.execute(delete(tasks).where(tasks.c.id == task_id))
        return True

    async def overdue(self, created_before: int, limit: int = 100) -> list[str]:
        query = (
            select(tasks.c.id)
            .where(tasks.c.status.in_(ACTIVE_STATUSES), tasks.c.created_at < created_before)
            .limit(limit)
        )
        async with self.db.read.connect() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    async def finished_before(self, before: int, limit: int = 500) -> list[str]:
        """Finished tasks whose files are past retention and not yet removed."""
        query = (
            select(tasks.c.id)
            .where(tasks.c.finished_at < before, tasks.c.files_expired_at.is_(None))
            .limit(limit)
        )
        async with self.db.read.connect() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    async def replace_result(self, task_id: str, result: dict[str, Any], now: int) -> None:
        """Rewrite a finished task's result (an element marked deleted keeps its record)."""
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id)
                .values(result=json.dumps(result, separators=(",", ":")), updated_at=now)
            )

    async def mark_files_expired(self, task_id: str, now: int) -> None:
        async with self.db.write.begin() as conn:
            await conn.execute(update(tasks).where(tasks.c.id == task_id).values(files_expired_at=now))

    # ---- videos and selection sessions --------------------------------------------------

    async def video(self, video_id: str, account_id: str) -> dict[str, Any] | None:
        query = select(videos).where(videos.c.id == video_id, videos.c.account_id == account_id)
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def insert_session(self, values: dict[str, Any]) -> None:
        async with self.db.write.begin() as conn:
            await conn.execute(insert(selection_sessions).values(**values))

    async def session(self, session_id: str, account_id: str, now: int) -> dict[str, Any] | None:
        """A live selection session of the account: None when unknown, foreign, or past
        ``expires_at`` at ``now`` (the one lookup rule for the API, the service and the workers)."""
        query = select(selection_sessions).where(
            selection_sessions.c.id == session_id,
            selection_sessions.c.account_id == account_id,
            selection_sessions.c.expires_at >= now,
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def update_session(self, session_id: str, selections: list[dict[str, Any]]) -> None:
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(selection_sessions)
                .where(selection_sessions.c.id == session_id)
                .values(selections=json.dumps(selections))
            )

    async def delete_sessions_before(self, now: int) -> int:
        async with self.db.write.begin() as conn:
            result = await conn.execute(
                delete(selection_sessions).where(selection_sessions.c.expires_at < now)
            )
        return result.rowcount


async def _event(conn: AsyncConnection, task_id: str, status: str, now: int) -> None:
    await conn.execute(insert(task_events).values(task_id=task_id, status=status, created_at=now))
