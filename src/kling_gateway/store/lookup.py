"""Reads across families for the new standard's ``/tasks``: batches by id or external id, and a
keyset (cursor) listing over ``(account_id, created_at, id)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import and_, or_, select

from .database import Database
from .tables import tasks
from .tasks import COLUMNS, TaskRow, rows_by_ids

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    """Where a listing page ended: the last row's ``(created_at, id)``; the next page starts
    strictly after it in ``created_at DESC, id DESC`` order, so rows created meanwhile (newer)
    never shift the pages still to come."""

    created_at: int
    id: str


class TaskLookup:
    def __init__(self, db: Database):
        self.db = db

    async def by_ids(
        self,
        account_id: str,
        ids: Sequence[str],
        known: Callable[[str], T | None] = lambda _task_id: None,
    ) -> list[TaskRow | T]:
        """The account's tasks with these ids, in the order asked (unknown or foreign: left
        out): per task, what ``known(task_id)`` has for it (the caller's kept answer of a
        finished task of this account), else its row, read by primary key."""
        wanted = list(dict.fromkeys(ids))
        have = {task_id: known(task_id) for task_id in wanted}
        found = await rows_by_ids(self.db, [task_id for task_id, item in have.items() if item is None])
        out: list[TaskRow | T] = []
        for task_id in wanted:
            item = have[task_id]
            if item is not None:
                out.append(item)
            elif task_id in found and found[task_id].account_id == account_id:
                out.append(found[task_id])
        return out

    async def by_external_ids(self, account_id: str, ids: Sequence[str]) -> list[TaskRow]:
        return await self._in(account_id, tasks.c.external_task_id, ids)

    async def _in(self, account_id: str, column: object, values: Sequence[str]) -> list[TaskRow]:
        """Rows in the order the values were asked for (unknown values: left out)."""
        if not values:
            return []
        query = select(*COLUMNS).where(tasks.c.account_id == account_id, column.in_(list(values)))  # type: ignore[attr-defined]
        async with self.db.read.connect() as conn:
            found = [TaskRow(*r) for r in (await conn.execute(query)).all()]
        key = "id" if column is tasks.c.id else "external_task_id"
        by_value = {getattr(row, key): row for row in found}
        return [by_value[v] for v in dict.fromkeys(values) if v in by_value]

    async def listing(
        self,
        account_id: str,
        *,
        start_time: int,
        end_time: int,
        after: Cursor | None,
        limit: int,
        statuses: Sequence[str] = (),
        families: Sequence[str] | None = None,
    ) -> list[TaskRow]:
        """Up to ``limit`` rows, newest first; with ``after`` the times are ignored (§5.2)."""
        conditions = [tasks.c.account_id == account_id]
        if after is not None:
            conditions.append(
                or_(
                    tasks.c.created_at < after.created_at,
                    and_(tasks.c.created_at == after.created_at, tasks.c.id < after.id),
                )
            )
        else:
            conditions += [tasks.c.created_at >= start_time, tasks.c.created_at <= end_time]
        if statuses:
            conditions.append(tasks.c.status.in_(list(statuses)))
        if families is not None:
            conditions.append(tasks.c.family.in_(list(families)))
        query = (
            select(*COLUMNS)
            .where(*conditions)
            .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
            .limit(limit)
        )
        async with self.db.read.connect() as conn:
            return [TaskRow(*r) for r in (await conn.execute(query)).all()]
