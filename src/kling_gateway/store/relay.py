"""The few task queries the relay needs beyond :class:`~kling_gateway.store.TaskStore`.

Slot accounting lives in the database (the truth every worker process shares): a task holds a
slot of channel C while it is active with ``engine = C`` and an ``upstream_task_id`` (the
placeholder :data:`PENDING` marks a create call in flight, so a crash mid-submit is detectable).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..schemas.tasks import ACTIVE_STATUSES, TaskStatus
from .tables import tasks
from .tasks import TaskStore

PENDING = "?"  # upstream_task_id while a create call is in flight


class RelayStore:
    def __init__(self, store: TaskStore):
        self.store = store
        self.db = store.db

    async def in_flight(self, channel: str) -> int:
        query = (
            select(func.count())
            .select_from(tasks)
            .where(
                tasks.c.engine == channel,
                tasks.c.upstream_task_id.is_not(None),
                tasks.c.status.in_(ACTIVE_STATUSES),
            )
        )
        async with self.db.read.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    def _waiting(self, channels: Sequence[str]):  # type: ignore[no-untyped-def]
        return and_(
            tasks.c.status == TaskStatus.SUBMITTED,
            tasks.c.upstream_task_id.is_(None),
            tasks.c.engine.in_(list(channels)),
        )

    async def waiting_count(self, channels: Sequence[str], conn: AsyncConnection | None = None) -> int:
        """Tasks accepted for these channels and not yet sent upstream (on ``conn`` when given:
        inside a create's admission transaction, counting the tasks it already inserted)."""
        query = select(func.count()).select_from(tasks).where(self._waiting(channels))
        if conn is not None:
            return int((await conn.execute(query)).scalar_one())
        async with self.db.read.connect() as read:
            return int((await read.execute(query)).scalar_one())

    async def queue_rank(self, task_id: str, created_at: int, channels: Sequence[str]) -> int:
        """How many tasks waiting for the same channels were created before this one."""
        earlier = or_(
            tasks.c.created_at < created_at, and_(tasks.c.created_at == created_at, tasks.c.id < task_id)
        )
        query = select(func.count()).select_from(tasks).where(self._waiting(channels), earlier)
        async with self.db.read.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def reserve(self, task_id: str, owner: str | None, channel: str, limit: int | None) -> bool:
        """Take a slot of ``channel`` for this task (marks the create call as in flight)."""
        conditions = [tasks.c.id == task_id, tasks.c.status.in_(ACTIVE_STATUSES)]
        if owner is not None:
            conditions.append(tasks.c.lease_owner == owner)
        if limit is not None:
            used = (
                select(func.count())
                .select_from(tasks)
                .where(
                    tasks.c.engine == channel,
                    tasks.c.upstream_task_id.is_not(None),
                    tasks.c.status.in_(ACTIVE_STATUSES),
                    tasks.c.id != task_id,
                )
                .scalar_subquery()
            )
            conditions.append(used < limit)
        async with self.db.write.begin() as conn:
            result = await conn.execute(
                update(tasks).where(*conditions).values(engine=channel, upstream_task_id=PENDING)
            )
        return result.rowcount == 1

    async def set_upstream(self, task_id: str, channel: str, upstream_task_id: str | None) -> None:
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.status.in_(ACTIVE_STATUSES))
                .values(engine=channel, upstream_task_id=upstream_task_id)
            )

    async def runnable_now(self, task_ids: Sequence[str], now: int) -> int:
        """Make tasks (not currently leased) runnable at once, in one write: an upstream callback
        arrived, or a list sweep saw them change; returns how many. Workers claim in
        ``available_at`` order: it is set back to the task's creation, so news the upstream has
        already delivered is not queued behind every task that became runnable since (a burst of
        creates still going out)."""
        if not task_ids:
            return 0
        return await self.store.make_runnable(
            update(tasks)
            .where(
                tasks.c.id.in_(list(task_ids)),
                tasks.c.status.in_(ACTIVE_STATUSES),
                tasks.c.lease_owner.is_(None),
                tasks.c.available_at > now,
            )
            .values(available_at=tasks.c.created_at)
        )

    async def wake_waiting(self, channels: Sequence[str], count: int, now: int) -> int:
        """A slot freed: make the oldest ``count`` tasks waiting for these channels runnable now."""
        if count <= 0:
            return 0
        oldest = (
            select(tasks.c.id)
            .where(self._waiting(channels), tasks.c.lease_owner.is_(None))
            .order_by(tasks.c.created_at, tasks.c.id)
            .limit(count)
        )
        async with self.db.read.connect() as conn:
            ids = [r[0] for r in (await conn.execute(oldest)).all()]
        woken = 0
        for task_id in ids:
            woken += await self.store.make_runnable(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.lease_owner.is_(None), tasks.c.available_at > now)
                .values(available_at=now)
            )
        return woken
