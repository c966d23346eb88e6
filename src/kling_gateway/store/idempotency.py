"""``Idempotency-Key`` records (migration h13_idempotency): per account and key, the hash of the
request it was first used with and the task it created.

A record is written *before* its task (with ``task_id`` NULL) so that two concurrent requests with
one key cannot both create a task: the primary key lets exactly one reserve it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Index, String, Table, delete, select, update
from sqlalchemy.exc import IntegrityError

from .database import Database
from .tables import metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("task_id", String(32), nullable=True),  # NULL while the first request is being created
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_idempotency_keys_created", idempotency_keys.c.created_at)


@dataclass(frozen=True)
class IdempotencyRecord:
    request_hash: str
    task_id: str | None
    created_at: int


class IdempotencyStore:
    def __init__(self, db: Database):
        self.db = db

    async def get(self, account_id: str, key: str) -> IdempotencyRecord | None:
        t = idempotency_keys
        stmt = select(t.c.request_hash, t.c.task_id, t.c.created_at).where(
            t.c.account_id == account_id, t.c.key == key
        )
        async with self.db.read.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return IdempotencyRecord(row[0], row[1], row[2]) if row else None

    async def reserve(self, account_id: str, key: str, request_hash: str, now: int) -> bool:
        """Claim ``key`` for a new request; False when another request holds it."""
        values = {"account_id": account_id, "key": key, "request_hash": request_hash, "created_at": now}
        try:
            async with self.db.write.begin() as conn:
                await conn.execute(idempotency_keys.insert().values(**values))
        except IntegrityError:
            return False
        return True

    async def complete(self, account_id: str, key: str, task_id: str) -> None:
        t = idempotency_keys
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(t).where(t.c.account_id == account_id, t.c.key == key).values(task_id=task_id)
            )

    async def release(self, account_id: str, key: str, *, older_than: int | None = None) -> None:
        """Forget ``key`` (its request failed, or, with ``older_than``, it has expired)."""
        t = idempotency_keys
        stmt = delete(t).where(t.c.account_id == account_id, t.c.key == key)
        if older_than is not None:
            stmt = stmt.where(t.c.created_at < older_than)
        async with self.db.write.begin() as conn:
            await conn.execute(stmt)

    async def purge(self, older_than: int) -> int:
        async with self.db.write.begin() as conn:
            result = await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.created_at < older_than)
            )
        return int(result.rowcount or 0)
