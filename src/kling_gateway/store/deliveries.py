"""Callback delivery queries: the outbox of status-change callbacks and its attempt log.

Deliveries are derived from ``task_events`` (written in the same transaction as every status
change), never from in-memory notifications alone: :meth:`DeliveryStore.create_for_task` runs on
each change, :meth:`DeliveryStore.create_since` sweeps recent events for any that a crash, or a
process without a dispatcher, left uncovered. The unique ``event_id`` makes both idempotent and
safe to run from many processes at once.

A delivery is *pending* while ``next_attempt_at`` is set. A sender claims it by moving
``next_attempt_at`` past the attempt's deadline with a compare-and-set, so two processes never send
the same attempt, and a sender that dies mid-attempt only delays the retry until that deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, String, and_, cast, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from ..schemas.tasks import TaskStatus
from ..standard2.products import FAMILY_PREFIX as STANDARD2_PREFIX
from .database import Database
from .push_tables import callback_attempts, callback_deliveries
from .tables import task_events, tasks


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    task_id: str
    account_id: str
    event_id: int
    status: str
    url: str
    webhook_id: str
    attempts: int
    next_attempt_at: int | None
    last_attempt_at: int | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: int | None
    gave_up_at: int | None
    created_at: int


@dataclass(frozen=True)
class AttemptRow:
    delivery_id: int
    attempt: int
    started_at: int
    duration_ms: int
    status_code: int | None
    error: str | None


COLUMNS = [callback_deliveries.c[name] for name in DeliveryRow.__dataclass_fields__]
ATTEMPT_COLUMNS = [callback_attempts.c[name] for name in AttemptRow.__dataclass_fields__]


class DeliveryStore:
    def __init__(self, db: Database, statuses: Sequence[str]):
        self.db = db
        self.statuses = list(statuses)

    # ---- creating deliveries from task events -------------------------------------------

    def _insert_uncovered(self, condition: ColumnElement[bool], now: int) -> Any:
        e, t, d = task_events.c, tasks.c, callback_deliveries.c
        source = (
            select(
                e.task_id,
                t.account_id,
                e.id,
                e.status,
                t.callback_url,
                literal("msg_") + e.task_id + literal("_") + cast(e.id, String),
                literal(0, Integer),
                literal(now, BigInteger),
                e.created_at,
            )
            .select_from(task_events.join(tasks, tasks.c.id == e.task_id))
            .where(
                condition,
                or_(
                    e.status.in_(self.statuses),
                    # the new standard reports every status, "submitted" included (§6)
                    and_(e.status == TaskStatus.SUBMITTED, t.family.startswith(STANDARD2_PREFIX)),
                ),
                t.callback_url.is_not(None),
                t.callback_url != "",
                ~exists().where(d.event_id == e.id),
            )
        )
        dialect = postgresql if self.db.is_postgres else sqlite
        names = [
            "task_id",
            "account_id",
            "event_id",
            "status",
            "url",
            "webhook_id",
            "attempts",
            "next_attempt_at",
            "created_at",
        ]
        return (
            dialect.insert(callback_deliveries)
            .from_select(names, source)
            .on_conflict_do_nothing(index_elements=["event_id"])
        )

    async def create_for_task(self, task_id: str, now: int) -> int:
        """Create the missing deliveries of one task's status changes; returns how many."""
        async with self.db.write.begin() as conn:
            result = await conn.execute(self._insert_uncovered(task_events.c.task_id == task_id, now))
        return max(result.rowcount, 0)

    async def create_since(self, after_event_id: int, since_ms: int, now: int) -> int:
        """Create the missing deliveries of every event after ``after_event_id`` and ``since_ms``."""
        condition = and_(task_events.c.id > after_event_id, task_events.c.created_at >= since_ms)
        async with self.db.write.begin() as conn:
            result = await conn.execute(self._insert_uncovered(condition, now))
        return max(result.rowcount, 0)

    async def settled_event_id(self, after_event_id: int, before_ms: int) -> int | None:
        """Highest event id older than ``before_ms``: the sweep cursor may move up to it."""
        query = select(func.max(task_events.c.id)).where(
            task_events.c.id > after_event_id, task_events.c.created_at < before_ms
        )
        async with self.db.read.connect() as conn:
            highest: int | None = (await conn.execute(query)).scalar_one_or_none()
        return highest

    # ---- sending ------------------------------------------------------------------------

    async def pending(self, limit: int) -> list[DeliveryRow]:
        """Pending deliveries, earliest first (due ones, then the next one to come due)."""
        query = (
            select(*COLUMNS)
            .where(callback_deliveries.c.next_attempt_at.is_not(None))
            .order_by(callback_deliveries.c.next_attempt_at, callback_deliveries.c.id)
            .limit(limit)
        )
        async with self.db.read.connect() as conn:
            return [DeliveryRow(*r) for r in (await conn.execute(query)).all()]

    async def claim(self, row: DeliveryRow, now: int, until: int) -> bool:
        """Take the next attempt of ``row`` until ``until`` (ms); False if another sender did."""
        c = callback_deliveries.c
        stmt = (
            update(callback_deliveries)
            .where(c.id == row.id, c.next_attempt_at == row.next_attempt_at)
            .values(next_attempt_at=until, attempts=c.attempts + 1, last_attempt_at=now)
        )
        async with self.db.write.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def finish_attempt(
        self,
        attempt: AttemptRow,
        *,
        next_attempt_at: int | None,
        delivered_at: int | None = None,
        gave_up_at: int | None = None,
    ) -> None:
        """Log one attempt and set what follows it: delivered, given up, or retried later."""
        c = callback_deliveries.c
        async with self.db.write.begin() as conn:
            await conn.execute(callback_attempts.insert().values(**attempt.__dict__))
            await conn.execute(
                update(callback_deliveries)
                .where(c.id == attempt.delivery_id, c.delivered_at.is_(None))
                .values(
                    next_attempt_at=next_attempt_at,
                    delivered_at=delivered_at,
                    gave_up_at=gave_up_at,
                    last_status_code=attempt.status_code,
                    last_error=attempt.error,
                )
            )

    async def release(self, delivery_id: int, claimed_until: int, now: int) -> None:
        """Make an interrupted attempt due again now (graceful shutdown mid-send)."""
        c = callback_deliveries.c
        async with self.db.write.begin() as conn:
            await conn.execute(
                update(callback_deliveries)
                .where(c.id == delivery_id, c.next_attempt_at == claimed_until)
                .values(next_attempt_at=now, attempts=c.attempts - 1)
            )

    # ---- reading back -------------------------------------------------------------------

    async def for_task(self, task_id: str) -> list[tuple[DeliveryRow, list[AttemptRow]]]:
        """A task's deliveries in event order, each with its attempts in order."""
        deliveries = (
            select(*COLUMNS)
            .where(callback_deliveries.c.task_id == task_id)
            .order_by(callback_deliveries.c.event_id)
        )
        attempts = (
            select(*ATTEMPT_COLUMNS)
            .select_from(callback_attempts.join(callback_deliveries))
            .where(callback_deliveries.c.task_id == task_id)
            .order_by(callback_attempts.c.delivery_id, callback_attempts.c.attempt, callback_attempts.c.id)
        )
        async with self.db.read.connect() as conn:
            rows = [DeliveryRow(*r) for r in (await conn.execute(deliveries)).all()]
            logs = [AttemptRow(*r) for r in (await conn.execute(attempts)).all()]
        by_delivery: dict[int, list[AttemptRow]] = {row.id: [] for row in rows}
        for log in logs:
            by_delivery.setdefault(log.delivery_id, []).append(log)
        return [(row, by_delivery[row.id]) for row in rows]
