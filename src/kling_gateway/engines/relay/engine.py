"""The relay: one engine per channel, all sharing a :class:`RelayCore`.

A task's ``engine`` column names the channel that holds it (before submission: the channel the
router picked). Each run of a task is short and never sleeps: it submits, or checks the upstream
once, then gives the lease back with :class:`~kling_gateway.engines.base.RescheduleTask` until the
upstream is done (or a callback makes it runnable at once).

Submission order: channels serving the family and model, higher ``priority`` first, weighted
random order within a priority. A channel is skipped while its breaker is open, while it is
backing off after 1302/1303, or while it holds ``max_concurrent`` tasks. Invalid requests
(1200–1203, 1300–1301) are never retried: the task fails with the upstream's code and message.
When no channel can take the task now it waits as ``submitted`` (in creation order, at most
``max_queue`` waiting) and goes out when a slot frees.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ...config import Settings
from ...errors import Code, KlingError, RescheduleTask, ServerFailure, TaskFailure, TransientEngineError
from ...httpclient import create_client
from ...ids import now_ms
from ...present import UrlSigner
from ...push import TaskChange
from ...schemas import ACTIVE_STATUSES, FAMILIES, TERMINAL_STATUSES, TaskStatus, model_name_of
from ...store import TaskRow
from ...store.relay import PENDING, RelayStore
from ..base import EngineBase, EngineContext, EngineOutcome, EngineServices, EngineTask
from . import metrics
from .breaker import CircuitBreaker
from .callbacks import Inbox
from .channels import ChannelConfig
from .polling import StatusTracker
from .requests import Prepared, apply_swaps, external_id, outbound, prepare
from .results import build_outcome
from .upstream import Busy, ChannelDown, NotFound, Rejected, UpstreamClient, UpstreamError

IDENTIFY_FACE = "videos/identify-face"
RELAY_ADMISSION_LOCK = 7_325_002  # pg_advisory_xact_lock key: one relay queue admission at a time

log = logging.getLogger("kling_gateway.relay")

# resource kind -> (upstream delete call, its id field)
DELETE_CALLS = {
    "voice": ("general/delete-voices", "voice_id"),
    "element": ("general/delete-advanced-elements", "element_id"),
}
FAILOVER_REASONS = ("breaker", "full", "busy", "down")  # why a task moved on from a channel


class RelayCore:
    def __init__(self, settings: Settings, channels: list[ChannelConfig], inbox: Inbox | None = None):
        self.settings = settings
        self.channels: dict[str, ChannelConfig] = {c.name: c for c in channels}
        self.clients = {c.name: UpstreamClient(c, settings) for c in channels}
        self.breakers = {
            c.name: CircuitBreaker(c.breaker_threshold, c.breaker_cooldown, c.busy_backoff) for c in channels
        }
        self.failovers: dict[str, Counter[str]] = {c.name: Counter() for c in channels}
        self.inbox = inbox if inbox is not None else Inbox()
        self.tracker = StatusTracker(self._wake_tasks)
        self.signer = UrlSigner(settings.secret(), settings.url_ttl_seconds)
        self.relay_store: RelayStore | None = None
        self._wake: Callable[[], None] | None = None
        self._reserve_locks = {c.name: asyncio.Lock() for c in channels}
        self._files: httpx.AsyncClient | None = None
        self._closed = False

    # ---- wiring -------------------------------------------------------------------------

    def bind(self, services: EngineServices) -> None:
        """Called once by the gateway: the store, the workers' wake-up, the change hub."""
        if self.relay_store is not None:
            return
        self.relay_store = RelayStore(services.store)
        self._wake = services.wake_workers
        services.hub.add_listener(self._on_change)

    def _bound(self) -> RelayStore:
        if self.relay_store is None:
            raise RuntimeError("relay engine is not bound (Engine.bind) to a store")
        return self.relay_store

    async def _on_change(self, change: TaskChange) -> None:
        """A relayed task ended (any way, sweeper included): its slot is free for the oldest waiter."""
        if change.status not in TERMINAL_STATUSES:
            return
        tracked = self.tracker.forget(change.task_id)
        self.inbox.take(change.task_id)
        if tracked is None or self.relay_store is None:
            return
        channel = self.channels.get(tracked.channel)
        if channel is None or channel.max_concurrent is None:
            return
        group = [c.name for c in self.channels.values() if c.max_concurrent is not None]
        try:
            if await self.relay_store.wake_waiting(group, 1, now_ms()) and self._wake:
                self._wake()
        except Exception:  # waking early is an optimisation; the queue re-checks on its own
            log.debug("could not wake waiting tasks", exc_info=True)

    async def _wake_tasks(self, task_ids: list[str]) -> None:
        """A list sweep saw these tasks change upstream: make them runnable now (never raises)."""
        if self.relay_store is None:
            return
        try:
            woke = await self.relay_store.runnable_now(task_ids, now_ms())
        except Exception:  # waking early is an optimisation; the task still rechecks on its own
            log.debug("could not wake polled tasks", exc_info=True)
            return
        if woke and self._wake:
            self._wake()

    def files_client(self) -> httpx.AsyncClient:
        if self._files is None:
            self._files = create_client(self.settings)  # guarded: result URLs come from upstreams
        return self._files

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.tracker.close()
        for client in self.clients.values():
            await client.aclose()
        if self._files is not None:
            await self._files.aclose()

    async def forget(self, channel: str, kind: str, upstream_id: str) -> None:
        """Delete a voice or element upstream (its gateway copy is already deleted); a failure is
        logged, never raised: the client's delete has succeeded."""
        path, field = DELETE_CALLS[kind]
        value: Any = int(upstream_id) if kind == "element" and upstream_id.isdigit() else upstream_id
        try:
            await self.clients[channel].post_sync(path, {field: value})
        except UpstreamError as exc:
            log.warning("channel %s: could not delete %s %s upstream (%s)", channel, kind, upstream_id, exc)

    def _failover(self, channel: str, reason: str) -> None:
        metrics.FAILOVERS.labels(channel, reason).inc()
        self.failovers[channel][reason] += 1

    async def health(self, name: str) -> dict[str, Any]:
        """What the operator sees of one channel (``GET /admin/v1/channels``): its circuit as this
        process's breaker has it, the tasks it holds upstream now (from the store: all processes),
        and the failovers this process counted since it started."""
        channel, breaker = self.channels[name], self.breakers[name]
        in_flight = await self.relay_store.in_flight(name) if self.relay_store is not None else 0
        failovers = {reason: self.failovers[name][reason] for reason in FAILOVER_REASONS}
        return {
            "name": name,
            "type": channel.type,
            "base_url": channel.base_url,
            "priority": channel.priority,
            "families": list(channel.families),
            "models": list(channel.models),
            "circuit": breaker.state,
            "consecutive_failures": breaker.failures,
            "breaker_threshold": breaker.threshold,
            "available_in_seconds": round(breaker.wait_hint(), 3),
            "in_flight": in_flight,
            "max_concurrent": channel.max_concurrent,
            "failovers": failovers,
            "failovers_total": sum(failovers.values()),
        }

    # ---- one run of a task --------------------------------------------------------------

    async def run(self, task: EngineTask, ctx: EngineContext) -> EngineOutcome:
        family = FAMILIES.get(task.family)
        if family is not None and family.synchronous:
            return await self._run_sync(task, ctx)
        rs = self._bound()
        row = await rs.store.get(task.task_id)
        if row is None or row.status not in ACTIVE_STATUSES:
            raise TaskFailure("task is no longer active")
        owner = ctx.owner
        prepared = await prepare(task, ctx, self.settings, self.signer, self._upstream_task_of)
        if row.upstream_task_id == PENDING:
            adopted = await self._adopt(row, task)
            if adopted is not None:
                return await self._tracked_step(
                    self.channels[row.engine or ""], adopted, row, task, ctx, prepared
                )
        elif row.upstream_task_id is not None:
            channel = self.channels.get(row.engine or "")
            if channel is None:
                raise TaskFailure(f"channel '{row.engine}' that holds the task is no longer configured")
            self.tracker.track(task.task_id, channel.name, task.family, row.upstream_task_id, row.created_at)
            return await self._tracked_step(channel, None, row, task, ctx, prepared)
        return await self._submit(row, task, ctx, prepared, owner)

    async def _run_sync(self, task: EngineTask, ctx: EngineContext) -> EngineOutcome:
        """A synchronous family (audio/tts, identify-face, image-recognize): one upstream call
        answers with the result, which is mirrored like any other; the next channel is tried
        while one is down or busy. An identify-face session is pinned to its channel: the row
        keeps the channel and the upstream session id (see face_refs)."""
        prepared = await prepare(task, ctx, self.settings, self.signer, self._upstream_task_of)
        body = apply_swaps(prepared)
        last = "no relay channel could take the call"
        for channel in self._order(self._eligible(task, prepared)):
            breaker = self.breakers[channel.name]
            if not breaker.available():
                continue
            try:
                data = await self.clients[channel.name].post_sync(task.family, body)
            except Rejected as exc:
                raise TaskFailure(exc.message) from None
            except Busy as exc:
                breaker.busy()
                last = f"{channel.name}: {exc.message}"
                continue
            except ChannelDown as exc:
                breaker.failure()
                last = f"{channel.name}: {exc.message}"
                continue
            breaker.success()
            outcome = await build_outcome(
                data, prepared, channel, task, ctx, self.settings, self.files_client(), self.signer
            )
            for item in outcome.task_result.get("audios") or []:
                item["id"] = task.task_id  # the gateway's audio_id is the task id, as locally
            if task.family == IDENTIFY_FACE:
                upstream_session = data.get("session_id") or (data.get("task_result") or {}).get("session_id")
                if not upstream_session:
                    raise ServerFailure("upstream identify-face answer has no session_id")
                await self._bound().set_upstream(task.task_id, channel.name, str(upstream_session))
            return outcome
        raise TransientEngineError(last)

    async def _upstream_task_of(self, task_id: str) -> str | None:
        assert self.relay_store is not None
        row = await self.relay_store.store.get(task_id)
        return row.upstream_task_id if row is not None else None

    async def admit(self, family: str, request: dict[str, Any], conn: AsyncConnection | None = None) -> None:
        """Refuse a create with 1303 when every channel that could take it is at its concurrency
        limit and the gateway's queue for them is full (``max_queue``), like Kling's resource packs.

        Called in the task's insert transaction (``conn``), so the count and the insert are one
        step: SQLite's write lock serialises them, on PostgreSQL a transaction-scoped advisory
        lock does (the queue is shared by every account, so the account row lock is not enough)."""
        if self.relay_store is None:
            return
        model = model_name_of(request)
        eligible = [c for c in self.channels.values() if c.serves(family, model)]
        if not eligible or any(c.max_concurrent is None for c in eligible):
            return
        bound = max(c.max_queue for c in eligible)
        if conn is not None and conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RELAY_ADMISSION_LOCK})
        waiting = await self.relay_store.waiting_count([c.name for c in eligible], conn)
        if waiting >= bound:
            raise KlingError(
                Code.CONCURRENCY_LIMIT,
                "parallel task over resource pack limit: "
                f"{waiting} {family} tasks already wait for an upstream slot (max_queue {bound})",
            )

    def _eligible(self, task: EngineTask, prepared: Prepared) -> list[ChannelConfig]:
        model = model_name_of(task.request)
        if prepared.pinned is not None:  # only the channel holding the resource can take it
            channel = self.channels.get(prepared.pinned)
            if channel is None:
                raise TaskFailure(
                    f"{prepared.pinned_by} was made on channel '{prepared.pinned}', "
                    "which is no longer configured"
                )
            refusal = channel.refusal(task.family, model)
            if refusal is not None:
                raise TaskFailure(
                    f"{prepared.pinned_by} lives on channel '{prepared.pinned}', which {refusal}; "
                    "no other channel holds it"
                )
            return [channel]
        eligible = [c for c in self.channels.values() if c.serves(task.family, model)]
        if not eligible:
            raise TaskFailure(f"no relay channel serves {task.family} with model {model or 'default'}")
        return eligible

    @staticmethod
    def _order(channels: list[ChannelConfig]) -> list[ChannelConfig]:
        """Higher priority first; within a priority, a weighted random order (weight 0 = last)."""
        ordered: list[ChannelConfig] = []
        for priority in sorted({c.priority for c in channels}, reverse=True):
            group = [c for c in channels if c.priority == priority]
            keyed = [(random.random() ** (1.0 / c.weight) if c.weight > 0 else -1.0, c) for c in group]
            ordered.extend(c for _, c in sorted(keyed, key=lambda kc: -kc[0]))
        return ordered

    async def _adopt(self, row: TaskRow, task: EngineTask) -> dict[str, Any] | None:
        """A create call was in flight when the last run ended: did the upstream take the task?"""
        assert self.relay_store is not None
        channel = self.channels.get(row.engine or "")
        if channel is None:
            await self.relay_store.set_upstream(task.task_id, row.engine or "", None)
            return None
        try:
            metrics.STATUS_CALLS.labels(channel.name, "single").inc()
            data = await self.clients[channel.name].get(task.family, external_id(task.task_id))
        except (NotFound, Rejected):
            await self.relay_store.set_upstream(task.task_id, channel.name, None)
            return None
        except UpstreamError as exc:
            metrics.ERRORS.labels(channel.name, str(exc.code)).inc()
            raise RescheduleTask(min(channel.queue_recheck, 2.0)) from None
        upstream_id = str(data.get("task_id") or "")
        if not upstream_id:
            await self.relay_store.set_upstream(task.task_id, channel.name, None)
            return None
        metrics.SUBMITS.labels(channel.name, "adopted").inc()
        await self.relay_store.set_upstream(task.task_id, channel.name, upstream_id)
        self.tracker.track(task.task_id, channel.name, task.family, upstream_id, row.created_at)
        return data

    async def _submit(
        self, row: TaskRow, task: EngineTask, ctx: EngineContext, prepared: Prepared, owner: str | None
    ) -> EngineOutcome:
        assert self.relay_store is not None
        rs = self.relay_store
        eligible = self._eligible(task, prepared)
        limit_s = max(c.timeout for c in eligible)
        if now_ms() - row.created_at > limit_s * 1000:
            raise TaskFailure(f"no upstream channel took the task within {limit_s:g} s")
        limited = all(c.max_concurrent is not None for c in eligible)
        if limited:  # creation order: wait while older tasks wait for the same channels
            free = 0
            for c in eligible:
                assert c.max_concurrent is not None
                free += max(0, c.max_concurrent - await rs.in_flight(c.name))
            rank = await rs.queue_rank(task.task_id, row.created_at, [c.name for c in eligible])
            if rank >= max(c.max_queue for c in eligible):
                raise TaskFailure(
                    "upstream error 1303: parallel task over resource pack limit "
                    f"(gateway queue of {max(c.max_queue for c in eligible)} tasks is full)"
                )
            if rank >= free:
                raise RescheduleTask(min(c.queue_recheck for c in eligible))
        waits: list[float] = []
        last: UpstreamError | None = None
        for channel in self._order(eligible):
            breaker = self.breakers[channel.name]
            if not breaker.available():
                self._failover(channel.name, "breaker")
                waits.append(max(breaker.wait_hint(), 0.05))
                continue
            async with self._reserve_locks[channel.name]:
                reserved = await rs.reserve(task.task_id, owner, channel.name, channel.max_concurrent)
            if not reserved:
                self._failover(channel.name, "full")
                waits.append(channel.queue_recheck)
                continue
            client = self.clients[channel.name]
            try:
                body = await outbound(prepared, channel, client, task, self.settings, self.signer)
                data = await client.create(task.family, body)
            except (Rejected, NotFound) as exc:
                breaker.success()
                await rs.set_upstream(task.task_id, channel.name, None)
                metrics.SUBMITS.labels(channel.name, "rejected").inc()
                metrics.ERRORS.labels(channel.name, str(exc.code)).inc()
                raise TaskFailure(exc.wire) from None
            except Busy as exc:
                waits.append(breaker.busy())
                last = exc
                await rs.set_upstream(task.task_id, channel.name, None)
                metrics.SUBMITS.labels(channel.name, "busy").inc()
                metrics.ERRORS.labels(channel.name, str(exc.code)).inc()
                self._failover(channel.name, "busy")
                continue
            except ChannelDown as exc:
                breaker.failure()
                metrics.BREAKER_OPEN.labels(channel.name).set(1 if breaker.state == "open" else 0)
                last = exc
                await rs.set_upstream(task.task_id, channel.name, None)
                metrics.SUBMITS.labels(channel.name, "down").inc()
                metrics.ERRORS.labels(channel.name, str(exc.code)).inc()
                self._failover(channel.name, "down")
                log.warning("channel %s: create failed (%s), trying the next channel", channel.name, exc)
                continue
            breaker.success()
            metrics.BREAKER_OPEN.labels(channel.name).set(0)
            upstream_id = str(data["task_id"])
            await rs.set_upstream(task.task_id, channel.name, upstream_id)
            metrics.SUBMITS.labels(channel.name, "ok").inc()
            self.tracker.track(task.task_id, channel.name, task.family, upstream_id, row.created_at)
            return await self._tracked_step(channel, data, row, task, ctx, prepared)
        delay = min(waits) if waits else 1.0
        remaining = limit_s - (now_ms() - row.created_at) / 1000
        if remaining <= 0:
            raise TaskFailure(
                last.wire if last else f"no upstream channel took the task within {limit_s:g} s"
            )
        raise RescheduleTask(max(0.05, min(delay, remaining)))

    async def _tracked_step(
        self,
        channel: ChannelConfig,
        data: dict[str, Any] | None,
        row: TaskRow,
        task: EngineTask,
        ctx: EngineContext,
        prepared: Prepared,
    ) -> EngineOutcome:
        """Look at the upstream task once and act on it.

        ``data`` is a task object just received (create reply, adoption query); otherwise a
        callback body waiting in the inbox is used, else the upstream is asked (snapshot or query).
        """
        tracked = self.tracker.get(task.task_id)
        upstream_id = (
            tracked.upstream_id if tracked else str((data or {}).get("task_id") or row.upstream_task_id)
        )
        via = "poll"
        posted = self.inbox.take(task.task_id)
        if posted is not None and str(posted[0].get("task_id") or upstream_id) == upstream_id:
            body = posted[0]
            if data is None or body.get("task_status") in TERMINAL_STATUSES:
                data, via = body, "callback"
        elapsed = now_ms() - row.created_at
        if data is None:
            try:
                data = await self.tracker.status(
                    self.clients[channel.name], task.family, upstream_id, task.task_id
                )
            except UpstreamError as exc:
                metrics.ERRORS.labels(channel.name, str(exc.code)).inc()
                if elapsed > channel.timeout * 1000:
                    raise TaskFailure(f"upstream stopped answering ({exc.wire})") from None
                raise RescheduleTask(self._delay(channel, task, row), engine=channel.name) from None
        if data is not None:
            self.tracker.acted(task.task_id, data)
        data = data or {}  # none: the next list sweep covers the task, nothing was asked
        status = data.get("task_status")
        if status in (TaskStatus.PROCESSING, TaskStatus.SUCCEED):
            await ctx.mark_processing()
        if status == TaskStatus.SUCCEED:
            outcome = await build_outcome(
                data, prepared, channel, task, ctx, self.settings, self.files_client(), self.signer
            )
            self._finished(channel, data, TaskStatus.SUCCEED, via)
            return outcome
        if status == TaskStatus.FAILED:
            self._finished(channel, data, TaskStatus.FAILED, via)
            raise TaskFailure(str(data.get("task_status_msg") or "upstream task failed"))
        if elapsed > channel.timeout * 1000:
            raise TaskFailure(f"upstream did not finish the task within {channel.timeout:g} s")
        raise RescheduleTask(self._delay(channel, task, row), engine=channel.name)

    def _delay(self, channel: ChannelConfig, task: EngineTask, row: TaskRow) -> float:
        remaining = channel.timeout - (now_ms() - row.created_at) / 1000
        return max(0.05, min(self.tracker.next_delay(channel, task.task_id), remaining + 0.05))

    def _finished(self, channel: ChannelConfig, data: dict[str, Any], status: str, via: str) -> None:
        metrics.FINISHED.labels(channel.name, status).inc()
        updated = data.get("updated_at")
        if isinstance(updated, int | float) and updated > 0:
            metrics.FRESHNESS.labels(channel.name, via).observe(max(0.0, (now_ms() - updated) / 1000))


class ChannelEngine(EngineBase):
    """The :class:`~kling_gateway.engines.base.Engine` of one channel (name = channel name)."""

    admits = True  # the queue bound (RelayCore.admit)

    def __init__(self, core: RelayCore, channel: ChannelConfig):
        self.core = core
        self.channel = channel
        self.name = channel.name

    def serves(self, family: str, model_name: str | None) -> bool:
        return self.channel.serves(family, model_name)

    def bind(self, services: EngineServices) -> None:
        self.core.bind(services)

    async def admit(self, family: str, request: dict[str, Any], conn: AsyncConnection | None = None) -> None:
        await self.core.admit(family, request, conn)

    async def run(self, task: EngineTask, ctx: EngineContext) -> EngineOutcome:
        return await self.core.run(task, ctx)

    async def health(self) -> dict[str, Any] | None:
        return await self.core.health(self.name)

    async def forget(self, kind: str, upstream_id: str) -> None:
        await self.core.forget(self.name, kind, upstream_id)

    async def close(self) -> None:
        await self.core.close()
