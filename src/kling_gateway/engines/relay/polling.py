"""Status tracking by polling, the fallback when callbacks do not arrive.

* Adaptive per task: the next check comes ``clamp(age * factor, initial, max_interval)`` after
  the last, ``age`` counted from the upstream accepting the task (1 s, 1.5 s, 2.2 s… capped),
  and ``callback_slowdown`` times later on channels that call back.
* Batched: when several tasks of one family are tracked on a channel that supports the official
  list query, one ``GET <family>?pageNum=1&pageSize=N`` answers all of them; its snapshot serves
  every status check within ``batch_window`` seconds. Tasks missing from the page fall back to a
  single query.
* New standard (``v2/*`` on a ``new_standard`` channel): ``GET /tasks?task_ids=`` answers up to
  20 tracked tasks per call, the checked one and those with stale snapshots.
* Bounded: at most ``poll.concurrency`` status calls per channel at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from ...standard2.products import is_standard2
from . import metrics
from .channels import ChannelConfig
from .upstream import BATCH_IDS, NotFound, Rejected, UpstreamClient


@dataclass
class Tracked:
    channel: str
    family: str
    upstream_id: str
    since: float  # monotonic time the upstream accepted the task (or we first saw it)


class StatusTracker:
    def __init__(self) -> None:
        self._tracked: dict[str, Tracked] = {}
        self._snapshots: dict[tuple[str, str], dict[str, tuple[float, dict[str, Any]]]] = {}
        self._list_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._no_list: set[tuple[str, str]] = set()

    # ---- who is tracked -----------------------------------------------------------------

    def track(self, task_id: str, channel: str, family: str, upstream_id: str) -> Tracked:
        item = self._tracked.get(task_id)
        if item is None or item.upstream_id != upstream_id:
            item = Tracked(channel, family, upstream_id, time.monotonic())
            self._tracked[task_id] = item
        return item

    def forget(self, task_id: str) -> Tracked | None:
        item = self._tracked.pop(task_id, None)
        if item is not None:
            self._snapshots.get((item.channel, item.family), {}).pop(item.upstream_id, None)
        return item

    def get(self, task_id: str) -> Tracked | None:
        return self._tracked.get(task_id)

    def count(self, channel: str, family: str) -> int:
        return sum(1 for t in self._tracked.values() if t.channel == channel and t.family == family)

    # ---- pacing -------------------------------------------------------------------------

    def next_delay(self, channel: ChannelConfig, task_id: str) -> float:
        item = self._tracked.get(task_id)
        age = time.monotonic() - item.since if item else 0.0
        poll = channel.poll
        delay = min(poll.max_interval, max(poll.initial, age * poll.factor))
        if channel.callbacks:
            delay *= poll.callback_slowdown
        return delay

    # ---- status -------------------------------------------------------------------------

    def _limit(self, channel: ChannelConfig) -> asyncio.Semaphore:
        sem = self._limits.get(channel.name)
        if sem is None:
            sem = self._limits[channel.name] = asyncio.Semaphore(channel.poll.concurrency)
        return sem

    def _fresh(self, key: tuple[str, str], upstream_id: str, window: float) -> dict[str, Any] | None:
        hit = self._snapshots.get(key, {}).get(upstream_id)
        if hit is not None and time.monotonic() - hit[0] <= window:
            return hit[1]
        return None

    def _remember(self, key: tuple[str, str], items: list[dict[str, Any]], at: float) -> None:
        wanted = {t.upstream_id for t in self._tracked.values() if (t.channel, t.family) == key}
        snap = {uid: v for uid, v in self._snapshots.get(key, {}).items() if uid in wanted}
        for item in items:
            uid = str(item.get("task_id"))
            if uid in wanted:
                snap[uid] = (at, item)
        self._snapshots[key] = snap

    async def _batch(
        self, client: UpstreamClient, key: tuple[str, str], upstream_id: str, window: float
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
                for t in self._tracked.values()
                if (t.channel, t.family) == key
                and t.upstream_id != upstream_id
                and self._fresh(key, t.upstream_id, window) is None
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

    async def status(self, client: UpstreamClient, family: str, upstream_id: str) -> dict[str, Any]:
        """The upstream task object; raises the upstream errors of :mod:`.upstream`."""
        channel = client.channel
        key = (channel.name, family)
        window = channel.poll.batch_window
        hit = self._fresh(key, upstream_id, window)
        if hit is not None:
            return hit
        if is_standard2(family):
            return await self._batch(client, key, upstream_id, window)
        if channel.poll.list_queries and key not in self._no_list and self.count(*key) >= 2:
            lock = self._list_locks.setdefault(key, asyncio.Lock())
            async with lock:  # concurrent checks coalesce onto one list call
                hit = self._fresh(key, upstream_id, window)
                if hit is not None:
                    return hit
                at = time.monotonic()
                try:
                    async with self._limit(channel):
                        metrics.STATUS_CALLS.labels(channel.name, "list").inc()
                        items = await client.list(
                            family, min(500, max(channel.poll.page_size, self.count(*key)))
                        )
                except (Rejected, NotFound):
                    self._no_list.add(key)  # this upstream has no list query: single queries from now on
                else:
                    self._remember(key, items, at)
                    hit = self._fresh(key, upstream_id, window)
                    if hit is not None:
                        return hit
        async with self._limit(channel):
            metrics.STATUS_CALLS.labels(channel.name, "single").inc()
            data = await client.get(family, upstream_id)
        return data
