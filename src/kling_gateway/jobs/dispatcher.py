"""In-process workers over leased task rows.

A worker claims the oldest runnable task with a lease, keeps the lease alive while the engine
runs, and records the outcome with a compare-and-set that also checks it still owns the lease.
A worker that loses its lease (paused, partitioned) finds its CAS refused and discards its files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Sequence

from ..config import Settings
from ..diskfull import is_disk_full
from ..engines.base import EngineOutcome, EngineTask
from ..engines.router import EngineRouter
from ..errors import RescheduleTask, TaskFailure, TransientEngineError
from ..ids import now_ms
from ..push import ChangeHub, TaskChange
from ..schemas.tasks import ACTIVE_STATUSES, TaskStatus
from ..storage import Storage
from ..store import ResourceInsert, TaskRow, TaskStore, VideoInsert
from .context import WorkerContext

log = logging.getLogger("kling_gateway.jobs")


def _videos_of(outcome: EngineOutcome) -> list[VideoInsert]:
    """Every result video becomes addressable by ``video_id`` for follow-up tasks."""
    out = []
    for item in outcome.task_result.get("videos") or []:
        try:
            duration = float(item.get("duration") or 0)
        except (TypeError, ValueError):
            duration = 0.0
        channel, upstream_id = outcome.video_origins.get(str(item["id"]), (None, None))
        out.append(
            VideoInsert(
                id=str(item["id"]),
                url=str(item["url"]),
                duration=duration,
                channel=channel,
                upstream_video_id=upstream_id,
            )
        )
    return out


# result list -> (id field, resource kind): what a finished task made that later tasks name by id
RESOURCE_RESULTS = {"voices": ("voice_id", "voice"), "elements": ("element_id", "element")}


def resources_of(outcome: EngineOutcome) -> tuple[ResourceInsert, ...]:
    """Every voice and element a task made becomes addressable by its id for later tasks."""
    out = []
    for key, (id_field, kind) in RESOURCE_RESULTS.items():
        for item in outcome.task_result.get(key) or []:
            rid = str(item[id_field])
            channel, upstream_id = outcome.resource_origins.get(rid, (None, None))
            out.append(ResourceInsert(rid, kind, channel, upstream_id))
    return tuple(out)


class Dispatcher:
    def __init__(
        self,
        store: TaskStore,
        router: EngineRouter,
        storage: Storage,
        hub: ChangeHub,
        settings: Settings,
        *,
        concurrency: int | None = None,
        engines: Sequence[str] | None = None,
        poll_interval: float | None = None,
        claim_grace: float = 0.0,
    ):
        """``engines`` limits the engine names claimed (a worker serving some queues only);
        ``claim_grace`` > 0 claims only rows runnable for that many seconds (the slow fallback
        loop beside distributed jobs, which takes what no job picked up)."""
        self.store = store
        self.router = router
        self.storage = storage
        self.hub = hub
        self.settings = settings
        self.concurrency = settings.workers if concurrency is None else concurrency
        self.engines = engines
        self.poll_interval = settings.poll_interval_seconds if poll_interval is None else poll_interval
        self.claim_grace_ms = int(claim_grace * 1000)
        self.owner_prefix = f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 30):x}"
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.running = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        for index in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._loop(f"{self.owner_prefix}:{index}")))

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _loop(self, owner: str) -> None:
        lease_ms = int(self.settings.lease_seconds * 1000)
        while not self._stopping:
            try:
                now = now_ms()
                row = await self.store.claim(
                    owner, now, lease_ms, self.engines, available_before=now - self.claim_grace_ms
                )
            except Exception:  # store hiccup: back off, never die
                log.exception("claim failed")
                await asyncio.sleep(1.0)
                continue
            if row is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                continue
            self._wake.set()  # there may be more: let a sibling look too
            self.running += 1
            try:
                await self.run_task(row, owner)
            except Exception:
                log.exception("task %s crashed its worker", row.id)
            finally:
                self.running -= 1

    async def _keep_lease(self, task_id: str, owner: str) -> None:
        lease = self.settings.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            if not await self.store.renew(task_id, owner, now_ms() + int(lease * 1000)):
                return

    async def run_task(self, row: TaskRow, owner: str) -> None:
        engine = self.router.get(row.engine)
        if engine is None:
            await self._finish_failed(row, owner, f"engine '{row.engine}' is not available on this gateway")
            return
        ctx = WorkerContext(row, owner, self.store, self.storage, self.hub, self.settings)
        task = EngineTask(
            task_id=row.id,
            account_id=row.account_id,
            family=row.family,
            request=row.request_body,
            external_task_id=row.external_task_id,
            attempt=row.attempts,
        )
        keeper = asyncio.create_task(self._keep_lease(row.id, owner))
        try:
            outcome = await engine.run(task, ctx)
        except TaskFailure as failure:
            await ctx.discard_files()
            await self._finish_failed(row, owner, failure.message)
            return
        except RescheduleTask as later:
            await self.store.release(
                row.id,
                owner,
                now_ms() + int(later.delay * 1000),
                attempts=max(row.attempts - 1, 0),
                **later.fields,
            )
            return
        except (TransientEngineError, Exception) as exc:  # noqa: B014 - both retried, logged differently
            await ctx.discard_files()
            if not isinstance(exc, TransientEngineError):
                log.exception("engine %s failed on task %s", row.engine, row.id)
            await self._retry_or_fail(row, owner, exc)
            return
        finally:
            keeper.cancel()
        now = now_ms()
        ok = await self.store.transition(
            row.id,
            from_statuses=ACTIVE_STATUSES,
            to_status=TaskStatus.SUCCEED,
            now=now,
            owner=owner,
            result=outcome.task_result,
            info_extra=outcome.task_info_extra,
            final_unit_deduction=outcome.final_unit_deduction,
            new_videos=_videos_of(outcome),
            new_resources=resources_of(outcome),
            account_id=row.account_id,
        )
        if ok:
            self.hub.publish(TaskChange(row.id, row.account_id, TaskStatus.SUCCEED, now))
        else:  # lease lost or task swept meanwhile: the other outcome stands
            await ctx.discard_files()

    async def _retry_or_fail(self, row: TaskRow, owner: str, exc: Exception) -> None:
        message = getattr(exc, "message", None) or "internal engine error"
        full = is_disk_full(exc)
        if full:  # partial files are already discarded; a later attempt may find room
            message = "the gateway's storage is full"
        if row.attempts >= self.settings.max_attempts:
            await self._finish_failed(row, owner, f"{message} (gave up after {row.attempts} attempts)")
            return
        delay = 60.0 if full else getattr(exc, "retry_after", None) or min(60.0, 2.0**row.attempts)
        await self.store.release(row.id, owner, now_ms() + int(delay * 1000), status_msg="")

    async def _finish_failed(self, row: TaskRow, owner: str | None, message: str) -> None:
        now = now_ms()
        ok = await self.store.transition(
            row.id,
            from_statuses=ACTIVE_STATUSES,
            to_status=TaskStatus.FAILED,
            now=now,
            owner=owner,
            status_msg=message,
        )
        if ok:
            self.hub.publish(TaskChange(row.id, row.account_id, TaskStatus.FAILED, now))
