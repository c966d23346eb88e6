"""Background upkeep: the reconciler (expired leases) and the sweeper (overdue tasks, retention)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ..config import Settings
from ..ids import now_ms
from ..push import ChangeHub, TaskChange
from ..schemas.tasks import ACTIVE_STATUSES, TaskStatus
from ..storage import Storage
from ..store import TaskStore
from ..store.idempotency import IdempotencyStore

log = logging.getLogger("kling_gateway.jobs")


class Maintenance:
    def __init__(
        self,
        store: TaskStore,
        storage: Storage,
        hub: ChangeHub,
        settings: Settings,
        wake_workers: Callable[[], None] | None = None,
        idempotency: IdempotencyStore | None = None,
    ):
        self.store = store
        self.storage = storage
        self.hub = hub
        self.settings = settings
        self.wake_workers = wake_workers
        self.idempotency = idempotency
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._every(self.settings.reconcile_interval_seconds, self.reconcile)),
            asyncio.create_task(self._every(self.settings.sweep_interval_seconds, self.sweep)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await job()
            except Exception:
                log.exception("maintenance job failed")
            await asyncio.sleep(seconds)

    async def reconcile(self) -> int:
        """Free tasks whose worker stopped renewing its lease; tasks over max attempts fail."""
        now = now_ms()
        freed = 0
        for task_id in await self.store.expired_leases(now):
            row = await self.store.get(task_id)
            if row is None:
                continue
            if row.attempts >= self.settings.max_attempts:
                msg = f"task failed: its worker was lost {row.attempts} times"
                if await self.store.transition(
                    task_id,
                    from_statuses=ACTIVE_STATUSES,
                    to_status=TaskStatus.FAILED,
                    now=now,
                    status_msg=msg,
                ):
                    self.hub.publish(TaskChange(task_id, row.account_id, TaskStatus.FAILED, now))
                continue
            if await self.store.clear_expired_lease(task_id, now):
                freed += 1
        if freed and self.wake_workers:
            self.wake_workers()
        return freed

    async def sweep(self) -> int:
        """Fail tasks that outlived ``task_timeout_seconds``; remove files past retention."""
        now = now_ms()
        limit_ms = int(self.settings.task_timeout_seconds * 1000)
        failed = 0
        for task_id in await self.store.overdue(now - limit_ms):
            row = await self.store.get(task_id)
            if row is None:
                continue
            msg = f"task timed out: not finished within {int(self.settings.task_timeout_seconds)} s"
            if await self.store.transition(
                task_id,
                from_statuses=ACTIVE_STATUSES,
                to_status=TaskStatus.FAILED,
                now=now,
                status_msg=msg,
            ):
                failed += 1
                self.hub.publish(TaskChange(task_id, row.account_id, TaskStatus.FAILED, now))
        retention_ms = int(self.settings.retention_days * 86_400_000)
        for task_id in await self.store.finished_before(now - retention_ms):
            await self.storage.delete_prefix(task_id + "/")
            await self.store.mark_files_expired(task_id, now)
        await self.store.delete_sessions_before(now)
        if self.idempotency is not None:  # Idempotency-Key records past their memory
            await self.idempotency.purge(now - int(self.settings.idempotency_ttl_seconds * 1000))
        return failed
