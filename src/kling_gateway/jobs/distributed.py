"""Distributed jobs on procrastinate, in the same PostgreSQL database as the store.

The task row stays the truth; a procrastinate job only says "task <id> may be runnable". A job is
deferred *inside the transaction* that makes a task runnable (created, released for a retry or a
relay poll, lease expired and freed by the reconciler) through :attr:`TaskStore.runnable_hooks`, so
a job exists exactly when the row change commits: no window where a row is runnable with no job.

A worker's job leases *that* row (:meth:`TaskStore.claim_one`) and runs it through the ordinary
:meth:`Dispatcher.run_task` (lease renewal, CAS finish). A duplicated job finds the row leased or
terminal and does nothing. A lost job (a worker killed while holding it, a job deleted by hand) is
covered three times: the reconciler frees the row's expired lease and that defers a fresh job; a
job taken by a worker that died before it leased the row (no lease for the reconciler to see) is
retried once that worker's heartbeat is ``STALLED_AFTER_S`` old; and every worker keeps a slow
fallback claim loop for rows left runnable longer than ``job_fallback_seconds``.

Queues by engine kind, so slow renders never delay relay polling: ``render`` for the reference
engine, ``relay`` for every other engine (a relay engine's name is its channel's name). A worker
runs one procrastinate worker per queue, each with its own concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ..config import Settings
from ..ids import now_ms
from ..push.pgbridge import libpq_url
from ..schemas.tasks import ACTIVE_STATUSES
from ..store import Database, TaskStore

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

log = logging.getLogger("kling_gateway.jobs")

RENDER = "render"
RELAY = "relay"
QUEUES = (RENDER, RELAY)
REFERENCE_ENGINE = "reference"
TASK_NAME = "kling_gateway.run_task"
_SCHEMA_LOCK = 7_325_002  # pg advisory lock key (migrations use 7_325_001)
EARLY_WAIT_MS = 5_000  # a job that fires this much before the row's available_at waits for it
AGAIN_PRIORITY = 10  # procrastinate runs higher priorities first
HEARTBEAT_S = 2.0  # procrastinate worker heartbeat
STALLED_AFTER_S = 10.0  # a worker silent this long is dead: its jobs in flight are retried


def queue_for(engine: str | None) -> str:
    """The queue a task's jobs go to: ``render`` for the reference engine, ``relay`` otherwise."""
    return RENDER if engine in (None, REFERENCE_ENGINE) else RELAY


def parse_queues(raw: str | Iterable[str] | None) -> list[str]:
    """``"render,relay"`` → ``["render", "relay"]``; ValueError on an unknown queue name."""
    if raw is None:
        return list(QUEUES)
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    queues = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    unknown = [q for q in queues if q not in QUEUES]
    if unknown or not queues:
        raise ValueError(f"unknown queue(s) {unknown or raw!r}: choose from {', '.join(QUEUES)}")
    return queues


def engines_for(queues: Sequence[str], engine_names: Iterable[str]) -> list[str] | None:
    """Engine names a worker serving ``queues`` may claim (None = all of them)."""
    if set(QUEUES) <= set(queues):
        return None
    return [name for name in engine_names if queue_for(name) in queues]


