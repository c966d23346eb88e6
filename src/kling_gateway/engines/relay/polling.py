"""Status tracking by polling, the fallback when callbacks do not arrive.

* Adaptive per task: the next check comes ``clamp(age * factor, initial, max_interval)`` after
  the last, ``age`` counted from the upstream accepting the task (1 s, 1.5 s, 2.2 s… capped),
  and ``callback_slowdown`` times later on channels that call back.
* Swept: while two or more tasks of one family are tracked on a channel that supports the
  official list query, one background sweep per (channel, family) pages through
  ``GET <family>?pageNum=1..k&pageSize=N`` until every tracked task was seen (or the pages run
  past the oldest tracked task, or ``max_pages``). It sweeps as often as the tracked tasks'
  adaptive delays together ask for (``1 / Σ 1/delay``), never more than once per
  ``batch_window``, so its cost is a few pages per interval however many tasks it covers. A task
  whose status changed in a sweep is made runnable at once (like a callback); a task the sweep
  covers rechecks on its own only every ``COVERED_RECHECK × max_interval`` (timeouts, safety
  net). Tasks missing from the sweep fall back to single queries at their own pace.
* New standard (``v2/*`` on a ``new_standard`` channel): ``GET /tasks?task_ids=`` answers up to
  20 tracked tasks per call, the checked one and those with stale snapshots.
* Bounded: at most ``poll.concurrency`` status calls per channel at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ...schemas import TERMINAL_STATUSES
from ...standard2.products import is_standard2
from . import metrics
from .channels import ChannelConfig
from .upstream import BATCH_IDS, NotFound, Rejected, UpstreamClient, UpstreamError

MAX_PAGE_SIZE = 500  # the official list query's largest pageSize
NEVER = float("-inf")
COVERED_RECHECK = 4.0  # a task the sweep covers checks on its own every 4 × max_interval
CLOCK_SKEW_MS = 300_000  # the upstream's clock may run this far behind ours

log = logging.getLogger("kling_gateway.relay")

Key = tuple[str, str]  # (channel, family)
Wake = Callable[[list[str]], Awaitable[None]]


@dataclass
class Tracked:
    channel: str
    family: str
    upstream_id: str
    since: float  # monotonic time the upstream accepted the task (or we first saw it)
    created_at: int | None = None  # epoch ms: no upstream task of ours is older (sweeps stop there)
    status: str | None = None  # the status the task's own run last acted on
    changed: bool = False  # a sweep saw a new status the task's run has not read yet


async def _no_wake(task_ids: list[str]) -> None:
    return None


class StatusTracker:
    def __init__(self, wake: Wake = _no_wake) -> None:
        """``wake(task_ids)`` makes tasks runnable now (a sweep saw their status change)."""
        self._wake = wake
        self._tracked: dict[str, Tracked] = {}
        self._by_key: dict[Key, dict[str, Tracked]] = {}  # the same, per (channel, family)
        self._snapshots: dict[Key, dict[str, tuple[float, dict[str, Any]]]] = {}
        self._list_locks: dict[Key, asyncio.Lock] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._no_list: set[Key] = set()
        self._sweepers: dict[Key, asyncio.Task[None]] = {}
        self._swept: dict[Key, float] = {}  # monotonic start of the latest completed sweep
        self._intervals: dict[Key, float] = {}  # each running sweep's current interval

    # ---- who is tracked -----------------------------------------------------------------

    def track(
        self, task_id: str, channel: str, family: str, upstream_id: str, created_at: int | None = None
    ) -> Tracked:
        """Track a task; ``created_at`` (epoch ms) is when the gateway created it: a sweep looking
        for it stops paging at upstream tasks older than that (less :data:`CLOCK_SKEW_MS`)."""
        item = self._tracked.get(task_id)
        if item is None or item.upstream_id != upstream_id:
            if item is not None:
                self._untrack(task_id, item)
            item = Tracked(channel, family, upstream_id, time.monotonic())
            self._tracked[task_id] = item
            self._by_key.setdefault((channel, family), {})[task_id] = item
        if created_at is not None:
            item.created_at = created_at - CLOCK_SKEW_MS
        return item

    def forget(self, task_id: str) -> Tracked | None:
        item = self._tracked.pop(task_id, None)
        if item is not None:
            self._untrack(task_id, item)
            self._snapshots.get((item.channel, item.family), {}).pop(item.upstream_id, None)
        return item

    def _untrack(self, task_id: str, item: Tracked) -> None:
        key = (item.channel, item.family)
        of_key = self._by_key.get(key, {})
        of_key.pop(task_id, None)
        if not of_key:
            self._by_key.pop(key, None)

    def get(self, task_id: str) -> Tracked | None:
        return self._tracked.get(task_id)

    def count(self, channel: str, family: str) -> int:
        return len(self._by_key.get((channel, family), ()))

    def _of(self, key: Key) -> dict[str, Tracked]:
        """The tracked tasks of ``key`` (the live index: do not hold it across an await)."""
        return self._by_key.get(key, {})

    # ---- pacing -------------------------------------------------------------------------

    def _adaptive(self, channel: ChannelConfig, item: Tracked | None) -> float:
        age = time.monotonic() - item.since if item else 0.0
        poll = channel.poll
        delay = min(poll.max_interval, max(poll.initial, age * poll.factor))
        if channel.callbacks:
            delay *= poll.callback_slowdown
        return delay

    def next_delay(self, channel: ChannelConfig, task_id: str) -> float:
        item = self._tracked.get(task_id)
        delay = self._adaptive(channel, item)
        if item is None:
            return delay
        if item.changed:  # a sweep saw news while this task ran (its wake-up found it leased)
            return 0.0
        key = (item.channel, item.family)
        if key in self._sweepers and self._current(channel, key, item.upstream_id) is not None:
            return max(delay, COVERED_RECHECK * channel.poll.max_interval)  # the sweep wakes it
        return delay

    def _sweep_interval(self, channel: ChannelConfig, key: Key) -> float:
        """As often as the tracked tasks' own delays together ask for, at most once per window."""
        rate = sum(1.0 / self._adaptive(channel, t) for t in self._of(key).values())
        return max(channel.poll.batch_window, 1.0 / rate if rate else channel.poll.max_interval)

    # ---- snapshots ----------------------------------------------------------------------

    def _limit(self, channel: ChannelConfig) -> asyncio.Semaphore:
        sem = self._limits.get(channel.name)
        if sem is None:
            sem = self._limits[channel.name] = asyncio.Semaphore(channel.poll.concurrency)
        return sem

    def _window(self, channel: ChannelConfig, key: Key) -> float:
        """How old a snapshot may be and still answer: ``batch_window``, or while a sweep runs,
        two of its intervals (a task in every sweep always has one that young)."""
        return max(channel.poll.batch_window, 2 * self._intervals.get(key, 0.0))

    def _fresh(self, key: Key, upstream_id: str, window: float) -> dict[str, Any] | None:
        hit = self._snapshots.get(key, {}).get(upstream_id)
        if hit is None:
            return None
        if hit[1].get("task_status") in TERMINAL_STATUSES or time.monotonic() - hit[0] <= window:
            return hit[1]  # an end is final: it never goes stale
        return None

    def _current(self, channel: ChannelConfig, key: Key, upstream_id: str) -> dict[str, Any] | None:
        return self._fresh(key, upstream_id, self._window(channel, key))

    def _remember(self, key: Key, items: list[dict[str, Any]], at: float) -> list[str]:
        """Keep the tracked tasks' objects; returns the tracked tasks whose status changed."""
        by_upstream = {t.upstream_id: (tid, t) for tid, t in self._of(key).items()}
        snap = {uid: v for uid, v in self._snapshots.get(key, {}).items() if uid in by_upstream}
        changed = []
        for item in items:
            uid = str(item.get("task_id"))
            if uid not in by_upstream:
                continue
            snap[uid] = (at, item)
            task_id, tracked = by_upstream[uid]
            status = item.get("task_status")
            if status != tracked.status and (tracked.status or status in TERMINAL_STATUSES):
                tracked.changed = True
                changed.append(task_id)
        self._snapshots[key] = snap
        return changed

    def acted(self, task_id: str, data: dict[str, Any]) -> None:
        """The task's run acts on ``data`` (a status answer, a create reply or a callback body)."""
        item = self._tracked.get(task_id)
        if item is not None:
            item.status, item.changed = str(data.get("task_status") or ""), False

    # ---- list sweeps --------------------------------------------------------------------

    async def _sweep_if_listed(self, client: UpstreamClient, key: Key) -> list[str]:
        """:meth:`_sweep`, and an upstream that refuses the list query gets single queries from
        now on (call with the lock)."""
        try:
            return await self._sweep(client, key)
        except (Rejected, NotFound):
            self._no_list.add(key)
            return []

    async def _sweep(self, client: UpstreamClient, key: Key) -> list[str]:
        """Page through the family's list until every tracked task was seen; call with the lock.
        Returns the tracked tasks whose status changed (to wake once the lock is released)."""
        channel = client.channel
        tracked = self._of(key)
        wanted = {t.upstream_id for t in tracked.values()}
        if not wanted:
            return []
        known = [t.created_at for t in tracked.values()]
        oldest = min(c for c in known if c is not None) if None not in known else None
        size = min(MAX_PAGE_SIZE, max(channel.poll.page_size, len(wanted)))
        at = time.monotonic()
        items: list[dict[str, Any]] = []
        missing = set(wanted)
        for page in range(1, channel.poll.max_pages + 1):
            async with self._limit(channel):
                metrics.STATUS_CALLS.labels(channel.name, "list").inc()
                got = await client.list(key[1], size, page)
            items += got
            missing -= {str(item.get("task_id")) for item in got}
            if not got or not missing:
                break
            created = [c for c in (item.get("created_at") for item in got) if isinstance(c, int)]
            if oldest is not None and created and min(created) < oldest:
                break  # newest first: the rest is older than every tracked task
        self._swept[key] = at
        return self._remember(key, items, at)

    async def _sweep_loop(self, client: UpstreamClient, key: Key) -> None:
        channel = client.channel
        lock = self._list_locks.setdefault(key, asyncio.Lock())
        try:
            while self.count(*key) >= 2 and key not in self._no_list:
                interval = self._intervals[key] = self._sweep_interval(channel, key)
                due = self._swept.get(key, NEVER) + interval - time.monotonic()
                if due > 0:  # look again within a window: new young tasks shorten the interval
                    await asyncio.sleep(min(due, channel.poll.batch_window))
                    continue
                changed: list[str] = []
                async with lock:
                    if time.monotonic() - self._swept.get(key, NEVER) < interval:
                        continue  # a check swept meanwhile
                    try:
                        changed = await self._sweep_if_listed(client, key)
                    except UpstreamError as exc:
                        metrics.ERRORS.labels(channel.name, str(exc.code)).inc()
                        self._swept[key] = time.monotonic()  # try again one interval later
                if changed:
                    await self._wake(changed)
        except asyncio.CancelledError:
            self._sweepers.pop(key, None)
            raise
        except Exception:  # never die silently with tasks relying on it: they fall back below
            log.exception("channel %s: %s sweep failed", channel.name, key[1])
        self._sweepers.pop(key, None)
        self._intervals.pop(key, None)
        left = list(self._of(key))  # back to their own pace: let them look now
        if left:
            await self._wake(left)

    def _ensure_sweeper(self, client: UpstreamClient, key: Key) -> None:
        if key not in self._sweepers:
            self._sweepers[key] = asyncio.get_running_loop().create_task(self._sweep_loop(client, key))

    async def close(self) -> None:
        sweepers = list(self._sweepers.values())
        for task in sweepers:
            task.cancel()
        for task in sweepers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ---- status -------------------------------------------------------------------------

    async def _batch(
        self, client: UpstreamClient, key: Key, upstream_id: str, window: float
    ) -> dict[str, Any]:
        """New standard: ``GET /tasks?task_ids=`` for this task and up to 19 other tracked ones
        whose snapshots are stale; concurrent checks coalesce onto one call."""
        lock = self._list_locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._fresh(key, upstream_id, window)
            if hit is not None:
                return hit
            others = [
                t.upstream_id
                for t in self._of(key).values()
                if t.upstream_id != upstream_id and self._fresh(key, t.upstream_id, window) is None
            ]
            ids = [upstream_id, *others[: BATCH_IDS - 1]]
            at = time.monotonic()
            async with self._limit(client.channel):
                metrics.STATUS_CALLS.labels(client.channel.name, "batch").inc()
                items = await client.batch(ids)
            self._remember(key, items, at)
            hit = self._fresh(key, upstream_id, window)
        if hit is None:
            raise NotFound(1203, f"task {upstream_id} not found upstream")
        return hit

    async def status(
        self, client: UpstreamClient, family: str, upstream_id: str, task_id: str = ""
    ) -> dict[str, Any] | None:
        """The upstream task object, or ``None`` for a task tracked since the latest sweep began
        (the next one covers it: no call now); raises the upstream errors of :mod:`.upstream`."""
        channel = client.channel
        key = (channel.name, family)
        hit = self._current(channel, key, upstream_id)
        if hit is not None:
            return hit
        if is_standard2(family):
            return await self._batch(client, key, upstream_id, channel.poll.batch_window)
        if channel.poll.list_queries and key not in self._no_list and self.count(*key) >= 2:
            self._ensure_sweeper(client, key)
            lock = self._list_locks.setdefault(key, asyncio.Lock())
            changed: list[str] = []
            async with lock:  # concurrent checks (and the sweep) coalesce onto one sweep
                hit = self._current(channel, key, upstream_id)
                swept = self._swept.get(key, NEVER)
                item = self._tracked.get(task_id)
                fresh_sweep = time.monotonic() - swept <= self._window(channel, key)
                if hit is None and not fresh_sweep:  # no recent sweep: sweep now
                    changed = await self._sweep_if_listed(client, key)
                    hit = self._current(channel, key, upstream_id)
            if changed:
                await self._wake(changed)
            if hit is not None:
                return hit
            if fresh_sweep and key in self._sweepers and item is not None and item.since > swept:
                return None  # tracked since the latest sweep began: the next one covers it
        async with self._limit(channel):
            metrics.STATUS_CALLS.labels(channel.name, "single").inc()
            data = await client.get(family, upstream_id)
        return data
