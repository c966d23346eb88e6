"""Resources a task made that later tasks name by id (custom voices, elements; table
``resources``): who owns one, where a relayed one lives upstream, whether it was deleted.

A resource row is written in the transaction that gives its task ``succeed`` (see
:meth:`TaskStore.transition`), so a resource exists exactly when its task has succeeded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import Database
from .tables import resources, tasks


@dataclass(frozen=True)
class ResourceInsert:
    id: str
    kind: str  # "voice" | "element"
    channel: str | None = None
    upstream_id: str | None = None


@dataclass(frozen=True)
class ResourceRow:
    id: str
    kind: str
    account_id: str
    task_id: str
    channel: str | None
    upstream_id: str | None
    created_at: int
    deleted_at: int | None


async def insert_resources(
    conn: AsyncConnection, task_id: str, account_id: str, items: tuple[ResourceInsert, ...], now: int
) -> None:
    for item in items:
        await conn.execute(
            insert(resources).values(
                id=item.id,
                kind=item.kind,
                account_id=account_id,
                task_id=task_id,
                channel=item.channel,
                upstream_id=item.upstream_id,
                created_at=now,
                deleted_at=None,
            )
        )


class ResourceStore:
    def __init__(self, db: Database):
        self.db = db

    async def live(self, resource_id: str, kind: str, account_id: str) -> ResourceRow | None:
        """The resource when it is of ``kind``, owned by ``account_id`` and not deleted."""
        query = select(resources).where(
            resources.c.id == resource_id,
            resources.c.kind == kind,
            resources.c.account_id == account_id,
            resources.c.deleted_at.is_(None),
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return ResourceRow(*row) if row is not None else None

    async def delete(
        self,
        resource_id: str,
        kind: str,
        account_id: str,
        now: int,
        task_result: dict[str, Any] | None = None,
    ) -> bool:
        """Mark a live resource of the account deleted (compare-and-set; False when there was
        none) and, in the same transaction, give its task ``task_result`` when one is given."""
        query = (
            update(resources)
            .where(
                resources.c.id == resource_id,
                resources.c.kind == kind,
                resources.c.account_id == account_id,
                resources.c.deleted_at.is_(None),
            )
            .values(deleted_at=now)
        )
        async with self.db.write.begin() as conn:
            if (await conn.execute(query)).rowcount != 1:
                return False
            if task_result is not None:
                text = json.dumps(task_result, separators=(",", ":"))
                await conn.execute(
                    update(tasks)
                    .where(
                        tasks.c.id
                        == select(resources.c.task_id).where(resources.c.id == resource_id).scalar_subquery()
                    )
                    .values(result=text, updated_at=now)
                )
            return True