class DistributedJobs:
    """The procrastinate app of one gateway process: enqueue everywhere, run jobs in workers."""

    def __init__(self, settings: Settings, db: Database, store: TaskStore):
        try:
            import procrastinate
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "job_backend = 'procrastinate' needs the 'distributed' extra: "
                "pip install 'kling-gateway[distributed]'"
            ) from None
        if not db.is_postgres:
            raise RuntimeError("job_backend = 'procrastinate' needs a PostgreSQL database_url")
        self.settings = settings
        self.db = db
        self.store = store
        self.conninfo = libpq_url(db.url)
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=self.conninfo, min_size=1, max_size=4)
        )
        self.task = self.app.task(name=TASK_NAME, pass_context=True)(self._run_job)
        self._dispatcher: Dispatcher | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.deferred = 0
        self.ran = 0
        self.skipped = 0
        self.stalled_retried = 0

    # ---- schema -------------------------------------------------------------------------

    async def prepare(self) -> bool:
        """Apply procrastinate's schema if the database has none yet; True when it was applied.

        Serialised across processes by an advisory lock, so replicas starting together apply it
        once. Upgrading procrastinate across schema versions is an operator step (docs/deploy.md).
        """
        import psycopg
        from procrastinate.schema import SchemaManager

        async with await psycopg.AsyncConnection.connect(self.conninfo) as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
                if found is not None and found[0] is not None:
                    return False
                await conn.execute(SchemaManager.get_schema())  # no params: a literal % stays as it is
        log.info("applied the procrastinate schema")
        return True

    # ---- enqueue (any process) ----------------------------------------------------------

    async def enqueue(
        self, conn: AsyncConnection, task_id: str, engine: str | None, available_at: int, again: bool
    ) -> None:
        """A :data:`~kling_gateway.store.tasks.RunnableHook`: defer the task's job in ``conn``'s transaction.

        A task that ran before (taken over from a lost worker, retried, polled) jumps the queue, so
        recovery never waits behind a backlog of new tasks."""
        raw = await conn.get_raw_connection()
        options: dict[str, Any] = {
            "queue": queue_for(engine),
            "connection": raw.driver_connection,
            "priority": AGAIN_PRIORITY if again else 0,
        }
        delay = (available_at - now_ms()) / 1000
        if delay > 0.05:  # relative to the database clock, so worker clocks never matter
            options["schedule_in"] = {"seconds": delay}
        await self.task.configure(**options).defer_async(task_id=task_id)
        self.deferred += 1

    # ---- workers ------------------------------------------------------------------------

    async def start_workers(self, dispatcher: Dispatcher, queues: Sequence[str], concurrency: int) -> None:
        """One procrastinate worker per queue, each running ``concurrency`` jobs at once."""
        self._dispatcher = dispatcher
        await self.app.open_async()
        for queue in queues:
            self._workers.append(
                asyncio.create_task(
                    self.app.run_worker_async(
                        queues=[queue],
                        concurrency=concurrency,
                        name=f"kling-{queue}",
                        install_signal_handlers=False,
                        delete_jobs="successful",
                        listen_notify=True,
                        fetch_job_polling_interval=5.0,
                        shutdown_graceful_timeout=5.0,
                        update_heartbeat_interval=HEARTBEAT_S,
                        stalled_worker_timeout=STALLED_AFTER_S,
                    )
                )
            )
        self._workers.append(asyncio.create_task(self._retry_stalled_forever()))

    async def retry_stalled(self) -> int:
        """Put jobs held by dead workers (stale heartbeat) back in their queue; returns how many.

        Safe in many processes at once: a job retried twice runs twice and the second run finds
        its row leased or finished."""
        retried = 0
        stalled = await self.app.job_manager.get_stalled_jobs(
            task_name=TASK_NAME, seconds_since_heartbeat=STALLED_AFTER_S
        )
        for job in stalled:
            try:
                await self.app.job_manager.retry_job(job)
                retried += 1
            except Exception:  # another process retried it first
                log.debug("stalled job %s already retried", job.id, exc_info=True)
        if retried:
            log.warning("retried %d jobs of dead workers", retried)
        return retried

    async def _retry_stalled_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                self.stalled_retried += await self.retry_stalled()
            except Exception:
                log.exception("stalled-job check failed")

    async def stop_workers(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
        self._workers.clear()
        if self._dispatcher is not None:
            await self.app.close_async()
            self._dispatcher = None

    async def _run_job(self, context: Any, task_id: str) -> None:
        """Lease this job's task and run it; nothing to do when another job or loop has it."""
        dispatcher = self._dispatcher
        if dispatcher is None:
            raise RuntimeError("this process runs no workers")
        owner = f"{dispatcher.owner_prefix}:j{context.job.id}"
        lease_ms = int(self.settings.lease_seconds * 1000)
        row = await self.store.claim_one(task_id, owner, now_ms(), lease_ms)
        if row is None:
            current = await self.store.get(task_id)
            early = current.available_at - now_ms() if current is not None else 0
            if (
                current is not None
                and current.status in ACTIVE_STATUSES
                and current.lease_owner is None
                and 0 < early <= EARLY_WAIT_MS
            ):
                await asyncio.sleep(early / 1000)  # the job fired a little before the row's time
                row = await self.store.claim_one(task_id, owner, now_ms(), lease_ms)
        if row is None:
            self.skipped += 1
            return
        self.ran += 1
        dispatcher.running += 1
        try:
            await dispatcher.run_task(row, owner)
        finally:
            dispatcher.running -= 1

    def stats(self) -> dict[str, int]:
        return {
            "deferred": self.deferred,
            "ran": self.ran,
            "skipped": self.skipped,
            "stalled_retried": self.stalled_retried,
        }
